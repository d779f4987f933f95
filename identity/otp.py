"""SMS one-time codes through a pluggable sender.

A code is 6 random digits, valid for :data:`CODE_TTL`, usable once, with at most
:data:`MAX_ATTEMPTS` guesses; it is stored as an HMAC (never in clear) and bound to a purpose
(``login``, ``register``, ``stepup``) and a phone (blind index). A phone receives at most one
code per :data:`RESEND_AFTER` and :data:`MAX_PER_HOUR` an hour (an SMS costs money and is a
harassment vector).

:class:`SmsSender` is the plug: :class:`OutboxSender` (development and demo) writes the message to
the ``identity_sms_outbox`` table, which ``/dev/outbox`` shows outside production. A gateway
adapter implements the same protocol.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Final, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from core import clock
from core.pii import PiiVault
from core.secrets import MasterKey
from identity.errors import IdentityError, Throttled
from identity.models import OtpRecord, OutboxMessage
from identity.numbers import mask_phone, normalize_phone

__all__ = ["CODE_TTL", "MAX_ATTEMPTS", "OtpService", "OutboxSender", "SmsSender", "TooManyCodes"]

CODE_TTL: Final = timedelta(minutes=5)
MAX_ATTEMPTS: Final = 5
RESEND_AFTER: Final = timedelta(seconds=60)
MAX_PER_HOUR: Final = 10


class TooManyCodes(Throttled):
    code = "too-many-codes"
    title = "Too many codes were requested for this phone; wait a moment"


class SmsSender(Protocol):
    def send(self, session: Session, phone: str, text: str) -> None: ...


class OutboxSender:
    """Development sender: the message goes to the outbox table (phone masked, blind-indexed)."""

    def __init__(self, pii: PiiVault) -> None:
        self._pii = pii

    def send(self, session: Session, phone: str, text: str) -> None:
        session.add(
            OutboxMessage(
                phone_masked=mask_phone(phone),
                phone_idx=self._pii.index("phone", phone),
                text=text[:500],
                created_at=clock.now(),
            )
        )

    @staticmethod
    def recent(session: Session, limit: int = 50) -> list[OutboxMessage]:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)).all())

    def latest_for(self, session: Session, phone: str) -> OutboxMessage | None:
        idx = self._pii.index("phone", normalize_phone(phone))
        return session.exec(
            select(OutboxMessage).where(OutboxMessage.phone_idx == idx).order_by(col(OutboxMessage.id).desc())
        ).first()


_TEXT: Final = {
    "login": "【一网通办】您的登录验证码为 {code}，5分钟内有效。请勿向任何人泄露。",
    "register": "【一网通办】您正在注册统一身份认证账户，验证码 {code}，5分钟内有效。请勿泄露。",
    "stepup": "【一网通办】您正在进行身份增强验证，验证码 {code}，5分钟内有效。请勿泄露。",
}


class OtpService:
    def __init__(self, master: MasterKey, pii: PiiVault, sender: SmsSender) -> None:
        self._key = master.derive("identity/otp-hmac", 32)
        self._pii = pii
        self.sender = sender

    def _hash(self, otp_id: str, code: str) -> str:
        return hmac.new(self._key, f"{otp_id}:{code}".encode(), "sha256").hexdigest()

    def send(self, session: Session, phone: str, purpose: str) -> None:
        """Issue and send a code (raises :class:`TooManyCodes` when the phone asked too often)."""
        number = normalize_phone(phone)
        idx = self._pii.index("phone", number)
        now = clock.now()
        last = session.exec(
            select(OtpRecord).where(OtpRecord.phone_idx == idx).order_by(col(OtpRecord.created_at).desc())
        ).first()
        if last is not None and now - last.created_at < RESEND_AFTER:
            raise TooManyCodes("a code was sent less than a minute ago", retry_after=60)
        hourly = session.exec(
            select(func.count())
            .select_from(OtpRecord)
            .where(OtpRecord.phone_idx == idx, col(OtpRecord.created_at) > now - timedelta(hours=1))
        ).one()
        if hourly >= MAX_PER_HOUR:
            raise TooManyCodes("too many codes for this phone in the last hour", retry_after=3600)
        session.execute(sa.delete(OtpRecord).where(col(OtpRecord.expires_at) < now - timedelta(days=1)))
        otp_id = secrets.token_hex(16)
        code = f"{secrets.randbelow(1_000_000):06d}"
        session.add(
            OtpRecord(
                id=otp_id,
                purpose=purpose,
                phone_idx=idx,
                code_hash=self._hash(otp_id, code),
                created_at=now,
                expires_at=now + CODE_TTL,
            )
        )
        self.sender.send(session, number, _TEXT[purpose].format(code=code))

    def check(self, session: Session, phone: str, purpose: str, code: str) -> bool:
        """True once for the right code of the newest live code for this phone and purpose."""
        try:
            number = normalize_phone(phone)
        except IdentityError:
            return False
        idx = self._pii.index("phone", number)
        now = clock.now()
        rec = session.exec(
            select(OtpRecord)
            .where(OtpRecord.phone_idx == idx, OtpRecord.purpose == purpose)
            .order_by(col(OtpRecord.created_at).desc())
        ).first()
        if rec is None or rec.consumed_at is not None or rec.expires_at <= now or rec.attempts >= MAX_ATTEMPTS:
            return False
        rec.attempts += 1
        ok = hmac.compare_digest(rec.code_hash, self._hash(rec.id, (code or "").strip()[:12]))
        if ok:
            rec.consumed_at = now
        session.add(rec)
        return ok
