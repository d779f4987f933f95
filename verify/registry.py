"""Seal identity and live status behind a signing certificate: the seam between verify/ and
seal/ (and ca/ for certificates that belong to no seal).

The seal registry is looked up by the certificate serial (``SealRecord.cert_serial``); the CA
records add the revocation time, which is what decides a signature's fate with time
(ETSI EN 319 102-1 §5.5). seal/ exposes no look-up by certificate yet, so this module reads the
seal table read-only; when it does, :func:`seal_lookup` becomes a one-line delegation.
"""

from __future__ import annotations

from asn1crypto import x509
from sqlmodel import Session, select

from ca.errors import UnknownCertificate
from ca.service import CaService
from core import clock
from verify.pdf import RegistryStatus
from verify.report import SealIdentity


def ca_lookup(ca: CaService, session: Session, cert_der: bytes) -> RegistryStatus | None:
    """What our CA's records say: only for certificates we issued (exact DER match)."""
    try:
        cert = x509.Certificate.load(cert_der)
        issued = ca.get_certificate(session, format(cert.serial_number, "x"))
    except (UnknownCertificate, ValueError, TypeError):
        return None
    if issued.cert_der != cert_der:
        return None
    if issued.purpose != "seal" and issued.profile != "seal-signing":
        return RegistryStatus(None, issued.revoked_at)
    status = "revoked" if issued.status == "revoked" else "active"
    since = issued.revoked_at
    if status == "active" and issued.not_after < clock.now():
        status, since = "expired", issued.not_after
    subject = cert.subject.native
    seal = SealIdentity(
        seal_id=None,
        name=str(subject.get("common_name", issued.subject)),
        owner=str(subject["organization_name"]) if "organization_name" in subject else None,
        status=status,
        status_since=since,
    )
    return RegistryStatus(seal, issued.revoked_at)


def seal_lookup(ca: CaService, session: Session, cert_der: bytes) -> RegistryStatus | None:
    """The seal registry's view (name, owner, lifecycle status), completed by the CA's."""
    from seal.models import SealRecord

    base = ca_lookup(ca, session, cert_der)
    if base is None:
        return None
    serial = format(x509.Certificate.load(cert_der).serial_number, "x")
    rec = session.exec(select(SealRecord).where(SealRecord.cert_serial == serial)).first()
    if rec is None:
        return base
    status = rec.status
    if status in ("approved", "active", "suspended") and clock.now() > clock.utc(rec.valid_to):
        status = "expired"
    since = base.revoked_at if status in ("revoked", "suspended") else None
    if status == "expired":
        since = clock.utc(rec.valid_to)
    seal = SealIdentity(
        seal_id=rec.id,
        name=rec.name,
        owner=rec.owner_name + (f" {rec.department}" if rec.department else ""),
        status=status,
        status_since=since,
        image_url=f"/v/seal/{rec.id}.png",
    )
    return RegistryStatus(seal, base.revoked_at)
