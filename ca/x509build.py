"""One issuance path for every algorithm family.

Certificates, CRLs and OCSP responses are built as asn1crypto structures and signed through
:class:`keys.Signer` — the same code for RSA, ECDSA P-256 and SM2 (pyca/cryptography cannot
sign SM2; building everything here avoids two diverging paths). Extensions follow RFC 5280
§4.2; SM2 objects follow GM/T 0015 (SM2 SPKI, SM2-with-SM3 signature with NULL parameters).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import core as asn1core
from asn1crypto import keys as asn1keys
from asn1crypto import x509

from ca import oids
from ca.profiles import Profile
from keys import Signer, normalize_spki
from keys import oids as sm_oids

# RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
_UTCTIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


def asn1_time(dt: datetime) -> x509.Time:
    dt = dt.astimezone(UTC).replace(microsecond=0)
    return x509.Time(name="utc_time" if dt < _UTCTIME_LIMIT else "general_time", value=dt)


def key_identifier(spki_der: bytes) -> bytes:
    """RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey bits."""
    info = asn1keys.PublicKeyInfo.load(normalize_spki(spki_der)[1])
    return hashlib.sha256(bytes(info["public_key"].contents[1:])).digest()[:20]


@dataclass(frozen=True)
class Issuer:
    """What it takes to sign in a CA's name."""

    name: x509.Name
    key_identifier: bytes
    signer: Signer


@dataclass(frozen=True)
class Urls:
    crl: str | None = None
    ocsp: str | None = None
    ca_issuers: str | None = None


@dataclass(frozen=True)
class IdentityExtensions:
    """GM/T 0015 subject identity extensions (confidence M per STANDARDS.md)."""

    identify_code: str | None = None  # 1.2.156.10260.4.1.1 citizen ID number
    organization_code: str | None = None  # 1.2.156.10260.4.1.4 (USCC in practice)


def _ext(extn_id: str, value: Any, critical: bool = False) -> dict[str, Any]:
    return {"extn_id": extn_id, "critical": critical, "extn_value": value}


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _raw_ext(oid: str, der_value: bytes) -> x509.Extension:
    ext = x509.Extension({"extn_id": oid, "critical": False, "extn_value": der_value})
    return ext


def build_extensions(
    profile: Profile, subject_spki: bytes, issuer: Issuer | None, urls: Urls, ident: IdentityExtensions | None
) -> list[Any]:
    exts: list[Any] = []
    if profile.is_ca:
        bc: dict[str, Any] = {"ca": True}
        if profile.path_len is not None:
            bc["path_len_constraint"] = profile.path_len
        exts.append(_ext("basic_constraints", bc, critical=True))
    else:
        exts.append(_ext("basic_constraints", {"ca": False}, critical=True))
    exts.append(_ext("key_usage", set(profile.key_usage), critical=True))
    if profile.ext_key_usage:
        exts.append(_ext("extended_key_usage", list(profile.ext_key_usage), critical=profile.ext_key_usage_critical))
    exts.append(_ext("key_identifier", key_identifier(subject_spki)))
    if issuer is not None:
        exts.append(_ext("authority_key_identifier", {"key_identifier": issuer.key_identifier}))
    if urls.crl:
        exts.append(
            _ext(
                "crl_distribution_points",
                [{"distribution_point": {"full_name": [_uri(urls.crl)]}}],
            )
        )
    aia = []
    if urls.ocsp:
        aia.append({"access_method": "ocsp", "access_location": _uri(urls.ocsp)})
    if urls.ca_issuers:
        aia.append({"access_method": "ca_issuers", "access_location": _uri(urls.ca_issuers)})
    if aia:
        exts.append(_ext("authority_information_access", aia))
    exts.append(_ext("certificate_policies", [{"policy_identifier": profile.policy_oid}]))
    if profile.ocsp_nocheck:
        exts.append(_ext("ocsp_no_check", None))
    if ident is not None and profile.identity_extensions:
        if ident.identify_code:
            exts.append(_raw_ext(sm_oids.IDENTIFY_CODE, asn1core.PrintableString(ident.identify_code).dump()))
        if ident.organization_code:
            exts.append(_raw_ext(sm_oids.ORGANIZATION_CODE, asn1core.PrintableString(ident.organization_code).dump()))
    return exts


def build_certificate(
    *,
    subject: x509.Name,
    subject_spki: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    profile: Profile,
    issuer: Issuer | None,
    self_signer: Signer | None = None,
    urls: Urls = Urls(),
    ident: IdentityExtensions | None = None,
) -> bytes:
    """Build and sign a certificate; ``issuer=None`` makes it self-signed by ``self_signer``."""
    signer = issuer.signer if issuer is not None else self_signer
    if signer is None:
        raise ValueError("a self-signed certificate needs self_signer")
    sig_alg = signer.scheme.x509_algorithm()
    spki = asn1keys.PublicKeyInfo.load(normalize_spki(subject_spki)[1])
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": sig_alg,
            "issuer": issuer.name if issuer is not None else subject,
            "validity": {"not_before": asn1_time(not_before), "not_after": asn1_time(not_after)},
            "subject": subject,
            "subject_public_key_info": spki,
            "extensions": build_extensions(profile, subject_spki, issuer, urls, ident),
        }
    )
    signature = signer.sign(tbs.dump())
    cert = x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": sig_alg, "signature_value": signature})
    return bytes(cert.dump())


__all__ = ["IdentityExtensions", "Issuer", "Urls", "asn1_time", "build_certificate", "key_identifier", "oids"]
