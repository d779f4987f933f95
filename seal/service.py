"""The seal service: registry and lifecycle, grants, and sealing PDFs.

Every method takes the caller's session, so a state change, its certificate operation and its
journal entry commit together. :meth:`SealService.seal_document` is the one exception: it owns
its transactions so that a *refused* use is still journaled after the refused transaction has
rolled back (the HTTP API and the CLI use it).

Lifecycle (DESIGN.md "Seals"): ``apply`` -> ``approve`` (key pair in keys/, seal certificate
from the Seal CA of the chosen family, GB/T 38540 v4 ``SES_Seal`` signed by the seal-making
authority) -> ``activate`` -> ``suspend`` (certificateHold) / ``resume`` / ``revoke`` (the
certificate is revoked, CRL re-issued at once) / expired (validity over). Sensitive seals need
a second operator for approval and for grants.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import anyio.to_thread
import sqlalchemy as sa
from asn1crypto import ocsp
from sqlmodel import Session, col, select

from ca.errors import CaError
from ca.profiles import CaRole
from ca.service import CaService, ca_id_for, next_counter
from ca.x509build import IdentityExtensions
from core import clock, metrics
from core.audit import Journal
from core.blobs import BlobStore
from core.errors import YwtError
from keys import Family, KeyAlgorithm, KeyStore
from seal import anchor as anchor_mod
from seal import images
from seal.domain import (
    GrantInfo,
    GrantStatus,
    SealApplication,
    SealInfo,
    SealStatus,
    SealType,
    SignedPdf,
)
from seal.errors import (
    GrantNotFound,
    IdempotencyKeyReused,
    InvalidSealRequest,
    PdfTooLarge,
    SameOperator,
    SealExpired,
    SealNotActive,
    SealNotFound,
    SealNotGranted,
    SealNotUsable,
    SealRevoked,
    SealStateConflict,
    SealSuspended,
    TimestampUnavailable,
)
from seal.models import SealGrant, SealRecord, SealUse
from seal.pdf import (
    PT_PER_MM,
    PadesLevel,
    Placement,
    RevocationData,
    SealJob,
    SealSigner,
    StampArt,
    async_seal_pdf,
    check_signable,
    inspect_pdf,
    pades_options,
    resolve_placement,
)
from seal.ses import SealInfoSpec, SealPicture, SesReport, make_seal
from seal.trust import verify_ses_blob

__all__ = ["SEAL_KEY_ALGORITHMS", "SealService"]

#: Seal keys: RSA-3072 (a seal certificate may live past 2030, NIST SP 800-57 Part 1), P-256, SM2.
SEAL_KEY_ALGORITHMS: Final = {
    Family.RSA: KeyAlgorithm.RSA_3072,
    Family.ECDSA: KeyAlgorithm.EC_P256,
    Family.SM2: KeyAlgorithm.SM2,
}
SIGNATURE_ALGORITHMS: Final = {
    Family.RSA: "sha256WithRSAEncryption",
    Family.ECDSA: "ecdsa-with-SHA256",
    Family.SM2: "SM2-with-SM3",
}
MAKER_PURPOSE: Final = "seal-maker"
MAKER_NAME: Final = "天津市电子印章制作中心"
VENDOR_ID: Final = "YWT"
MAX_IDEMPOTENCY_KEY: Final = 200
MAX_DOCUMENT_TYPE: Final = 64
IMAGE_DPI: Final = 300


@dataclass(frozen=True)
class _Prepared:
    """Everything decided before pyHanko runs (no I/O left but signing and the TSA)."""

    seal: SealRecord
    client_key: str
    request_sha256: str
    input_sha256: str
    job: SealJob
    signer: SealSigner
    revocation: RevocationData | None


def _now() -> datetime:
    return clock.now().replace(microsecond=0)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def _info(rec: SealRecord, key_algorithm: str | None) -> SealInfo:
    return SealInfo(
        id=rec.id,
        es_id=rec.es_id,
        owner_uscc=rec.owner_uscc,
        owner_name=rec.owner_name,
        department=rec.department,
        seal_type=SealType(rec.seal_type),
        name=rec.name,
        family=Family(rec.family),
        key_algorithm=key_algorithm,
        signature_algorithm=SIGNATURE_ALGORITHMS[Family(rec.family)],
        status=_effective_status(rec),
        sensitive=rec.sensitive,
        valid_from=rec.valid_from,
        valid_to=rec.valid_to,
        width_mm=rec.width_mm,
        height_mm=rec.height_mm,
        image_sha256=rec.image_sha256,
        image_source=rec.image_source,
        cert_serial=rec.cert_serial,
        has_ses_seal=rec.ses_seal is not None,
        applied_by=rec.applied_by,
        applied_at=rec.applied_at,
        approved_by=rec.approved_by,
        approved_at=rec.approved_at,
        status_reason=rec.status_reason,
    )


def _effective_status(rec: SealRecord) -> SealStatus:
    status = SealStatus(rec.status)
    if status in (SealStatus.APPROVED, SealStatus.ACTIVE, SealStatus.SUSPENDED) and clock.now() > rec.valid_to:
        return SealStatus.EXPIRED
    return status


def _grant_info(g: SealGrant) -> GrantInfo:
    return GrantInfo(
        id=g.id,
        seal_id=g.seal_id,
        client_id=g.client_id,
        document_types=tuple(t for t in g.document_types.split(",") if t),
        not_after=g.not_after,
        status=GrantStatus(g.status),
        requested_by=g.requested_by,
        requested_at=g.requested_at,
        approved_by=g.approved_by,
        approved_at=g.approved_at,
    )


def _clean_token(field: str, value: str | None, max_len: int) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    if len(v) > max_len or not v.isascii() or not v.isprintable():
        raise InvalidSealRequest(field, f"must be 1 to {max_len} printable ASCII characters")
    return v


def _no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError("sign_pdf was called inside an event loop; await async_sign_pdf instead")


def _run(coro: Any) -> Any:
    """Run pyHanko's async signing to completion on a private loop in this (worker) thread."""
    return asyncio.run(coro)


class SealService:
    """Seal registry, grants and PDF sealing. Built once per process (``api.container``)."""

    def __init__(
        self,
        *,
        db: Any,
        keys: KeyStore,
        ca: CaService,
        journal: Journal,
        blobs: BlobStore,
        max_pdf_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.db = db
        self.keys = keys
        self.ca = ca
        self.journal = journal
        self.blobs = blobs
        self.max_pdf_bytes = max_pdf_bytes
        self._signers: dict[tuple[str, str], SealSigner] = {}
        self._tst_sizes: dict[Family, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ registry

    def _record(self, session: Session, seal_id: str) -> SealRecord:
        rec = session.get(SealRecord, seal_id) if isinstance(seal_id, str) and len(seal_id) <= 40 else None
        if rec is None:
            raise SealNotFound(str(seal_id))
        return rec

    def _view(self, session: Session, rec: SealRecord) -> SealInfo:
        alg = self.keys.get(session, rec.key_id).algorithm.value if rec.key_id else None
        return _info(rec, alg)

    def _journal(self, session: Session, actor: str, action: str, rec: SealRecord, **data: Any) -> None:
        self.journal.append(
            session, actor=actor, action=action, target=rec.id, data={"es_id": rec.es_id, "status": rec.status, **data}
        )

    def apply(self, session: Session, application: SealApplication, *, actor: str) -> SealInfo:
        """Register an application; the image is generated now (CJK name along the arc)."""
        now = _now()
        region = application.owner_uscc[2:8]
        es_id = f"{region}{application.seal_type.gb_code:02d}{next_counter(session, 'seal:es_id'):05d}"
        spec = images.SealImageSpec(
            shape=application.shape,
            text=application.owner_name,
            bottom_text=application.seal_type.bottom_text,
            code=es_id if application.shape is not images.SealShape.RECTANGLE else None,
            width_mm=application.width_mm,
        )
        png = images.render_png(spec, dpi=IMAGE_DPI)
        stamp = images.render_pdf(spec)
        width, height = spec.size_mm
        rec = SealRecord(
            id=_new_id("seal"),
            es_id=es_id,
            owner_uscc=application.owner_uscc,
            owner_name=application.owner_name,
            department=application.department,
            seal_type=application.seal_type.value,
            name=application.name or application.owner_name,
            family=application.family.value,
            status=SealStatus.APPLIED.value,
            sensitive=application.sensitive,
            valid_from=now,
            valid_to=now + timedelta(days=application.valid_days),
            image_sha256=self.blobs.put(png),
            stamp_sha256=self.blobs.put(stamp),
            image_source="generated",
            width_mm=width,
            height_mm=height,
            applied_by=actor,
            applied_at=now,
            updated_at=now,
        )
        session.add(rec)
        session.flush()
        self._journal(
            session,
            actor,
            "seal.apply",
            rec,
            owner_uscc=rec.owner_uscc,
            seal_type=rec.seal_type,
            family=rec.family,
            name=rec.name,
            sensitive=rec.sensitive,
            valid_days=application.valid_days,
        )
        return self._view(session, rec)

    def set_image(
        self, session: Session, seal_id: str, png: bytes, *, actor: str, width_mm: float | None = None
    ) -> SealInfo:
        """Replace the generated image by an uploaded PNG (validated), before approval only:
        the approved image is frozen into the SES_Seal."""
        rec = self._record(session, seal_id)
        if rec.status != SealStatus.APPLIED.value:
            raise SealStateConflict(rec.id, rec.status, "change the image after approval")
        img = images.validate_uploaded_image(png)
        width = float(width_mm) if width_mm is not None else rec.width_mm
        if not images.MIN_SIZE_MM <= width <= images.MAX_SIZE_MM:
            raise InvalidSealRequest("width_mm", f"must be between {images.MIN_SIZE_MM:g} and {images.MAX_SIZE_MM:g}")
        height = round(width * img.height / img.width, 2)
        if not 5 <= height <= images.MAX_SIZE_MM:
            raise InvalidSealRequest("image", "its aspect ratio gives a seal height outside 5..60 mm")
        rec.image_sha256 = self.blobs.put(img.png)
        rec.stamp_sha256 = None
        rec.image_source = "uploaded"
        rec.width_mm, rec.height_mm = width, height
        rec.updated_at = _now()
        session.add(rec)
        self._journal(
            session, actor, "seal.image", rec, image_sha256=rec.image_sha256, width_px=img.width, height_px=img.height
        )
        return self._view(session, rec)

    def _maker(self, session: Session, actor: str) -> Any:
        cred = self.ca.find_credential(session, MAKER_PURPOSE, Family.SM2)
        if cred is None:
            self.ca.issue_service_credential(
                session, ca_id_for(Family.SM2, CaRole.SEAL), "seal-signing", MAKER_PURPOSE, MAKER_NAME, actor=actor
            )
            cred = self.ca.find_credential(session, MAKER_PURPOSE, Family.SM2)
        assert cred is not None
        return cred

    def approve(self, session: Session, seal_id: str, *, actor: str, key_id: str | None = None) -> SealInfo:
        """Make the seal: key pair, Seal CA certificate, GB/T 38540 v4 SES_Seal (maker-signed).

        ``key_id`` uses a key already in the key store (an HSM-generated or imported key) instead
        of generating one; it must be of the seal's family and not belong to another seal.
        """
        rec = self._record(session, seal_id)
        if rec.status != SealStatus.APPLIED.value:
            raise SealStateConflict(rec.id, rec.status, "approve")
        if rec.sensitive and rec.applied_by == actor:
            raise SameOperator(f"seal {rec.id}", actor)
        family = Family(rec.family)
        subject = {"country_name": "CN", "organization_name": rec.owner_name[:64], "common_name": rec.name[:64]}
        if rec.department:
            subject["organizational_unit_name"] = rec.department[:64]
        if key_id is None:
            key = self.keys.generate(session, SEAL_KEY_ALGORITHMS[family], f"seal {rec.id} {rec.es_id}", actor=actor)
        else:
            key = self.keys.get(session, key_id)
            if key.algorithm.family is not family:
                raise InvalidSealRequest("key_id", f"is a {key.algorithm.value} key; this seal is {family.value}")
            if session.exec(select(SealRecord).where(SealRecord.key_id == key_id)).first() is not None:
                raise InvalidSealRequest("key_id", "already belongs to another seal")
        issued = self.ca.issue_for_key(
            session,
            ca_id_for(family, CaRole.SEAL),
            "seal-signing",
            key.key_id,
            subject,
            actor=actor,
            ident=IdentityExtensions(organization_code=rec.owner_uscc),
            purpose="seal",
        )
        now = _now()
        valid_to = min(now + (rec.valid_to - rec.valid_from), issued.not_after)
        maker = self._maker(session, actor)
        spec = SealInfoSpec(
            es_id=rec.es_id,
            name=rec.name,
            seal_type=SealType(rec.seal_type).gb_code,
            signer_certs=(issued.cert_der,),
            valid_start=now,
            valid_end=valid_to,
            picture=SealPicture(
                "png", self.blobs.get(rec.image_sha256), max(1, round(rec.width_mm)), max(1, round(rec.height_mm))
            ),
            created=now,
            vendor_id=VENDOR_ID,
            allow_non_sm2_signers=family is not Family.SM2,
        )
        rec.ses_seal = make_seal(spec, maker.cert_der, maker.sign)
        rec.key_id, rec.cert_serial = key.key_id, issued.serial
        rec.valid_from, rec.valid_to = now, valid_to
        rec.status = SealStatus.APPROVED.value
        rec.approved_by, rec.approved_at, rec.updated_at = actor, now, now
        session.add(rec)
        self._journal(
            session,
            actor,
            "seal.approve",
            rec,
            key_id=key.key_id,
            cert_serial=issued.serial,
            ses_seal_sha256=_hash(rec.ses_seal),
            maker_serial=maker.serial,
            valid_to=valid_to.isoformat(),
        )
        return self._view(session, rec)

    def activate(self, session: Session, seal_id: str, *, actor: str) -> SealInfo:
        rec = self._record(session, seal_id)
        if _effective_status(rec) is not SealStatus.APPROVED:
            raise SealStateConflict(rec.id, _effective_status(rec).value, "activate")
        rec.status, rec.updated_at = SealStatus.ACTIVE.value, _now()
        session.add(rec)
        self._journal(session, actor, "seal.activate", rec)
        return self._view(session, rec)

    def suspend(self, session: Session, seal_id: str, *, actor: str, reason: str | None = None) -> SealInfo:
        """certificateHold on the seal certificate (RFC 5280 §5.3.1): CRL and OCSP show it at once."""
        rec = self._record(session, seal_id)
        if _effective_status(rec) is not SealStatus.ACTIVE:
            raise SealStateConflict(rec.id, _effective_status(rec).value, "suspend")
        assert rec.cert_serial is not None
        self.ca.revoke(session, rec.cert_serial, "certificate_hold", actor=actor)
        rec.status, rec.status_reason, rec.updated_at = SealStatus.SUSPENDED.value, (reason or "")[:200] or None, _now()
        session.add(rec)
        self._journal(session, actor, "seal.suspend", rec, cert_serial=rec.cert_serial, reason=rec.status_reason)
        return self._view(session, rec)

    def resume(self, session: Session, seal_id: str, *, actor: str) -> SealInfo:
        rec = self._record(session, seal_id)
        if _effective_status(rec) is not SealStatus.SUSPENDED:
            raise SealStateConflict(rec.id, _effective_status(rec).value, "resume")
        assert rec.cert_serial is not None
        self.ca.resume(session, rec.cert_serial, actor=actor)
        rec.status, rec.status_reason, rec.updated_at = SealStatus.ACTIVE.value, None, _now()
        session.add(rec)
        self._journal(session, actor, "seal.resume", rec, cert_serial=rec.cert_serial)
        return self._view(session, rec)

    def revoke(self, session: Session, seal_id: str, *, actor: str, reason: str = "cessation_of_operation") -> SealInfo:
        """Final. The seal certificate is revoked (CRL re-issued, OCSP answers "revoked" at once).
        Grants stay as they are: a client that holds one is told the seal is revoked (409)."""
        rec = self._record(session, seal_id)
        status = SealStatus(rec.status)
        if status is SealStatus.REVOKED:
            raise SealStateConflict(rec.id, rec.status, "revoke")
        if rec.cert_serial is not None:
            try:
                self.ca.revoke(session, rec.cert_serial, reason, actor=actor)
            except CaError as exc:
                if exc.code != "already-revoked":
                    raise
        rec.status, rec.status_reason, rec.updated_at = SealStatus.REVOKED.value, reason[:200], _now()
        session.add(rec)
        self._journal(
            session, actor, "seal.revoke", rec, cert_serial=rec.cert_serial, reason=reason, previous=status.value
        )
        return self._view(session, rec)

    def expire_due(self, session: Session, *, actor: str = "system") -> list[str]:
        """Record ``expired`` for seals past their validity (each transition journaled)."""
        done = []
        q = select(SealRecord).where(
            col(SealRecord.status).in_(["approved", "active", "suspended"]), SealRecord.valid_to < clock.now()
        )
        for rec in session.exec(q).all():
            previous = rec.status
            rec.status, rec.updated_at = SealStatus.EXPIRED.value, _now()
            session.add(rec)
            self._journal(session, actor, "seal.expire", rec, previous=previous, valid_to=rec.valid_to.isoformat())
            done.append(rec.id)
        return done

    def get(self, session: Session, seal_id: str) -> SealInfo:
        return self._view(session, self._record(session, seal_id))

    def list_seals(
        self,
        session: Session,
        *,
        owner_uscc: str | None = None,
        status: SealStatus | None = None,
        client_id: str | None = None,
    ) -> list[SealInfo]:
        """All seals (operators), or with ``client_id`` only those that client holds an active grant for."""
        q = select(SealRecord)
        if owner_uscc:
            q = q.where(SealRecord.owner_uscc == owner_uscc)
        if client_id is not None:
            granted = select(SealGrant.seal_id).where(SealGrant.client_id == client_id, SealGrant.status == "active")
            q = q.where(col(SealRecord.id).in_(granted))
        rows = session.exec(q.order_by(col(SealRecord.applied_at), col(SealRecord.id))).all()
        out = [self._view(session, r) for r in rows]
        return [s for s in out if status is None or s.status is status]

    def image_png(self, session: Session, seal_id: str) -> bytes:
        return self.blobs.get(self._record(session, seal_id).image_sha256)

    def ses_seal(self, session: Session, seal_id: str) -> bytes:
        rec = self._record(session, seal_id)
        if rec.ses_seal is None:
            raise SealStateConflict(rec.id, rec.status, "export an SES_Seal before approval")
        return rec.ses_seal

    def certificate(self, session: Session, seal_id: str) -> tuple[bytes, list[bytes]]:
        """The seal certificate and its CA chain (DER, leaf first)."""
        rec = self._record(session, seal_id)
        if rec.cert_serial is None:
            raise SealStateConflict(rec.id, rec.status, "export a certificate before approval")
        cert = self.ca.get_certificate(session, rec.cert_serial)
        return cert.cert_der, [c.cert_der for c in self.ca.chain(session, cert.ca_id)]

    # ------------------------------------------------------------------------------ grants

    def grant(
        self,
        session: Session,
        seal_id: str,
        client_id: str,
        *,
        actor: str,
        document_types: tuple[str, ...] = (),
        not_after: datetime | None = None,
    ) -> GrantInfo:
        """Allow ``client_id`` to use the seal (for ``document_types`` if given, until ``not_after``).

        For a sensitive seal the grant stays ``pending`` until another operator approves it.
        """
        rec = self._record(session, seal_id)
        if _effective_status(rec) in (SealStatus.REVOKED, SealStatus.EXPIRED):
            raise SealStateConflict(rec.id, _effective_status(rec).value, "grant")
        client = _clean_token("client_id", client_id, 200)
        if client is None:
            raise InvalidSealRequest("client_id", "is required")
        types = []
        for t in document_types:
            tt = _clean_token("document_types", t, MAX_DOCUMENT_TYPE)
            if tt is not None:
                if "," in tt:
                    raise InvalidSealRequest("document_types", "a type may not contain a comma")
                types.append(tt)
        if len(",".join(types)) > 500:
            raise InvalidSealRequest("document_types", "too many document types")
        if not_after is not None:
            if not_after.tzinfo is None:
                raise InvalidSealRequest("not_after", "must carry a time zone")
            if not_after <= clock.now():
                raise InvalidSealRequest("not_after", "must be in the future")
        now = _now()
        g = SealGrant(
            id=_new_id("grant"),
            seal_id=rec.id,
            client_id=client,
            document_types=",".join(sorted(set(types))),
            not_after=not_after,
            status=(GrantStatus.PENDING if rec.sensitive else GrantStatus.ACTIVE).value,
            requested_by=actor,
            requested_at=now,
            approved_by=None if rec.sensitive else actor,
            approved_at=None if rec.sensitive else now,
        )
        session.add(g)
        session.flush()
        self.journal.append(
            session,
            actor=actor,
            action="seal.grant",
            target=g.id,
            data={
                "seal": rec.id,
                "client": client,
                "document_types": g.document_types,
                "not_after": not_after.isoformat() if not_after else None,
                "status": g.status,
            },
        )
        return _grant_info(g)

    def _grant(self, session: Session, grant_id: str) -> SealGrant:
        g = session.get(SealGrant, grant_id) if isinstance(grant_id, str) and len(grant_id) <= 40 else None
        if g is None:
            raise GrantNotFound(str(grant_id))
        return g

    def approve_grant(self, session: Session, grant_id: str, *, actor: str) -> GrantInfo:
        """The second approval of a sensitive seal's grant; must come from another operator."""
        g = self._grant(session, grant_id)
        if g.status != GrantStatus.PENDING.value:
            raise SealStateConflict(g.seal_id, g.status, "approve a grant that is not pending")
        if g.requested_by == actor:
            raise SameOperator(f"grant {g.id}", actor)
        g.status, g.approved_by, g.approved_at = GrantStatus.ACTIVE.value, actor, _now()
        session.add(g)
        self.journal.append(
            session,
            actor=actor,
            action="seal.grant.approve",
            target=g.id,
            data={"seal": g.seal_id, "client": g.client_id},
        )
        return _grant_info(g)

    def revoke_grant(self, session: Session, grant_id: str, *, actor: str) -> GrantInfo:
        g = self._grant(session, grant_id)
        if g.status == GrantStatus.REVOKED.value:
            raise SealStateConflict(g.seal_id, g.status, "revoke a grant twice")
        g.status, g.revoked_by, g.revoked_at = GrantStatus.REVOKED.value, actor, _now()
        session.add(g)
        self.journal.append(
            session,
            actor=actor,
            action="seal.grant.revoke",
            target=g.id,
            data={"seal": g.seal_id, "client": g.client_id},
        )
        return _grant_info(g)

    def list_grants(
        self, session: Session, *, seal_id: str | None = None, client_id: str | None = None
    ) -> list[GrantInfo]:
        q = select(SealGrant)
        if seal_id:
            q = q.where(SealGrant.seal_id == seal_id)
        if client_id:
            q = q.where(SealGrant.client_id == client_id)
        return [_grant_info(g) for g in session.exec(q.order_by(col(SealGrant.requested_at), col(SealGrant.id))).all()]

    def _check_grant(self, session: Session, rec: SealRecord, client_id: str, document_type: str | None) -> None:
        grants = session.exec(
            select(SealGrant).where(SealGrant.seal_id == rec.id, SealGrant.client_id == client_id)
        ).all()
        if not grants:
            raise SealNotGranted(rec.id, client_id, "no grant")
        now = clock.now()
        reasons = []
        for g in grants:
            if g.status != GrantStatus.ACTIVE.value:
                reasons.append(f"grant {g.id} is {g.status}")
            elif g.not_after is not None and g.not_after <= now:
                reasons.append(f"grant {g.id} ended at {g.not_after.isoformat()}")
            elif g.document_types and document_type not in g.document_types.split(","):
                reasons.append(f"grant {g.id} is limited to document types {g.document_types}")
            else:
                return
        raise SealNotGranted(rec.id, client_id, "; ".join(reasons))

    @staticmethod
    def _check_usable(rec: SealRecord) -> None:
        status = _effective_status(rec)
        if status is SealStatus.ACTIVE:
            return
        cls: type[SealNotUsable] = {
            SealStatus.SUSPENDED: SealSuspended,
            SealStatus.REVOKED: SealRevoked,
            SealStatus.EXPIRED: SealExpired,
        }.get(status, SealNotActive)
        detail = f"seal {rec.id} is {status.value}"
        if status is SealStatus.EXPIRED:
            detail += f" (valid until {rec.valid_to.isoformat()})"
        raise cls(rec.id, status.value, detail)

    # ------------------------------------------------------------------------------ signing

    def _signer(self, session: Session, rec: SealRecord) -> SealSigner:
        assert rec.key_id is not None and rec.cert_serial is not None
        cache_key = (rec.id, rec.cert_serial)
        cached = self._signers.get(cache_key)
        if cached is not None:
            return cached
        cert_der, chain = self.certificate(session, rec.id)
        signer = SealSigner(self.keys.signer(session, rec.key_id), cert_der, chain)
        with self._lock:
            self._signers[cache_key] = signer
        return signer

    def _tst_size(self, session: Session, family: Family) -> int:
        size = self._tst_sizes.get(family)
        if size is None:
            cred = self.ca.find_credential(session, "tsa", family)
            if cred is None:
                raise TimestampUnavailable(f"no {family.value} time-stamping unit is configured")
            size = len(cred.cert_der) + sum(len(c.dump()) for c in cred.chain) + 1500
            self._tst_sizes[family] = size
        return size

    def _revocation(self, session: Session, rec: SealRecord, signer: SealSigner) -> RevocationData:
        """Chains, CRLs and an OCSP response for the seal certificate and our TSA (B-LT DSS)."""
        family = Family(rec.family)
        tsa = self.ca.find_credential(session, "tsa", family)
        certs = [signer.cert, *signer.chain]
        if tsa is not None:
            certs += [tsa.cert, *tsa.chain]
        ca_ids = {ca_id_for(family, CaRole.SEAL), ca_id_for(family, CaRole.SERVICE), ca_id_for(family, CaRole.ROOT)}
        crls = tuple(self.ca.current_crl(session, ca_id) for ca_id in sorted(ca_ids))
        issuer = signer.chain[0]
        req = ocsp.OCSPRequest(
            {
                "tbs_request": {
                    "request_list": [
                        {
                            "req_cert": {
                                "hash_algorithm": {"algorithm": "sha1"},
                                "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),  # noqa: S324 - RFC 5019 §2.1.1
                                "issuer_key_hash": hashlib.sha1(issuer.public_key["public_key"].contents[1:]).digest(),  # noqa: S324
                                "serial_number": signer.cert.serial_number,
                            }
                        }
                    ]
                }
            }
        )
        ocsp_der = self.ca.ocsp(session, req.dump())
        seen: set[bytes] = set()
        cert_ders = []
        for c in certs:
            der = c.dump()
            if der not in seen:
                seen.add(der)
                cert_ders.append(der)
        return RevocationData(certs=tuple(cert_ders), crls=crls, ocsps=(ocsp_der,))

    def _art(self, rec: SealRecord) -> StampArt:
        if rec.stamp_sha256:
            return StampArt(pdf=self.blobs.get(rec.stamp_sha256))
        return StampArt(png=self.blobs.get(rec.image_sha256))

    def _prepare(
        self,
        session: Session,
        *,
        seal_id: str,
        pdf: bytes,
        placement: Placement,
        level: PadesLevel,
        reason: str | None,
        location: str | None,
        certify: bool,
        actor: str,
        client_id: str | None,
        document_type: str | None,
        idempotency_key: str | None,
        cross_page: bool = False,
    ) -> _Prepared | SignedPdf:
        if not isinstance(pdf, bytes | bytearray):
            raise InvalidSealRequest("file", "must be bytes")
        pdf = bytes(pdf)
        try:
            level = PadesLevel(level)
        except ValueError:
            raise InvalidSealRequest("level", f"must be one of {[lv.value for lv in PadesLevel]}") from None
        if not isinstance(placement, Placement):
            raise InvalidSealRequest("placement", "must be a Placement")
        key = _clean_token("idempotency_key", idempotency_key, MAX_IDEMPOTENCY_KEY)
        doc_type = _clean_token("document_type", document_type, MAX_DOCUMENT_TYPE)
        client_key = client_id or actor
        input_sha256 = _hash(pdf)
        request = {
            "seal": seal_id,
            "input": input_sha256,
            "placement": placement.as_dict(),
            "level": level.value,
            "reason": reason,
            "location": location,
            "certify": bool(certify),
            "document_type": doc_type,
            "cross_page": bool(cross_page),
        }
        request_sha256 = _hash(json.dumps(request, sort_keys=True, ensure_ascii=False).encode())
        if key is not None:
            prior = session.exec(
                select(SealUse).where(SealUse.client_key == client_key, SealUse.idempotency_key == key)
            ).first()
            if prior is not None:
                return self._replay(prior, request_sha256, key)
        rec = self._record(session, seal_id)
        if client_id is not None:
            self._check_grant(session, rec, client_id, doc_type)
        self._check_usable(rec)
        if len(pdf) > self.max_pdf_bytes:
            raise PdfTooLarge(len(pdf), self.max_pdf_bytes)
        facts = inspect_pdf(pdf, max_bytes=self.max_pdf_bytes)
        check_signable(facts, certify=bool(certify))

        def finder(data: bytes, text: str, pages: Any) -> Any:
            return anchor_mod.find_anchor(
                data, text, pages, [p.media_box[:2] for p in facts.pages], [p.rotate for p in facts.pages]
            )

        where = resolve_placement(facts, pdf, placement, (rec.width_mm * PT_PER_MM, rec.height_mm * PT_PER_MM), finder)
        signer = self._signer(session, rec)
        opts = pades_options(level)
        n = len(facts.field_names) + 1
        field_name = f"YwtSeal{n}"
        while field_name in facts.field_names:
            n += 1
            field_name = f"YwtSeal{n}"
        job = SealJob(
            pdf=pdf,
            placement=where,
            level=level,
            field_name=field_name,
            art=self._art(rec),
            reason=reason,
            location=location,
            certify=bool(certify),
            tst_size=self._tst_size(session, Family(rec.family)) if opts.signature_timestamp else 0,
            cross_page=bool(cross_page),
            extra={"page_boxes": [p.crop_box for p in facts.pages]},
        )
        if cross_page and facts.page_count < 2:
            raise InvalidSealRequest("cross_page", "a cross-page seal needs a document of at least two pages")
        revocation = self._revocation(session, rec, signer) if opts.embed_revocation else None
        return _Prepared(rec, client_key, request_sha256, input_sha256, job, signer, revocation)

    def _replay(self, prior: SealUse, request_sha256: str, key: str) -> SignedPdf:
        if prior.request_sha256 != request_sha256:
            raise IdempotencyKeyReused(key)
        return SignedPdf(
            pdf=self.blobs.get(prior.output_sha256),
            use_id=prior.id,
            seal_id=prior.seal_id,
            sha256=prior.output_sha256,
            input_sha256=prior.input_sha256,
            level=prior.level,
            field_name=prior.field_name,
            page=prior.page,
            replayed=True,
            created_at=prior.created_at,
        )

    def _reserve(
        self, session: Session, prep: _Prepared, actor: str, key: str | None, document_type: str | None
    ) -> SealUse | SignedPdf:
        """Insert the use row before signing. With an Idempotency-Key, a concurrent request with
        the same key blocks on the unique index until the first commits, then replays its result."""
        use = SealUse(
            id=uuid.uuid4().hex,
            seal_id=prep.seal.id,
            client_key=prep.client_key,
            actor=actor,
            idempotency_key=key,
            request_sha256=prep.request_sha256,
            input_sha256=prep.input_sha256,
            output_sha256="",
            level=prep.job.level.value,
            certify=prep.job.certify,
            document_type=document_type,
            page=prep.job.placement.page_index + 1,
            field_name=prep.job.field_name,
            created_at=_now(),
        )
        if key is None:
            session.add(use)
            return use
        try:
            with session.begin_nested():
                session.add(use)
                session.flush()
        except sa.exc.IntegrityError:
            prior = session.exec(
                select(SealUse).where(SealUse.client_key == prep.client_key, SealUse.idempotency_key == key)
            ).one()
            return self._replay(prior, prep.request_sha256, key)
        return use

    def sign_pdf(
        self,
        session: Session,
        *,
        seal_id: str,
        pdf: bytes,
        placement: Placement,
        level: PadesLevel = PadesLevel.B_T,
        reason: str | None = None,
        location: str | None = None,
        certify: bool = False,
        actor: str,
        client_id: str | None = None,
        document_type: str | None = None,
        idempotency_key: str | None = None,
        cross_page: bool = False,
    ) -> SignedPdf:
        """Seal ``pdf`` with seal ``seal_id``; returns the sealed PDF (an incremental update).

        ``client_id`` is the machine client on whose behalf this runs: it must hold an active
        grant for the seal (and ``document_type`` if the grant is limited). In-process callers
        that authorised their own caller (the licence service) pass ``client_id=None``.
        ``idempotency_key`` is scoped to the client (or ``actor``): the same key with the same
        request returns the stored result without signing again; with a different request it
        raises :class:`~seal.errors.IdempotencyKeyReused`.

        Runs pyHanko's async signing on a private event loop in the calling thread; the RFC
        3161 timestamp comes from ca/ in the caller's session. Call it from a worker thread
        (sync route, CLI); from async code use :meth:`async_sign_pdf`.
        """
        _no_running_loop()
        key = _clean_token("idempotency_key", idempotency_key, MAX_IDEMPOTENCY_KEY)
        doc_type = _clean_token("document_type", document_type, MAX_DOCUMENT_TYPE)
        prep = self._prepare(
            session,
            seal_id=seal_id,
            pdf=pdf,
            placement=placement,
            level=level,
            reason=reason,
            location=location,
            certify=certify,
            actor=actor,
            client_id=client_id,
            document_type=doc_type,
            idempotency_key=key,
            cross_page=cross_page,
        )
        if isinstance(prep, SignedPdf):
            return prep
        use = self._reserve(session, prep, actor, key, doc_type)
        if isinstance(use, SignedPdf):
            return use
        family = Family(prep.seal.family)

        def tsa(query: bytes) -> bytes:
            return self.ca.timestamp(session, query, family)

        try:
            signed: bytes = _run(async_seal_pdf(prep.job, prep.signer, tsa=tsa, revocation=prep.revocation))
        except YwtError:
            raise
        except RecursionError:
            from seal.errors import PdfTooComplex

            raise PdfTooComplex("the PDF nests objects too deeply to be signed safely") from None
        except Exception as exc:
            from pyhanko.pdf_utils.misc import PdfReadError

            if isinstance(exc, PdfReadError):
                from seal.errors import DamagedPdf

                raise DamagedPdf(f"the PDF cannot be updated: {str(exc)[:200]}") from None
            raise
        use.output_sha256 = self.blobs.put(signed)
        session.add(use)
        self.journal.append(
            session,
            actor=actor,
            action="seal.use",
            target=prep.seal.id,
            data={
                "use": use.id,
                "client": client_id,
                "es_id": prep.seal.es_id,
                "input_sha256": prep.input_sha256,
                "output_sha256": use.output_sha256,
                "level": use.level,
                "certify": use.certify,
                "document_type": doc_type,
                "page": use.page,
                "result": "signed",
            },
        )
        metrics.SEAL_USES.labels(prep.seal.family, "ok").inc()
        return SignedPdf(
            pdf=signed,
            use_id=use.id,
            seal_id=prep.seal.id,
            sha256=use.output_sha256,
            input_sha256=prep.input_sha256,
            level=use.level,
            field_name=use.field_name,
            page=use.page,
            replayed=False,
            created_at=use.created_at,
        )

    async def async_sign_pdf(self, session: Session, **kwargs: Any) -> SignedPdf:
        """:meth:`sign_pdf` for async callers: runs in a worker thread, never on the event loop."""
        result: SignedPdf = await anyio.to_thread.run_sync(functools.partial(self.sign_pdf, session, **kwargs))
        return result

    def seal_document(self, **kwargs: Any) -> SignedPdf:
        """:meth:`sign_pdf` in its own transaction; a refusal is journaled (``seal.use.denied``)
        in a second transaction after the first rolled back, then re-raised. ``placement`` may
        also be a mapping of :class:`Placement` fields (checked inside, so a bad one is journaled)."""
        try:
            placement = kwargs.get("placement")
            if isinstance(placement, Mapping):
                kwargs["placement"] = Placement(**{k: v for k, v in placement.items() if v is not None})
            with self.db.session() as session:
                return self.sign_pdf(session, **kwargs)
        except YwtError as exc:
            metrics.SEAL_USES.labels("unknown", "denied").inc()
            with self.db.session() as session:
                self._journal_denial(session, exc, kwargs)
            raise
        except Exception:
            metrics.SEAL_USES.labels("unknown", "error").inc()
            raise

    def _journal_denial(self, session: Session, exc: YwtError, kwargs: dict[str, Any]) -> None:
        seal_id = str(kwargs.get("seal_id", ""))[:40]
        pdf = kwargs.get("pdf")
        if isinstance(exc, SealExpired):
            self.expire_due(session, actor="system")
        self.journal.append(
            session,
            actor=str(kwargs.get("actor", "unknown")),
            action="seal.use.denied",
            target=seal_id,
            data={
                "client": kwargs.get("client_id"),
                "input_sha256": _hash(bytes(pdf)) if isinstance(pdf, bytes | bytearray) else None,
                "document_type": str(kwargs.get("document_type"))[:64] if kwargs.get("document_type") else None,
                "result": exc.code,
            },
        )

    def count_uses(self, session: Session) -> int:
        return int(session.exec(select(sa.func.count()).select_from(SealUse)).one())

    # ------------------------------------------------------------------------------ SES

    def verify_ses(
        self, session: Session, blob: bytes, document: bytes | None = None, *, at: datetime | None = None
    ) -> SesReport:
        """GB/T 38540 §8 verification of an SES_Signature (or SES_Seal) against our PKI."""

        class _Deps:
            db = self.db
            ca = self.ca

        return verify_ses_blob(_Deps(), blob, document, session=session, at=at)

    # ------------------------------------------------------------------------------ demo

    def ensure_demo(
        self, session: Session, *, owner_uscc: str, owner_name: str, client_id: str, actor: str = "ywt-demo"
    ) -> list[str]:
        """The demo department's three seals (DESIGN.md demo table), active and granted to ``client_id``."""
        wanted: list[tuple[SealType, Family, str]] = [
            (SealType.OFFICIAL, Family.RSA, "official seal"),
            (SealType.APPROVAL, Family.SM2, "approval seal"),
            (SealType.LICENCE, Family.ECDSA, "licence-issuing seal"),
        ]
        lines = []
        existing = {
            (r.seal_type, r.family): r
            for r in session.exec(select(SealRecord).where(SealRecord.owner_uscc == owner_uscc)).all()
        }
        for seal_type, family, label in wanted:
            rec = existing.get((seal_type.value, family.value))
            if rec is None:
                info = self.apply(
                    session, SealApplication(owner_uscc, owner_name, seal_type, family, valid_days=3 * 365), actor=actor
                )
                self.approve(session, info.id, actor=actor)
                self.activate(session, info.id, actor=actor)
                self.grant(session, info.id, client_id, actor=actor)
                lines.append(f"demo seal: {label:22} {info.id}  {family.value:5} {info.name}")
        return lines
