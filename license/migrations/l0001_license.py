"""license: licence types (versioned), lineages, issued licences, shares, import jobs.

Revision ID: l0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "l0001"
down_revision = None
branch_labels = ("license",)
depends_on = "i0001"

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "license_type",
        sa.Column("type_code", sa.String(21), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder_kind", sa.String(10), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
    )
    op.create_table(
        "license_type_version",
        sa.Column("type_code", sa.String(21), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "license_lineage",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("issuer_code", sa.String(18), nullable=False, index=True),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("holder_index", sa.String(64), nullable=False, index=True),
        sa.Column("current_id", sa.String(32), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("import_job_id", sa.String(32), nullable=True, index=True),
        sa.Column("created_at", T(), nullable=False),
        sa.UniqueConstraint("type_code", "issuer_code", "number", name="uq_license_lineage_number"),
        sa.UniqueConstraint("type_code", "issuer_code", "serial", name="uq_license_lineage_serial"),
    )
    op.create_table(
        "license_licence",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("lineage_id", sa.String(32), nullable=False, index=True),
        sa.Column("identifier", sa.String(120), nullable=False, unique=True),
        sa.Column("type_code", sa.String(21), nullable=False, index=True),
        sa.Column("template_version", sa.Integer, nullable=False),
        sa.Column("issuer_code", sa.String(18), nullable=False, index=True),
        sa.Column("issuer_name", sa.String(100), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("number", sa.String(64), nullable=False, index=True),
        sa.Column("holder_kind", sa.String(10), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_code_enc", sa.LargeBinary, nullable=False),
        sa.Column("holder_code_masked", sa.String(40), nullable=False),
        sa.Column("holder_index", sa.String(64), nullable=False, index=True),
        sa.Column("data_enc", sa.LargeBinary, nullable=False),
        sa.Column("issue_date", sa.Date, nullable=False, index=True),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("status_reason", sa.String(200), nullable=True),
        sa.Column("status_changed_at", T(), nullable=False),
        sa.Column("superseded_by", sa.String(32), nullable=True),
        sa.Column("previous_id", sa.String(32), nullable=True),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_size", sa.Integer, nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("qr_payload", sa.String(600), nullable=False),
        sa.Column("seal_id", sa.String(64), nullable=False),
        sa.Column("seal_name", sa.String(100), nullable=False),
        sa.Column("signing_time", T(), nullable=False),
        sa.Column("digitised", sa.Boolean, nullable=False),
        sa.Column("import_job_id", sa.String(32), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "license_share",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("lineage_id", sa.String(32), nullable=False, index=True),
        sa.Column("holder_index", sa.String(64), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("access_count", sa.Integer, nullable=False),
        sa.Column("last_access_at", T(), nullable=True),
    )
    op.create_table(
        "license_import_job",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("issuer_code", sa.String(18), nullable=False),
        sa.Column("encoding", sa.String(20), nullable=False),
        sa.Column("total_rows", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("finished_at", T(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("file_sha256", "type_code", "issuer_code", name="uq_license_import_file"),
    )


def downgrade() -> None:
    for t in (
        "license_import_job",
        "license_share",
        "license_licence",
        "license_lineage",
        "license_type_version",
        "license_type",
    ):
        op.drop_table(t)
