"""Operator console (server-rendered, Chinese first): seals (with an uploaded image), grants,
clients (register, disable / enable, rotate the secret), licence types (add a type or a new
version from its JSON definition, deactivate / reactivate), issuing and revoking licences,
bulk-import progress, and the audit journal with its chain status.

Role-gated by the operator roles of the logged-in account (identity/operators.py): a page needs
one role (``administrator`` holds all); without it the answer is a 403 page, without a session a
redirect to the login page. Every POST carries the signed double-submit CSRF token of the login
pages (api/web.py). Translation only: each action calls one service function of seal/, license/,
identity/ or core/audit and renders the section again with a message or the domain error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from api.container import checkpoint_verifier
from api.deps import ServicesDep
from api.problems import status_for
from api.web import PortalUser, check_csrf, error_page, in_db, login_redirect, page, portal_user
from core.audit import recent_entries
from core.errors import ConfigurationError, Forbidden, InvalidInput, YwtError
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType
from keys import Family
from license import registry
from license.importer import list_jobs
from license.service import Caller, LicenseService, SearchFilters
from seal.domain import SealApplication, SealType
from seal.images import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS_PER_SIDE, MIN_UPLOAD_PIXELS_PER_SIDE, SealShape

router = APIRouter(prefix="/console", include_in_schema=False)

#: section -> (role needed, Chinese title, English title)
SECTIONS: Final = {
    "seals": ("seal_manager", "电子印章", "Seals"),
    "grants": ("seal_manager", "印章授权", "Grants"),
    "clients": ("client_manager", "接入应用", "Clients"),
    "types": ("license_issuer", "证照类型", "Licence types"),
    "licences": ("license_issuer", "证照签发与撤销", "Issue / revoke licences"),
    "imports": ("license_issuer", "存量证照导入", "Import progress"),
    "audit": ("auditor", "审计日志", "Audit journal"),
}
SEAL_STATUS_ZH: Final = {
    "applied": "○ 已申请 Applied",
    "approved": "◐ 已审批 Approved",
    "active": "✔ 启用 Active",
    "suspended": "! 暂停 Suspended",
    "revoked": "✘ 已撤销 Revoked",
    "expired": "— 已过期 Expired",
}
SEAL_ACTIONS: Final = ("approve", "activate", "suspend", "resume", "revoke")
LICENCE_ACTIONS: Final = ("revoke", "suspend", "resume")
CLIENT_ACTIONS: Final = ("disable", "enable", "secret")
TYPE_ACTIONS: Final = ("deactivate", "activate")
MAX_FORM_VALUE: Final = 2000

Handler = Callable[[Session], Any]


def _licenses(services: ServicesDep) -> LicenseService:
    if services.licenses is None:
        raise ConfigurationError("the licence service is not configured")
    return services.licenses


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return str(value).strip()[:MAX_FORM_VALUE] if isinstance(value, str) else ""


async def _gate(request: Request, services: ServicesDep, section: str | None) -> PortalUser | Response:
    """The operator at the browser, a login redirect, or a 403 page."""
    user = await portal_user(request, services)
    if user is None:
        return login_redirect(request)
    if section is None:
        if not user.is_operator:
            return error_page(request, services, Forbidden("the console is for platform operators"), back="/account")
        return user
    role = SECTIONS[section][0]
    if not user.has_role(role):
        return error_page(
            request, services, Forbidden(f"this page needs the role {role}", required=[role]), back="/console"
        )
    return user


# -- loading each section -------------------------------------------------------------------------


def _load(services: ServicesDep, section: str, s: Session, query: dict[str, str]) -> dict[str, Any]:
    if section == "seals":
        return {
            "seals": services.seal.list_seals(s),
            "seal_types": list(SealType),
            "families": list(Family),
            "shapes": list(SealShape),
            "status_zh": SEAL_STATUS_ZH,
            "max_image_bytes": MAX_UPLOAD_BYTES,
            "max_image_px": MAX_UPLOAD_PIXELS_PER_SIDE,
            "min_image_px": MIN_UPLOAD_PIXELS_PER_SIDE,
        }
    if section == "grants":
        seals = services.seal.list_seals(s)
        return {
            "grants": services.seal.list_grants(s),
            "seals": seals,
            "seal_names": {x.id: x.name for x in seals},
            "clients": services.identity.clients.list(s),
        }
    if section == "clients":
        return {"clients": services.identity.clients.list(s)}
    if section == "types":
        return {"types": registry.list_types(s, include_inactive=True)}
    if section == "licences":
        types = registry.list_types(s, include_inactive=False)
        wanted = query.get("type") or query.get("type_code")
        chosen = next((t for t in types if t.type_code == wanted), None)
        caller = Caller(actor="console", operator=True)
        recent = _licenses(services).search(s, caller, SearchFilters(limit=30)).items
        return {"types": types, "chosen": chosen, "recent": recent}
    if section == "imports":
        return {"jobs": list_jobs(s)}
    if section == "audit":
        prefix = query.get("action", "").strip()[:60]
        return {
            "entries": recent_entries(s, 100, prefix or None),
            "action": prefix,
            "chain": services.journal.verify(
                s,
                checkpoint_verifier,
                full=False,
                full_walk_every=timedelta(minutes=services.settings.audit_full_walk_minutes),
            ),
        }
    raise AssertionError(section)


async def _section(
    request: Request, services: ServicesDep, user: PortalUser, section: str, status: int = 200, **extra: Any
) -> Response:
    query = {k: v[:100] for k, v in request.query_params.items()}
    query.update(extra.pop("query", {}))
    data = await in_db(services, lambda s: _load(services, section, s, query))
    ctx: dict[str, Any] = {
        "user": user,
        "sections": SECTIONS,
        "section": section,
        "message": None,
        "error": None,
        "values": {},
        **data,
    }
    ctx.update(extra)
    return page(request, services, f"console_{section}.html", status, **ctx)


@router.get("", response_class=HTMLResponse)
async def console_home(request: Request, services: ServicesDep) -> Response:
    user = await _gate(request, services, None)
    if not isinstance(user, PortalUser):
        return user
    return page(request, services, "console_home.html", user=user, sections=SECTIONS, section=None)


def _section_get(section: str) -> Callable[[Request, ServicesDep], Awaitable[Response]]:
    async def view(request: Request, services: ServicesDep) -> Response:
        user = await _gate(request, services, section)
        if not isinstance(user, PortalUser):
            return user
        return await _section(request, services, user, section)

    view.__name__ = f"console_{section}"
    return view


for _name in SECTIONS:
    router.get(f"/{_name}", response_class=HTMLResponse)(_section_get(_name))


async def _act(
    request: Request,
    services: ServicesDep,
    section: str,
    action: Callable[[Any, PortalUser], Handler | Awaitable[str]],
    long_fields: Mapping[str, int] | None = None,
) -> Response:
    """Check session, role and CSRF; run the action; show the section with its message or error.

    ``action(form, user)`` validates the form and returns either a function run in one database
    transaction (returning the success message) or an awaitable (for async services).
    ``long_fields`` (name -> limit) are shown again whole up to their limit rather than cut at
    :data:`MAX_FORM_VALUE` (a pasted licence type definition)."""
    form = await request.form()
    user = await _gate(request, services, section)
    if not isinstance(user, PortalUser):
        return user
    try:
        check_csrf(request, services, form)
    except YwtError as exc:
        return error_page(request, services, exc, back=f"/console/{section}")
    values = {k: _text(form, k) for k in form if k != "csrf"}
    for name, limit in (long_fields or {}).items():
        if isinstance(raw := form.get(name), str):
            values[name] = raw[:limit]
    try:
        todo = action(form, user)
        if callable(todo):
            fn = todo
            message = await in_db(services, fn)
        else:
            message = await todo
    except YwtError as exc:
        return await _section(request, services, user, section, status_for(exc), error=exc, values=values, query=values)
    except (ValueError, KeyError) as exc:
        return await _section(
            request,
            services,
            user,
            section,
            400,
            values=values,
            query=values,
            error=InvalidInput(f"bad form value: {exc}"[:300]),
        )
    if isinstance(message, dict):
        return await _section(request, services, user, section, **message)
    return await _section(request, services, user, section, message=message)


# -- audit journal ------------------------------------------------------------------------------------


@router.post("/audit/verify", response_model=None)
async def audit_full_walk(request: Request, services: ServicesDep) -> Response:
    """Walk the whole journal now (the page itself walks only what was appended since the last
    walk in this process); the walk and its outcome are journaled."""

    def action(form: Any, user: PortalUser) -> Handler:
        def run(s: Session) -> dict[str, Any]:
            report = services.journal.verify(s, checkpoint_verifier, full=True)
            services.journal.append(
                s,
                actor=user.actor,
                action="audit.verify",
                target="journal",
                data={"ok": report.ok, "entries": report.entries, "first_bad_seq": report.first_bad_seq},
            )
            if report.ok:
                return {
                    "message": f"已完整校验 {report.entries} 条日志，链完整。Full walk: chain intact.",
                    "chain": report,
                }
            return {"chain": report}

        return run

    return await _act(request, services, "audit", action)


# -- seals --------------------------------------------------------------------------------------------


@router.post("/seals", response_model=None)
async def seal_apply(request: Request, services: ServicesDep) -> Response:
    def action(form: Any, user: PortalUser) -> Handler:
        application = SealApplication(
            owner_uscc=_text(form, "owner_uscc"),
            owner_name=_text(form, "owner_name"),
            seal_type=SealType(_text(form, "seal_type")),
            family=Family(_text(form, "family") or "sm2"),
            department=_text(form, "department") or None,
            name=_text(form, "name") or None,
            shape=SealShape(_text(form, "shape") or "round"),
            sensitive=_text(form, "sensitive") == "on",
        )

        def run(s: Session) -> str:
            info = services.seal.apply(s, application, actor=user.actor)
            return f"已提交印章申请「{info.name}」（{info.id}），待审批。Seal applied for."

        return run

    return await _act(request, services, "seals", action)


@router.get("/seals/{seal_id}/image", response_model=None)
async def seal_image(request: Request, services: ServicesDep, seal_id: str) -> Response:
    """Preview of a seal's image for its managers, whatever its state (the public image route
    serves the same PNG, which is printed on every document the seal signs)."""
    user = await _gate(request, services, "seals")
    if not isinstance(user, PortalUser):
        return user
    try:
        png = await in_db(services, lambda s: services.seal.image_png(s, seal_id[:64]))
    except YwtError as exc:
        return error_page(request, services, exc, back="/console/seals")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _upload(form: Any, name: str, limit: int) -> bytes | None:
    """The bytes of an uploaded file field (at most ``limit`` + 1, so the domain sees it is too
    large), or None when no file was chosen."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data: bytes = upload.file.read(limit + 1)
    return data


@router.post("/seals/{seal_id}/image", response_model=None)
async def seal_upload_image(request: Request, services: ServicesDep, seal_id: str) -> Response:
    """Replace a seal's generated image by an uploaded PNG (before approval; validated by the seal
    service: PNG only, size and pixel limits, fully decodable; journaled as ``seal.image``)."""

    def action(form: Any, user: PortalUser) -> Handler:
        png = _upload(form, "image", MAX_UPLOAD_BYTES)
        if png is None:
            raise InvalidInput("choose a PNG file to upload")
        width = _text(form, "width_mm")
        width_mm = float(width) if width else None  # ValueError -> 400 with a message
        sid = seal_id[:64]

        def run(s: Session) -> str:
            info = services.seal.set_image(s, sid, png, actor=user.actor, width_mm=width_mm)
            return f"已更新印章「{info.name}」的印模图像（{info.width_mm:g} mm）。Seal image uploaded."

        return run

    return await _act(request, services, "seals", action)


@router.post("/seals/{seal_id}/{op}", response_model=None)
async def seal_action(request: Request, services: ServicesDep, seal_id: str, op: str) -> Response:
    def action(form: Any, user: PortalUser) -> Handler:
        if op not in SEAL_ACTIONS:
            raise InvalidInput(f"unknown seal action {op[:20]!r}")
        reason = _text(form, "reason") or None
        sid = seal_id[:64]

        def run(s: Session) -> str:
            svc = services.seal
            if op == "approve":
                info = svc.approve(s, sid, actor=user.actor)
            elif op == "activate":
                info = svc.activate(s, sid, actor=user.actor)
            elif op == "suspend":
                info = svc.suspend(s, sid, actor=user.actor, reason=reason)
            elif op == "resume":
                info = svc.resume(s, sid, actor=user.actor)
            else:
                info = svc.revoke(s, sid, actor=user.actor, reason=reason or "cessation_of_operation")
            return f"印章「{info.name}」现为：{SEAL_STATUS_ZH[info.status.value]}"

        return run

    return await _act(request, services, "seals", action)


# -- grants -------------------------------------------------------------------------------------------


def _until(value: str) -> datetime | None:
    """A date (YYYY-MM-DD, end of that day in Beijing) or nothing."""
    if not value:
        return None
    day = datetime.strptime(value, "%Y-%m-%d").date()  # ValueError -> 400 with a message
    beijing = datetime.combine(day, time(23, 59, 59), tzinfo=UTC) - timedelta(hours=8)
    return beijing


@router.post("/grants", response_model=None)
async def grant_create(request: Request, services: ServicesDep) -> Response:
    def action(form: Any, user: PortalUser) -> Handler:
        seal_id, client_id = _text(form, "seal_id"), _text(form, "client_id")
        types = tuple(t.strip() for t in _text(form, "document_types").split(",") if t.strip())
        until = _until(_text(form, "not_after"))

        def run(s: Session) -> str:
            services.identity.clients.get(s, client_id)  # an unknown client is refused (404 page)
            g = services.seal.grant(s, seal_id, client_id, actor=user.actor, document_types=types, not_after=until)
            state = "✔ 已生效 active" if g.status.value == "active" else "○ 待第二名管理员审批 pending"
            return f"已授权 {g.client_id} 使用印章（{g.id}）：{state}"

        return run

    return await _act(request, services, "grants", action)


@router.post("/grants/{grant_id}/{op}", response_model=None)
async def grant_action(request: Request, services: ServicesDep, grant_id: str, op: str) -> Response:
    def action(form: Any, user: PortalUser) -> Handler:
        if op not in ("approve", "revoke"):
            raise InvalidInput(f"unknown grant action {op[:20]!r}")

        def run(s: Session) -> str:
            if op == "approve":
                g = services.seal.approve_grant(s, grant_id[:40], actor=user.actor)
            else:
                g = services.seal.revoke_grant(s, grant_id[:40], actor=user.actor)
            return f"授权 {g.id} 现为：{g.status.value}"

        return run

    return await _act(request, services, "grants", action)


# -- clients ------------------------------------------------------------------------------------------


@router.post("/clients", response_model=None)
async def client_create(request: Request, services: ServicesDep) -> Response:
    """A machine client (client_credentials) acting for an entity, e.g. an approval system."""

    def action(form: Any, user: PortalUser) -> Handler:
        spec = ClientSpec(
            client_id=_text(form, "client_id"),
            name=_text(form, "client_name"),
            client_type=ClientType.CONFIDENTIAL,
            auth_method=AuthMethod.CLIENT_SECRET_BASIC,
            grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
            scopes=frozenset(_text(form, "scope").split()),
            acts_for_uscc=_text(form, "acts_for") or None,
        )

        def run(s: Session) -> dict[str, Any]:
            client, secret = services.identity.clients.create(s, spec, actor=user.actor)
            return {
                "message": f"已注册应用 {client.spec.client_id}。Client registered.",
                "created": {"client_id": client.spec.client_id, "secret": secret},
            }

        return run

    return await _act(request, services, "clients", action)


@router.post("/clients/{client_id}/{op}", response_model=None)
async def client_action(request: Request, services: ServicesDep, client_id: str, op: str) -> Response:
    """Disable or enable a client, or give it a new secret (shown once; the old one stops working)."""

    def action(form: Any, user: PortalUser) -> Handler:
        if op not in CLIENT_ACTIONS:
            raise InvalidInput(f"unknown client action {op[:20]!r}")
        cid = client_id[:64]

        def run(s: Session) -> str | dict[str, Any]:
            clients = services.identity.clients
            if op == "secret":
                client, secret = clients.rotate_secret(s, cid, actor=user.actor)
                return {
                    "message": f"已为应用 {client.spec.client_id} 生成新密钥，旧密钥已失效。Secret rotated.",
                    "created": {"client_id": client.spec.client_id, "secret": secret, "rotated": True},
                }
            info = clients.set_active(s, cid, op == "enable", actor=user.actor)
            state = "✔ 启用 active" if info.active else "✘ 停用 disabled"
            return f"应用 {info.spec.client_id} 现为：{state}"

        return run

    return await _act(request, services, "clients", action)


# -- licence types ------------------------------------------------------------------------------------


@router.post("/types", response_model=None)
async def type_define(request: Request, services: ServicesDep) -> Response:
    """A new licence type, or a new version of one, from its JSON definition (pasted or uploaded;
    the same format as ``POST /license/v1/types`` and ``ywt license types add``), validated and
    journaled by the licence registry."""

    def action(form: Any, user: PortalUser) -> Handler:
        definition: str | bytes | None = _upload(form, "definition_file", registry.MAX_DEFINITION_BYTES)
        if definition is None:
            pasted = form.get("definition")
            definition = pasted if isinstance(pasted, str) and pasted.strip() else None
        if definition is None:
            raise InvalidInput("paste the type's JSON definition or choose a .json file")
        target = _text(form, "target")

        def run(s: Session) -> str:
            if target:
                info = registry.update_type(s, services.journal, target, definition, actor=user.actor)
                done = "已发布新版本 New version published"
            else:
                info = registry.add_type(s, services.journal, definition, actor=user.actor)
                done = "已新增证照类型 Licence type added"
            return f"{done}：「{info.license_type.name}」{info.type_code} v{info.version}"

        return run

    return await _act(request, services, "types", action, long_fields={"definition": registry.MAX_DEFINITION_BYTES})


@router.post("/types/{type_code}/{op}", response_model=None)
async def type_action(request: Request, services: ServicesDep, type_code: str, op: str) -> Response:
    """Stop (or resume) issuing licences of a type; licences already issued are untouched."""

    def action(form: Any, user: PortalUser) -> Handler:
        if op not in TYPE_ACTIONS:
            raise InvalidInput(f"unknown licence type action {op[:20]!r}")
        code = type_code[:40]

        def run(s: Session) -> str:
            info = registry.set_type_active(s, services.journal, code, op == "activate", actor=user.actor)
            state = "✔ 启用 active" if info.active else "— 停用 inactive"
            return f"证照类型「{info.license_type.name}」{info.type_code} 现为：{state}"

        return run

    return await _act(request, services, "types", action)


# -- licences -----------------------------------------------------------------------------------------


@router.post("/licences", response_model=None)
async def licence_issue(request: Request, services: ServicesDep) -> Response:
    """Issue a licence from the type's fields (validated by the licence service, every field error shown)."""
    licenses = _licenses(services)

    def action(form: Any, user: PortalUser) -> Awaitable[str]:
        type_code = _text(form, "type_code")
        issuer = _text(form, "issuer_code") or None
        data = {k[2:]: _text(form, k) for k in form if k.startswith("f_") and _text(form, k)}

        async def run() -> str:
            view = await licenses.issue(Caller(actor=user.actor, operator=True), type_code, data, issuer_code=issuer)
            return (
                f"已签发「{view.type_name}」{view.number}（持证主体 {view.holder_name}）。"
                f"Licence issued: {view.identifier}"
            )

        return run()

    return await _act(request, services, "licences", action)


@router.post("/licences/{licence_id}/{op}", response_model=None)
async def licence_action(request: Request, services: ServicesDep, licence_id: str, op: str) -> Response:
    licenses = _licenses(services)

    def action(form: Any, user: PortalUser) -> Handler:
        if op not in LICENCE_ACTIONS:
            raise InvalidInput(f"unknown licence action {op[:20]!r}")
        reason = _text(form, "reason") or None

        def run(s: Session) -> str:
            caller = Caller(actor=user.actor, operator=True)
            view = licenses.change_status(s, caller, licence_id[:40], op, reason)
            return f"证照 {view.number} 现为：{view.status.value}"

        return run

    return await _act(request, services, "licences", action)
