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
