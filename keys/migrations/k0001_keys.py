"""keys: key records.

Revision ID: k0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "k0001"
down_revision = None
branch_labels = ("keys",)
depends_on = "c0001"


def upgrade() -> None:
    op.create_table(
        "key_record",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary, nullable=False),
        sa.Column("private_blob", sa.LargeBinary, nullable=True),
        sa.Column("handle", sa.String(200), nullable=True),
        sa.Column("exportable", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("key_record")
