"""license: Idempotency-Key of licence issuance requests.

Revision ID: l0002
Revises: l0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "l0002"
down_revision = "l0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "license_idempotency",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("licence_id", sa.String(32), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("caller", "idempotency_key", name="uq_license_idempotency"),
    )


def downgrade() -> None:
    op.drop_table("license_idempotency")
