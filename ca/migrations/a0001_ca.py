"""ca: authorities, certificates, CRLs, counters, time-stamp log.

Revision ID: a0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "a0001"
down_revision = None
branch_labels = ("ca",)
depends_on = "k0001"

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "ca_authority",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("family", sa.String(10), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("parent_id", sa.String(40), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("cert_der", sa.LargeBinary, nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("not_after", T(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("responder_key_id", sa.String(64), nullable=True),
        sa.Column("responder_cert_der", sa.LargeBinary, nullable=True),
        sa.Column("issued_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "ca_certificate",
        sa.Column("serial", sa.String(42), primary_key=True),
        sa.Column("ca_id", sa.String(40), nullable=False, index=True),
        sa.Column("profile", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False, index=True),
        sa.Column("key_id", sa.String(64), nullable=True, index=True),
        sa.Column("purpose", sa.String(40), nullable=True, index=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("not_before", T(), nullable=False),
        sa.Column("not_after", T(), nullable=False),
        sa.Column("cert_der", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_table(
        "ca_crl",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ca_id", sa.String(40), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("this_update", T(), nullable=False),
        sa.Column("next_update", T(), nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("ca_id", "number"),
    )
    op.create_table(
        "ca_counter",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ca_timestamp",
        sa.Column("serial", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("gen_time", T(), nullable=False),
        sa.Column("tsa", sa.String(40), nullable=False),
        sa.Column("hash_algorithm", sa.String(20), nullable=False),
        sa.Column("imprint", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for t in ("ca_timestamp", "ca_counter", "ca_crl", "ca_certificate", "ca_authority"):
        op.drop_table(t)
