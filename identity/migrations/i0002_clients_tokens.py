"""identity: OAuth clients, token-signing keys, revoked tokens, used client assertions.

Revision ID: i0002
Revises: i0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "i0002"
down_revision = "i0001"
branch_labels = None
depends_on = None

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "identity_client",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("client_type", sa.String(16), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=True),
        sa.Column("jwks", sa.Text, nullable=True),
        sa.Column("grant_types", sa.String(200), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text, nullable=False),
        sa.Column("token_alg", sa.String(10), nullable=False),
        sa.Column("subject_type", sa.String(10), nullable=False),
        sa.Column("sector_identifier", sa.String(200), nullable=True),
        sa.Column("acts_for_uscc", sa.String(18), nullable=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("access_token_ttl", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
    )
    op.create_table(
        "identity_signing_key",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(10), nullable=False, index=True),
        sa.Column("alg", sa.String(10), nullable=False),
        sa.Column("cert_serial", sa.String(42), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("retired_at", T(), nullable=True),
        sa.Column("publish_until", T(), nullable=True),
    )
    op.create_table(
        "identity_revoked_token",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("revoked_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False, index=True),
        sa.Column("reason", sa.String(40), nullable=False),
    )
    op.create_table(
        "identity_used_assertion",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", T(), nullable=False, index=True),
    )


def downgrade() -> None:
    for table in ("identity_used_assertion", "identity_revoked_token", "identity_signing_key", "identity_client"):
        op.drop_table(table)
