"""OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, token (and, as they come, the rest).

Translation only: parse the HTTP request, call one identity-service method, render the answer.
OAuth endpoint errors are RFC 6749 §5.2 JSON (``application/json``, ``error``,
``error_description``) carrying the problem members as well (``type``, ``title``, ``status``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, SessionDep
from api.problems import TYPE_PREFIX
from identity.errors import InvalidRequest, OAuthError

router = APIRouter(tags=["oidc"])

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


@router.get("/.well-known/openid-configuration")
def discovery(services: ServicesDep) -> JSONResponse:
    """OpenID Provider Metadata (OIDC Discovery §3, RFC 8414 §2)."""
    return JSONResponse(services.identity.discovery(), headers={"Cache-Control": "max-age=300"})


@router.get("/oauth2/jwks")
def jwks(services: ServicesDep, session: SessionDep) -> JSONResponse:
    """Our token-signing keys (RFC 7517 §5): RSA, EC P-256 and SM2 (``kty`` EC, ``crv`` SM2), with x5c."""
    return JSONResponse(
        services.identity.jwks(session),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "max-age=300"},
    )


@router.post("/oauth2/token", response_model=None)
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
