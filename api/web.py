"""Browser plumbing for the login pages: cookies, CSRF, the current provider session, safe redirects.

* Session cookie ``ywt_session``: HttpOnly, SameSite=Lax (the OIDC authorize redirect from a
  relying party is a top-level GET and must carry it), Secure whenever ``YWT_BASE_URL`` is https,
  Path=/. It holds 256 random bits; the database keeps their hash.
* CSRF (OWASP "signed double-submit cookie"): a random ``ywt_csrf`` cookie (HttpOnly,
  SameSite=Strict) and, in every form, ``csrf`` = HMAC-SHA256(key, cookie). A cross-site page can
  neither read the cookie nor compute the HMAC. An ``Origin`` header, when the browser sends one,
  must be our own origin as well.
* ``next`` targets are local paths only (no scheme, no ``//``, no backslash): no open redirect.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from typing import Any, Final

import anyio.to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.container import Services
from api.pages import render
from core.errors import Forbidden, YwtError
from identity.operators import Role
from identity.sessions import ProviderSession

SESSION_COOKIE: Final = "ywt_session"
CSRF_COOKIE: Final = "ywt_csrf"


class CsrfFailed(Forbidden):
    code = "csrf"
    title = "The form is not from this site or has expired; reload the page and try again"


def _csrf_key(services: Services) -> bytes:
    return services.identity.csrf_key


def secure_cookies(services: Services) -> bool:
    return services.settings.base_url.startswith("https://")


def csrf_token(request: Request, services: Services) -> tuple[str, str | None]:
    """The form token for this browser and, if the browser has no CSRF cookie yet, the new cookie."""
    value = request.cookies.get(CSRF_COOKIE)
    new = None
    if not value or len(value) > 100:
        value = new = secrets.token_urlsafe(32)
    return hmac.new(_csrf_key(services), value.encode(), "sha256").hexdigest(), new


def check_csrf(request: Request, services: Services, form: Any) -> None:
    origin = request.headers.get("origin")
    if origin is not None:
        ours = urllib.parse.urlsplit(services.settings.base_url)
        theirs = urllib.parse.urlsplit(origin)
        req = urllib.parse.urlsplit(str(request.base_url))
        if (theirs.scheme, theirs.netloc) not in {(ours.scheme, ours.netloc), (req.scheme, req.netloc)}:
            raise CsrfFailed("cross-origin form submission")
    value = request.cookies.get(CSRF_COOKIE)
    sent = form.get("csrf") if form is not None else None
    if not value or not isinstance(sent, str):
        raise CsrfFailed("the CSRF token is missing")
    expected = hmac.new(_csrf_key(services), value.encode(), "sha256").hexdigest()
    if not hmac.compare_digest(expected, sent):
        raise CsrfFailed("the CSRF token does not match")


def page(request: Request, services: Services, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page with a CSRF token for its forms (setting the CSRF cookie when needed)."""
    token, new_cookie = csrf_token(request, services)
    response = render(request, name, status_code=status_code, csrf=token, **ctx)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    if new_cookie is not None:
        response.set_cookie(
            CSRF_COOKIE, new_cookie, httponly=True, samesite="strict", secure=secure_cookies(services), path="/"
        )
    return response


def set_session(response: Response, services: Services, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=secure_cookies(services), path="/"
    )


def clear_session(response: Response, services: Services) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(services))


def safe_next(value: str | None, default: str = "/account") -> str:
    """A local path to continue to, or ``default`` (never an absolute or protocol-relative URL)."""
    if not value or len(value) > 4000:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value or any(c in value for c in "\r\n\t"):
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def in_db(services: Services, fn: Any) -> Any:
    """Run ``fn(session)`` in a worker thread inside one transaction."""

    def run() -> Any:
        with services.db.session() as session:
            return fn(session)

    return await anyio.to_thread.run_sync(run)


async def current_session(request: Request, services: Services) -> ProviderSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    result: ProviderSession | None = await in_db(services, lambda s: services.identity.sessions.get(s, cookie))
    return result


def error_page(request: Request, services: Services, exc: YwtError, *, back: str | None = None) -> HTMLResponse:
    """A domain error as a page (status from the problem mapping; 503/429 with Retry-After)."""
    from api.problems import status_for

    status = status_for(exc)
    response = page(request, services, "message.html", status_code=status, error=exc, back=back)
    if status in (429, 503):
        response.headers["Retry-After"] = str(exc.extra.get("retry_after", 5))
    return response


_ZH: Final = {
    "invalid-id-number": "公民身份号码不正确（请核对位数、出生日期和校验码）。",
    "invalid-uscc": "统一社会信用代码不正确。",
    "invalid-phone": "手机号码不正确。",
    "invalid-bank-card": "银行卡号不正确。",
    "invalid-username": "用户名须为 3 至 64 位字母、数字或 . _ -。",
    "invalid-identity-query": "填写的信息不完整或格式不正确。",
    "weak-password": "密码须为 8 至 128 位，且不能与用户名相同；两次输入须一致。",
    "account-exists": "该用户名、手机号或身份号码已被注册。",
    "already-registered": "该身份已被注册。",
    "verification-failed": "核验未通过：提交的信息与权威数据不一致。",
    "source-unavailable": "身份核验服务暂时不可用，请稍后再试。您的信息未被保存。",
    "throttled": "尝试过于频繁，请稍后再试。",
    "too-many-codes": "验证码发送过于频繁，请稍后再试。",
    "bad-ticket": "页面已过期，请重新开始。",
    "csrf": "页面已过期或来源不正确，请刷新页面后重试。",
    "level-too-low": "账户认证等级不足，请先完成实名核验。",
    "unknown-client": "未知的应用。",
    "forbidden": "您没有执行此操作的权限。",
    "license-invalid-data": "证照数据不正确，请按提示修改。",
    "license-unknown-type": "未知的证照类型。",
    "license-invalid-type": "证照类型定义不正确，请按下列位置修改。",
    "license-type-exists": "该类型代码已存在；如需修改，请选择“发布新版本”。",
    "license-duplicate-number": "该证照编号已签发过。",
    "license-holder-not-eligible": "持证人未在统一身份认证平台实名登记，或姓名与号码不一致。",
    "license-issuer-not-allowed": "无权以该发证机关名义签发。",
    "license-no-issuing-seal": "发证机关没有可用的证照专用章。",
    "license-not-found": "没有找到该证照。",
    "license-invalid-status-change": "当前状态下不能执行此操作。",
    "license-share-not-found": "共享链接无效或不存在。",
    "license-share-expired": "共享链接已过期。",
    "license-share-revoked": "持证人已撤回该共享。",
    "invalid-seal-request": "印章申请信息不正确。",
    "seal-not-found": "没有找到该印章。",
    "seal-grant-not-found": "没有找到该授权。",
    "seal-state-conflict": "印章当前状态下不能执行此操作。",
    "invalid-seal-image": "印模图像不符合要求（仅接受 PNG）。",
    "seal-image-too-large": "印模图像过大（文件或像素尺寸超出上限）。",
    "seal-second-approval-required": "该印章为敏感印章，须由另一名管理员审批。",
    "invalid-client-metadata": "应用注册信息不正确。",
    "client-exists": "该应用标识已存在。",
    "invalid-input": "输入不正确。",
}


def zh_error(error: Any) -> str:
    """A page-level error in Chinese (English detail stays available as a hint)."""
    if error is None:
        return ""
    if isinstance(error, str):
        return error
    code = getattr(error, "code", "")
    return _ZH.get(code, getattr(error, "title", str(error)))


def _install_filters() -> None:
    from api.pages import templates

    templates.env.filters["zh_error"] = zh_error


_install_filters()


# -- who is at the browser (portal pages) ----------------------------------------------------------

#: every operator role of identity/operators.py (the console home admits any of them)
OPERATOR_ROLES: Final = frozenset(role.value for role in Role)


class PortalUser:
    """The logged-in person behind the session cookie, with their operator roles (if any)."""

    def __init__(
        self, session: ProviderSession, username: str, display_name: str, person_id: str | None, roles: frozenset[str]
    ) -> None:
        self.session = session
        self.account_id = session.account_id
        self.username = username
        self.display_name = display_name
        self.person_id = person_id
        self.roles = roles

    @property
    def actor(self) -> str:
        """As the bearer-token routes name the same person in the journal (``api.auth.Principal``)."""
        return f"{'operator' if self.roles else 'user'}:{self.account_id}"

    def has_role(self, role: str) -> bool:
        return "administrator" in self.roles or role in self.roles

    @property
    def is_operator(self) -> bool:
        return bool(self.roles & OPERATOR_ROLES)


async def portal_user(request: Request, services: Services) -> PortalUser | None:
    ps = await current_session(request, services)
    if ps is None:
        return None

    def load(s: Any) -> PortalUser:
        account = services.identity.accounts.get(s, ps.account_id)
        roles = services.identity.accounts.roles(account)
        return PortalUser(ps, account.username, account.display_name or account.username, account.person_id, roles)

    user: PortalUser = await in_db(services, load)
    request.state.portal_user = user
    return user


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/login?next=" + urllib.parse.quote(safe_next(target, "/account"), safe="/"))
