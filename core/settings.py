"""Service settings: one pydantic-settings class, injected, never read at import time."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """All knobs of the service. Environment variables are ``YWT_<NAME>``.

    Secrets are ``SecretStr`` so that they never end up in a repr or a log line.
    """

    model_config = SettingsConfigDict(env_prefix="YWT_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    home: Path = Path("var")
    database_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    master_key: SecretStr | None = None
    demo: bool = True
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # CRLs are valid this long; they are re-issued when less than ``crl_refresh_hours`` remain.
    crl_validity_hours: int = 24
    crl_refresh_hours: int = 12
    audit_checkpoint_every: int = 100
    # The console's journal page walks only new entries while its last full walk is this recent.
    audit_full_walk_minutes: int = Field(default=10, ge=0)
    max_upload_bytes: int = 20 * 1024 * 1024
    # PEM bundle of further trusted CAs (national platform CA, accredited CAs) for verification
    trust_bundle: Path | None = None
    log_level: str = "INFO"
    # PKCS#11 key backend (keys/pkcs11.py): the vendor module, the token label and the user PIN.
    # Configured = all three set; keys are then generated in the token with backend="pkcs11".
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None
    # HTTP hardening (api/security.py): origins allowed to call the API from browsers (exact
    # "scheme://host[:port]", comma-separated or a JSON list; empty = no cross-origin access),
    # the per-request time budget, and rate-limit overrides per limit name
    # ({"ocsp": "ip=600/60", "login": "ip=10/60,client=100/60", "tsa": "off"}).
    cors_origins: Annotated[list[str], NoDecode] = []
    request_timeout_seconds: float = 30.0
    rate_limits: dict[str, str] = {}
    rate_limits_enabled: bool = True
    # `ywt backup` / `ywt restore`: the archive passphrase (else asked at the terminal)
    backup_passphrase: SecretStr | None = None
    # identity: base-data sources (JSON: {"population": {"kind": "http", "url": ...}, ...}, see
    # identity.sources.SourcesConfig; default: all stubs over the synthetic data set)
    identity_sources: dict[str, Any] = {}
    # identity: trusted national IdP for mutual recognition (JSON: issuer, metadata_url or
    # jwks_url, client_id, client_secret, levels); empty = none configured
    national_idp: dict[str, Any] = {}

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        return v.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            v = json.loads(text) if text.startswith("[") else [o for o in text.split(",") if o.strip()]
        out = []
        for origin in v:
            o = str(origin).strip().rstrip("/")
            if o == "*" or not o.startswith(("http://", "https://")) or "/" in o.split("://", 1)[1]:
                raise ValueError(f"CORS origins are exact scheme://host[:port] values, not {o!r}")
            out.append(o)
        return out

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            if self.master_key is None:
                raise ValueError("YWT_MASTER_KEY must be set in production (no generated dev key)")
            if self.demo:
                raise ValueError("demo data is refused when YWT_ENV=production (set YWT_DEMO=false)")
            if self.database_url is None or self.database_url.startswith("sqlite"):
                raise ValueError("production needs YWT_DATABASE_URL pointing at PostgreSQL")
        return self

    @property
    def pkcs11_configured(self) -> bool:
        return bool(self.pkcs11_module and self.pkcs11_token and self.pkcs11_pin is not None)

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'ywt.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def blob_dir(self) -> Path:
        return self.resolved_home / "blobs"

    @property
    def master_key_file(self) -> Path:
        return self.resolved_home / "master.key"
