"""Tables owned by ca/."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class CaRecord(SQLModel, table=True):
    """One of our certification authorities (a root or an issuing CA)."""

    __tablename__ = "ca_authority"

    id: str = Field(primary_key=True, max_length=40)  # e.g. "sm2-seal"
    family: str = Field(max_length=10)
    role: str = Field(max_length=20)
    parent_id: str | None = Field(default=None, max_length=40)
    key_id: str = Field(max_length=64)
    cert_der: bytes
    subject: str = Field(max_length=500)
    not_after: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    responder_key_id: str | None = Field(default=None, max_length=64)
    responder_cert_der: bytes | None = None
    # bumped under a row lock by every issuance: serialises issuance per CA on PostgreSQL
    issued_count: int = 0


class CertRecord(SQLModel, table=True):
    """Every certificate we issued, with its revocation state."""

    __tablename__ = "ca_certificate"

    serial: str = Field(primary_key=True, max_length=42)  # lowercase hex, no leading zeros
    ca_id: str = Field(index=True, max_length=40)
    profile: str = Field(max_length=40)
    subject: str = Field(index=True, max_length=500)
    key_id: str | None = Field(default=None, index=True, max_length=64)  # SHA-256 of the SPKI
    purpose: str | None = Field(default=None, index=True, max_length=40)  # service credential, e.g. "tsa"
    fingerprint: str = Field(unique=True, max_length=64)  # SHA-256 of the certificate DER
    not_before: datetime = Field(sa_type=UTCDateTime)
    not_after: datetime = Field(sa_type=UTCDateTime)
    cert_der: bytes
    status: str = Field(default="valid", max_length=10)  # valid | revoked
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CrlRecord(SQLModel, table=True):
    __tablename__ = "ca_crl"
    __table_args__ = (sa.UniqueConstraint("ca_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    ca_id: str = Field(index=True, max_length=40)
    number: int
    this_update: datetime = Field(sa_type=UTCDateTime)
    next_update: datetime = Field(sa_type=UTCDateTime)
    der: bytes


class Counter(SQLModel, table=True):
    """Monotonic counters (CRL numbers, TSA serials), incremented under a row lock."""

    __tablename__ = "ca_counter"

    name: str = Field(primary_key=True, max_length=80)
    value: int = 0


class TimestampRecord(SQLModel, table=True):
    """Log of issued time-stamp tokens (serial, time, imprint) for audit and dispute."""

    __tablename__ = "ca_timestamp"

    serial: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    gen_time: datetime = Field(sa_type=UTCDateTime)
    tsa: str = Field(max_length=40)
    hash_algorithm: str = Field(max_length=20)
    imprint: str = Field(max_length=128)
