"""Tables of the identity domain (migrations in ``identity/migrations/``).

Secrets are never stored in clear: client secrets, refresh tokens, authorization codes and
session ids are stored as hashes; personal numbers (ID, phone, card) as SM4-GCM ciphertext plus
an HMAC-SM3 blind index (``core.pii``).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import UTCDateTime

# -- OAuth clients and token-signing keys ------------------------------------------------------------


class ClientRecord(SQLModel, table=True):
    """A relying party or machine client (RFC 7591 metadata names where one exists)."""

    __tablename__ = "identity_client"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    client_type: str = Field(max_length=16)  # confidential | public
    auth_method: str = Field(max_length=32)  # client_secret_basic | client_secret_post | private_key_jwt | none
    secret_hash: str | None = Field(default=None, max_length=200)
    jwks: str | None = None  # JSON JWK Set (private_key_jwt)
    grant_types: str = Field(max_length=200)  # space-separated
    scopes: str = Field(max_length=2000)  # space-separated allowed scopes
    redirect_uris: str = "[]"  # JSON list, exact match
    post_logout_redirect_uris: str = "[]"  # JSON list, exact match
    token_alg: str = Field(max_length=10)  # RS256 | ES256 | SM2
    subject_type: str = Field(max_length=10)  # public | pairwise
    sector_identifier: str | None = Field(default=None, max_length=200)
    acts_for_uscc: str | None = Field(default=None, max_length=18)
    roles: str = Field(default="", max_length=200)  # comma-separated operator roles (service accounts)
    access_token_ttl: int = 600
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SigningKeyRecord(SQLModel, table=True):
    """A token-signing key (its certificate comes from the Service CA of its family).

    ``status``: ``active`` (signs new tokens; one per family), ``retired`` (published in the JWKS
    and accepted until ``publish_until``, when every token it signed has expired), ``revoked``
    (withdrawn at once: its certificate was revoked).
    """

    __tablename__ = "identity_signing_key"

    kid: str = Field(primary_key=True, max_length=64)  # = keys/ key id
    family: str = Field(max_length=10, index=True)
    alg: str = Field(max_length=10)
    cert_serial: str = Field(max_length=42)
    status: str = Field(max_length=10)
    created_at: datetime = Field(sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RevokedToken(SQLModel, table=True):
    """A revoked access token (``jti``) or grant (``gid``), kept until the token would have expired."""

    __tablename__ = "identity_revoked_token"

    token_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)  # jti | grant
    revoked_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    reason: str = Field(max_length=40)


class UsedAssertion(SQLModel, table=True):
    """``jti`` of client assertions already used (RFC 7523 §3 item 7: replay protection)."""

    __tablename__ = "identity_used_assertion"

    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


# -- registry: persons, legal entities, agents, verifications --------------------------------------------


class PersonRecord(SQLModel, table=True):
    """A natural person. The citizen ID number is stored only as SM4-GCM ciphertext plus its
    HMAC-SM3 blind index (unique: one record per person)."""

    __tablename__ = "identity_person"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)
    id_number_enc: bytes
    id_number_idx: str = Field(max_length=64, unique=True)
    id_number_masked: str = Field(max_length=18)
    phone_enc: bytes | None = None
    phone_idx: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class EntityRecordRow(SQLModel, table=True):
    """A legal entity as confirmed by the legal-entity DB (public register data)."""

    __tablename__ = "identity_entity"

    uscc: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    legal_rep: str = Field(max_length=64)
    status: str = Field(max_length=16)
    verified_at: datetime = Field(sa_type=UTCDateTime)
    evidence_ref: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)


class AuthorisationRecord(SQLModel, table=True):
    """A person acting for an entity: as its legal representative or as an agent (经办人) with a
    scope, a validity window, revocable."""

    __tablename__ = "identity_authorisation"

    id: str = Field(primary_key=True, max_length=32)
    entity_uscc: str = Field(max_length=18, index=True)
    person_id: str = Field(max_length=32, index=True)
    role: str = Field(max_length=24)  # legal_representative | agent
    scope: str = Field(max_length=500)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    granted_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=100)


class VerificationRecord(SQLModel, table=True):
    """One identity verification: the level it established, kept apart from the method that
    reached it, when, and a reference to the evidence (DESIGN.md: level != method)."""

    __tablename__ = "identity_verification"

    id: str = Field(primary_key=True, max_length=32)
    account_id: str = Field(max_length=32, index=True)
    person_id: str | None = Field(default=None, max_length=32)
    level: str = Field(max_length=2)  # L1..L4
    method: str = Field(max_length=24)
    source: str = Field(max_length=40)
    evidence_ref: str = Field(max_length=100)
    verified_at: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


# -- accounts, sessions, one-time codes ----------------------------------------------------------------


class AccountRecord(SQLModel, table=True):
    """A login account: a citizen, an agent, or an operator (``roles`` non-empty)."""

    __tablename__ = "identity_account"

    id: str = Field(primary_key=True, max_length=32)  # also the public ``sub``
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    password_hash: str | None = Field(default=None, max_length=200)
    roles: str = Field(default="", max_length=200)  # comma-separated operator roles
    active: bool = True
    person_id: str | None = Field(default=None, max_length=32, unique=True)
    phone_enc: bytes | None = None
    phone_idx: str | None = Field(default=None, max_length=64, unique=True)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_secret_enc: bytes | None = None
    totp_enabled: bool = False
    totp_last_step: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SessionRecord(SQLModel, table=True):
    """A browser session at the provider (cookie holds the random id; only its hash is here)."""

    __tablename__ = "identity_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    sid: str = Field(max_length=32, unique=True)  # public session id (OIDC ``sid``)
    account_id: str = Field(max_length=32, index=True)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    amr: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OtpRecord(SQLModel, table=True):
    """An SMS one-time code (hashed), bound to a purpose and a phone (blind index)."""

    __tablename__ = "identity_otp"

    id: str = Field(primary_key=True, max_length=32)
    purpose: str = Field(max_length=20)
    phone_idx: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    consumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """The development SMS sender's outbox (shown at /dev/outbox outside production)."""

    __tablename__ = "identity_sms_outbox"

    id: int | None = Field(default=None, primary_key=True)
    phone_masked: str = Field(max_length=16)
    phone_idx: str = Field(max_length=64, index=True)
    text: str = Field(max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)


class FederatedLink(SQLModel, table=True):
    """A local account linked to an account at a trusted external IdP (the national platform)."""

    __tablename__ = "identity_federated_link"

    issuer: str = Field(primary_key=True, max_length=200)
    subject: str = Field(primary_key=True, max_length=200)
    account_id: str = Field(max_length=32, index=True)
    linked_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime = Field(sa_type=UTCDateTime)


class SubjectRecord(SQLModel, table=True):
    """A pairwise ``sub`` (OIDC Core §8.1) and the account it stands for (public subs are account ids)."""

    __tablename__ = "identity_subject"

    sub: str = Field(primary_key=True, max_length=64)
    sector: str = Field(max_length=200)
    account_id: str = Field(max_length=32, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


# -- OpenID Connect: grants, authorization codes, refresh tokens -----------------------------------------


class GrantRecord(SQLModel, table=True):
    """What one authorization (a code exchange) granted a client for an account: the family of its
    refresh tokens and access tokens (``gid``). Revoking it revokes them all."""

    __tablename__ = "identity_grant"

    grant_id: str = Field(primary_key=True, max_length=43)
    client_id: str = Field(max_length=64, index=True)
    account_id: str = Field(max_length=32, index=True)
    sid: str | None = Field(default=None, max_length=32, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, max_length=40)


class AuthCodeRecord(SQLModel, table=True):
    """An authorization code (RFC 6749 §4.1.2; only its SHA-256 is stored), bound to everything
    the token request must repeat or prove."""

    __tablename__ = "identity_auth_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    account_id: str = Field(max_length=32)
    sid: str = Field(max_length=32)
    redirect_uri: str = Field(max_length=512)
    scope: str = Field(max_length=2000)
    nonce: str | None = Field(default=None, max_length=255)
    code_challenge: str | None = Field(default=None, max_length=128)
    acr: str | None = Field(default=None, max_length=2)
    amr: str = Field(max_length=100)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    entity_uscc: str | None = Field(default=None, max_length=18)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    grant_id: str | None = Field(default=None, max_length=43)


class RefreshTokenRecord(SQLModel, table=True):
    """A refresh token (hash only). Rotation: each use marks it used and issues the next one; a
    second use of a used token revokes the whole grant (RFC 9700 §4.14.2)."""

    __tablename__ = "identity_refresh_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    grant_id: str = Field(max_length=43, index=True)
    client_id: str = Field(max_length=64)
    account_id: str = Field(max_length=32)
    scope: str = Field(max_length=2000)
    acr: str | None = Field(default=None, max_length=2)
    amr: str = Field(max_length=100)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    entity_uscc: str | None = Field(default=None, max_length=18)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
