"""Operators: the people who run the platform (administrators, seal managers, auditors, ...).

Since migration i0003 an operator is an account (:mod:`identity.accounts`) holding roles: one
login page, one session model, and the roles travel in our access tokens (``roles`` claim) to
``api.auth.RequireRoles``. This module keeps the small operator API the rest of the code uses.
"""

from __future__ import annotations

from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from core.errors import Conflict, InvalidInput, Unauthenticated
from identity.models import AccountRecord

__all__ = [
    "Role",
    "authenticate_operator",
    "create_operator",
    "get_operator",
    "list_operators",
    "operator_roles",
]

_hasher = PasswordHasher()  # argon2id, RFC 9106 second recommended option (as identity.hashing)


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SEAL_MANAGER = "seal_manager"
    LICENSE_ISSUER = "license_issuer"
    CLIENT_MANAGER = "client_manager"
    AUDITOR = "auditor"
    #: records counter checks (L4) and manages persons' verifications
    IDENTITY_OFFICER = "identity_officer"


def create_operator(
    session: Session,
    journal: Journal,
    username: str,
    password: str,
    roles: set[Role],
    *,
    display_name: str = "",
    actor: str = "system",
) -> AccountRecord:
    """An account holding ``roles`` (at least one)."""
    import secrets

    from identity.accounts import check_password_rules, normalize_username

    if not roles:
        raise InvalidInput("an operator holds at least one role")
    name = normalize_username(username)
    check_password_rules(password, name)
    if session.exec(select(AccountRecord).where(AccountRecord.username == name)).first() is not None:
        raise Conflict(f"account {name} exists")
    now = clock.now()
    rec = AccountRecord(
        id=secrets.token_hex(16),
        username=name,
        display_name=display_name or name,
        password_hash=_hasher.hash(password),
        roles=",".join(sorted(r.value for r in roles)),
        created_at=now,
        updated_at=now,
    )
    session.add(rec)
    session.flush()
    journal.append(
        session,
        actor=actor,
        action="operator.create",
        target=name,
        data={"roles": sorted(r.value for r in roles), "account": rec.id},
    )
    return rec


def get_operator(session: Session, username: str) -> AccountRecord | None:
    rec = session.exec(select(AccountRecord).where(AccountRecord.username == username.lower())).first()
    return rec if rec is not None and rec.roles else None


def authenticate_operator(session: Session, username: str, password: str) -> AccountRecord:
    """Password check for an operator account (no lockout bookkeeping: use the login service)."""
    op = get_operator(session, username)
    if op is None or not op.active or op.password_hash is None:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise Unauthenticated("wrong operator name or password")
    try:
        _hasher.verify(op.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("wrong operator name or password") from None
    return op


def list_operators(session: Session) -> list[AccountRecord]:
    rows = session.exec(select(AccountRecord).where(AccountRecord.roles != "").order_by(col(AccountRecord.username)))
    return list(rows.all())


def operator_roles(op: AccountRecord) -> set[Role]:
    return {Role(r) for r in op.roles.split(",") if r}
