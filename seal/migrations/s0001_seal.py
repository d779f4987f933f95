"""seal: seals, grants, uses.

Revision ID: s0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "s0001"
down_revision = None
branch_labels = ("seal",)
depends_on = "a0001"

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "seal_seal",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("es_id", sa.String(64), nullable=False, unique=True),
        sa.Column("owner_uscc", sa.String(18), nullable=False, index=True),
        sa.Column("owner_name", sa.String(100), nullable=False),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("seal_type", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("family", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("sensitive", sa.Boolean, nullable=False),
        sa.Column("valid_from", T(), nullable=False),
        sa.Column("valid_to", T(), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("stamp_sha256", sa.String(64), nullable=True),
        sa.Column("image_source", sa.String(10), nullable=False),
        sa.Column("width_mm", sa.Float, nullable=False),
        sa.Column("height_mm", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("cert_serial", sa.String(42), nullable=True),
        sa.Column("ses_seal", sa.LargeBinary, nullable=True),
        sa.Column("applied_by", sa.String(200), nullable=False),
        sa.Column("applied_at", T(), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", T(), nullable=True),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("status_reason", sa.String(200), nullable=True),
    )
    op.create_table(
        "seal_grant",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("seal_id", sa.String(40), nullable=False, index=True),
        sa.Column("client_id", sa.String(200), nullable=False, index=True),
        sa.Column("document_types", sa.String(500), nullable=False),
        sa.Column("not_after", T(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", T(), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", T(), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoked_at", T(), nullable=True),
    )
    op.create_table(
        "seal_use",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("seal_id", sa.String(40), nullable=False, index=True),
        sa.Column("client_key", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("output_sha256", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("certify", sa.Boolean, nullable=False),
        sa.Column("document_type", sa.String(64), nullable=True),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("field_name", sa.String(80), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.UniqueConstraint("client_key", "idempotency_key", name="uq_seal_use_idempotency"),
    )


def downgrade() -> None:
    op.drop_table("seal_use")
    op.drop_table("seal_grant")
    op.drop_table("seal_seal")
