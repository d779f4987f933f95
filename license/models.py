"""Tables owned by license/ (migration ``license/migrations/l0001_license.py``).

- ``license_type`` / ``license_type_version``: licence types as data. A type keeps every
  definition it ever had, so a licence names the exact template version it was rendered from.
- ``license_lineage``: one row per licence *as a document that can be corrected*: type, issuer,
  serial and licence number. Unique (type, issuer, number) and (type, issuer, serial) make the
  database refuse a duplicate licence number however many writers race for it.
- ``license_licence``: one row per issued version (the identifier ends in the version), with
  status, holder (code encrypted + keyed-hash index), encrypted data and the sealed PDF's hash.
- ``license_share``: time-limited shares of a lineage with a named third party (token hashed).
- ``license_import_job``: bulk imports, one per (file hash, type, issuer), so a re-run resumes.
- ``license_idempotency``: (caller, Idempotency-Key) -> the licence that request issued, written in
  the same transaction as the licence (migration l0002): a retry gets that licence, never a second.

Personal data: the holder code (citizen ID number for persons) and the licence data (which holds
it) are stored encrypted with :class:`core.pii.PiiVault`; ``holder_index`` is the HMAC-SM3 blind
index that finds a holder's licences without decrypting anything.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class LicenseTypeRow(SQLModel, table=True):
    """A licence type: its current definition version and whether new licences may use it."""

    __tablename__ = "license_type"

    type_code: str = Field(primary_key=True, max_length=21)
    name: str = Field(max_length=64)
    holder_kind: str = Field(max_length=10)
    current_version: int
    active: bool = True
    builtin: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class LicenseTypeVersionRow(SQLModel, table=True):
    """One definition (JSON, :meth:`license.types.LicenseType.to_json`) of a type, never changed."""

    __tablename__ = "license_type_version"

    type_code: str = Field(primary_key=True, max_length=21)
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    definition: str
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)


class LineageRow(SQLModel, table=True):
    """A licence across its versions (a correction adds a version to the same lineage)."""

    __tablename__ = "license_lineage"
    __table_args__ = (
        sa.UniqueConstraint("type_code", "issuer_code", "number", name="uq_license_lineage_number"),
        sa.UniqueConstraint("type_code", "issuer_code", "serial", name="uq_license_lineage_serial"),
    )

    id: str = Field(primary_key=True, max_length=32)
    type_code: str = Field(max_length=21)
    issuer_code: str = Field(max_length=18, index=True)
    serial: str = Field(max_length=32)
    number: str = Field(max_length=64)
    holder_index: str = Field(max_length=64, index=True)
    current_id: str = Field(max_length=32)
    current_version: int = 1
    import_job_id: str | None = Field(default=None, max_length=32, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class LicenceRow(SQLModel, table=True):
    """One issued version of a licence."""

    __tablename__ = "license_licence"

    id: str = Field(primary_key=True, max_length=32)
    lineage_id: str = Field(max_length=32, index=True)
    identifier: str = Field(max_length=120, unique=True)
    type_code: str = Field(max_length=21, index=True)
    template_version: int
    issuer_code: str = Field(max_length=18, index=True)
    issuer_name: str = Field(max_length=100)
    serial: str = Field(max_length=32)
    version: int
    number: str = Field(max_length=64, index=True)
    holder_kind: str = Field(max_length=10)
    holder_name: str = Field(max_length=200)
    holder_code_enc: bytes
    holder_code_masked: str = Field(max_length=40)
    holder_index: str = Field(max_length=64, index=True)
    data_enc: bytes
    issue_date: date = Field(sa_type=sa.Date, index=True)
    valid_from: date = Field(sa_type=sa.Date)
    valid_to: date | None = Field(default=None, sa_type=sa.Date)
    status: str = Field(max_length=12, index=True)  # valid | suspended | revoked | superseded
    status_reason: str | None = Field(default=None, max_length=200)
    status_changed_at: datetime = Field(sa_type=UTCDateTime)
    superseded_by: str | None = Field(default=None, max_length=32)
    previous_id: str | None = Field(default=None, max_length=32)
    pdf_sha256: str = Field(max_length=64)
    pdf_size: int
    data_hash: str = Field(max_length=64)  # SHA-256 of the embedded metadata.json (in the QR too)
    qr_payload: str = Field(max_length=600)
    seal_id: str = Field(max_length=64)
    seal_name: str = Field(max_length=100)
    signing_time: datetime = Field(sa_type=UTCDateTime)
    digitised: bool = False
    import_job_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)


class ShareRow(SQLModel, table=True):
    """Consent by a holder to show one licence (lineage) to a named third party until ``expires_at``."""

    __tablename__ = "license_share"

    id: str = Field(primary_key=True, max_length=32)
    lineage_id: str = Field(max_length=32, index=True)
    holder_index: str = Field(max_length=64, index=True)
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 of the bearer token
    recipient: str = Field(max_length=100)
    purpose: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    access_count: int = 0
    last_access_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportJobRow(SQLModel, table=True):
    """A bulk import of one CSV file; the same file for the same type and issuer is the same job."""

    __tablename__ = "license_import_job"
    __table_args__ = (sa.UniqueConstraint("file_sha256", "type_code", "issuer_code", name="uq_license_import_file"),)

    id: str = Field(primary_key=True, max_length=32)
    file_sha256: str = Field(max_length=64)
    file_name: str = Field(max_length=200)
    type_code: str = Field(max_length=21)
    issuer_code: str = Field(max_length=18)
    encoding: str = Field(max_length=20)
    total_rows: int = 0
    status: str = Field(max_length=12)  # running | completed
    runs: int = 0
    imported: int = 0
    failed: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)


class IdempotencyRow(SQLModel, table=True):
    """An issuance request made with an Idempotency-Key: which caller, which request (hash of type,
    issuer and data), which licence it issued. Inserted in the licence's own transaction, first,
    so a concurrent retry waits on the unique index and then finds the committed licence."""

    __tablename__ = "license_idempotency"
    __table_args__ = (sa.UniqueConstraint("caller", "idempotency_key", name="uq_license_idempotency"),)

    id: str = Field(primary_key=True, max_length=32)
    caller: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=200)
    request_sha256: str = Field(max_length=64)
    licence_id: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
