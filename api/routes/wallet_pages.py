"""Citizen and agent pages for e-licences (Chinese first): the wallet (my licences, details, PDF,
shares with a named third party, revoking a share), acting for a company, and the page a third
party opens from a share link (the licence and whether it is genuine, judged by verify/).

Translation only: each route checks the session (and the CSRF token on POST), calls the licence
service (:mod:`license.service`, :mod:`license.shares`) or the verifier, and renders a page.
Acting for a company: the chosen USCC is kept in a cookie and checked on every request against
the person's *active* authorisations in the identity registry — the cookie alone grants nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ServicesDep
from api.problems import status_for
from api.routes.verify import verifier
from api.routes.verify_pages import CHECK_LABELS, HEADLINE, SYMBOL, TONE
from api.web import (
    PortalUser,
    check_csrf,
    error_page,
    in_db,
    login_redirect,
    page,
    portal_user,
    redirect,
    secure_cookies,
)
from core.errors import ConfigurationError, Forbidden, YwtError
from license.holders import HolderRef
from license.service import Caller, LicenseService
from license.shares import Shares

router = APIRouter(include_in_schema=False)

ACT_AS_COOKIE: Final = "ywt_actas"
SHARE_PAGE: Final = "/license/shared/"
#: the choices offered on the share form (minutes)
SHARE_DURATIONS: Final = ((60, "1 小时"), (24 * 60, "1 天"), (7 * 24 * 60, "7 天"), (30 * 24 * 60, "30 天"))
STATUS_ZH: Final = {
    "valid": "✔ 有效 Valid",
    "revoked": "✘ 已撤销 Revoked",
    "suspended": "! 已暂停 Suspended",
    "superseded": "— 已被新版本替代 Superseded",
    "expired": "✘ 已过期 Expired",
    "not_yet_valid": "！ 尚未生效 Not yet valid",
}
SHARE_STATE_ZH: Final = {"active": "✔ 有效 Active", "expired": "— 已过期 Expired", "revoked": "✘ 已撤回 Revoked"}


def _licenses(services: ServicesDep) -> LicenseService:
    if services.licenses is None:
        raise ConfigurationError("the licence service is not configured")
    return services.licenses


class Holder:
    """Whose wallet is shown: the person's own, or a company's they are authorised to act for."""

    def __init__(self, ref: HolderRef | None, acting_for: dict[str, str] | None, entities: list[dict[str, str]]):
        self.ref = ref
        self.acting_for = acting_for
        self.entities = entities


async def _holder(request: Request, services: ServicesDep, user: PortalUser) -> Holder:
    licenses = _licenses(services)
    wanted = request.cookies.get(ACT_AS_COOKIE) or None

    def load(s: Any) -> Holder:
        auths = services.identity.registry.active_authorisations(s, user.person_id) if user.person_id else []
        entities = [{"uscc": a.entity_uscc, "name": a.entity_name, "role": a.role} for a in auths]
        acting = next((e for e in entities if e["uscc"] == wanted), None)
        ref = licenses.holder_for_user(s, user.account_id, acting["uscc"] if acting else None)
        return Holder(ref, acting, entities)

    result: Holder = await in_db(services, load)
    return result


async def _wallet_page(
    request: Request, services: ServicesDep, user: PortalUser, status: int = 200, **extra: Any
) -> Response:
    licenses = _licenses(services)
    holder = await _holder(request, services, user)

    def load(s: Any) -> tuple[list[Any], list[Any]]:
        if holder.ref is None:
            return [], []
        return licenses.wallet(s, holder.ref), Shares(licenses).list(s, holder.ref)

    items, shares = await in_db(services, load)
    ctx: dict[str, Any] = {
        "user": user,
        "holder": holder,
        "items": items,
        "shares": shares,
        "status_zh": STATUS_ZH,
        "share_state_zh": SHARE_STATE_ZH,
        "message": None,
        "error": None,
    }
    ctx.update(extra)
    return page(request, services, "wallet.html", status, **ctx)


@router.get("/license/wallet", response_class=HTMLResponse)
async def wallet(request: Request, services: ServicesDep) -> Response:
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    return await _wallet_page(request, services, user)


@router.post("/license/wallet/act-as", response_model=None)
async def act_as(request: Request, services: ServicesDep) -> Response:
    """Switch between one's own wallet and a company one is authorised to act for."""
    form = await request.form()
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back="/license/wallet")
    uscc = str(form.get("uscc") or "").strip().upper()
    holder = await _holder(request, services, user)
    response = redirect("/license/wallet")
    if not uscc:
        response.delete_cookie(ACT_AS_COOKIE, path="/")
        return response
    if not any(e["uscc"] == uscc for e in holder.entities):
        return await _wallet_page(
            request,
            services,
            user,
            403,
            error="您没有代办该单位的有效授权。You are not authorised to act for this entity.",
        )
    response.set_cookie(
        ACT_AS_COOKIE, uscc, httponly=True, samesite="strict", secure=secure_cookies(services), path="/"
    )
    return response


async def _item_page(
    request: Request, services: ServicesDep, user: PortalUser, licence_id: str, status: int = 200, **extra: Any
) -> Response:
    licenses = _licenses(services)
    holder = await _holder(request, services, user)
    if holder.ref is None:
        return error_page(
            request,
            services,
            Forbidden("this account has no verified identity linked to licences"),
            back="/license/wallet",
        )
    ref = holder.ref
    try:
        view = await in_db(services, lambda s: licenses.get(s, Caller(actor=user.actor, holder=ref), licence_id[:40]))
    except YwtError as exc:
        return error_page(request, services, exc, back="/license/wallet")
    ctx: dict[str, Any] = {
        "user": user,
        "holder": holder,
        "lic": view,
        "status_zh": STATUS_ZH,
        "durations": SHARE_DURATIONS,
        "values": {},
        "created": None,
        "message": None,
        "error": None,
    }
    ctx.update(extra)
    return page(request, services, "wallet_item.html", status, **ctx)


@router.get("/license/wallet/{licence_id}", response_class=HTMLResponse)
async def wallet_item(request: Request, services: ServicesDep, licence_id: str) -> Response:
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    return await _item_page(request, services, user, licence_id)


@router.get("/license/wallet/{licence_id}/pdf", response_model=None)
async def wallet_pdf(request: Request, services: ServicesDep, licence_id: str) -> Response:
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    licenses = _licenses(services)
    holder = await _holder(request, services, user)
    if holder.ref is None:
        return error_page(request, services, Forbidden("no verified identity"), back="/license/wallet")
    ref = holder.ref
    try:
        doc = await in_db(services, lambda s: licenses.pdf(s, Caller(actor=user.actor, holder=ref), licence_id[:40]))
    except YwtError as exc:
        return error_page(request, services, exc, back="/license/wallet")
    return Response(
        doc.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{doc.filename}"', "Cache-Control": "no-store"},
    )


@router.post("/license/wallet/{licence_id}/share", response_model=None)
async def create_share(request: Request, services: ServicesDep, licence_id: str) -> Response:
    """Share with a named third party until a deadline; the link is shown once, on this page."""
    form = await request.form()
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "") for k in ("recipient", "purpose", "minutes")}
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/license/wallet/{licence_id[:40]}")
    try:
        minutes = int(values["minutes"])
    except ValueError:
        return await _item_page(
            request,
            services,
            user,
            licence_id,
            400,
            values=values,
            error="请选择共享期限。Choose how long the share lasts.",
        )
    holder = await _holder(request, services, user)
    licenses = _licenses(services)
    shares = Shares(licenses)
    if holder.ref is None:
        return error_page(request, services, Forbidden("no verified identity"), back="/license/wallet")
    ref = holder.ref
    try:
        view, token = await in_db(
            services,
            lambda s: shares.create(
                s,
                ref,
                actor=user.actor,
                licence_id=licence_id[:40],
                recipient=values["recipient"],
                expires_in=timedelta(minutes=minutes),
                purpose=values["purpose"] or None,
            ),
        )
    except YwtError as exc:
        return await _item_page(request, services, user, licence_id, status_for(exc), values=values, error=exc)
    link = f"{services.settings.base_url}{SHARE_PAGE}{token}"
    return await _item_page(request, services, user, licence_id, created={"share": view, "link": link})


@router.post("/license/wallet/shares/{share_id}/revoke", response_model=None)
async def revoke_share(request: Request, services: ServicesDep, share_id: str) -> Response:
    form = await request.form()
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back="/license/wallet")
    holder = await _holder(request, services, user)
    if holder.ref is None:
        return error_page(request, services, Forbidden("no verified identity"), back="/license/wallet")
    ref = holder.ref
    shares = Shares(_licenses(services))
    try:
        view = await in_db(services, lambda s: shares.revoke(s, ref, share_id[:40], actor=user.actor))
    except YwtError as exc:
        return await _wallet_page(request, services, user, status_for(exc), error=exc)
    return await _wallet_page(request, services, user, message=f"已撤回对「{view.recipient}」的共享。Share withdrawn.")


# -- the third party ----------------------------------------------------------------------------


def _requester(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


@router.get(SHARE_PAGE + "{token}", response_class=HTMLResponse)
async def shared_page(request: Request, services: ServicesDep, token: str) -> Response:
    """What the third party sees: the verdict first (verify/ on the licence's signed QR payload,
    with live status), then the licence. Every access is journaled by the share service."""
    shares = Shares(_licenses(services))
    try:
        got = await anyio.to_thread.run_sync(
            lambda: shares.access(token, want_pdf=False, requester=_requester(request))
        )
        report = await anyio.to_thread.run_sync(lambda: verifier(services).verify_qr(got.licence.qr_payload))
    except YwtError as exc:
        return page(request, services, "shared.html", status_for(exc), error=exc, got=None)
    ind = report.indication
    return page(
        request,
        services,
        "shared.html",
        got=got,
        lic=got.licence,
        token=token,
        report=report,
        data=report.as_dict(),
        tone=TONE[ind],
        symbol=SYMBOL[ind],
        headline=HEADLINE[ind],
        labels=CHECK_LABELS,
        status_zh=STATUS_ZH,
        error=None,
    )


@router.get(SHARE_PAGE + "{token}/pdf", response_model=None)
async def shared_pdf(request: Request, services: ServicesDep, token: str) -> Response:
    shares = Shares(_licenses(services))
    try:
        got = await anyio.to_thread.run_sync(lambda: shares.access(token, want_pdf=True, requester=_requester(request)))
    except YwtError as exc:
        return page(request, services, "shared.html", status_for(exc), error=exc, got=None)
    assert got.pdf is not None
    return Response(
        got.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="licence-{got.licence.serial}-{got.licence.version:03d}.pdf"',
            "Cache-Control": "no-store",
        },
    )
