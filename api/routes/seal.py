"""Seal endpoints: registry and lifecycle (operators), grants, PDF sealing (machine clients),
and GB/T 38540 SES verification (anyone). Translation only: one service call per route."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, Principal, RequireRoles, RequireScopes, requires
from api.deps import ServicesDep, SessionDep
from api.ratelimit import SEAL_LIMIT
from core.errors import Forbidden
from keys import Family
from seal.domain import GrantInfo, SealApplication, SealInfo, SealStatus, SealType
from seal.images import SealShape
from seal.pdf import PadesLevel
from seal.ses import SesReport

router = APIRouter(prefix="/seal/v1", tags=["seal"])

SealManager = Annotated[Principal, Depends(RequireRoles("seal_manager"))]
SealUser = Annotated[Principal, Depends(RequireScopes("seal:sign"))]
PDF = "application/pdf"


class SealOut(BaseModel):
    id: str
    es_id: str
    owner_uscc: str
    owner_name: str
    department: str | None
    seal_type: SealType
    seal_type_label: str
    name: str
    family: Family
    key_algorithm: str | None = Field(description="key pair algorithm, e.g. rsa-3072, ec-p256, sm2")
    signature_algorithm: str
    status: SealStatus
    sensitive: bool
    valid_from: datetime
    valid_to: datetime
    width_mm: float
    height_mm: float
    image_source: str
    image_sha256: str
    cert_serial: str | None
    has_ses_seal: bool
    applied_by: str
    approved_by: str | None
    status_reason: str | None
    image_url: str


def _seal_out(s: SealInfo) -> SealOut:
    return SealOut(
        id=s.id,
        es_id=s.es_id,
        owner_uscc=s.owner_uscc,
        owner_name=s.owner_name,
        department=s.department,
        seal_type=s.seal_type,
        seal_type_label=s.seal_type.label,
        name=s.name,
        family=s.family,
        key_algorithm=s.key_algorithm,
        signature_algorithm=s.signature_algorithm,
        status=s.status,
        sensitive=s.sensitive,
        valid_from=s.valid_from,
        valid_to=s.valid_to,
        width_mm=s.width_mm,
        height_mm=s.height_mm,
        image_source=s.image_source,
        image_sha256=s.image_sha256,
        cert_serial=s.cert_serial,
        has_ses_seal=s.has_ses_seal,
        applied_by=s.applied_by,
        approved_by=s.approved_by,
        status_reason=s.status_reason,
        image_url=f"/seal/v1/seals/{s.id}/image",
    )


class SealApplyIn(BaseModel):
    owner_uscc: str = Field(description="GB 32100 unified social credit code of the owning entity")
    owner_name: str
    seal_type: SealType
    family: Family = Family.SM2
    department: str | None = None
    name: str | None = None
    valid_days: int = 3 * 365
    shape: SealShape = SealShape.ROUND
    width_mm: float = 42.0
    sensitive: bool = False


class ReasonIn(BaseModel):
    reason: str | None = None


class GrantIn(BaseModel):
    seal_id: str
    client_id: str
    document_types: list[str] = Field(default_factory=list, max_length=20)
    not_after: datetime | None = None


class GrantOut(BaseModel):
    id: str
    seal_id: str
    client_id: str
    document_types: list[str]
    not_after: datetime | None
    status: str
    requested_by: str
    approved_by: str | None


def _grant_out(g: GrantInfo) -> GrantOut:
    return GrantOut(
        id=g.id,
        seal_id=g.seal_id,
        client_id=g.client_id,
        document_types=list(g.document_types),
        not_after=g.not_after,
        status=g.status.value,
        requested_by=g.requested_by,
        approved_by=g.approved_by,
    )


def _is_manager(p: Principal) -> bool:
    return bool({"administrator", "seal_manager"} & p.roles)


def _client_key(p: Principal) -> str:
    return p.client_id or p.subject


@requires("seal_manager", scopes=("seal:sign",))
def seal_reader(principal: CurrentPrincipal) -> Principal:
    """Seal managers read every seal; a client with ``seal:sign`` reads the seals granted to it."""
    if _is_manager(principal) or "seal:sign" in principal.scopes:
        return principal
    raise Forbidden("reading seals needs the seal_manager role or the seal:sign scope", required=["seal:sign"])


SealReader = Annotated[Principal, Depends(seal_reader)]


# ---------------------------------------------------------------------------------- seals


@router.get("/seals")
def list_seals(
    principal: SealReader,
    services: ServicesDep,
    session: SessionDep,
    owner_uscc: Annotated[str | None, Query(max_length=18)] = None,
    status: SealStatus | None = None,
) -> list[SealOut]:
    """Seal managers see every seal; a client with ``seal:sign`` sees the seals granted to it."""
    if _is_manager(principal):
        seals = services.seal.list_seals(session, owner_uscc=owner_uscc, status=status)
    else:
        seals = services.seal.list_seals(
            session, owner_uscc=owner_uscc, status=status, client_id=_client_key(principal)
        )
    return [_seal_out(s) for s in seals]


@router.post("/seals", status_code=201)
def apply_for_seal(body: SealApplyIn, principal: SealManager, services: ServicesDep, session: SessionDep) -> SealOut:
    """Apply for a seal; the image is generated (CJK name along the arc). Status ``applied``."""
    application = SealApplication(**body.model_dump())
    return _seal_out(services.seal.apply(session, application, actor=principal.actor))


@router.get("/seals/{seal_id}")
def get_seal(seal_id: str, principal: SealReader, services: ServicesDep, session: SessionDep) -> SealOut:
    if _is_manager(principal):
        return _seal_out(services.seal.get(session, seal_id))
    granted = services.seal.list_seals(session, client_id=_client_key(principal))
    for s in granted:
        if s.id == seal_id:
            return _seal_out(s)
    raise Forbidden("this seal is not granted to you", seal_id=seal_id[:40])


@router.post("/seals/{seal_id}/approve")
def approve_seal(seal_id: str, principal: SealManager, services: ServicesDep, session: SessionDep) -> SealOut:
    """Key pair, Seal CA certificate and SES_Seal are made now."""
    return _seal_out(services.seal.approve(session, seal_id, actor=principal.actor))


@router.post("/seals/{seal_id}/activate")
def activate_seal(seal_id: str, principal: SealManager, services: ServicesDep, session: SessionDep) -> SealOut:
    return _seal_out(services.seal.activate(session, seal_id, actor=principal.actor))


@router.post("/seals/{seal_id}/suspend")
def suspend_seal(
    seal_id: str, principal: SealManager, services: ServicesDep, session: SessionDep, body: ReasonIn | None = None
) -> SealOut:
    """certificateHold on the seal certificate; CRL and OCSP show it at once."""
    reason = body.reason if body else None
    return _seal_out(services.seal.suspend(session, seal_id, actor=principal.actor, reason=reason))


@router.post("/seals/{seal_id}/resume")
def resume_seal(seal_id: str, principal: SealManager, services: ServicesDep, session: SessionDep) -> SealOut:
    return _seal_out(services.seal.resume(session, seal_id, actor=principal.actor))


@router.post("/seals/{seal_id}/revoke")
def revoke_seal(
    seal_id: str, principal: SealManager, services: ServicesDep, session: SessionDep, body: ReasonIn | None = None
) -> SealOut:
    """Final: the certificate is revoked (CRL re-issued, OCSP "revoked"), grants end."""
    reason = (body.reason if body else None) or "cessation_of_operation"
    return _seal_out(services.seal.revoke(session, seal_id, actor=principal.actor, reason=reason))


@router.put("/seals/{seal_id}/image")
def upload_seal_image(
    seal_id: str,
    principal: SealManager,
    services: ServicesDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="PNG, at most 2 MiB and 4096 px per side")],
    width_mm: Annotated[float | None, Form()] = None,
) -> SealOut:
    """Replace the generated image by an uploaded PNG (before approval)."""
    data = file.file.read(2 * 1024 * 1024 + 1)
    return _seal_out(services.seal.set_image(session, seal_id, data, actor=principal.actor, width_mm=width_mm))


@router.get("/seals/{seal_id}/image", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def seal_image(seal_id: str, principal: CurrentPrincipal, services: ServicesDep, session: SessionDep) -> Response:
    return Response(services.seal.image_png(session, seal_id), media_type="image/png")


@router.get(
    "/seals/{seal_id}/ses-seal", response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}}
)
def seal_ses(seal_id: str, principal: CurrentPrincipal, services: ServicesDep, session: SessionDep) -> Response:
    """The GB/T 38540 v4 SES_Seal (DER) made by the seal-making authority."""
    return Response(
        services.seal.ses_seal(session, seal_id),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{seal_id}.ses"'},
    )


# ---------------------------------------------------------------------------------- grants


@router.get("/grants")
def list_grants(
    principal: SealManager,
    services: ServicesDep,
    session: SessionDep,
    seal_id: Annotated[str | None, Query(max_length=40)] = None,
    client_id: Annotated[str | None, Query(max_length=200)] = None,
) -> list[GrantOut]:
    return [_grant_out(g) for g in services.seal.list_grants(session, seal_id=seal_id, client_id=client_id)]


@router.post("/grants", status_code=201)
def create_grant(body: GrantIn, principal: SealManager, services: ServicesDep, session: SessionDep) -> GrantOut:
    """Allow a client to use a seal; ``pending`` until a second operator approves, for sensitive seals."""
    g = services.seal.grant(
        session,
        body.seal_id,
        body.client_id,
        actor=principal.actor,
        document_types=tuple(body.document_types),
        not_after=body.not_after,
    )
    return _grant_out(g)


@router.post("/grants/{grant_id}/approve")
def approve_grant(grant_id: str, principal: SealManager, services: ServicesDep, session: SessionDep) -> GrantOut:
    return _grant_out(services.seal.approve_grant(session, grant_id, actor=principal.actor))


@router.post("/grants/{grant_id}/revoke")
def revoke_grant(grant_id: str, principal: SealManager, services: ServicesDep, session: SessionDep) -> GrantOut:
    return _grant_out(services.seal.revoke_grant(session, grant_id, actor=principal.actor))


# ---------------------------------------------------------------------------------- sealing


@router.post(
    "/sign",
    dependencies=[Depends(SEAL_LIMIT)],
    response_class=Response,
    responses={
        200: {
            "content": {PDF: {}},
            "description": "the sealed PDF (an incremental update: earlier signatures stay valid)",
        }
    },
)
def sign(
    principal: SealUser,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="the PDF to seal")],
    seal_id: Annotated[str, Form(max_length=40)],
    page: Annotated[int | None, Form(description="1-based page; with anchor: restricts the search")] = None,
    x: Annotated[float | None, Form(description="lower-left x of the seal box, pt from the page's left edge")] = None,
    y: Annotated[float | None, Form(description="lower-left y of the seal box, pt from the page's bottom edge")] = None,
    w: Annotated[float | None, Form(description="box width in pt (default: the seal's size)")] = None,
    h: Annotated[float | None, Form(description="box height in pt (default: the seal's size)")] = None,
    anchor: Annotated[str | None, Form(max_length=400, description="centre the seal on this text")] = None,
    reason: Annotated[str | None, Form(max_length=400)] = None,
    location: Annotated[str | None, Form(max_length=400)] = None,
    level: Annotated[PadesLevel, Form(description="PAdES baseline level")] = PadesLevel.B_T,
    certify: Annotated[bool, Form(description="certification signature (DocMDP, form filling allowed)")] = False,
    document_type: Annotated[str | None, Form(max_length=64)] = None,
    cross_page: Annotated[
        bool, Form(description="also a 骑缝章: a slice of the seal on the right edge of every page")
    ] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    """Seal a PDF with a seal this client is granted. Same ``Idempotency-Key`` + same request:
    the stored result, nothing signed again; same key + another request: 422."""
    data = file.file.read(services.seal.max_pdf_bytes + 1)
    result = services.seal.seal_document(
        seal_id=seal_id,
        pdf=data,
        placement={"page": page, "x": x, "y": y, "width": w, "height": h, "anchor": anchor},
        level=level,
        reason=reason,
        location=location,
        certify=certify,
        actor=principal.actor,
        client_id=_client_key(principal),
        document_type=document_type,
        idempotency_key=idempotency_key,
        cross_page=cross_page,
    )
    digest = base64.b64encode(hashlib.sha256(result.pdf).digest()).decode()
    return Response(
        result.pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": 'attachment; filename="sealed.pdf"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "X-Seal-Use-Id": result.use_id,
            "Idempotent-Replayed": "true" if result.replayed else "false",
        },
    )


# ---------------------------------------------------------------------------------- SES


class CheckOut(BaseModel):
    name: str
    status: str
    message: str
    sub_indication: str | None


class SesReportOut(BaseModel):
    subject: str
    version: int
    es_id: str
    seal_name: str
    indication: str
    sub_indication: str | None
    validation_time: datetime
    signing_time: datetime | None
    checks: list[CheckOut]
    text: str


def ses_report_out(r: SesReport) -> SesReportOut:
    return SesReportOut(
        subject=r.subject,
        version=int(r.version),
        es_id=r.es_id,
        seal_name=r.seal_name,
        indication=r.indication.value,
        sub_indication=r.sub_indication,
        validation_time=r.validation_time,
        signing_time=r.signing_time,
        checks=[
            CheckOut(name=c.name.value, status=c.status.value, message=c.message, sub_indication=c.sub_indication)
            for c in r.checks
        ],
        text=r.text(),
    )


@router.post("/ses/verify")
def verify_ses(
    services: ServicesDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="DER SES_Signature or SES_Seal (GB/T 38540 v4 or GM/T 0031 v1)")],
    document: Annotated[UploadFile | None, File(description="the signed document, to compare dataHash")] = None,
) -> SesReportOut:
    """Verify an electronic seal or e-signature against our PKI (GB/T 38540-2020 §8 order)."""
    blob = file.file.read(4 * 1024 * 1024 + 1)
    doc: Any = document.file.read() if document is not None else None
    return ses_report_out(services.seal.verify_ses(session, blob, doc))
