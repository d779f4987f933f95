"""Provider sessions (the login state behind our cookie) and what they assert.

The cookie holds 256 random bits; the database keeps only their SHA-256, so a database reader
cannot ride a session. A session ends after :data:`IDLE` without use or :data:`ABSOLUTE` after
login, or at logout (RP-initiated or not). ``amr`` (RFC 8176 values) says how the user
authenticated; the assurance level a session may assert (``acr``) is the account's verified level,
capped at L2 unless the session was established with two factors (OIDC Core §2 ``acr``;
DESIGN.md: step-up when the session is too weak).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, select

from core import clock
from identity.hashing import token_hash
from identity.levels import Level
from identity.models import SessionRecord

__all__ = ["ABSOLUTE", "IDLE", "ProviderSession", "SessionInfo", "Sessions", "session_acr"]

IDLE: Final = timedelta(minutes=30)
ABSOLUTE: Final = timedelta(hours=12)
SINGLE_FACTOR_CAP: Final = Level.L2


def session_acr(account_level: Level | None, amr: frozenset[str]) -> Level | None:
    """What a session may assert: the account's level; above L2 only with two factors."""
    if account_level is None:
        return None
    if "mfa" in amr or "fed" in amr:
        return account_level
    return min(account_level, SINGLE_FACTOR_CAP, key=lambda lv: lv.rank)


@dataclass(frozen=True)
class ProviderSession:
    sid: str
    account_id: str
    auth_time: datetime
    amr: frozenset[str]
    expires_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    """A live session as its owner sees it on the account page (never the cookie or its hash)."""

    sid: str
    auth_time: datetime
    last_seen: datetime
    expires_at: datetime
    amr: tuple[str, ...]


def _view(r: SessionRecord) -> ProviderSession:
    return ProviderSession(r.sid, r.account_id, r.auth_time, frozenset(r.amr.split()), r.expires_at)


class Sessions:
    def create(self, session: Session, account_id: str, amr: frozenset[str]) -> tuple[str, ProviderSession]:
        """A new session; returns the cookie value (shown once) and the session."""
        value = secrets.token_urlsafe(32)
        now = clock.now()
        rec = SessionRecord(
            id_hash=token_hash(value),
            sid=secrets.token_hex(16),
            account_id=account_id,
            auth_time=now,
            amr=" ".join(sorted(amr)),
            created_at=now,
            last_seen=now,
            expires_at=now + ABSOLUTE,
        )
        session.add(rec)
        session.flush()
        return value, _view(rec)

    def _live(self, session: Session, value: str | None) -> SessionRecord | None:
        if not value or len(value) > 100:
            return None
        rec = session.get(SessionRecord, token_hash(value))
        now = clock.now()
        if rec is None or rec.ended_at is not None or rec.expires_at <= now or now - rec.last_seen > IDLE:
            return None
        return rec

    def get(self, session: Session, value: str | None, *, touch: bool = True) -> ProviderSession | None:
        rec = self._live(session, value)
        if rec is None:
            return None
        if touch:
            rec.last_seen = clock.now()
            session.add(rec)
        return _view(rec)

    def step_up(self, session: Session, value: str, amr: frozenset[str]) -> ProviderSession | None:
        """Add factors to a live session (re-authentication: ``auth_time`` becomes now)."""
        rec = self._live(session, value)
        if rec is None:
            return None
        rec.amr = " ".join(sorted(frozenset(rec.amr.split()) | amr))
        rec.auth_time = rec.last_seen = clock.now()
        session.add(rec)
        return _view(rec)

    def end(self, session: Session, value: str | None) -> ProviderSession | None:
        rec = self._live(session, value)
        if rec is None:
            return None
        rec.ended_at = clock.now()
        session.add(rec)
        return _view(rec)

    def for_account(self, session: Session, account_id: str) -> list[SessionInfo]:
        """The account's live sessions, most recently used first."""
        now = clock.now()
        rows = session.exec(
            select(SessionRecord).where(
                SessionRecord.account_id == account_id,
                SessionRecord.ended_at == None,  # noqa: E711 - SQL IS NULL
                SessionRecord.expires_at > now,
            )
        ).all()
        live = [r for r in rows if now - r.last_seen <= IDLE]
        live.sort(key=lambda r: r.last_seen, reverse=True)
        return [SessionInfo(r.sid, r.auth_time, r.last_seen, r.expires_at, tuple(sorted(r.amr.split()))) for r in live]

    def end_own(self, session: Session, account_id: str, sid: str) -> bool:
        """End one of the account's sessions (log out another device); False if it is not theirs."""
        rec = session.exec(select(SessionRecord).where(SessionRecord.sid == sid)).first()
        if rec is None or rec.account_id != account_id:
            return False
        if rec.ended_at is None:
            rec.ended_at = clock.now()
            session.add(rec)
        return True

    def end_sid(self, session: Session, sid: str) -> None:
        rec = session.exec(select(SessionRecord).where(SessionRecord.sid == sid)).first()
        if rec is not None and rec.ended_at is None:
            rec.ended_at = clock.now()
            session.add(rec)
