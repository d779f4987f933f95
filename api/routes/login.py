"""Login pages (Chinese first): log in (password, TOTP, SMS code), register, account, step-up,
log out, and the development SMS outbox. Translation only: each POST checks the CSRF token,
calls the identity service's login object, and renders or redirects."""

from __future__ import annotations

import base64
import io
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ServicesDep
from api.ratelimit import LOGIN_LIMIT
from api.web import (
    SESSION_COOKIE,
    check_csrf,
    clear_session,
    client_address,
    current_session,
    error_page,
    in_db,
    page,
    redirect,
    safe_next,
    secure_cookies,
    set_session,
)
from core.errors import NotFound, YwtError
from core.settings import Environment
from identity.levels import Method
from identity.login import Established, NeedSecondFactor
from identity.sessions import ProviderSession

router = APIRouter(include_in_schema=False)

BAD_LOGIN = "用户名或密码错误。连续多次失败后账户将被暂时锁定。"
BAD_CODE = "验证码错误或已过期。"
MAX_FACE_UPLOAD = 4 * 1024 * 1024


def _logged_in(services: ServicesDep, done: Established, target: str) -> Response:
    response = redirect(target)
    set_session(response, services, done.cookie)
    return response


def _national_configured(services: ServicesDep) -> bool:
    return bool(services.settings.national_idp)


# -- log in ------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    return page(
        request, services, "login.html", next=safe_next(next), national=_national_configured(services), error=None
    )


@router.post("/login", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def login_submit(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    try:
        check_csrf(request, services, form)
        address = client_address(request)
        result = await in_db(
            services,
            lambda s: services.identity.login.password(
                s, str(form.get("username") or ""), str(form.get("password") or ""), address
            ),
        )
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/login?next={target}")
    if isinstance(result, Established):
        return _logged_in(services, result, target)
    if isinstance(result, NeedSecondFactor):
        return page(request, services, "login_totp.html", ticket=result.ticket, next=target, error=None)
    return page(
        request, services, "login.html", 401, next=target, national=_national_configured(services), error=BAD_LOGIN
    )


@router.post("/login/totp", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def login_totp(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    ticket = str(form.get("ticket") or "")
    try:
        check_csrf(request, services, form)
        address = client_address(request)
        result = await in_db(
            services,
            lambda s: services.identity.login.second_factor(s, ticket, str(form.get("code") or ""), address),
        )
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/login?next={target}")
    if isinstance(result, Established):
        return _logged_in(services, result, target)
    if result.reason == "bad_ticket":
        return redirect(f"/login?next={target}")
    return page(request, services, "login_totp.html", 401, ticket=ticket, next=target, error=BAD_CODE)


@router.get("/login/sms", response_class=HTMLResponse)
async def sms_form(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    return page(request, services, "login_sms.html", next=safe_next(next), sent=False, error=None)


@router.post("/login/sms/send", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def sms_send(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    phone = str(form.get("phone") or "")
    try:
        check_csrf(request, services, form)
        address = client_address(request)
        await in_db(services, lambda s: services.identity.login.send_login_code(s, phone, address))
        ticket, masked = services.identity.login.sms_ticket(phone)
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/login/sms?next={target}")
    return page(request, services, "login_sms.html", next=target, ticket=ticket, masked=masked, sent=True, error=None)


@router.post("/login/sms", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def sms_login(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    ticket = str(form.get("ticket") or "")
    try:
        check_csrf(request, services, form)
        address = client_address(request)
        phone, masked = services.identity.login.sms_phone(ticket)
        result = await in_db(
            services, lambda s: services.identity.login.sms(s, phone, str(form.get("code") or ""), address)
        )
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/login/sms?next={target}")
    if isinstance(result, Established):
        return _logged_in(services, result, target)
    return page(
        request, services, "login_sms.html", 401, next=target, ticket=ticket, masked=masked, sent=True, error=BAD_CODE
    )


# -- national platform login (mutual recognition) ----------------------------------------------------

FED_COOKIE = "ywt_fed"


@router.get("/login/national", response_model=None)
async def national_start(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    """Send the browser to the national IdP (state, nonce and PKCE kept in a sealed cookie)."""
    federation = services.identity.federation
    if federation is None:
        raise NotFound("no national IdP is configured")
    try:
        url, ticket = await anyio.to_thread.run_sync(federation.start, safe_next(next))
    except YwtError as exc:
        return error_page(request, services, exc, back="/login")
    response = redirect(url)
    response.set_cookie(
        FED_COOKIE, ticket, httponly=True, samesite="lax", secure=secure_cookies(services), path="/login/national"
    )
    return response


@router.get("/login/national/callback", response_model=None)
async def national_callback(request: Request, services: ServicesDep) -> Response:
    """Validate the national login, link by verified ID number, open a local session."""
    federation = services.identity.federation
    if federation is None:
        raise NotFound("no national IdP is configured")
    params = dict(request.query_params.items())
    ticket = request.cookies.get(FED_COOKIE)
    try:
        done = await anyio.to_thread.run_sync(federation.finish, params, ticket)
    except YwtError as exc:
        return error_page(request, services, exc, back="/login")
    response = redirect(safe_next(done.next))
    set_session(response, services, done.cookie)
    response.delete_cookie(FED_COOKIE, path="/login/national")
    return response


# -- register ------------------------------------------------------------------------------------------


@router.get("/register", response_class=HTMLResponse)
async def register_form(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    return page(request, services, "register.html", next=safe_next(next), values={}, error=None)


@router.post("/register", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def register_start(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    values = {k: str(form.get(k) or "") for k in ("username", "name")}  # never echo numbers back
    try:
        check_csrf(request, services, form)
        data = {k: str(form.get(k) or "") for k in ("username", "password", "password2", "name", "id_number", "phone")}
        address = client_address(request)
        ticket = await in_db(services, lambda s: services.identity.login.register_start(s, data, address))
        view = services.identity.login.register_view(ticket)
    except YwtError as exc:
        return page(request, services, "register.html", _status(exc), next=target, values=values, error=exc)
    return page(request, services, "register_confirm.html", ticket=ticket, view=view, next=target, error=None)


@router.post("/register/confirm", dependencies=[Depends(LOGIN_LIMIT)], response_model=None)
async def register_confirm(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    ticket = str(form.get("ticket") or "")
    try:
        check_csrf(request, services, form)
        view = services.identity.login.register_view(ticket)
        result = await services.identity.login.register_finish(
            ticket, str(form.get("code") or ""), client_address(request)
        )
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/register?next={target}")
    if isinstance(result, Established):
        return _logged_in(services, result, target)
    return page(request, services, "register_confirm.html", 401, ticket=ticket, view=view, next=target, error=BAD_CODE)


def _status(exc: YwtError) -> int:
    from api.problems import status_for

    return status_for(exc)


# -- account -----------------------------------------------------------------------------------------


async def _account_page(request: Request, services: ServicesDep, status: int = 200, **extra: Any) -> Response:
    ps = await current_session(request, services)
    if ps is None:
        return redirect("/login?next=/account")

    def load(s: Any) -> dict[str, Any]:
        me = services.identity.me(s, ps.account_id)
        me["session_acr"] = services.identity.login.acr(s, ps)
        me["sessions"] = services.identity.sessions.for_account(s, ps.account_id)
        return me

    me = await in_db(services, load)
    ctx: dict[str, Any] = {
        "me": me,
        "amr": sorted(ps.amr),
        "current_sid": ps.sid,
        "message": None,
        "error": None,
        "totp_setup": None,
    }
    ctx.update(extra)
    return page(request, services, "account.html", status, **ctx)


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, services: ServicesDep) -> Response:
    return await _account_page(request, services)


async def _account_form(request: Request, services: ServicesDep) -> tuple[Any, ProviderSession] | Response:
    """A form posted from the account page: the form and the session behind it, or the login
    redirect (no session) or the refusal page (CSRF token missing or wrong)."""
    form = await request.form()
    ps = await current_session(request, services)
    if ps is None:
        return redirect("/login?next=/account")
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back="/account")
    return form, ps


@router.post("/account/verify", response_model=None)
async def account_verify(request: Request, services: ServicesDep) -> Response:
    """Level upgrade from the account page (telecom-3, bank-card-4, face image upload)."""
    posted = await _account_form(request, services)
    if isinstance(posted, Response):
        return posted
    form, ps = posted
    try:
        method = Method(str(form.get("method") or ""))
        image = None
        upload = form.get("face_image")
        if method is Method.FACE_MATCH and upload is not None and not isinstance(upload, str):
            image = await upload.read(MAX_FACE_UPLOAD + 1)
        done = await services.identity.verifier.upgrade(
            ps.account_id,
            method,
            actor=f"account:{ps.account_id}",
            phone=str(form.get("phone") or "") or None,
            card_number=str(form.get("card_number") or "") or None,
            face_image=image,
        )
    except ValueError:
        return await _account_page(request, services, 400, error="不支持的核验方式。")
    except YwtError as exc:
        return await _account_page(request, services, _status(exc), error=exc)
    return await _account_page(request, services, message=f"核验成功：当前等级 {done.level.value}。")


@router.post("/account/totp/setup", response_model=None)
async def totp_setup(request: Request, services: ServicesDep) -> Response:
    posted = await _account_form(request, services)
    if isinstance(posted, Response):
        return posted
    _form, ps = posted
    username = (await in_db(services, lambda s: services.identity.accounts.get(s, ps.account_id))).username
    ticket, secret, uri = services.identity.login.totp_begin(username)
    return await _account_page(request, services, totp_setup={"ticket": ticket, "secret": secret, "qr": _qr(uri)})


def _qr(uri: str) -> str:
    import segno

    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=4)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


@router.post("/account/totp/confirm", response_model=None)
async def totp_confirm(request: Request, services: ServicesDep) -> Response:
    posted = await _account_form(request, services)
    if isinstance(posted, Response):
        return posted
    form, ps = posted
    try:
        ok = await in_db(
            services,
            lambda s: services.identity.login.totp_confirm(
                s, ps.account_id, str(form.get("ticket") or ""), str(form.get("code") or "")
            ),
        )
    except YwtError as exc:
        return await _account_page(request, services, _status(exc), error=exc)
    if not ok:
        return await _account_page(request, services, 400, error=BAD_CODE)
    return await _account_page(request, services, message="已启用动态口令（TOTP）。")


@router.post("/account/totp/disable", response_model=None)
async def totp_disable(request: Request, services: ServicesDep) -> Response:
    posted = await _account_form(request, services)
    if isinstance(posted, Response):
        return posted
    form, ps = posted
    try:
        ok = await in_db(
            services, lambda s: services.identity.login.totp_disable(s, ps.account_id, str(form.get("code") or ""))
        )
    except YwtError as exc:
        return await _account_page(request, services, _status(exc), error=exc)
    if not ok:
        return await _account_page(request, services, 400, error=BAD_CODE)
    return await _account_page(request, services, message="已停用动态口令。")


@router.post("/account/sessions/{sid}/end", response_model=None)
async def end_session(request: Request, services: ServicesDep, sid: str) -> Response:
    """Log out another device (one of the account's own sessions)."""
    posted = await _account_form(request, services)
    if isinstance(posted, Response):
        return posted
    _form, ps = posted
    ended = await in_db(services, lambda s: services.identity.sessions.end_own(s, ps.account_id, sid[:64]))
    if not ended:
        return await _account_page(request, services, 404, error="没有找到该会话。No such session.")
    return await _account_page(request, services, message="已结束该会话。Session ended.")


# -- log out -------------------------------------------------------------------------------------------


@router.get("/logout", response_class=HTMLResponse)
async def logout_form(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    ps = await current_session(request, services)
    return page(
        request,
        services,
        "logout.html",
        logged_in=ps is not None,
        next=safe_next(next, "/"),
        state=None,
        post_logout_redirect_uri=None,
        client_name=None,
        id_token_hint=None,
        client_id=None,
    )


@router.post("/logout", response_model=None)
async def logout_submit(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back="/logout")
    cookie = request.cookies.get(SESSION_COOKIE)
    await in_db(services, lambda s: services.identity.oidc.logout(s, cookie, {}))
    response = redirect(safe_next(str(form.get("next") or ""), "/"))
    clear_session(response, services)
    return response


# -- development outbox --------------------------------------------------------------------------------


@router.get("/dev/outbox", response_class=HTMLResponse)
async def outbox(request: Request, services: ServicesDep) -> Response:
    """The development SMS sender's outbox (phones masked). Not served in production."""
    if services.settings.env == Environment.PRODUCTION:
        raise NotFound("no such page")
    messages = await in_db(services, services.identity.outbox.recent)
    return page(request, services, "outbox.html", messages=messages)
