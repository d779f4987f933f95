"""Verification endpoints (DESIGN.md "Public surface": verify) and the trust list.

Translation only: parse the upload, call one ``services.verifier`` method, return its report
as JSON (the report's ``indication`` is the ETSI EN 319 102-1 main indication). Verification
is public (third parties have no account); every call is journaled by the service with its
verdict and the input's hash. CPU-bound work runs in sync routes (FastAPI's threadpool) or is
offloaded with anyio, never on the event loop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.deps import ServicesDep, SessionDep
from api.ratelimit import VERIFY_LIMIT
from core.errors import ConfigurationError, InvalidInput
from verify.errors import EmptyInput
from verify.report import DocumentReport, Indication
from verify.service import VerifyService

router = APIRouter(prefix="/verify/v1", tags=["verify"], dependencies=[Depends(VERIFY_LIMIT)])
trust_router = APIRouter(prefix="/pki", tags=["pki"])

JOSE = "application/jose"
PEM_FILE = "application/x-pem-file"


def verifier(services: ServicesDep) -> VerifyService:
    if services.verifier is None:
        raise ConfigurationError("the verification service is not configured")
    return services.verifier


def parse_at(value: str | None) -> datetime | None:
    """``at``: ISO 8601 validation time (DSS's "validation time"); naive means UTC."""
    if value is None or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("'at' must be an ISO 8601 date-time, e.g. 2025-03-01T08:00:00+08:00") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class CheckOut(BaseModel):
    name: str
    status: str = Field(description="passed | failed | indeterminate | warning | skipped")
    message: str
    message_zh: str
    sub_indication: str | None


class SignatureOut(BaseModel):
    field_name: str
    indication: Indication
    sub_indication: str | None
    summary_zh: str
    summary_en: str
    signer: dict[str, Any] | None
    seal: dict[str, Any] | None
    signing_time: datetime | None
    timestamp_time: datetime | None
    coverage: str | None
    modification: str | None
    algorithm: str | None
    revision: int | None
    ours: bool
    checks: list[CheckOut]


class ReportOut(BaseModel):
    """ETSI EN 319 102-1 validation report: the overall indication, the document checks and each
    signature's; ``details`` depends on ``kind`` (the licence for a QR code, the path for a certificate)."""

    kind: str = Field(description="pdf | qr | token | certificate | ses")
    indication: Indication
    sub_indication: str | None
    summary_zh: str
    summary_en: str
    sha256: str
    size: int
    validation_time: datetime
    checks: list[CheckOut]
    signatures: list[SignatureOut]
    details: dict[str, Any]


REPORT_DOC: dict[int | str, dict[str, Any]] = {200: {"model": ReportOut, "description": "the validation report"}}


def report_response(report: DocumentReport) -> JSONResponse:
    return JSONResponse(report.as_dict())


def _read(upload: UploadFile | None, what: str) -> bytes:
    if upload is None:
        raise EmptyInput(f"no {what} uploaded")
    return upload.file.read()


@router.post("/pdf", response_class=JSONResponse, responses=REPORT_DOC)
def verify_pdf(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="the signed PDF")],
    at: Annotated[str | None, Form(description="validation time (ISO 8601); default now")] = None,
) -> JSONResponse:
    """Every signature of the PDF: integrity, ByteRange, chain to the trust list, revocation,
    timestamp, seal status, modifications; per signature and overall ETSI indications."""
    return report_response(verifier(services).verify_pdf(_read(file, "file"), at=parse_at(at)))


class CertificateIn(BaseModel):
    certificate: str = Field(description="PEM (or base64 DER) certificate to validate", max_length=200_000)
    chain: str | None = Field(default=None, description="PEM intermediates", max_length=500_000)
    at: str | None = Field(default=None, description="validation time (ISO 8601)")


def _pem_or_b64(text: str) -> bytes:
    import base64
    import binascii

    raw = text.strip().encode()
    if raw.startswith(b"-----BEGIN"):
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the certificate must be PEM or base64 DER") from None


@router.post("/certificate", response_class=JSONResponse, responses=REPORT_DOC)
def verify_certificate(services: ServicesDep, body: CertificateIn) -> JSONResponse:
    """Path validation (RFC 5280 §6) and revocation against the trust list."""
    return report_response(
        verifier(services).verify_certificate(
            _pem_or_b64(body.certificate),
            chain=body.chain.encode() if body.chain else None,
            at=parse_at(body.at),
        )
    )


@router.post("/ses", response_class=JSONResponse, responses=REPORT_DOC)
def verify_ses(
    services: ServicesDep,
    ses: Annotated[UploadFile, File(description="GB/T 38540 / GM/T 0031 SES_Signature, DER or base64")],
    document: Annotated[UploadFile | None, File(description="the signed document (its SM3 is dataHash)")] = None,
    at: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """An electronic signature per GB/T 38540-2020 §8, certificates against the trust list."""
    doc = document.file.read() if document is not None else None
    return report_response(verifier(services).verify_ses(_read(ses, "SES_Signature"), document=doc, at=parse_at(at)))


class QrIn(BaseModel):
    payload: str = Field(description="the scanned text: the /v/{payload} URL or the bare payload", max_length=4096)
    at: str | None = None


@router.post("/qr", response_class=JSONResponse, responses=REPORT_DOC)
async def verify_qr(request: Request, services: ServicesDep) -> JSONResponse:
    """A licence QR code: JSON ``{"payload": text}`` or multipart ``image`` (PNG/JPEG photo,
    decoded server-side). The signature offline against the trust list, then the live status."""
    svc = verifier(services)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        image = form.get("image")
        if image is None or isinstance(image, str):
            raise EmptyInput("no 'image' file in the form")
        data = await image.read()
        at_raw = form.get("at")
        at = parse_at(at_raw if isinstance(at_raw, str) else None)
        report = await anyio.to_thread.run_sync(lambda: svc.verify_qr_image(data, at=at))
        return report_response(report)
    try:
        raw: Any = json.loads(await request.body())
        body = QrIn.model_validate(raw)
    except (ValueError, TypeError) as exc:
        from verify.errors import BadQrPayload

        raise BadQrPayload('send JSON {"payload": "..."} or a multipart "image"') from exc
    at = parse_at(body.at)
    report = await anyio.to_thread.run_sync(lambda: svc.verify_qr(body.payload, at=at))
    return report_response(report)


class TokenIn(BaseModel):
    token: str = Field(description="a compact JWS/JWT: ID or access token", max_length=20_000)
    audience: str | None = Field(default=None, description="check that the token is meant for this audience")
    at: str | None = None


@router.post("/token", response_class=JSONResponse, responses=REPORT_DOC)
def verify_token(services: ServicesDep, body: TokenIn) -> JSONResponse:
    """A token of ours or of an IdP on the trust list (national IdP): signature with the
    issuer's JWKS, times, audience, and for ours the deny list."""
    return report_response(verifier(services).verify_token(body.token, audience=body.audience, at=parse_at(body.at)))


@trust_router.get("/trust-list", response_class=Response, responses={200: {"content": {JOSE: {}}}})
def trust_list(services: ServicesDep, session: SessionDep) -> Response:
    """The trust list, signed: a JWS (compact, ES256, ``x5c``) by a Service CA key. Format in
    :mod:`verify.trust`. ``/pki/trust-list.pem`` is the same anchors as a PEM bundle."""
    jws = verifier(services).trust.publish(session)
    return Response(jws, media_type=JOSE, headers={"Cache-Control": "max-age=300"})


@trust_router.get(
    "/trust-list.pem", response_class=Response, responses={200: {"content": {"application/x-pem-file": {}}}}
)
def trust_bundle(services: ServicesDep, session: SessionDep) -> Response:
    """The anchors (and licence QR signers) as a PEM bundle, for ``ywt verify --trust``."""
    return Response(verifier(services).trust_list(session).pem_bundle(), media_type=PEM_FILE)
