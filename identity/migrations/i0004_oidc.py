"""identity: OpenID Connect grants, authorization codes, refresh tokens.

Revision ID: i0004
Revises: i0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "i0004"
down_revision = "i0003"
branch_labels = None
depends_on = None

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "identity_grant",
        sa.Column("grant_id", sa.String(43), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, index=True),
        sa.Column("account_id", sa.String(32), nullable=False, index=True),
        sa.Column("sid", sa.String(32), nullable=True, index=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revoke_reason", sa.String(40), nullable=True),
    )
    op.create_table(
        "identity_auth_code",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("sid", sa.String(32), nullable=False),
        sa.Column("redirect_uri", sa.String(512), nullable=False),
        sa.Column("scope", sa.String(2000), nullable=False),
        sa.Column("nonce", sa.String(255), nullable=True),
        sa.Column("code_challenge", sa.String(128), nullable=True),
        sa.Column("acr", sa.String(2), nullable=True),
        sa.Column("amr", sa.String(100), nullable=False),
        sa.Column("auth_time", T(), nullable=False),
        sa.Column("entity_uscc", sa.String(18), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("used_at", T(), nullable=True),
        sa.Column("grant_id", sa.String(43), nullable=True),
    )
    op.create_table(
        "identity_refresh_token",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("grant_id", sa.String(43), nullable=False, index=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(2000), nullable=False),
        sa.Column("acr", sa.String(2), nullable=True),
        sa.Column("amr", sa.String(100), nullable=False),
        sa.Column("auth_time", T(), nullable=False),
        sa.Column("entity_uscc", sa.String(18), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("used_at", T(), nullable=True),
    )


def downgrade() -> None:
    for table in ("identity_refresh_token", "identity_auth_code", "identity_grant"):
        op.drop_table(table)
