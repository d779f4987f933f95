"""E-licence endpoints (DESIGN.md "Public surface": licence). Translation only: each route turns the
principal into a :class:`license.service.Caller`, calls one service method and renders the result.

Who may call what:

- issue, correct, revoke / suspend / resume, search: an issuing department's machine client
  (client_credentials token with scope ``license:issue``, acting for the department's USCC) —
  for its own licences only — or an operator with the ``license_issuer`` role (any issuer);
- a licence's details and PDF: those, or its holder;
- wallet and shares: the holder, logged in through our OIDC provider (principal kind ``user``;
  :meth:`license.service.LicenseService.holder_for_user` maps the account to the holder);
- ``/license/v1/shared/{token}``: anyone holding a share link (journaled);
- types: anyone reads; operators (``license_issuer``) add and update.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from api.auth import CurrentPrincipal, Principal, requires
from api.deps import ServicesDep, SessionDep
from core.errors import ConfigurationError, Forbidden
from license import registry
from license.errors import IssuerNotAllowed
from license.holders import HolderKindRef, HolderRef
from license.layout import Align, Border, RecordSlot
from license.metadata import CORE_ELEMENTS, STATUS_ELEMENT
from license.qr import LicenseStatus
from license.service import Caller, LicenseService, LicenseView, SearchFilters
from license.shares import Shares, ShareState
from license.types import FieldKind, HolderKind, ValidityKind

router = APIRouter(prefix="/license/v1", tags=["license"])

ISSUE_SCOPE = "license:issue"
OPERATOR_ROLES = frozenset({"administrator", "license_issuer"})


def _svc(services: ServicesDep) -> LicenseService:
    svc = services.licenses
    if svc is None:
        raise ConfigurationError("the licence service is not configured")
    return svc


LicensesDep = Annotated[LicenseService, Depends(_svc)]


def _managing_caller(principal: Principal) -> Caller:
    """Issuer client (scope ``license:issue`` + entity) or licence operator; else 403."""
    if principal.kind == "client":
        if ISSUE_SCOPE not in principal.scopes:
            raise Forbidden(f"the token lacks scope {ISSUE_SCOPE}", required=[ISSUE_SCOPE])
        if not principal.entity_uscc:
            raise IssuerNotAllowed("this client does not act for an issuing department")
        return Caller(actor=principal.actor, issuer_code=principal.entity_uscc)
    if principal.kind == "operator" and OPERATOR_ROLES & principal.roles:
        return Caller(actor=principal.actor, operator=True)
    raise Forbidden(
        f"managing licences needs scope {ISSUE_SCOPE} (department client) or role license_issuer",
        required=[ISSUE_SCOPE],
    )


@requires("license_issuer", scopes=(ISSUE_SCOPE,))
def managing_caller(principal: CurrentPrincipal) -> Caller:
    return _managing_caller(principal)


ManagingCaller = Annotated[Caller, Depends(managing_caller)]


def _holder(principal: Principal, licenses: LicenseService, session: Any) -> HolderRef:
    if principal.kind != "user":
        raise Forbidden("the wallet is for licence holders logged in with their own account")
    holder = licenses.holder_for_user(session, principal.subject, principal.entity_uscc)
    if holder is None:
        raise Forbidden("this account has no verified identity linked to licences")
    return holder


@requires("license_issuer", scopes=(ISSUE_SCOPE,), holder=True)
def any_caller(principal: CurrentPrincipal, licenses: LicensesDep, session: SessionDep) -> Caller:
    """Issuer client / operator, or a holder reading their own licence."""
    if principal.kind == "user":
        return Caller(actor=principal.actor, holder=_holder(principal, licenses, session))
    return _managing_caller(principal)


ReadingCaller = Annotated[Caller, Depends(any_caller)]


# --- the documented shapes (LicenseView.as_dict, page of them); responses are built from the views --


class _Party(BaseModel):
    code: str
    name: str


class _Holder(BaseModel):
    kind: str = Field(description="person | entity")
    name: str
    code: str = Field(description="masked citizen ID number or USCC")


class _Pdf(BaseModel):
    sha256: str
    size: int


class _Qr(BaseModel):
    payload: str
    url: str


class _Seal(BaseModel):
    id: str
    name: str


class LicenceOut(BaseModel):
    """A licence version (ID numbers masked; status effective as of today)."""

    id: str
    lineage_id: str
    identifier: str = Field(description="1.2.156.3005.2.<type>.<issuer USCC>.<serial>.<version>.<check>")
    type_code: str
    type_name: str
    template_version: int
    issuer: _Party
    serial: str
    version: int
    number: str
    holder: _Holder
    data: dict[str, Any]
    issue_date: date
    valid_from: date
    valid_to: date | None
    open_ended: bool
    status: LicenseStatus
    status_reason: str | None
    status_changed_at: datetime
    superseded_by: str | None
    previous_id: str | None
    pdf: _Pdf
    data_hash: str
    qr: _Qr
    seal: _Seal
    signing_time: datetime
    digitised: bool
    created_at: datetime


class LicencePageOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[LicenceOut]


class WalletOut(BaseModel):
    items: list[LicenceOut]


# --- licence types: the JSON definition (LicenseType.to_dict) as answered; optional members absent ---

#: a number as the definitions write it (``36`` rather than ``36.0``)
Number = int | float
#: a member that the definition leaves out when it has no value (never ``null``)
Absent = SkipJsonSchema[None]
#: a rectangle in PDF points: [x, y, width, height]
BoxList = Annotated[list[Number], Field(min_length=4, max_length=4, description="[x, y, width, height] in points")]


class FieldSpecOut(BaseModel):
    key: str
    label_zh: str
    label_en: str
    kind: FieldKind
    required: bool
    max_length: int | Absent = None
    pattern: str | Absent = None
    options: list[str] | Absent = None
    min_value: int | Absent = None
    max_value: int | Absent = None
    unit: str | Absent = None
    multiline: bool | Absent = None
    not_in_future: bool | Absent = None


class ValidityRuleOut(BaseModel):
    kind: ValidityKind
    years: int | Absent = None
    from_field: str | Absent = None
    to_field: str | Absent = None


class PlacementOut(BaseModel):
    """Where one value is printed: a type field (``field``) or a record value (``record``)."""

    field: str | Absent = None
    record: RecordSlot | Absent = None
    box: BoxList
    label: str | Absent = None
    label_width: Number
    font_size: Number
    align: Align | Absent = None


class StaticTextOut(BaseModel):
    text: str
    box: BoxList
    font_size: Number
    align: Align | Absent = None


class LayoutOut(BaseModel):
    page_size: str
    margin: Number
    border: Border
    accent_color: str
    title: str
    title_box: BoxList
    title_font_size: Number
    qr: BoxList
    seal: BoxList
    placements: list[PlacementOut]
    texts: list[StaticTextOut]


class TypeDefinitionOut(BaseModel):
    format: int = Field(description="format version of the definition")
    type_code: str
    template_version: int
    name: str
    name_en: str
    holder_kind: HolderKind
    holder_name_field: str
    holder_code_field: str
    number_field: str | None
    seal_ref: str
    fields: list[FieldSpecOut]
    validity: ValidityRuleOut
    date_order: list[Annotated[list[str], Field(min_length=2, max_length=2)]]
    metadata: dict[str, str] = Field(description="GB/T 36903 extension element (KZ_*) -> field key")
    layout: LayoutOut


class TypeVersionOut(TypeDefinitionOut):
    """A licence type's definition at one version, and whether the type is active."""

    version: int
    active: bool


class TypeOut(TypeVersionOut):
    """A licence type's full definition (as ``POST /license/v1/types`` takes it)."""

    builtin: bool


class TypeSummaryOut(BaseModel):
    """A licence type in the list: codes, names, holder kind, current template version, fields."""

    type_code: str
    name: str
    name_en: str
    holder_kind: HolderKind
    version: int
    active: bool
    builtin: bool
    seal_ref: str
    fields: list[FieldSpecOut]


class TypeActiveOut(BaseModel):
    type_code: str
    version: int
    active: bool


#: a timestamp as the views write it (``datetime.isoformat()``), passed through unchanged
IsoDateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# --- shares ---------------------------------------------------------------------------------


class ShareOut(BaseModel):
    """A share of a licence with a named third party (the token is never shown again)."""

    id: str
    licence_id: str
    identifier: str
    type_name: str
    recipient: str
    purpose: str | None
    created_at: IsoDateTime
    expires_at: IsoDateTime
    revoked_at: IsoDateTime | None
    state: ShareState
    access_count: int
    last_access_at: IsoDateTime | None


class ShareCreatedOut(ShareOut):
    """A new share, with its token and link: shown only in this answer."""

    token: str
    link: str


class _ShareRef(BaseModel):
    id: str
    recipient: str
    expires_at: IsoDateTime


class SharedOut(BaseModel):
    """What a share link shows the third party: the share and the licence (current version)."""

    share: _ShareRef
    licence: LicenceOut


#: GB/T 36903 metadata of a licence: element name -> value, elements without a value left out
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GB/T 36903 licence metadata (core elements, then KZ_* extension elements); personal data masked",
    "properties": {name: {"type": "string"} for name in (*CORE_ELEMENTS, STATUS_ELEMENT)},
    "additionalProperties": {"type": "string"},
}


def _doc(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": model.__doc__ or model.__name__}}


LICENCE_DOC = _doc(LicenceOut)
PDF_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the sealed licence PDF (X-Licence-Status: its status)"}
}


def _pdf_response(pdf: bytes, filename: str, status: LicenseStatus) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Licence-Status": status.value,
            "Cache-Control": "no-store",
        },
    )


def _out(view: LicenseView, status_code: int = 200) -> JSONResponse:
    return JSONResponse(view.as_dict(), status_code=status_code, headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------------------- types


@router.get("/types", response_model=list[TypeSummaryOut], response_model_exclude_unset=True)
def list_types(session: SessionDep, include_inactive: bool = False) -> list[dict[str, Any]]:
    """Licence types with their codes, names, holder kind and current template version."""
    return [
        {
            "type_code": info.type_code,
            "name": info.license_type.name,
            "name_en": info.license_type.name_en,
            "holder_kind": info.license_type.holder_kind.value,
            "version": info.version,
            "active": info.active,
            "builtin": info.builtin,
            "seal_ref": info.license_type.seal_ref,
            "fields": [f.to_dict() for f in info.license_type.fields],
        }
        for info in registry.list_types(session, include_inactive=include_inactive)
    ]


@router.get("/types/{type_code}", response_model=TypeOut, response_model_exclude_unset=True)
def get_type(session: SessionDep, type_code: str, version: int | None = None) -> dict[str, Any]:
    """A type's full definition (JSON, as ``POST /license/v1/types`` takes it)."""
    info = registry.get_type(session, type_code, version)
    return {"version": info.version, "active": info.active, "builtin": info.builtin, **info.license_type.to_dict()}


@requires("license_issuer")
def _type_operator(principal: CurrentPrincipal) -> Principal:
    if principal.kind == "operator" and OPERATOR_ROLES & principal.roles:
        return principal
    raise Forbidden("managing licence types needs the license_issuer role", required=["license_issuer"])


@router.post("/types", status_code=201, response_model=TypeVersionOut, response_model_exclude_unset=True)
def add_type(
    services: ServicesDep,
    session: SessionDep,
    principal: Annotated[Principal, Depends(_type_operator)],
    definition: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Add a licence type from its JSON definition (validated; see ``license/builtin_types``)."""
    info = registry.add_type(session, services.journal, definition, actor=principal.actor)
    return {"version": info.version, "active": info.active, **info.license_type.to_dict()}


@router.put("/types/{type_code}", response_model=TypeVersionOut, response_model_exclude_unset=True)
def update_type(
    services: ServicesDep,
    session: SessionDep,
    principal: Annotated[Principal, Depends(_type_operator)],
    type_code: str,
    definition: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """A new version of a type (old licences keep the version they were rendered from)."""
    info = registry.update_type(session, services.journal, type_code, definition, actor=principal.actor)
    return {"version": info.version, "active": info.active, **info.license_type.to_dict()}


class ActiveIn(BaseModel):
    active: bool


@router.post("/types/{type_code}/active", response_model=TypeActiveOut)
def set_type_active(
    services: ServicesDep,
    session: SessionDep,
    principal: Annotated[Principal, Depends(_type_operator)],
    type_code: str,
    body: ActiveIn,
) -> dict[str, Any]:
    info = registry.set_type_active(session, services.journal, type_code, body.active, actor=principal.actor)
    return {"type_code": info.type_code, "version": info.version, "active": info.active}


# ------------------------------------------------------------------------------------ licences


class IssueIn(BaseModel):
    type_code: str = Field(max_length=40)
    data: dict[str, Any]
    issuer_code: str | None = Field(default=None, max_length=40, description="operators only")


@router.post("/licenses", status_code=201, response_class=JSONResponse, responses=_doc(LicenceOut, 201))
async def issue(
    licenses: LicensesDep,
    caller: ManagingCaller,
    body: IssueIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JSONResponse:
    """Issue a licence: validate, render, QR, seal (certification, B-T), store, journal. Same
    ``Idempotency-Key`` + same request: the licence issued the first time (``Idempotent-Replayed:
    true``), never a second; same key + another request: 422."""
    view = await licenses.issue(
        caller, body.type_code, body.data, issuer_code=body.issuer_code, idempotency_key=idempotency_key
    )
    resp = _out(view, 201)
    resp.headers["Idempotent-Replayed"] = "true" if view.replayed else "false"
    return resp


@router.get("/licenses", response_class=JSONResponse, responses=_doc(LicencePageOut))
def search(
    licenses: LicensesDep,
    session: SessionDep,
    caller: ManagingCaller,
    type_code: Annotated[str | None, Query(max_length=40)] = None,
    issuer_code: Annotated[str | None, Query(max_length=40)] = None,
    status: LicenseStatus | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    holder_kind: HolderKindRef | None = None,
    number: Annotated[str | None, Query(max_length=64)] = None,
    digitised: bool | None = None,
    current_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> JSONResponse:
    """The issuer's licences (operators: any issuer), filtered. To find a holder's licences use
    ``POST /license/v1/licenses/search``: an ID number never goes into a URL (and its logs)."""
    filters = SearchFilters(
        type_code=type_code,
        issuer_code=issuer_code,
        status=status,
        issued_from=issued_from,
        issued_to=issued_to,
        holder_kind=holder_kind,
        number=number,
        digitised=digitised,
        current_only=current_only,
        limit=limit,
        offset=offset,
    )
    return _page(licenses.search(session, caller, filters))


class SearchIn(BaseModel):
    type_code: str | None = Field(default=None, max_length=40)
    issuer_code: str | None = Field(default=None, max_length=40)
    status: LicenseStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    holder_kind: HolderKindRef | None = None
    holder_code: str | None = Field(default=None, max_length=40, description="citizen ID or USCC (keyed-hash search)")
    number: str | None = Field(default=None, max_length=64)
    digitised: bool | None = None
    current_only: bool = False
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10**9)


@router.post("/licenses/search", response_class=JSONResponse, responses=_doc(LicencePageOut))
def search_post(licenses: LicensesDep, session: SessionDep, caller: ManagingCaller, body: SearchIn) -> JSONResponse:
    """Search with the criteria in the body, including the holder's code (found by its keyed hash)."""
    return _page(licenses.search(session, caller, SearchFilters(**body.model_dump())))


def _page(page: Any) -> JSONResponse:
    return JSONResponse(
        {"total": page.total, "limit": page.limit, "offset": page.offset, "items": [v.as_dict() for v in page.items]},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/licenses/{licence_id}", response_class=JSONResponse, responses=_doc(LicenceOut))
def get_licence(licenses: LicensesDep, session: SessionDep, caller: ReadingCaller, licence_id: str) -> JSONResponse:
    return _out(licenses.get(session, caller, licence_id))


@router.get("/licenses/{licence_id}/pdf", response_class=Response, responses=PDF_DOC)
def get_pdf(licenses: LicensesDep, session: SessionDep, caller: ReadingCaller, licence_id: str) -> Response:
    doc = licenses.pdf(session, caller, licence_id)
    return _pdf_response(doc.pdf, doc.filename, doc.status)


@router.get(
    "/licenses/{licence_id}/metadata",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": METADATA_SCHEMA}}, "description": "GB/T 36903 metadata"}
    },
)
def get_metadata(licenses: LicensesDep, session: SessionDep, caller: ReadingCaller, licence_id: str) -> Response:
    """GB/T 36903 metadata (element names ZZMC, ZZBH, ZZBS, ...) as JSON, personal data masked."""
    meta = licenses.metadata(session, caller, licence_id)
    return Response(
        meta.to_json_bytes(), media_type="application/json; charset=utf-8", headers={"Cache-Control": "no-store"}
    )


class ReasonIn(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)


def _change(action: str) -> Any:
    def route(
        licenses: LicensesDep,
        session: SessionDep,
        caller: ManagingCaller,
        licence_id: str,
        body: Annotated[ReasonIn | None, Body()] = None,
    ) -> JSONResponse:
        return _out(licenses.change_status(session, caller, licence_id, action, body.reason if body else None))

    route.__name__ = f"{action}_licence"
    route.__doc__ = f"{action.capitalize()} a licence (takes effect for every verifier at once)."
    return route


router.post("/licenses/{licence_id}/revoke", response_class=JSONResponse, responses=LICENCE_DOC)(_change("revoke"))
router.post("/licenses/{licence_id}/suspend", response_class=JSONResponse, responses=LICENCE_DOC)(_change("suspend"))
router.post("/licenses/{licence_id}/resume", response_class=JSONResponse, responses=LICENCE_DOC)(_change("resume"))


class CorrectIn(BaseModel):
    data: dict[str, Any]


@router.post(
    "/licenses/{licence_id}/correct", status_code=201, response_class=JSONResponse, responses=_doc(LicenceOut, 201)
)
async def correct(
    licenses: LicensesDep,
    caller: ManagingCaller,
    licence_id: str,
    body: CorrectIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> JSONResponse:
    """Issue the corrected version (+1); the old one becomes superseded. ``Idempotency-Key`` as
    for issuance: a retry returns the version the first request made."""
    view = await licenses.correct(caller, licence_id, body.data, idempotency_key=idempotency_key)
    resp = _out(view, 201)
    resp.headers["Idempotent-Replayed"] = "true" if view.replayed else "false"
    return resp


# -------------------------------------------------------------------------------------- wallet


def wallet_holder(principal: CurrentPrincipal, licenses: LicensesDep, session: SessionDep) -> HolderRef:
    return _holder(principal, licenses, session)


WalletHolder = Annotated[HolderRef, Depends(wallet_holder)]


@router.get("/wallet", response_class=JSONResponse, responses=_doc(WalletOut))
def wallet(
    licenses: LicensesDep, session: SessionDep, holder: WalletHolder, include_history: bool = False
) -> JSONResponse:
    """The logged-in holder's licences (current versions; ``include_history`` adds superseded ones)."""
    items = licenses.wallet(session, holder, include_history=include_history)
    return JSONResponse({"items": [v.as_dict() for v in items]}, headers={"Cache-Control": "no-store"})


@router.get("/wallet/{licence_id}", response_class=JSONResponse, responses=_doc(LicenceOut))
def wallet_item(licenses: LicensesDep, session: SessionDep, holder: WalletHolder, licence_id: str) -> JSONResponse:
    return _out(licenses.get(session, Caller(actor="holder", holder=holder), licence_id))


@router.get("/wallet/{licence_id}/pdf", response_class=Response, responses=PDF_DOC)
def wallet_pdf(licenses: LicensesDep, session: SessionDep, holder: WalletHolder, licence_id: str) -> Response:
    doc = licenses.pdf(session, Caller(actor="holder", holder=holder), licence_id)
    return _pdf_response(doc.pdf, doc.filename, doc.status)


# -------------------------------------------------------------------------------------- shares


class ShareIn(BaseModel):
    licence_id: str = Field(max_length=40)
    recipient: str = Field(max_length=400, description="the named third party, e.g. 中国银行天津分行")
    expires_in_minutes: int | None = Field(default=None, description="5 .. 43200 (30 days); default 7 days")
    purpose: str | None = Field(default=None, max_length=800)


@router.post("/shares", status_code=201, response_class=JSONResponse, responses=_doc(ShareCreatedOut, 201))
def create_share(
    licenses: LicensesDep, session: SessionDep, principal: CurrentPrincipal, holder: WalletHolder, body: ShareIn
) -> JSONResponse:
    """Share a licence with a named third party until a deadline; the token is shown only here."""
    expires = timedelta(minutes=body.expires_in_minutes) if body.expires_in_minutes is not None else None
    shares = Shares(licenses)
    view, token = shares.create(
        session,
        holder,
        actor=principal.actor,
        licence_id=body.licence_id,
        recipient=body.recipient,
        expires_in=expires,
        purpose=body.purpose,
    )
    return JSONResponse(
        {**view.as_dict(), "token": token, "link": shares.link(token)},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/shares", response_model=list[ShareOut])
def list_shares(licenses: LicensesDep, session: SessionDep, holder: WalletHolder) -> list[dict[str, Any]]:
    return [s.as_dict() for s in Shares(licenses).list(session, holder)]


@router.post("/shares/{share_id}/revoke", response_model=ShareOut)
def revoke_share(
    licenses: LicensesDep, session: SessionDep, principal: CurrentPrincipal, holder: WalletHolder, share_id: str
) -> dict[str, Any]:
    return Shares(licenses).revoke(session, holder, share_id, actor=principal.actor).as_dict()


def _requester(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return host[:64]


@router.get("/shared/{token}", response_class=JSONResponse, responses=_doc(SharedOut))
def shared(licenses: LicensesDep, request: Request, token: str) -> JSONResponse:
    """What a share link shows the third party: the licence (current version, live status)."""
    got = Shares(licenses).access(token, want_pdf=False, requester=_requester(request))
    body = {
        "share": {"id": got.share_id, "recipient": got.recipient, "expires_at": got.expires_at.isoformat()},
        "licence": got.licence.as_dict(),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/shared/{token}/pdf", response_class=Response, responses=PDF_DOC)
def shared_pdf(licenses: LicensesDep, request: Request, token: str) -> Response:
    got = Shares(licenses).access(token, want_pdf=True, requester=_requester(request))
    assert got.pdf is not None
    return _pdf_response(got.pdf, f"licence-{got.licence.serial}-{got.licence.version:03d}.pdf", got.licence.status)
