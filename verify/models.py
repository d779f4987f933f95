"""Tables of the verification service: configured external trust anchors and identity providers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class TrustedIssuer(SQLModel, table=True):
    """An external CA certificate (national platform CA, another accredited CA) or an external
    OpenID provider (the national IdP) that verification trusts besides our own roots."""

    __tablename__ = "verify_trusted_issuer"

    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cert DER, or of the IdP issuer URL
    kind: str = Field(max_length=8)  # "ca" | "idp"
    name: str = Field(max_length=200)
    source: str = Field(max_length=40)  # "national" | "accredited" | ...
    cert_der: bytes | None = None
    issuer_url: str | None = Field(default=None, max_length=300)
    jwks_json: str | None = None
    jwks_uri: str | None = Field(default=None, max_length=300)
    added_at: datetime = Field(sa_type=UTCDateTime)
    added_by: str = Field(max_length=200)
