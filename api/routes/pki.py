"""PKI endpoints: CA certificates and chains, CRLs, OCSP (RFC 6960) and TSA (RFC 3161)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from api.deps import ServicesDep, SessionDep
from api.ratelimit import RateLimit
from ca.ocsp import error_response
from keys import Family

router = APIRouter(prefix="/pki", tags=["pki"])

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
TSA_QUERY = "application/timestamp-query"
TSA_REPLY = "application/timestamp-reply"

#: Relying parties (banks, other cities) may check many certificates from one address; these
#: per-IP limits stop floods, not normal use. Override with YWT_RATE_LIMITS.
OCSP_LIMIT = RateLimit("ocsp", per_ip="3000/60")
TSA_LIMIT = RateLimit("tsa", per_ip="1200/60", per_client="6000/60")


class CaOut(BaseModel):
    id: str
    family: str
    role: str
    parent_id: str | None
    subject: str
    key_id: str
    not_after: datetime
    certificate_pem: str
    chain_pem: str
    crl_url: str
    certificate_url: str


@router.get("/cas")
def list_cas(services: ServicesDep, session: SessionDep) -> list[CaOut]:
    """Every CA with its certificate and its chain up to the root (PEM)."""
    out = []
    base = services.settings.base_url
    for ca in services.ca.list_cas(session):
        chain = services.ca.chain(session, ca.id)
        out.append(
            CaOut(
                id=ca.id,
                family=ca.family.value,
                role=ca.role.value,
                parent_id=ca.parent_id,
                subject=ca.subject,
                key_id=ca.key_id,
                not_after=ca.not_after,
                certificate_pem=ca.cert_pem,
                chain_pem="".join(c.cert_pem for c in chain),
                crl_url=f"{base}/pki/cas/{ca.id}/crl",
                certificate_url=f"{base}/pki/cas/{ca.id}/cert",
            )
        )
    return out


@router.get("/cas/{ca_id}/cert", response_class=Response, responses={200: {"content": {"application/pkix-cert": {}}}})
def ca_certificate(ca_id: str, services: ServicesDep, session: SessionDep) -> Response:
    """The CA certificate, DER (the caIssuers URL of every certificate it issued)."""
    return Response(services.ca.get_ca(session, ca_id).cert_der, media_type="application/pkix-cert")


@router.get("/cas/{ca_id}/crl", response_class=Response, responses={200: {"content": {"application/pkix-crl": {}}}})
def ca_crl(ca_id: str, services: ServicesDep, session: SessionDep) -> Response:
    """The current CRL (DER); re-issued first if it is close to its nextUpdate."""
    return Response(
        services.ca.current_crl(session, ca_id),
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=300"},
    )


@router.post(
    "/ocsp",
    dependencies=[Depends(OCSP_LIMIT)],
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
    openapi_extra={"requestBody": {"content": {OCSP_REQUEST: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def ocsp_post(request: Request, services: ServicesDep) -> Response:
    """RFC 6960 over HTTP POST (Appendix A.1)."""
    body = await request.body()
    return await _ocsp(services, body)


@router.get(
    "/ocsp/{encoded:path}",
    dependencies=[Depends(OCSP_LIMIT)],
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
)
async def ocsp_get(encoded: str, services: ServicesDep) -> Response:
    """RFC 6960 over HTTP GET: the URL-encoded base64 DER request as the last path segment."""
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return Response(error_response("malformed_request"), media_type=OCSP_RESPONSE)
    return await _ocsp(services, der)


async def _ocsp(services: ServicesDep, der: bytes) -> Response:
    import anyio.to_thread

    def run() -> bytes:
        with services.db.session() as session:
            return services.ca.ocsp(session, der)

    return Response(
        await anyio.to_thread.run_sync(run), media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/tsa",
    dependencies=[Depends(TSA_LIMIT)],
    response_class=Response,
    responses={200: {"content": {TSA_REPLY: {}}}},
    openapi_extra={"requestBody": {"content": {TSA_QUERY: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def tsa(
    request: Request,
    services: ServicesDep,
    family: Annotated[Family, Query(description="Which TSA signs: rsa (default), ecdsa or sm2")] = Family.RSA,
) -> Response:
    """RFC 3161 time-stamping (SHA-256 or SM3 message imprints)."""
    import anyio.to_thread

    body = await request.body()

    def run() -> bytes:
        with services.db.session() as session:
            return services.ca.timestamp(session, body, family)

    return Response(await anyio.to_thread.run_sync(run), media_type=TSA_REPLY)
