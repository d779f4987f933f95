"""identity: operators.

Revision ID: i0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "i0001"
down_revision = None
branch_labels = ("identity",)
depends_on = "a0001"


def upgrade() -> None:
    op.create_table(
        "identity_operator",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("identity_operator")
