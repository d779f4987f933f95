"""OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, token (and, as they come, the rest).

Translation only: parse the HTTP request, call one identity-service method, render the answer.
OAuth endpoint errors are RFC 6749 §5.2 JSON (``application/json``, ``error``,
``error_description``) carrying the problem members as well (``type``, ``title``, ``status``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from api.deps import ServicesDep, SessionDep
from api.problems import TYPE_PREFIX
from api.ratelimit import LOGIN_LIMIT, TOKEN_LIMIT
from api.web import SESSION_COOKIE, check_csrf, clear_session, current_session, error_page, in_db, page, redirect
from core.errors import Unauthenticated, YwtError
from identity.clients import AuthMethod, ClientAuth
from identity.errors import InvalidClient, InvalidRequest, OAuthError
from identity.levels import Method
from identity.login import LoginFailed
from identity.oidc import AuthorizationError, Decision, IssueCode, LoginRequired

router = APIRouter(tags=["oidc"])

#: Endpoints a browser visits (authorization, step-up and logout pages: HTML and redirects) stay out
#: of the OpenAPI document like the login pages; OIDC discovery names the protocol's endpoints.
BROWSER_PAGE: Final = False

JWKS_SCHEMA: Final = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty", "kid"],
                "properties": {
                    "kty": {"type": "string", "enum": ["RSA", "EC"]},
                    "kid": {"type": "string"},
                    "use": {"type": "string"},
                    "alg": {"type": "string"},
                    "crv": {"type": "string"},
                    "x5c": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

#: a member that the answer leaves out when it does not apply (never ``null``)
Absent = SkipJsonSchema[None]


class DiscoveryOut(BaseModel):
    """OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414 §2), as we publish it."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    revocation_endpoint: str
    end_session_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    userinfo_signing_alg_values_supported: list[str]
    access_token_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]
    acr_values_supported: list[str]
    claims_supported: list[str]
    claims_parameter_supported: bool
    request_parameter_supported: bool
    request_uri_parameter_supported: bool
    authorization_response_iss_parameter_supported: bool
    frontchannel_logout_supported: bool
    backchannel_logout_supported: bool
    prompt_values_supported: list[str]
    ui_locales_supported: list[str]
    ywt_sm2_jose_profile: str = Field(description="how SM2 is used in JOSE here (no registered profile exists)")


class TokenOut(BaseModel):
    """Successful token response (RFC 6749 §5.1; OIDC Core §3.1.3.3 adds ``id_token``)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="granted scopes, space-separated")
    id_token: str | Absent = Field(default=None, description="authorization_code and refresh_token grants")
    refresh_token: str | Absent = Field(default=None, description="for clients allowed the refresh_token grant")


class UserinfoEntityOut(BaseModel):
    uscc: str
    name: str
    role: Literal["legal_representative", "agent"]


class UserinfoChosenEntityOut(UserinfoEntityOut):
    scope: str = Field(description="what the person may do for the entity, space-separated")


class UserinfoOut(BaseModel):
    """UserInfo claims (OIDC Core §5.3) for the token's scopes; only ``sub`` is always there."""

    sub: str
    name: str | Absent = Field(default=None, description="scope profile")
    id_number_masked: str | Absent = Field(default=None, description="scope profile: masked citizen ID number")
    id_number: str | Absent = Field(default=None, description="scope id_number only: the citizen ID number")
    id_number_verified: bool | Absent = Field(default=None, description="scope id_number")
    phone_number: str | Absent = Field(default=None, description="scope phone (E.164)")
    phone_number_verified: bool | Absent = Field(default=None, description="scope phone")
    entities: list[UserinfoEntityOut] | Absent = Field(default=None, description="scope entity: active roles")
    entity: UserinfoChosenEntityOut | Absent = Field(default=None, description="scope entity: the chosen entity")
    acr: str | Absent = Field(default=None, description="assurance level (L1 .. L4) of the authentication")


class IntrospectionOut(BaseModel):
    """Introspection response (RFC 7662 §2.2); an inactive token is ``{"active": false}`` alone."""

    active: bool
    token_type: Literal["Bearer", "refresh_token"] | Absent = None
    client_id: str | Absent = None
    scope: str | Absent = None
    sub: str | Absent = None
    aud: str | list[str] | Absent = None
    iss: str | Absent = None
    exp: int | Absent = None
    iat: int | Absent = None
    nbf: int | Absent = None
    jti: str | Absent = None
    acr: str | Absent = None
    auth_time: int | Absent = None
    entity_uscc: str | Absent = Field(default=None, description="USCC a machine client acts for")
    roles: list[str] | Absent = None


def _json_doc(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": model.__doc__ or model.__name__}}


FORM: Final = "application/x-www-form-urlencoded"
MAX_FORM_BYTES: Final = 64 * 1024
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
T = TypeVar("T")


def oauth_error(exc: OAuthError) -> JSONResponse:
    body: dict[str, Any] = {
        "error": exc.oauth_error,
        "error_description": exc.detail,
        "type": TYPE_PREFIX + exc.code,
        "title": exc.title,
        "status": exc.oauth_status,
    }
    headers = dict(NO_STORE)
    for key, value in exc.extra.items():
        if key == "www_authenticate":
            headers["WWW-Authenticate"] = str(value)
        elif key not in body:
            body[key] = value
    return JSONResponse(body, status_code=exc.oauth_status, headers=headers)


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; every parameter at most once (RFC 6749 §3.2)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("the body is too large")
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not valid form data") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequest(f"parameter {key[:40]!r} appears more than once (RFC 6749 §3.2)")
        form[key] = value
    return form


async def run_oauth(call: Callable[[], T]) -> T | JSONResponse:
    try:
        return await anyio.to_thread.run_sync(call)
    except OAuthError as exc:
        return oauth_error(exc)


@router.get("/.well-known/openid-configuration", response_class=JSONResponse, responses=_json_doc(DiscoveryOut))
def discovery(services: ServicesDep) -> JSONResponse:
    """OpenID Provider Metadata (OIDC Discovery §3, RFC 8414 §2)."""
    return JSONResponse(services.identity.discovery(), headers={"Cache-Control": "max-age=300"})


@router.get(
    "/oauth2/jwks",
    response_class=Response,
    responses={200: {"content": {"application/jwk-set+json": {"schema": JWKS_SCHEMA}}, "description": "JWK Set"}},
)
def jwks(services: ServicesDep, session: SessionDep) -> JSONResponse:
    """Our token-signing keys (RFC 7517 §5): RSA, EC P-256 and SM2 (``kty`` EC, ``crv`` SM2), with x5c."""
    return JSONResponse(
        services.identity.jwks(session),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "max-age=300"},
    )


@router.post(
    "/oauth2/token",
    dependencies=[Depends(TOKEN_LIMIT)],
    response_model=None,
    response_class=JSONResponse,
    responses=_json_doc(TokenOut),
)
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    """Token endpoint (RFC 6749 §3.2): client_credentials, authorization_code, refresh_token."""
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return oauth_error(exc)
    authorization = request.headers.get("authorization")
    result = await run_oauth(lambda: services.identity.token(authorization, form))
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result, headers=NO_STORE)


# -- authorization (OIDC Core §3.1.2) -----------------------------------------------------------------


def _params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Authorization request parameters; a repeated parameter is an error (RFC 6749 §3.1)."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise AuthorizationError("invalid_request", f"parameter {key[:40]!r} appears more than once")
        out[key] = value
    return out


def _decision_response(request: Request, services: ServicesDep, decision: Decision) -> Response:
    if isinstance(decision, IssueCode):
        return RedirectResponse(decision.redirect, status_code=302, headers={"Cache-Control": "no-store"})
    resume = "/oauth2/authorize/resume?" + urllib.parse.urlencode({"req": decision.ticket})
    if isinstance(decision, LoginRequired):
        return redirect("/login?" + urllib.parse.urlencode({"next": resume}))
    return redirect("/login/stepup?" + urllib.parse.urlencode({"req": decision.ticket}))


def _authorization_error(request: Request, services: ServicesDep, exc: AuthorizationError) -> Response:
    if exc.redirect is not None:
        return RedirectResponse(
            services.identity.oidc.error_redirect(exc), status_code=302, headers={"Cache-Control": "no-store"}
        )
    # client or redirect_uri in doubt: tell the user, never redirect (RFC 6749 §4.1.2.1)
    return page(request, services, "message.html", 400, error=exc, back=None)


async def _authorize(request: Request, services: ServicesDep, pairs: list[tuple[str, str]]) -> Response:
    try:
        params = _params(pairs)
        ps = await current_session(request, services)

        def run(session: Any) -> Decision:
            req = services.identity.oidc.parse(session, params)
            return services.identity.oidc.decide(session, req, ps)

        decision = await in_db(services, run)
    except AuthorizationError as exc:
        return _authorization_error(request, services, exc)
    return _decision_response(request, services, decision)


@router.get("/oauth2/authorize", response_model=None, include_in_schema=BROWSER_PAGE)
async def authorize(request: Request, services: ServicesDep) -> Response:
    """Authorization endpoint: code flow with PKCE (S256), exact redirect_uri, prompt, max_age, acr_values."""
    return await _authorize(request, services, request.query_params.multi_items())


@router.post("/oauth2/authorize", response_model=None, include_in_schema=BROWSER_PAGE)
async def authorize_post(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    return await _authorize(request, services, [(k, str(v)) for k, v in form.multi_items()])


@router.get("/oauth2/authorize/resume", response_model=None, include_in_schema=BROWSER_PAGE)
async def authorize_resume(request: Request, services: ServicesDep, req: str = "") -> Response:
    """Continue a paused authorization request after login or step-up."""
    ps = await current_session(request, services)
    try:

        def run(session: Any) -> Decision:
            authz = services.identity.oidc.from_ticket(req)
            return services.identity.oidc.decide(session, authz, ps)

        decision = await in_db(services, run)
    except AuthorizationError as exc:
        return _authorization_error(request, services, exc)
    except YwtError as exc:
        return error_page(request, services, exc)
    return _decision_response(request, services, decision)


# -- step-up (acr_values above what the session asserts) ---------------------------------------------


async def _stepup_page(
    request: Request, services: ServicesDep, ticket: str, status: int = 200, **extra: Any
) -> Response:
    ps = await current_session(request, services)
    if ps is None:
        resume = "/oauth2/authorize/resume?" + urllib.parse.urlencode({"req": ticket})
        return redirect("/login?" + urllib.parse.urlencode({"next": resume}))
    try:
        authz = services.identity.oidc.from_ticket(ticket)
    except YwtError as exc:
        return error_page(request, services, exc)

    def load(session: Any) -> dict[str, Any]:
        level = services.identity.level(session, ps.account_id)
        return {
            "needed": authz.acr_min.value if authz.acr_min else None,
            "account_level": level.value if level else None,
            "session_acr": (services.identity.login.acr(session, ps) or None),
            "options": services.identity.login.stepup_options(session, ps.account_id),
            "has_person": services.identity.accounts.get(session, ps.account_id).person_id is not None,
        }

    ctx = await in_db(services, load)
    ctx["needs_upgrade"] = ctx["needed"] is not None and (ctx["account_level"] or "L0") < ctx["needed"]
    ctx.update({"ticket": ticket, "sent": False, "error": None, "message": None})
    ctx.update(extra)
    return page(request, services, "stepup.html", status, **ctx)


@router.get("/login/stepup", response_class=HTMLResponse, include_in_schema=BROWSER_PAGE)
async def stepup(request: Request, services: ServicesDep, req: str = "") -> Response:
    return await _stepup_page(request, services, req)


@router.post(
    "/login/stepup/send", dependencies=[Depends(LOGIN_LIMIT)], response_model=None, include_in_schema=BROWSER_PAGE
)
async def stepup_send(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    ticket = str(form.get("req") or "")
    ps = await current_session(request, services)
    try:
        check_csrf(request, services, form)
        if ps is None:
            return await _stepup_page(request, services, ticket)
        await in_db(services, lambda s: services.identity.login.send_stepup_code(s, ps.account_id))
    except YwtError as exc:
        return await _stepup_page(request, services, ticket, _status(exc), error=exc)
    return await _stepup_page(request, services, ticket, sent=True)


@router.post("/login/stepup", dependencies=[Depends(LOGIN_LIMIT)], response_model=None, include_in_schema=BROWSER_PAGE)
async def stepup_submit(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    ticket = str(form.get("req") or "")
    ps = await current_session(request, services)
    cookie = request.cookies.get(SESSION_COOKIE) or ""
    try:
        check_csrf(request, services, form)
        if ps is None:
            return await _stepup_page(request, services, ticket)
        method = "totp" if form.get("method") == "totp" else "sms"
        result = await in_db(
            services,
            lambda s: services.identity.login.step_up(s, cookie, ps.account_id, method, str(form.get("code") or "")),
        )
    except YwtError as exc:
        return await _stepup_page(request, services, ticket, _status(exc), error=exc)
    if isinstance(result, LoginFailed):
        return await _stepup_page(request, services, ticket, 401, error="验证码错误或已过期。", sent=method == "sms")
    return redirect("/oauth2/authorize/resume?" + urllib.parse.urlencode({"req": ticket}))


@router.post(
    "/login/stepup/verify", dependencies=[Depends(LOGIN_LIMIT)], response_model=None, include_in_schema=BROWSER_PAGE
)
async def stepup_verify(request: Request, services: ServicesDep) -> Response:
    """Raise the account's level during sign-in (telecom-3, bank-card-4, face match)."""
    form = await request.form()
    ticket = str(form.get("req") or "")
    ps = await current_session(request, services)
    try:
        check_csrf(request, services, form)
        if ps is None:
            return await _stepup_page(request, services, ticket)
        method = Method(str(form.get("method") or ""))
        image = None
        upload = form.get("face_image")
        if method is Method.FACE_MATCH and upload is not None and not isinstance(upload, str):
            image = await upload.read(4 * 1024 * 1024 + 1)
        done = await services.identity.verifier.upgrade(
            ps.account_id,
            method,
            actor=f"account:{ps.account_id}",
            phone=str(form.get("phone") or "") or None,
            card_number=str(form.get("card_number") or "") or None,
            face_image=image,
        )
    except ValueError:
        return await _stepup_page(request, services, ticket, 400, error="不支持的核验方式。")
    except YwtError as exc:
        return await _stepup_page(request, services, ticket, _status(exc), error=exc)
    return await _stepup_page(request, services, ticket, message=f"核验成功：账户等级 {done.level.value}。")


def _status(exc: YwtError) -> int:
    from api.problems import status_for

    return status_for(exc)


# -- userinfo, introspection, revocation ------------------------------------------------------------------


async def _userinfo(request: Request, services: ServicesDep) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer access token is required", www_authenticate="Bearer")

    def run() -> dict[str, Any]:
        claims = services.identity.verify_access_token(token.strip())
        return services.identity.oidc.userinfo(claims)

    body = await anyio.to_thread.run_sync(run)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/oauth2/userinfo", response_model=None, response_class=JSONResponse, responses=_json_doc(UserinfoOut))
async def userinfo(request: Request, services: ServicesDep) -> Response:
    """UserInfo (OIDC Core §5.3): claims of the person for the token's scopes, numbers masked."""
    return await _userinfo(request, services)


@router.post("/oauth2/userinfo", response_model=None, response_class=JSONResponse, responses=_json_doc(UserinfoOut))
async def userinfo_post(request: Request, services: ServicesDep) -> Response:
    return await _userinfo(request, services)


@router.post(
    "/oauth2/introspect", response_model=None, response_class=JSONResponse, responses=_json_doc(IntrospectionOut)
)
async def introspect(request: Request, services: ServicesDep) -> JSONResponse:
    """Token introspection (RFC 7662): for the token's own client or a client holding ``introspect``."""
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return oauth_error(exc)
    authorization = request.headers.get("authorization")

    def run() -> dict[str, Any]:
        client = services.identity.token_endpoint.authenticate(ClientAuth.from_request(authorization, form))
        if client.spec.auth_method is AuthMethod.NONE:
            raise InvalidClient("introspection needs an authenticated (confidential) client")
        return services.identity.oidc.introspect(client, form.get("token"), form.get("token_type_hint"))

    result = await run_oauth(run)
    return result if isinstance(result, JSONResponse) else JSONResponse(result, headers=NO_STORE)


@router.post(
    "/oauth2/revoke",
    response_model=None,
    response_class=Response,
    responses={200: {"description": "revoked, or the token was unknown (RFC 7009 §2.2): an empty body"}},
)
async def revoke(request: Request, services: ServicesDep) -> Response:
    """Token revocation (RFC 7009): 200 for any token, including unknown ones."""
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return oauth_error(exc)
    authorization = request.headers.get("authorization")

    def run() -> None:
        client = services.identity.token_endpoint.authenticate(ClientAuth.from_request(authorization, form))
        services.identity.oidc.revoke(client, form.get("token"), form.get("token_type_hint"))

    result = await run_oauth(run)
    return result if isinstance(result, JSONResponse) else Response(status_code=200, headers=NO_STORE)


# -- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) ------------------------------------------


async def _logout(request: Request, services: ServicesDep, pairs: list[tuple[str, str]]) -> Response:
    try:
        params = _params(pairs)
        info = await in_db(services, lambda s: services.identity.oidc.logout_request(s, params))
    except (AuthorizationError, OAuthError) as exc:
        return page(request, services, "message.html", 400, error=exc, back=None)
    ps = await current_session(request, services)
    if ps is None:
        if info["post_logout_redirect_uri"]:
            return redirect(services.identity.oidc.logout_redirect(info))
        return page(request, services, "logout.html", logged_in=False, **_logout_ctx(info, params))
    return page(request, services, "logout.html", logged_in=True, **_logout_ctx(info, params))


def _logout_ctx(info: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    return {
        "action": "/oauth2/logout/confirm",
        "next": "/",
        "client_name": info["client_name"],
        "client_id": info["client_id"],
        "post_logout_redirect_uri": info["post_logout_redirect_uri"],
        "state": info["state"],
        "id_token_hint": params.get("id_token_hint"),
    }


@router.get("/oauth2/logout", response_model=None, include_in_schema=BROWSER_PAGE)
async def logout(request: Request, services: ServicesDep) -> Response:
    return await _logout(request, services, request.query_params.multi_items())


@router.post("/oauth2/logout", response_model=None, include_in_schema=BROWSER_PAGE)
async def logout_post(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    return await _logout(request, services, [(k, str(v)) for k, v in form.multi_items() if k != "csrf"])


@router.post("/oauth2/logout/confirm", response_model=None, include_in_schema=BROWSER_PAGE)
async def logout_confirm(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    try:
        check_csrf(request, services, form)
        params = {
            k: str(v)
            for k, v in form.items()
            if k in ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
        }
        info = await in_db(services, lambda s: services.identity.oidc.logout_request(s, params))
    except YwtError as exc:
        return error_page(request, services, exc)
    cookie = request.cookies.get(SESSION_COOKIE)
    target = await in_db(services, lambda s: services.identity.oidc.logout(s, cookie, info))
    response = redirect(target) if target else page(request, services, "logout.html", logged_in=False)
    clear_session(response, services)
    return response
