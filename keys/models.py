"""Tables owned by keys/."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class KeyRecord(SQLModel, table=True):
    """One key pair. The private half is either encrypted here (soft backend) or in an HSM."""

    __tablename__ = "key_record"

    key_id: str = Field(primary_key=True, max_length=64)  # SHA-256 of the SPKI
    algorithm: str = Field(max_length=20)
    label: str = Field(max_length=200)
    backend: str = Field(max_length=20)  # "soft" | "pkcs11"
    created_at: datetime = Field(sa_type=UTCDateTime)
    public_key_der: bytes
    private_blob: bytes | None = None  # AEAD(master-derived key, PKCS#8, aad=key_id) for "soft"
    handle: str | None = Field(default=None, max_length=200)  # HSM object reference
    exportable: bool = False
