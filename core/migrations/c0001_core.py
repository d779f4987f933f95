"""core: audit journal and installation metadata.

Revision ID: c0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "c0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(2000), nullable=False),
    )
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", core.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False, index=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(
        sa.table(
            "audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer), sa.column("entry_hash", sa.String)
        ),
        [{"id": 1, "seq": 0, "entry_hash": "0" * 64}],
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("ts", core.db.UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("cert_der", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for t in ("audit_checkpoint", "audit_head", "audit_entry", "core_meta"):
        op.drop_table(t)
