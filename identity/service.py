"""The identity service: one object the API layer talks to (built in ``api/container.py``).

It composes the parts of the domain — client registry (:mod:`identity.clients`), token-signing
keys (:mod:`identity.signing`), access tokens (:mod:`identity.tokens`), the token endpoint
(:mod:`identity.oauth`) — around one database, key store, CA and journal.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ca.service import CaService
from core.audit import Journal
from core.db import Database
from core.pii import PiiVault
from core.secrets import MasterKey
from core.settings import Settings
from identity.clients import ClientAuth, ClientRegistry
from identity.hashing import SecretHasher
from identity.jose import SIGNING_ALGS
from identity.oauth import TokenEndpoint
from identity.signing import SigningKeyInfo, TokenKeys
from identity.tokens import AccessTokenClaims, AccessTokens
from keys import KeyStore

__all__ = ["IdentityService"]


class IdentityService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        master: MasterKey,
        keystore: KeyStore,
        ca: CaService,
        journal: Journal,
        pii: PiiVault,
    ) -> None:
        self.settings = settings
        self.db = db
        self.journal = journal
        self.pii = pii
        self.issuer = settings.base_url
        #: RFC 9068 ``aud`` of our access tokens: the API of this platform (our resource server)
        self.api_audience = settings.base_url
        self.hasher = SecretHasher(master)
        self.clients = ClientRegistry(self.hasher, journal, self.issuer)
        self.keys = TokenKeys(keystore, ca, journal)
        self.access_tokens = AccessTokens(self.keys, db.session, self.issuer, self.api_audience)
        self.token_endpoint = TokenEndpoint(db.session, self.clients, self.access_tokens, journal)

    # -- set-up --------------------------------------------------------------------------------

    def ensure_signing_keys(self, session: Session, *, actor: str = "ywt-init") -> list[SigningKeyInfo]:
        return self.keys.ensure(session, actor=actor)

    # -- endpoints -----------------------------------------------------------------------------

    def jwks(self, session: Session) -> dict[str, Any]:
        return self.keys.jwks(session)

    def token(self, authorization: str | None, form: dict[str, str]) -> dict[str, Any]:
        return self.token_endpoint.token(ClientAuth.from_request(authorization, form), form)

    def verify_access_token(self, token: str) -> AccessTokenClaims:
        return self.access_tokens.verify(token)

    def discovery(self) -> dict[str, Any]:
        """OpenID Provider Metadata (OIDC Discovery §3 / RFC 8414 §2): what we actually support."""
        i = self.issuer
        return {
            "issuer": i,
            "jwks_uri": f"{i}/oauth2/jwks",
            "token_endpoint": f"{i}/oauth2/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
            "access_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "ywt_sm2_jose_profile": (
                "alg SM2: GB/T 32918.2 SM2 signature with SM3 and the default user ID 1234567812345678 "
                "over the JWS signing input; signature r||s (2x32 bytes); JWK kty EC, crv SM2, x/y 32 bytes"
            ),
        }
