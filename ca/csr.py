"""PKCS#10 certificate signing requests (RFC 2986): parse, check the proof of possession."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from asn1crypto import csr as asn1csr
from asn1crypto import x509

from ca.errors import BadCsr, CaRightsRequested
from keys import KeyAlgorithm, KeyFormatError, SignatureScheme, normalize_spki, verify

MAX_CSR_BYTES = 64 * 1024
_PEM = re.compile(rb"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----(.+?)-----END (?:NEW )?CERTIFICATE REQUEST-----", re.S)


@dataclass(frozen=True)
class ParsedCsr:
    subject: x509.Name
    spki_der: bytes
    key_algorithm: KeyAlgorithm


def _to_der(data: bytes) -> bytes:
    if len(data) > MAX_CSR_BYTES:
        raise BadCsr(f"request larger than {MAX_CSR_BYTES} bytes")
    stripped = data.strip()
    if stripped.startswith(b"-----"):
        m = _PEM.search(stripped)
        if m is None:
            raise BadCsr("PEM data is not a CERTIFICATE REQUEST")
        try:
            return base64.b64decode(b"".join(m.group(1).split()), validate=True)
        except ValueError as exc:
            raise BadCsr("PEM body is not valid base64") from exc
    return data


def parse_csr(data: bytes) -> ParsedCsr:
    """Parse and check a CSR: structure, signature (proof of possession), no CA rights asked."""
    der = _to_der(data)
    try:
        req = asn1csr.CertificationRequest.load(der, strict=True)
        info = req["certification_request_info"]
        info_der = info.dump()
        subject = info["subject"]
        subject.native  # noqa: B018 - force full parse of the name
        spki_der = info["subject_pk_info"].dump()
        sig_oid = req["signature_algorithm"]["algorithm"].dotted
        sig_params = req["signature_algorithm"]["parameters"]
        signature = bytes(req["signature"].native)
        attributes = info["attributes"].native or []
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise BadCsr("not a DER/PEM PKCS#10 certificate request") from exc
    try:
        key_alg, spki_der = normalize_spki(spki_der)
    except KeyFormatError as exc:
        raise BadCsr(f"unsupported public key: {exc}") from exc
    pss_hash = None
    if sig_oid == "1.2.840.113549.1.1.10":
        try:
            pss_hash = sig_params["hash_algorithm"]["algorithm"].native
        except (KeyError, TypeError, ValueError) as exc:
            raise BadCsr("RSASSA-PSS parameters are missing") from exc
    try:
        scheme = SignatureScheme.from_x509_oid(sig_oid, pss_hash)
    except KeyError as exc:
        raise BadCsr(f"unsupported CSR signature algorithm {sig_oid}") from exc
    if key_alg.family is not scheme.family:
        raise BadCsr("the CSR signature algorithm does not fit its key")
    if key_alg.family.value == "rsa":
        from keys import crypto

        bits = crypto.load_public(spki_der)[1].key_size
        if bits < 2048:
            raise BadCsr(f"RSA keys shorter than 2048 bits are refused (got {bits})")
    if not verify(spki_der, scheme, info_der, signature):
        raise BadCsr("the CSR signature does not verify (no proof of possession)")
    _refuse_ca_rights(attributes)
    return ParsedCsr(subject=subject, spki_der=spki_der, key_algorithm=key_alg)


def _refuse_ca_rights(attributes: list[dict[str, Any]]) -> None:
    for attr in attributes:
        if attr.get("type") != "extension_request":
            continue
        for ext_list in attr.get("values") or []:
            for ext in ext_list or []:
                if ext.get("extn_id") == "basic_constraints" and (ext.get("extn_value") or {}).get("ca"):
                    raise CaRightsRequested("the request asks for basicConstraints cA=TRUE")
                if ext.get("extn_id") == "key_usage" and {"key_cert_sign", "crl_sign"} & set(
                    ext.get("extn_value") or ()
                ):
                    raise CaRightsRequested("the request asks for keyCertSign/cRLSign")
