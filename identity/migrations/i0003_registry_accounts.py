"""identity: persons, entities, authorisations, verifications, accounts, sessions, OTP, outbox,
federated links; operators become accounts with roles.

Revision ID: i0003
Revises: i0002
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import core.db
from core import clock

revision = "i0003"
down_revision = "i0002"
branch_labels = None
depends_on = None

T = core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "identity_person",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary, nullable=False),
        sa.Column("id_number_idx", sa.String(64), nullable=False, unique=True),
        sa.Column("id_number_masked", sa.String(18), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary, nullable=True),
        sa.Column("phone_idx", sa.String(64), nullable=True, index=True),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_table(
        "identity_entity",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("legal_rep", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verified_at", T(), nullable=False),
        sa.Column("evidence_ref", sa.String(100), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_table(
        "identity_authorisation",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("entity_uscc", sa.String(18), nullable=False, index=True),
        sa.Column("person_id", sa.String(32), nullable=False, index=True),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("valid_from", T(), nullable=False),
        sa.Column("valid_until", T(), nullable=True),
        sa.Column("granted_by", sa.String(100), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "identity_verification",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False, index=True),
        sa.Column("person_id", sa.String(32), nullable=True),
        sa.Column("level", sa.String(2), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("evidence_ref", sa.String(100), nullable=False),
        sa.Column("verified_at", T(), nullable=False),
        sa.Column("valid_until", T(), nullable=True),
    )
    op.create_table(
        "identity_account",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("person_id", sa.String(32), nullable=True, unique=True),
        sa.Column("phone_enc", sa.LargeBinary, nullable=True),
        sa.Column("phone_idx", sa.String(64), nullable=True, unique=True),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", T(), nullable=True),
        sa.Column("totp_secret_enc", sa.LargeBinary, nullable=True),
        sa.Column("totp_enabled", sa.Boolean, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
    )
    op.create_table(
        "identity_session",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("sid", sa.String(32), nullable=False, unique=True),
        sa.Column("account_id", sa.String(32), nullable=False, index=True),
        sa.Column("auth_time", T(), nullable=False),
        sa.Column("amr", sa.String(100), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("last_seen", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("ended_at", T(), nullable=True),
    )
    op.create_table(
        "identity_otp",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("phone_idx", sa.String(64), nullable=False, index=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("consumed_at", T(), nullable=True),
    )
    op.create_table(
        "identity_sms_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone_masked", sa.String(16), nullable=False),
        sa.Column("phone_idx", sa.String(64), nullable=False, index=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    op.create_table(
        "identity_federated_link",
        sa.Column("issuer", sa.String(200), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False, index=True),
        sa.Column("linked_at", T(), nullable=False),
        sa.Column("last_login_at", T(), nullable=False),
    )
    op.create_table(
        "identity_subject",
        sa.Column("sub", sa.String(64), primary_key=True),
        sa.Column("sector", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", T(), nullable=False),
    )
    # Operators become accounts holding roles (one login, one session model for everybody).
    conn = op.get_bind()
    operators = conn.execute(
        sa.text("SELECT username, display_name, password_hash, roles, active, created_at FROM identity_operator")
    ).fetchall()
    account = sa.table(
        "identity_account",
        *(sa.column(c) for c in ("id", "username", "display_name", "password_hash", "roles", "active")),
        sa.column("failed_logins"),
        sa.column("totp_enabled"),
        sa.column("totp_last_step"),
        sa.column("created_at", T()),
        sa.column("updated_at", T()),
    )
    for row in operators:
        created = row.created_at
        if isinstance(created, str):  # SQLite hands raw values back as text
            created = datetime.fromisoformat(created)
        created = clock.utc(created)
        op.execute(
            account.insert().values(
                id=secrets.token_hex(16),
                username=row.username,
                display_name=row.display_name,
                password_hash=row.password_hash,
                roles=row.roles,
                active=row.active,
                failed_logins=0,
                totp_enabled=False,
                totp_last_step=0,
                created_at=created,
                updated_at=created,
            )
        )
    op.drop_table("identity_operator")


def downgrade() -> None:
    op.create_table(
        "identity_operator",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", T(), nullable=False),
    )
    for table in (
        "identity_subject",
        "identity_federated_link",
        "identity_sms_outbox",
        "identity_otp",
        "identity_session",
        "identity_account",
        "identity_verification",
        "identity_authorisation",
        "identity_entity",
        "identity_person",
    ):
        op.drop_table(table)
