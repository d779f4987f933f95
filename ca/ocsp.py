"""OCSP (RFC 6960): parse requests and build signed responses.

The CA service decides each certificate's status; this module only speaks the protocol.
Responses are signed by a delegated responder certificate (id-kp-OCSPSigning + ocsp-nocheck,
§4.2.2.2) issued by the CA the certificate belongs to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asn1crypto import core as asn1core
from asn1crypto import ocsp as asn1ocsp
from asn1crypto import x509

from ca.x509build import Issuer

MAX_REQUEST_BYTES = 16 * 1024
MAX_REQUESTS = 20
MAX_NONCE = 32  # RFC 8954 §2.1


class OcspMalformed(ValueError):
    pass


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertIdQuery:
    hash_algorithm: str  # "sha1" | "sha256" | "sm3" ...
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    raw: asn1ocsp.CertId


@dataclass(frozen=True)
class ParsedRequest:
    queries: list[CertIdQuery]
    nonce: bytes | None


@dataclass(frozen=True)
class SingleStatus:
    query: CertIdQuery
    status: CertStatus
    revoked_at: datetime | None = None
    reason: str | None = None


def parse_request(der: bytes) -> ParsedRequest:
    if not der or len(der) > MAX_REQUEST_BYTES:
        raise OcspMalformed("empty or oversized request")
    try:
        req = asn1ocsp.OCSPRequest.load(der, strict=True)
        tbs = req["tbs_request"]
        if tbs["version"].native != "v1":
            raise OcspMalformed("unsupported request version")
        queries = []
        for item in tbs["request_list"]:
            cid = item["req_cert"]
            queries.append(
                CertIdQuery(
                    hash_algorithm=cid["hash_algorithm"]["algorithm"].native,
                    issuer_name_hash=bytes(cid["issuer_name_hash"].native),
                    issuer_key_hash=bytes(cid["issuer_key_hash"].native),
                    serial=int(cid["serial_number"].native),
                    raw=cid,
                )
            )
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].native == "nonce":
                value = ext["extn_value"].parsed
                nonce = (
                    bytes(value.native) if isinstance(value, asn1core.OctetString) else bytes(ext["extn_value"].native)
                )
            elif ext["critical"].native:
                raise OcspMalformed(f"unsupported critical extension {ext['extn_id'].dotted}")
    except OcspMalformed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise OcspMalformed("not a DER OCSPRequest") from exc
    if not queries or len(queries) > MAX_REQUESTS:
        raise OcspMalformed(f"a request must name 1..{MAX_REQUESTS} certificates")
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
        raise OcspMalformed("nonce must be 1..32 octets (RFC 8954)")
    return ParsedRequest(queries, nonce)


def issuer_hashes(cert: x509.Certificate, algorithm: str) -> tuple[bytes, bytes] | None:
    """(issuerNameHash, issuerKeyHash) of a CA certificate under ``algorithm`` (RFC 6960 §4.1.1)."""
    name = cert.subject.dump()
    key = bytes(cert.public_key["public_key"].contents[1:])
    try:
        return hashlib.new(algorithm, name).digest(), hashlib.new(algorithm, key).digest()
    except (ValueError, TypeError):
        return None


def error_response(status: str) -> bytes:
    """``malformedRequest``, ``internalError``, ``tryLater``, ``unauthorized`` (RFC 6960 §4.2.1)."""
    return bytes(asn1ocsp.OCSPResponse({"response_status": status}).dump())


def build_response(
    responder: Issuer,
    responder_cert: x509.Certificate,
    statuses: list[SingleStatus],
    produced_at: datetime,
    next_update: datetime,
    nonce: bytes | None,
) -> bytes:
    responses = []
    for st in statuses:
        if st.status is CertStatus.GOOD:
            cert_status = asn1ocsp.CertStatus(name="good", value=asn1core.Null())
        elif st.status is CertStatus.REVOKED:
            info: dict[str, object] = {"revocation_time": st.revoked_at}
            if st.reason and st.reason != "unspecified":
                info["revocation_reason"] = st.reason
            cert_status = asn1ocsp.CertStatus(name="revoked", value=info)
        else:
            cert_status = asn1ocsp.CertStatus(name="unknown", value=asn1core.Null())
        responses.append(
            {
                "cert_id": st.query.raw,
                "cert_status": cert_status,
                "this_update": produced_at,
                "next_update": next_update,
            }
        )
    response_data: dict[str, object] = {
        "version": "v1",
        # RFC 6960 §4.2.2.3: byKey is the SHA-1 hash of the responder's public key bits
        "responder_id": asn1ocsp.ResponderId(
            name="by_key",
            value=hashlib.sha1(
                bytes(responder_cert.public_key["public_key"].contents[1:]), usedforsecurity=False
            ).digest(),
        ),
        "produced_at": produced_at,
        "responses": responses,
    }
    if nonce is not None:
        response_data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    tbs = asn1ocsp.ResponseData(response_data)
    sig_alg = responder.signer.scheme.x509_algorithm()
    basic = asn1ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs,
            "signature_algorithm": sig_alg,
            "signature": responder.signer.sign(tbs.dump()),
            "certs": [responder_cert],
        }
    )
    return bytes(
        asn1ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        ).dump()
    )
