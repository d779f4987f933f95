"""Token-signing keys: one active key per family, rotation, the published JWKS.

Each key is a Service CA credential (profile ``token-signing``, purpose ``oidc``) of its family:
RSA-2048 for ``RS256``, P-256 for ``ES256``, SM2 for ``SM2``. ``kid`` is the key-store key id
(SHA-256 of the SubjectPublicKeyInfo), and the JWK carries the certificate chain in ``x5c``.

Rotation (RFC 7517 §4.5, OIDC Core §10.1.1): the new key signs at once; the old one stays in the
JWKS, and is accepted, until ``publish_until`` = retirement + the longest token lifetime + leeway,
when no token it signed can still be valid. Revoking a key (compromise) revokes its certificate
and withdraws it from the JWKS immediately.

Each process caches signers and verification keys for :data:`CACHE_SECONDS`; an unknown ``kid``
forces a reload (at most once a second, so random kids cannot hammer the database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from joserfc.jwk import Key
from sqlmodel import Session, col, select

from ca.profiles import CaRole
from ca.service import CaService, ca_id_for
from core import clock
from core.audit import Journal
from core.errors import NotFound
from identity.jose import ALG_BY_FAMILY, FAMILY_BY_ALG, public_jwk, verification_key
from identity.jwt import LEEWAY
from identity.models import SigningKeyRecord
from keys import Family, KeyStore, Signer

__all__ = ["CACHE_SECONDS", "KEY_RETENTION", "MAX_TOKEN_TTL", "SigningKeyInfo", "TokenKeys", "VerificationKey"]

#: Longest lifetime of any token we sign (access and ID tokens); refresh tokens are not JWTs.
MAX_TOKEN_TTL: Final = timedelta(hours=1)
KEY_RETENTION: Final = MAX_TOKEN_TTL + LEEWAY + timedelta(minutes=5)
CACHE_SECONDS: Final = 30.0
#: an active key is replaced at start-up when its certificate has less than this left
RENEW_BEFORE: Final = timedelta(days=30)
PURPOSE: Final = "oidc"

ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


@dataclass(frozen=True)
class SigningKeyInfo:
    kid: str
    family: Family
    alg: str
    cert_serial: str
    status: str
    created_at: datetime
    retired_at: datetime | None
    publish_until: datetime | None


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: Key
    #: None while active; for a retired key the end of its acceptance
    valid_until: datetime | None


def _info(r: SigningKeyRecord) -> SigningKeyInfo:
    return SigningKeyInfo(
        r.kid, Family(r.family), r.alg, r.cert_serial, r.status, r.created_at, r.retired_at, r.publish_until
    )


class UnknownSigningKey(NotFound):
    code = "unknown-signing-key"
    title = "No such token-signing key"


class TokenKeys:
    def __init__(self, keystore: KeyStore, ca: CaService, journal: Journal) -> None:
        self._keys = keystore
        self._ca = ca
        self._journal = journal
        self._lock = threading.Lock()
        self._signers: dict[Family, tuple[float, str, Signer]] = {}
        self._verify: dict[str, VerificationKey] = {}
        self._verify_loaded = 0.0
        self._last_forced = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def ensure(self, session: Session, *, actor: str = "system") -> list[SigningKeyInfo]:
        """Create the active key of every family that has none, and rotate an active key whose
        certificate expires within :data:`RENEW_BEFORE` or was revoked (run at every start)."""
        created = []
        now = clock.now()
        for family in Family:
            active = self._active(session, family)
            if active is None:
                created.append(self._create(session, family, actor))
                continue
            cert = self._ca.get_certificate(session, active.cert_serial)
            if cert.status != "valid" or cert.not_after - now < RENEW_BEFORE:
                created.append(self.rotate(session, family, actor=actor))
        return created

    def _create(self, session: Session, family: Family, actor: str) -> SigningKeyInfo:
        issued = self._ca.issue_service_credential(
            session,
            ca_id_for(family, CaRole.SERVICE),
            "token-signing",
            PURPOSE,
            f"YWT OIDC Token Signing {family.value.upper()} {clock.now():%Y%m%d%H%M%S}",
            actor=actor,
        )
        assert issued.key_id is not None
        rec = SigningKeyRecord(
            kid=issued.key_id,
            family=family.value,
            alg=ALG_BY_FAMILY[family],
            cert_serial=issued.serial,
            status=ACTIVE,
            created_at=clock.now(),
        )
        session.add(rec)
        session.flush()
        self._journal.append(
            session,
            actor=actor,
            action="identity.signing_key.create",
            target=rec.kid,
            data={"family": family.value, "alg": rec.alg, "cert_serial": issued.serial},
        )
        self.invalidate()
        return _info(rec)

    def _active(self, session: Session, family: Family) -> SigningKeyRecord | None:
        return session.exec(
            select(SigningKeyRecord)
            .where(SigningKeyRecord.family == family.value, SigningKeyRecord.status == ACTIVE)
            .order_by(col(SigningKeyRecord.created_at).desc())
        ).first()

    def rotate(self, session: Session, family: Family, *, actor: str) -> SigningKeyInfo:
        """Retire the active key of ``family`` (kept published for :data:`KEY_RETENTION`) and
        make a new one active."""
        now = clock.now()
        for rec in session.exec(
            select(SigningKeyRecord).where(SigningKeyRecord.family == family.value, SigningKeyRecord.status == ACTIVE)
        ).all():
            rec.status, rec.retired_at, rec.publish_until = RETIRED, now, now + KEY_RETENTION
            session.add(rec)
            self._journal.append(
                session,
                actor=actor,
                action="identity.signing_key.retire",
                target=rec.kid,
                data={"publish_until": rec.publish_until.isoformat()},
            )
        return self._create(session, family, actor)

    def revoke(self, session: Session, kid: str, *, actor: str, reason: str = "keyCompromise") -> SigningKeyInfo:
        """Withdraw a key at once (its certificate is revoked); a new key replaces an active one."""
        rec = session.get(SigningKeyRecord, kid)
        if rec is None:
            raise UnknownSigningKey(f"no token-signing key {kid[:64]!r}", kid=kid[:64])
        was_active = rec.status == ACTIVE
        if rec.status != REVOKED:
            cert = self._ca.get_certificate(session, rec.cert_serial)
            if cert.status == "valid":
                self._ca.revoke(session, rec.cert_serial, reason, actor=actor)
            rec.status, rec.publish_until = REVOKED, None
            rec.retired_at = rec.retired_at or clock.now()
            session.add(rec)
            self._journal.append(session, actor=actor, action="identity.signing_key.revoke", target=kid, data={})
        self.invalidate()
        if was_active:
            self._create(session, Family(rec.family), actor)
        return _info(rec)

    def all(self, session: Session) -> list[SigningKeyInfo]:
        rows = session.exec(select(SigningKeyRecord).order_by(col(SigningKeyRecord.created_at))).all()
        return [_info(r) for r in rows]

    def invalidate(self) -> None:
        with self._lock:
            self._signers.clear()
            self._verify_loaded = 0.0

    # -- use -----------------------------------------------------------------------------------

    def signer(self, session_factory: Callable[[], Any], alg: str) -> tuple[str, Signer]:
        """``(kid, signer)`` of the active key for ``alg`` (cached for :data:`CACHE_SECONDS`)."""
        family = FAMILY_BY_ALG[alg]
        now = time.monotonic()
        with self._lock:
            hit = self._signers.get(family)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                return hit[1], hit[2]
        with session_factory() as session:
            rec = self._active(session, family)
            if rec is None:
                raise UnknownSigningKey(f"no active {alg} token-signing key: run ywt init", alg=alg)
            signer = self._keys.signer(session, rec.kid)
        with self._lock:
            self._signers[family] = (now, rec.kid, signer)
        return rec.kid, signer

    def published(self, session: Session) -> list[SigningKeyRecord]:
        now = clock.now()
        rows = session.exec(select(SigningKeyRecord).where(col(SigningKeyRecord.status).in_([ACTIVE, RETIRED]))).all()
        return [r for r in rows if r.status == ACTIVE or (r.publish_until is not None and r.publish_until > now)]

    def jwks(self, session: Session) -> dict[str, Any]:
        """The public JWK Set (RFC 7517 §5) with ``x5c`` chains (leaf first, RFC 7517 §4.7)."""
        out = []
        for rec in sorted(self.published(session), key=lambda r: (r.status != ACTIVE, r.family, r.created_at)):
            cert = self._ca.get_certificate(session, rec.cert_serial)
            chain = [c.cert_der for c in self._ca.chain(session, cert.ca_id)]
            info = self._keys.get(session, rec.kid)
            out.append(public_jwk(info.public_key_der, rec.kid, [cert.cert_der, *chain]))
        return {"keys": out}

    def verification_keys(
        self, session_factory: Callable[[], Any], *, force: bool = False
    ) -> dict[str, VerificationKey]:
        now = time.monotonic()
        with self._lock:
            fresh = now - self._verify_loaded < CACHE_SECONDS
            if fresh and not force:
                return self._verify
            if force and now - self._last_forced < 1.0:
                return self._verify
            if force:
                self._last_forced = now
        loaded: dict[str, VerificationKey] = {}
        with session_factory() as session:
            for rec in self.published(session):
                spki = self._keys.get(session, rec.kid).public_key_der
                loaded[rec.kid] = VerificationKey(rec.kid, rec.alg, verification_key(spki, rec.kid), rec.publish_until)
        with self._lock:
            self._verify = loaded
            self._verify_loaded = now
        return loaded

    def find(self, session_factory: Callable[[], Any], kid: str) -> VerificationKey | None:
        key = self.verification_keys(session_factory).get(kid)
        if key is None:
            key = self.verification_keys(session_factory, force=True).get(kid)
        if key is not None and key.valid_until is not None and key.valid_until <= clock.now():
            return None
        return key
