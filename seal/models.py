"""Tables owned by seal/: seals, grants, pending second approvals, and every use of a seal.

Images, stamps and signed PDFs live in the blob store (content-addressed); rows keep hashes.
Private keys stay in keys/ (``key_id``); certificates in ca/ (``cert_serial``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class SealRecord(SQLModel, table=True):
    """One electronic seal and where it is in its lifecycle (DESIGN.md "Seals")."""

    __tablename__ = "seal_seal"

    id: str = Field(primary_key=True, max_length=40)
    es_id: str = Field(unique=True, max_length=64)  # GB/T 38540 esID (seal code)
    owner_uscc: str = Field(index=True, max_length=18)
    owner_name: str = Field(max_length=100)
    department: str | None = Field(default=None, max_length=100)
    seal_type: str = Field(max_length=20)  # seal.service.SealType
    name: str = Field(max_length=100)  # SES_ESPropertyInfo.name
    family: str = Field(max_length=10)  # rsa | ecdsa | sm2
    status: str = Field(index=True, max_length=12)  # applied | approved | active | suspended | revoked | expired
    sensitive: bool = False  # four-eyes: approval and grants need a second operator
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime = Field(sa_type=UTCDateTime)
    image_sha256: str = Field(max_length=64)  # transparent PNG (SES picture, API image)
    stamp_sha256: str | None = Field(default=None, max_length=64)  # vector one-page PDF (generated seals)
    image_source: str = Field(max_length=10)  # generated | uploaded
    width_mm: float
    height_mm: float
    key_id: str | None = Field(default=None, max_length=64)
    cert_serial: str | None = Field(default=None, max_length=42)
    ses_seal: bytes | None = None  # DER GB/T 38540 v4 SES_Seal made by the seal-making authority
    applied_by: str = Field(max_length=200)
    applied_at: datetime = Field(sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    status_reason: str | None = Field(default=None, max_length=200)


class SealGrant(SQLModel, table=True):
    """Which client may use which seal, for which document types, until when."""

    __tablename__ = "seal_grant"

    id: str = Field(primary_key=True, max_length=40)
    seal_id: str = Field(index=True, max_length=40)
    client_id: str = Field(index=True, max_length=200)
    document_types: str = Field(default="", max_length=500)  # comma-separated; empty = any type
    not_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(max_length=10)  # pending | active | revoked
    requested_by: str = Field(max_length=200)
    requested_at: datetime = Field(sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=200)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SealUse(SQLModel, table=True):
    """Every document sealed: who, which seal, which bytes in and out, and the idempotency key.

    ``(client_key, idempotency_key)`` is unique: a replay finds the stored result instead of
    signing again, and two concurrent requests with one key cannot both insert (the loser
    waits on the unique index, then reads the winner's row).
    """

    __tablename__ = "seal_use"
    __table_args__ = (sa.UniqueConstraint("client_key", "idempotency_key", name="uq_seal_use_idempotency"),)

    id: str = Field(primary_key=True, max_length=40)
    seal_id: str = Field(index=True, max_length=40)
    client_key: str = Field(max_length=200)  # client id, or the actor for operators / in-process callers
    actor: str = Field(max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_sha256: str = Field(max_length=64)  # document + every parameter that shapes the result
    input_sha256: str = Field(max_length=64)
    output_sha256: str = Field(max_length=64)  # blob
    level: str = Field(max_length=8)
    certify: bool = False
    document_type: str | None = Field(default=None, max_length=64)
    page: int
    field_name: str = Field(max_length=80)
    created_at: datetime = Field(sa_type=UTCDateTime)
