"""Accounts: citizens, agents and operators (operators are accounts holding roles).

Passwords are argon2id (:mod:`identity.hashing`). Lockout (NIST SP 800-63B §5.2.2 "rate
limiting"): after :data:`LOCK_AFTER` consecutive failures the account is locked for
:data:`LOCK_BASE`, doubling with every further run of failures up to :data:`LOCK_MAX`; while
locked even the right password fails, with the same answer as a wrong one (so the answer tells
nobody whether the account exists or is locked). A success resets the counter. Per-client-address
throttling is the caller's (:class:`identity.throttle.Throttle`).

Authentication methods return a :class:`LoginResult` instead of raising, so the caller's
transaction commits the failure counter even when the login fails.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from core.errors import Conflict, InvalidInput, NotFound
from core.pii import PiiVault
from identity.errors import IdentityError
from identity.hashing import SecretHasher
from identity.models import AccountRecord
from identity.numbers import mask_phone, normalize_phone

__all__ = [
    "LOCK_AFTER",
    "LOCK_BASE",
    "LOCK_MAX",
    "AccountExists",
    "Accounts",
    "LoginOutcome",
    "LoginResult",
    "UnknownAccount",
    "WeakPassword",
    "normalize_username",
]

LOCK_AFTER: Final = 5
LOCK_BASE: Final = timedelta(minutes=15)
LOCK_MAX: Final = timedelta(hours=24)
_USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 128


class AccountExists(IdentityError, Conflict):
    code = "account-exists"
    title = "This user name or phone number is already registered"


class UnknownAccount(IdentityError, NotFound):
    code = "unknown-account"
    title = "No such account"


class WeakPassword(IdentityError, InvalidInput):
    code = "weak-password"
    title = "The password does not meet the rules"


class InvalidUsername(IdentityError, InvalidInput):
    code = "invalid-username"
    title = "The user name is not valid"


def normalize_username(value: str) -> str:
    """Lower-case ASCII: letters, digits, ``.``, ``_``, ``-``; 3 to 64 characters."""
    name = unicodedata.normalize("NFKC", value or "").strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidUsername("user names have 3-64 characters: letters, digits, '.', '_', '-'")
    return name


def check_password_rules(password: str, username: str) -> None:
    """NIST SP 800-63B §5.1.1.2: length 8..128, any characters; refuse the user name itself."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"passwords have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if password.strip().lower() == username.lower():
        raise WeakPassword("the password must not be the user name")


class LoginOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # wrong name or password, or locked: indistinguishable to the caller
    NEEDS_TOTP = "needs_totp"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    account_id: str | None = None
    locked: bool = False  # for the journal and tests, never shown to the user


def _lock_for(failures: int) -> timedelta | None:
    if failures < LOCK_AFTER:
        return None
    runs = failures // LOCK_AFTER - 1
    lock: timedelta = min(LOCK_BASE * (2 ** min(runs, 10)), LOCK_MAX)
    return lock


class Accounts:
    def __init__(self, hasher: SecretHasher, pii: PiiVault, journal: Journal) -> None:
        self._hasher = hasher
        self._pii = pii
        self._journal = journal

    # -- lifecycle -----------------------------------------------------------------------------

    def create(
        self,
        session: Session,
        username: str,
        password: str | None,
        *,
        display_name: str = "",
        roles: frozenset[str] = frozenset(),
        phone: str | None = None,
        actor: str,
    ) -> AccountRecord:
        name = normalize_username(username)
        if password is not None:
            check_password_rules(password, name)
        if session.exec(select(AccountRecord).where(AccountRecord.username == name)).first() is not None:
            raise AccountExists(f"user name {name!r} is taken", field="username")
        phone_idx = phone_enc = None
        if phone is not None:
            number = normalize_phone(phone)
            phone_idx = self._pii.index("phone", number)
            if session.exec(select(AccountRecord).where(AccountRecord.phone_idx == phone_idx)).first() is not None:
                raise AccountExists("this phone number is registered to another account", field="phone")
            phone_enc = self._pii.encrypt("phone", number)
        now = clock.now()
        rec = AccountRecord(
            id=secrets.token_hex(16),
            username=name,
            display_name=(display_name or name).strip()[:100],
            password_hash=self._hasher.hash_password(password) if password is not None else None,
            roles=",".join(sorted(roles)),
            phone_enc=phone_enc,
            phone_idx=phone_idx,
            created_at=now,
            updated_at=now,
        )
        session.add(rec)
        session.flush()
        self._journal.append(
            session,
            actor=actor,
            action="identity.account.create",
            target=rec.id,
            data={"username": name, "roles": sorted(roles), "phone": mask_phone(number) if phone else None},
        )
        return rec

    def get(self, session: Session, account_id: str) -> AccountRecord:
        rec = session.get(AccountRecord, account_id)
        if rec is None:
            raise UnknownAccount(f"no account {account_id[:32]!r}")
        return rec

    def by_username(self, session: Session, username: str) -> AccountRecord | None:
        try:
            name = normalize_username(username)
        except InvalidUsername:
            return None
        return session.exec(select(AccountRecord).where(AccountRecord.username == name)).first()

    def by_phone(self, session: Session, phone: str) -> AccountRecord | None:
        idx = self._pii.index("phone", normalize_phone(phone))
        return session.exec(select(AccountRecord).where(AccountRecord.phone_idx == idx)).first()

    def with_role(self, session: Session) -> list[AccountRecord]:
        rows = session.exec(
            select(AccountRecord).where(AccountRecord.roles != "").order_by(col(AccountRecord.username))
        )
        return list(rows.all())

    def phone(self, rec: AccountRecord) -> str | None:
        return self._pii.decrypt("phone", rec.phone_enc) if rec.phone_enc is not None else None

    def set_phone(self, session: Session, rec: AccountRecord, phone: str, *, actor: str) -> None:
        number = normalize_phone(phone)
        idx = self._pii.index("phone", number)
        other = session.exec(select(AccountRecord).where(AccountRecord.phone_idx == idx)).first()
        if other is not None and other.id != rec.id:
            raise AccountExists("this phone number is registered to another account", field="phone")
        rec.phone_idx, rec.phone_enc, rec.updated_at = idx, self._pii.encrypt("phone", number), clock.now()
        session.add(rec)
        self._journal.append(
            session, actor=actor, action="identity.account.phone", target=rec.id, data={"phone": mask_phone(number)}
        )

    def set_password(self, session: Session, rec: AccountRecord, password: str, *, actor: str) -> None:
        check_password_rules(password, rec.username)
        rec.password_hash = self._hasher.hash_password(password)
        rec.failed_logins, rec.locked_until, rec.updated_at = 0, None, clock.now()
        session.add(rec)
        self._journal.append(session, actor=actor, action="identity.account.password", target=rec.id, data={})

    # -- password login ------------------------------------------------------------------------

    def check_password(self, session: Session, username: str, password: str) -> LoginResult:
        """Check a password with lockout; never raises for a wrong or locked login."""
        rec = self.by_username(session, username)
        now = clock.now()
        candidate = (password or "")[:MAX_PASSWORD]
        if rec is None or not rec.active or rec.password_hash is None:
            self._hasher.verify(None, candidate)  # same cost as a real check
            return LoginResult(LoginOutcome.FAILED)
        locked = rec.locked_until is not None and rec.locked_until > now
        ok = self._hasher.verify(rec.password_hash, candidate)
        if locked or not ok:
            if not locked:
                rec.failed_logins += 1
                lock = _lock_for(rec.failed_logins)
                if lock is not None and rec.failed_logins % LOCK_AFTER == 0:
                    rec.locked_until = now + lock
            session.add(rec)
            self._journal.append(
                session,
                actor=f"account:{rec.id}",
                action="identity.login.failed",
                target=rec.id,
                data={"method": "pwd", "failures": rec.failed_logins, "locked": locked or self.is_locked(rec)},
            )
            return LoginResult(LoginOutcome.FAILED, rec.id, locked=locked)
        if self._hasher.needs_rehash(rec.password_hash):
            rec.password_hash = self._hasher.hash_password(candidate)
        rec.failed_logins, rec.locked_until = 0, None
        session.add(rec)
        if rec.totp_enabled:
            return LoginResult(LoginOutcome.NEEDS_TOTP, rec.id)
        return LoginResult(LoginOutcome.OK, rec.id)

    def is_locked(self, rec: AccountRecord) -> bool:
        return rec.locked_until is not None and rec.locked_until > clock.now()

    @staticmethod
    def roles(rec: AccountRecord) -> frozenset[str]:
        return frozenset(r for r in rec.roles.split(",") if r)

    @staticmethod
    def lock_state(rec: AccountRecord) -> tuple[int, datetime | None]:
        return rec.failed_logins, rec.locked_until
