"""verify: configured external trust anchors and identity providers.

Revision ID: v0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "v0001"
down_revision = None
branch_labels = ("verify",)
depends_on = "a0001"


def upgrade() -> None:
    op.create_table(
        "verify_trusted_issuer",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("cert_der", sa.LargeBinary, nullable=True),
        sa.Column("issuer_url", sa.String(300), nullable=True),
        sa.Column("jwks_json", sa.Text, nullable=True),
        sa.Column("jwks_uri", sa.String(300), nullable=True),
        sa.Column("added_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verify_trusted_issuer")
