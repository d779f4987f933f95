"""Operators: the people who run the platform (administrators, seal managers, auditors, ...).

Roles are carried into our own tokens later (identity issue); for now operators are created by
the foundation (the demo ``admin``) and authenticate with argon2id-hashed passwords.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Field, Session, SQLModel, col, select

from core import clock
from core.audit import Journal
from core.db import UTCDateTime
from core.errors import Conflict, InvalidInput, Unauthenticated

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 second recommended option)


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SEAL_MANAGER = "seal_manager"
    LICENSE_ISSUER = "license_issuer"
    CLIENT_MANAGER = "client_manager"
    AUDITOR = "auditor"


class Operator(SQLModel, table=True):
    __tablename__ = "identity_operator"

    username: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    roles: str = Field(max_length=200)  # comma-separated Role values
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


def create_operator(
    session: Session,
    journal: Journal,
    username: str,
    password: str,
    roles: set[Role],
    *,
    display_name: str = "",
    actor: str = "system",
) -> Operator:
    if not username.isascii() or not username.replace("-", "").replace("_", "").isalnum() or len(username) > 64:
        raise InvalidInput("operator names are ASCII letters, digits, - and _ (at most 64)")
    if len(password) < 8:
        raise InvalidInput("operator passwords have at least 8 characters")
    if session.get(Operator, username) is not None:
        raise Conflict(f"operator {username} exists")
    op = Operator(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        roles=",".join(sorted(r.value for r in roles)),
        created_at=clock.now(),
    )
    session.add(op)
    journal.append(
        session, actor=actor, action="operator.create", target=username, data={"roles": sorted(r.value for r in roles)}
    )
    return op


def authenticate_operator(session: Session, username: str, password: str) -> Operator:
    op = session.get(Operator, username)
    if op is None or not op.active:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise Unauthenticated("wrong operator name or password")
    try:
        _hasher.verify(op.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("wrong operator name or password") from None
    return op


def list_operators(session: Session) -> list[Operator]:
    return list(session.exec(select(Operator).order_by(col(Operator.username))).all())


def operator_roles(op: Operator) -> set[Role]:
    return {Role(r) for r in op.roles.split(",") if r}
