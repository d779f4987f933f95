"""Certificate revocation lists (RFC 5280 §5), signed through keys/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl as asn1crl

from ca.x509build import Issuer, asn1_time

#: RFC 5280 §5.3.1 reason codes, accepted spellings -> asn1crypto names.
REASONS = {
    "unspecified": "unspecified",
    "keycompromise": "key_compromise",
    "cacompromise": "ca_compromise",
    "affiliationchanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationofoperation": "cessation_of_operation",
    "certificatehold": "certificate_hold",
    "privilegewithdrawn": "privilege_withdrawn",
    "aacompromise": "aa_compromise",
}


def normalise_reason(reason: str) -> str | None:
    return REASONS.get(reason.replace("_", "").replace("-", "").lower())


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str  # asn1crypto name


def build_crl(
    issuer: Issuer, number: int, this_update: datetime, next_update: datetime, revoked: list[RevokedEntry]
) -> bytes:
    sig_alg = issuer.signer.scheme.x509_algorithm()
    entries = []
    for r in revoked:
        entry: dict[str, object] = {"user_certificate": r.serial, "revocation_date": asn1_time(r.revoked_at)}
        if r.reason != "unspecified":  # RFC 5280 §5.3.1: omit reasonCode rather than use unspecified
            entry["crl_entry_extensions"] = [{"extn_id": "crl_reason", "critical": False, "extn_value": r.reason}]
        entries.append(entry)
    tbs = asn1crl.TbsCertList(
        {
            "version": "v2",
            "signature": sig_alg,
            "issuer": issuer.name,
            "this_update": asn1_time(this_update),
            "next_update": asn1_time(next_update),
            "revoked_certificates": entries or None,
            "crl_extensions": [
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": {"key_identifier": issuer.key_identifier},
                },
                {"extn_id": "crl_number", "critical": False, "extn_value": number},
            ],
        }
    )
    signature = issuer.signer.sign(tbs.dump())
    crl = asn1crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": sig_alg, "signature": signature})
    return bytes(crl.dump())
