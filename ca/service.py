"""The CA service: hierarchy, issuance, revocation, CRLs, OCSP and time-stamping.

All methods take the caller's database session, so a certificate, its key and its journal
entry commit together. Issuance per CA is serialised by a row lock on the CA record (bumping
``issued_count``), which keeps "one valid certificate per subject" true under concurrent
requests on PostgreSQL; serial numbers are 159 random bits (RFC 5280 §4.1.2.2, CA/B BR 7.1).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from asn1crypto import pem, x509
from sqlmodel import Session, col, select

from ca import crl as crlmod
from ca import ocsp as ocspmod
from ca import tsa as tsamod
from ca.csr import parse_csr
from ca.errors import (
    AlreadyRevoked,
    BadName,
    DuplicateSubject,
    PkiNotInitialised,
    ProfileNotAllowed,
    UnknownCa,
    UnknownCertificate,
)
from ca.models import CaRecord, CertRecord, CrlRecord, TimestampRecord
from ca.names import build_name, name_text
from ca.profiles import CaRole, Profile, get_profile
from ca.x509build import IdentityExtensions, Issuer, Urls, build_certificate, key_identifier
from core import clock
from core.audit import Journal
from core.errors import InvalidInput
from core.settings import Settings
from keys import Family, KeyAlgorithm, KeyStore, Signer

#: Key algorithm per family: (root + issuing CAs, end entities we create ourselves)
FAMILY_KEYS: dict[Family, tuple[KeyAlgorithm, KeyAlgorithm]] = {
    Family.RSA: (KeyAlgorithm.RSA_3072, KeyAlgorithm.RSA_2048),
    Family.ECDSA: (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P256),
    Family.SM2: (KeyAlgorithm.SM2, KeyAlgorithm.SM2),
}
ISSUING_ROLES = (CaRole.IDENTITY, CaRole.SEAL, CaRole.SERVICE)
_ROLE_TITLE = {
    CaRole.ROOT: "Root CA",
    CaRole.IDENTITY: "Identity CA",
    CaRole.SEAL: "Seal CA",
    CaRole.SERVICE: "Service CA",
}
ORG = "天津市一网通办平台"
BACKDATE = timedelta(minutes=5)  # tolerate relying parties with slightly slow clocks


def ca_id_for(family: Family, role: CaRole) -> str:
    return f"{family.value}-{role.value}"


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def parse_serial(text: str) -> int:
    t = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = int(t, 16)
    except ValueError as exc:
        raise InvalidInput("serial numbers are hexadecimal") from exc
    if value <= 0 or value.bit_length() > 160:
        raise InvalidInput("serial number out of range")
    return value


@dataclass(frozen=True)
class CaInfo:
    id: str
    family: Family
    role: CaRole
    parent_id: str | None
    subject: str
    key_id: str
    cert_der: bytes
    not_after: datetime

    @property
    def cert_pem(self) -> str:
        return str(pem.armor("CERTIFICATE", self.cert_der).decode())


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    ca_id: str
    profile: str
    subject: str
    key_id: str | None
    purpose: str | None
    not_before: datetime
    not_after: datetime
    cert_der: bytes
    status: str
    revoked_at: datetime | None
    revocation_reason: str | None

    @property
    def cert_pem(self) -> str:
        return str(pem.armor("CERTIFICATE", self.cert_der).decode())


def _ca_info(r: CaRecord) -> CaInfo:
    return CaInfo(r.id, Family(r.family), CaRole(r.role), r.parent_id, r.subject, r.key_id, r.cert_der, r.not_after)


def _issued(r: CertRecord) -> IssuedCertificate:
    return IssuedCertificate(
        r.serial,
        r.ca_id,
        r.profile,
        r.subject,
        r.key_id,
        r.purpose,
        r.not_before,
        r.not_after,
        r.cert_der,
        r.status,
        r.revoked_at,
        r.revocation_reason,
    )


@dataclass(frozen=True)
class Credential:
    """A service key with its certificate and chain (TSA, token signing, audit checkpoints)."""

    signer: Signer
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    serial: str

    @property
    def cert_der(self) -> bytes:
        return bytes(self.cert.dump())

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    def sign(self, data: bytes) -> bytes:
        return self.signer.sign(data)


def next_counter(session: Session, name: str) -> int:
    """Atomically increment and return a named counter (row lock on PostgreSQL, writer lock on SQLite)."""
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt = "INSERT INTO ca_counter (name, value) VALUES (:n, 0) ON CONFLICT (name) DO NOTHING"
    else:
        stmt = "INSERT OR IGNORE INTO ca_counter (name, value) VALUES (:n, 0)"
    conn.execute(sa.text(stmt), {"n": name})
    conn.execute(sa.text("UPDATE ca_counter SET value = value + 1 WHERE name = :n"), {"n": name})
    return int(conn.execute(sa.text("SELECT value FROM ca_counter WHERE name = :n"), {"n": name}).scalar_one())


class _Responder:
    """A CA as the OCSP responder sees it: issuer hashes (memoised per hash algorithm) and the
    delegated responder's key and certificate."""

    def __init__(
        self, ca_id: str, ca_cert: x509.Certificate, key_id: str | None, cert: x509.Certificate | None
    ) -> None:
        self.ca_id, self.ca_cert, self.key_id, self.cert = ca_id, ca_cert, key_id, cert
        self._hashes: dict[str, tuple[bytes, bytes] | None] = {}

    def hashes(self, algorithm: str) -> tuple[bytes, bytes] | None:
        if algorithm not in self._hashes:
            self._hashes[algorithm] = ocspmod.issuer_hashes(self.ca_cert, algorithm)
        return self._hashes[algorithm]


class CaService:
    def __init__(self, settings: Settings, keystore: KeyStore, journal: Journal) -> None:
        self.settings = settings
        self.keys = keystore
        self.journal = journal
        self._responder_cache: list[_Responder] | None = None

    # --- URLs ---------------------------------------------------------------------------------

    def urls_for(self, ca_id: str) -> Urls:
        base = self.settings.base_url
        return Urls(
            crl=f"{base}/pki/cas/{ca_id}/crl", ocsp=f"{base}/pki/ocsp", ca_issuers=f"{base}/pki/cas/{ca_id}/cert"
        )

    # --- hierarchy ----------------------------------------------------------------------------

    def is_initialised(self, session: Session) -> bool:
        return session.exec(select(CaRecord).limit(1)).first() is not None

    def init_pki(
        self, session: Session, *, actor: str = "system", families: tuple[Family, ...] = tuple(Family)
    ) -> list[CaInfo]:
        """Create, per family, a root, the Identity/Seal/Service CAs, their OCSP responders and a TSA."""
        created: list[CaInfo] = []
        for family in families:
            if session.get(CaRecord, ca_id_for(family, CaRole.ROOT)) is not None:
                continue
            ca_alg, ee_alg = FAMILY_KEYS[family]
            root = self._create_ca(session, family, CaRole.ROOT, ca_alg, None, actor)
            created.append(root)
            for role in ISSUING_ROLES:
                created.append(self._create_ca(session, family, role, ca_alg, root.id, actor))
            for info in [c for c in created if c.family is family]:
                self._create_responder(session, info.id, ee_alg, actor)
            self.issue_service_credential(
                session,
                ca_id_for(family, CaRole.SERVICE),
                "tsa",
                "tsa",
                f"YWT {family.value.upper()} Time-Stamping Unit",
                actor=actor,
            )
        has_sm2 = session.get(CaRecord, ca_id_for(Family.SM2, CaRole.SERVICE)) is not None
        if has_sm2 and self.find_credential(session, "audit") is None:
            self.issue_service_credential(
                session,
                ca_id_for(Family.SM2, CaRole.SERVICE),
                "token-signing",
                "audit",
                "YWT Audit Journal Checkpoints",
                actor=actor,
            )
        for info in created:
            self.issue_crl(session, info.id, actor=actor)
        self._responder_cache = None
        return created

    def _create_ca(
        self, session: Session, family: Family, role: CaRole, alg: KeyAlgorithm, parent_id: str | None, actor: str
    ) -> CaInfo:
        ca_id = ca_id_for(family, role)
        key = self.keys.generate(session, alg, f"CA {ca_id}", actor=actor)
        signer = self.keys.signer(session, key.key_id)
        subject = build_name(
            {
                "country_name": "CN",
                "organization_name": ORG,
                "common_name": f"YWT {family.value.upper()} {_ROLE_TITLE[role]}",
            }
        )
        now = clock.now().replace(microsecond=0)
        profile = get_profile("root" if parent_id is None else "issuing-ca")
        serial = secrets.randbits(159) | 1
        if parent_id is None:
            der = build_certificate(
                subject=subject,
                subject_spki=key.public_key_der,
                serial=serial,
                not_before=now - BACKDATE,
                not_after=now + timedelta(days=profile.validity_days),
                profile=profile,
                issuer=None,
                self_signer=signer,
            )
        else:
            parent = self._record(session, parent_id)
            issuer = self._issuer(session, parent)
            not_after = min(now + timedelta(days=profile.validity_days), parent.not_after)
            der = build_certificate(
                subject=subject,
                subject_spki=key.public_key_der,
                serial=serial,
                not_before=now - BACKDATE,
                not_after=not_after,
                profile=profile,
                issuer=issuer,
                urls=self.urls_for(parent_id),
            )
        cert = x509.Certificate.load(der)
        rec = CaRecord(
            id=ca_id,
            family=family.value,
            role=role.value,
            parent_id=parent_id,
            key_id=key.key_id,
            cert_der=der,
            subject=name_text(subject),
            not_after=cert.not_valid_after,
            created_at=now,
        )
        session.add(rec)
        session.add(
            CertRecord(
                serial=serial_hex(serial),
                ca_id=parent_id or ca_id,
                profile=profile.name,
                subject=rec.subject,
                key_id=key.key_id,
                purpose="ca",
                fingerprint=hashlib.sha256(der).hexdigest(),
                not_before=cert.not_valid_before,
                not_after=cert.not_valid_after,
                cert_der=der,
                created_at=now,
            )
        )
        session.flush()
        self.journal.append(
            session,
            actor=actor,
            action="ca.create",
            target=ca_id,
            data={"subject": rec.subject, "serial": serial_hex(serial), "key_id": key.key_id},
        )
        return _ca_info(rec)

    def _create_responder(self, session: Session, ca_id: str, alg: KeyAlgorithm, actor: str) -> None:
        ca = self._record(session, ca_id)
        issued = self.issue_for_new_key(
            session,
            ca_id,
            "ocsp-responder",
            alg,
            {
                "country_name": "CN",
                "organization_name": ORG,
                "common_name": f"{ca.subject.split('CN=')[-1]} OCSP Responder",
            },
            actor=actor,
            purpose="ocsp",
        )
        ca.responder_key_id = issued.key_id
        ca.responder_cert_der = issued.cert_der
        session.add(ca)

    def _record(self, session: Session, ca_id: str) -> CaRecord:
        rec = session.get(CaRecord, ca_id)
        if rec is None:
            if not self.is_initialised(session):
                raise PkiNotInitialised()
            raise UnknownCa(ca_id)
        return rec

    def _issuer(self, session: Session, rec: CaRecord) -> Issuer:
        cert = x509.Certificate.load(rec.cert_der)
        return Issuer(
            name=cert.subject,
            key_identifier=key_identifier(cert.public_key.dump()),
            signer=self.keys.signer(session, rec.key_id),
        )

    def list_cas(self, session: Session) -> list[CaInfo]:
        return [_ca_info(r) for r in session.exec(select(CaRecord).order_by(col(CaRecord.id))).all()]

    def get_ca(self, session: Session, ca_id: str) -> CaInfo:
        return _ca_info(self._record(session, ca_id))

    def chain(self, session: Session, ca_id: str) -> list[CaInfo]:
        """The CA and its ancestors, leaf-most first."""
        out = [self.get_ca(session, ca_id)]
        while out[-1].parent_id is not None:
            out.append(self.get_ca(session, out[-1].parent_id))
        return out

    def roots(self, session: Session) -> list[CaInfo]:
        return [c for c in self.list_cas(session) if c.role is CaRole.ROOT]

    # --- issuance -----------------------------------------------------------------------------

    def issue_from_csr(
        self,
        session: Session,
        ca_id: str,
        profile_name: str,
        csr: bytes,
        *,
        actor: str,
        ident: IdentityExtensions | None = None,
    ) -> IssuedCertificate:
        profile = get_profile(profile_name)
        parsed = parse_csr(csr)
        attrs = {str(k): str(v) for k, v in (parsed.subject.native or {}).items() if isinstance(v, str)}
        if len(attrs) != len(parsed.subject.native or {}):
            raise BadName("multi-valued subject attributes are not accepted")
        return self._issue(session, ca_id, profile, build_name(attrs), parsed.spki_der, None, actor, ident, None)

    def issue_for_key(
        self,
        session: Session,
        ca_id: str,
        profile_name: str,
        key_id: str,
        subject: dict[str, str],
        *,
        actor: str,
        ident: IdentityExtensions | None = None,
        purpose: str | None = None,
    ) -> IssuedCertificate:
        profile = get_profile(profile_name)
        key = self.keys.get(session, key_id)
        return self._issue(
            session, ca_id, profile, build_name(subject), key.public_key_der, key.key_id, actor, ident, purpose
        )

    def issue_for_new_key(
        self,
        session: Session,
        ca_id: str,
        profile_name: str,
        algorithm: KeyAlgorithm,
        subject: dict[str, str],
        *,
        actor: str,
        ident: IdentityExtensions | None = None,
        purpose: str | None = None,
    ) -> IssuedCertificate:
        get_profile(profile_name)
        build_name(subject)
        key = self.keys.generate(session, algorithm, f"{profile_name}: {subject.get('common_name', '')}", actor=actor)
        return self.issue_for_key(
            session, ca_id, profile_name, key.key_id, subject, actor=actor, ident=ident, purpose=purpose
        )

    def _issue(
        self,
        session: Session,
        ca_id: str,
        profile: Profile,
        subject: x509.Name,
        spki_der: bytes,
        key_id: str | None,
        actor: str,
        ident: IdentityExtensions | None,
        purpose: str | None,
    ) -> IssuedCertificate:
        ca = self._record(session, ca_id)
        if CaRole(ca.role) not in profile.issued_by or profile.is_ca:
            raise ProfileNotAllowed(
                f"{ca_id} does not issue {profile.name} certificates", ca_id=ca_id, profile=profile.name
            )
        from keys import normalize_spki

        key_alg, spki_der = normalize_spki(spki_der)
        if key_alg.family.value != ca.family:
            raise ProfileNotAllowed(f"{ca_id} issues {ca.family} keys only, not {key_alg.value}", ca_id=ca_id)
        # serialise issuance for this CA (row lock) before the uniqueness check
        session.connection().execute(
            sa.text("UPDATE ca_authority SET issued_count = issued_count + 1 WHERE id = :id"), {"id": ca_id}
        )
        now = clock.now().replace(microsecond=0)
        subject_text = name_text(subject)
        if profile.unique_subject:
            clash = session.exec(
                select(CertRecord).where(
                    CertRecord.ca_id == ca_id,
                    CertRecord.subject == subject_text,
                    CertRecord.profile == profile.name,
                    CertRecord.status != "revoked",
                    CertRecord.not_after > now,
                )
            ).first()
            if clash is not None:
                raise DuplicateSubject(
                    f"{subject_text} already holds valid certificate {clash.serial}",
                    serial=clash.serial,
                    subject=subject_text,
                )
        serial = secrets.randbits(159) | 1
        not_after = min(now + timedelta(days=profile.validity_days), ca.not_after)
        der = build_certificate(
            subject=subject,
            subject_spki=spki_der,
            serial=serial,
            not_before=now - BACKDATE,
            not_after=not_after,
            profile=profile,
            issuer=self._issuer(session, ca),
            urls=self.urls_for(ca_id),
            ident=ident,
        )
        rec = CertRecord(
            serial=serial_hex(serial),
            ca_id=ca_id,
            profile=profile.name,
            subject=subject_text,
            key_id=key_id,
            purpose=purpose,
            fingerprint=hashlib.sha256(der).hexdigest(),
            not_before=now - BACKDATE,
            not_after=not_after,
            cert_der=der,
            created_at=now,
        )
        session.add(rec)
        session.flush()
        self.journal.append(
            session,
            actor=actor,
            action="ca.issue",
            target=rec.serial,
            data={"ca": ca_id, "profile": profile.name, "subject": subject_text, "fingerprint": rec.fingerprint},
        )
        return _issued(rec)

    def issue_service_credential(
        self, session: Session, ca_id: str, profile: str, purpose: str, common_name: str, *, actor: str
    ) -> IssuedCertificate:
        ca = self._record(session, ca_id)
        return self.issue_for_new_key(
            session,
            ca_id,
            profile,
            FAMILY_KEYS[Family(ca.family)][1],
            {"country_name": "CN", "organization_name": ORG, "common_name": common_name},
            actor=actor,
            purpose=purpose,
        )

    def find_credential(self, session: Session, purpose: str, family: Family | None = None) -> Credential | None:
        """The newest valid certificate issued for ``purpose`` (and family), with its signer and chain."""
        q = select(CertRecord).where(
            CertRecord.purpose == purpose, CertRecord.status == "valid", CertRecord.not_after > clock.now()
        )
        if family is not None:
            q = q.where(col(CertRecord.ca_id).startswith(f"{family.value}-"))
        rec = session.exec(q.order_by(col(CertRecord.created_at).desc())).first()
        if rec is None or rec.key_id is None:
            return None
        chain = tuple(x509.Certificate.load(c.cert_der) for c in self.chain(session, rec.ca_id))
        return Credential(self.keys.signer(session, rec.key_id), x509.Certificate.load(rec.cert_der), chain, rec.serial)

    def get_certificate(self, session: Session, serial: str) -> IssuedCertificate:
        rec = session.get(CertRecord, serial_hex(parse_serial(serial)))
        if rec is None:
            raise UnknownCertificate(f"no certificate with serial {serial[:50]}", serial=serial[:50])
        return _issued(rec)

    def certificate_for_key(self, session: Session, key_id: str) -> IssuedCertificate | None:
        rec = session.exec(
            select(CertRecord).where(CertRecord.key_id == key_id).order_by(col(CertRecord.created_at).desc())
        ).first()
        return None if rec is None else _issued(rec)

    def list_certificates(
        self, session: Session, ca_id: str | None = None, limit: int = 200
    ) -> list[IssuedCertificate]:
        q = select(CertRecord)
        if ca_id is not None:
            q = q.where(CertRecord.ca_id == ca_id)
        return [_issued(r) for r in session.exec(q.order_by(col(CertRecord.created_at).desc()).limit(limit)).all()]

    # --- revocation ---------------------------------------------------------------------------

    def revoke(self, session: Session, serial: str, reason: str = "unspecified", *, actor: str) -> IssuedCertificate:
        norm = crlmod.normalise_reason(reason)
        if norm is None:
            raise InvalidInput(f"unknown revocation reason {reason[:40]!r}", allowed=sorted(crlmod.REASONS))
        rec = session.get(CertRecord, serial_hex(parse_serial(serial)))
        if rec is None:
            raise UnknownCertificate(f"no certificate with serial {serial[:50]}", serial=serial[:50])
        if rec.status == "revoked" and rec.revocation_reason != "certificate_hold":
            raise AlreadyRevoked(f"certificate {rec.serial} was revoked at {rec.revoked_at}", serial=rec.serial)
        rec.status = "revoked"
        rec.revoked_at = clock.now().replace(microsecond=0)
        rec.revocation_reason = norm
        session.add(rec)
        session.flush()
        self.journal.append(
            session,
            actor=actor,
            action="ca.revoke",
            target=rec.serial,
            data={"ca": rec.ca_id, "reason": norm, "subject": rec.subject},
        )
        self.issue_crl(session, rec.ca_id, actor=actor)
        return _issued(rec)

    def resume(self, session: Session, serial: str, *, actor: str) -> IssuedCertificate:
        """Lift a certificateHold (RFC 5280 §5.3.1: the only reversible revocation)."""
        rec = session.get(CertRecord, serial_hex(parse_serial(serial)))
        if rec is None:
            raise UnknownCertificate(f"no certificate with serial {serial[:50]}", serial=serial[:50])
        if rec.status != "revoked" or rec.revocation_reason != "certificate_hold":
            raise AlreadyRevoked(f"certificate {rec.serial} is not on hold", serial=rec.serial)
        rec.status, rec.revoked_at, rec.revocation_reason = "valid", None, None
        session.add(rec)
        session.flush()
        self.journal.append(session, actor=actor, action="ca.resume", target=rec.serial, data={"ca": rec.ca_id})
        self.issue_crl(session, rec.ca_id, actor=actor)
        return _issued(rec)

    # --- CRLs ---------------------------------------------------------------------------------

    def issue_crl(self, session: Session, ca_id: str, *, actor: str = "system") -> bytes:
        ca = self._record(session, ca_id)
        number = next_counter(session, f"crl:{ca_id}")
        now = clock.now().replace(microsecond=0)
        next_update = now + timedelta(hours=self.settings.crl_validity_hours)
        revoked = [
            crlmod.RevokedEntry(int(r.serial, 16), r.revoked_at, r.revocation_reason or "unspecified")
            for r in session.exec(
                select(CertRecord).where(
                    CertRecord.ca_id == ca_id, CertRecord.status == "revoked", CertRecord.not_after > now
                )
            ).all()
            if r.revoked_at is not None
        ]
        der = crlmod.build_crl(self._issuer(session, ca), number, now, next_update, revoked)
        session.add(CrlRecord(ca_id=ca_id, number=number, this_update=now, next_update=next_update, der=der))
        session.flush()
        self.journal.append(
            session,
            actor=actor,
            action="ca.crl",
            target=ca_id,
            data={"number": number, "revoked": len(revoked), "next_update": next_update.isoformat()},
        )
        return der

    def current_crl(self, session: Session, ca_id: str) -> bytes:
        """The latest CRL, re-issued first when it is within the refresh window of ``nextUpdate``."""
        self._record(session, ca_id)
        latest = session.exec(
            select(CrlRecord).where(CrlRecord.ca_id == ca_id).order_by(col(CrlRecord.number).desc())
        ).first()
        if latest is None or latest.next_update - clock.now() < timedelta(hours=self.settings.crl_refresh_hours):
            return self.issue_crl(session, ca_id)
        return latest.der

    def refresh_crls(self, session: Session) -> list[str]:
        """Re-issue every CRL that is about to lapse (run periodically by the server)."""
        refreshed = []
        for ca in self.list_cas(session):
            latest = session.exec(
                select(CrlRecord).where(CrlRecord.ca_id == ca.id).order_by(col(CrlRecord.number).desc())
            ).first()
            if latest is None or latest.next_update - clock.now() < timedelta(hours=self.settings.crl_refresh_hours):
                self.issue_crl(session, ca.id)
                refreshed.append(ca.id)
        return refreshed

    # --- OCSP ---------------------------------------------------------------------------------

    def _responders(self, session: Session) -> list[_Responder]:
        """Our CAs with their issuer hashes and delegated responders, cached per process (CA
        records do not change after creation; a responder rotation clears the cache)."""
        cached = self._responder_cache
        if cached is None:
            cached = [
                _Responder(
                    r.id,
                    x509.Certificate.load(r.cert_der),
                    r.responder_key_id,
                    None if r.responder_cert_der is None else x509.Certificate.load(r.responder_cert_der),
                )
                for r in session.exec(select(CaRecord).order_by(col(CaRecord.id))).all()
            ]
            if all(r.key_id for r in cached) and cached:
                self._responder_cache = cached
        return cached

    def ocsp(self, session: Session, request_der: bytes) -> bytes:
        """Answer an RFC 6960 request. Protocol errors become OCSP error responses, never exceptions."""
        try:
            parsed = ocspmod.parse_request(request_der)
        except ocspmod.OcspMalformed:
            return ocspmod.error_response("malformed_request")
        responders = self._responders(session)
        matched: _Responder | None = None
        statuses: list[ocspmod.SingleStatus] = []
        now = clock.now().replace(microsecond=0)
        for q in parsed.queries:
            ca_match = next(
                (r for r in responders if r.hashes(q.hash_algorithm) == (q.issuer_name_hash, q.issuer_key_hash)), None
            )
            if ca_match is None or (matched is not None and ca_match.ca_id != matched.ca_id):
                statuses.append(ocspmod.SingleStatus(q, ocspmod.CertStatus.UNKNOWN))
                continue
            matched = ca_match
            rec = session.get(CertRecord, serial_hex(q.serial))
            if rec is None or rec.ca_id != ca_match.ca_id:
                statuses.append(ocspmod.SingleStatus(q, ocspmod.CertStatus.UNKNOWN))
            elif rec.status == "revoked":
                statuses.append(
                    ocspmod.SingleStatus(q, ocspmod.CertStatus.REVOKED, rec.revoked_at, rec.revocation_reason)
                )
            else:
                statuses.append(ocspmod.SingleStatus(q, ocspmod.CertStatus.GOOD))
        if matched is None or matched.key_id is None or matched.cert is None:
            return ocspmod.error_response("unauthorized")  # RFC 5019 §2.2.3: not a CA we serve
        responder_cert = matched.cert
        responder = Issuer(
            name=responder_cert.subject, key_identifier=b"", signer=self.keys.signer(session, matched.key_id)
        )
        return ocspmod.build_response(
            responder,
            responder_cert,
            statuses,
            now,
            now + timedelta(hours=self.settings.crl_validity_hours),
            parsed.nonce,
        )

    # --- time-stamping ------------------------------------------------------------------------

    def timestamp(self, session: Session, query_der: bytes, family: Family = Family.RSA) -> bytes:
        """Answer an RFC 3161 query; bad queries get a ``rejection`` response with the failure bit."""
        try:
            query = tsamod.parse_query(query_der)
        except tsamod.TsaRejection as rej:
            return tsamod.rejection(rej.failure, rej.text)
        cred = self.find_credential(session, "tsa", family)
        if cred is None:
            return tsamod.rejection("system_failure", "no time-stamping unit is configured for this family")
        serial = next_counter(session, "tsa")
        gen_time = clock.now().replace(microsecond=0)
        token = tsamod.build_token(
            query=query,
            serial=serial,
            gen_time=gen_time,
            signer=cred.signer,
            tsa_cert=cred.cert,
            chain=list(cred.chain),
        )
        session.add(
            TimestampRecord(
                serial=serial,
                gen_time=gen_time,
                tsa=cred.serial,
                hash_algorithm=query.hash_algorithm,
                imprint=query.imprint.hex(),
            )
        )
        return token
