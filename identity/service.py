"""The identity service: one object the API layer talks to (built in ``api/container.py``).

It composes the parts of the domain — client registry (:mod:`identity.clients`), token-signing
keys (:mod:`identity.signing`), access tokens (:mod:`identity.tokens`), the token endpoint
(:mod:`identity.oauth`), accounts (:mod:`identity.accounts`), the registry
(:mod:`identity.registry`) and base-data verification (:mod:`identity.verification`) — around one
database, key store, CA and journal.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any

from sqlmodel import Session

from ca.service import CaService
from core import metrics
from core.audit import Journal
from core.db import Database
from core.errors import ConfigurationError, Forbidden, InvalidInput
from core.pii import PiiVault
from core.secrets import MasterKey
from core.settings import Settings
from identity.accounts import Accounts, UnknownAccount
from identity.clients import ClientAuth, ClientRegistry, GrantType
from identity.errors import InvalidToken, LevelTooLow
from identity.federation import Federation, NationalIdpConfig
from identity.hashing import SecretHasher
from identity.inspect import TokenReport, inspect_token
from identity.levels import LEVEL_OF_METHOD, REQUIRES, Level, Method
from identity.login import Login
from identity.models import AccountRecord, SubjectRecord
from identity.numbers import mask_phone
from identity.oauth import TokenEndpoint
from identity.oidc import OidcProvider
from identity.otp import OtpService, OutboxSender
from identity.registry import Registry
from identity.sessions import Sessions
from identity.signing import SigningKeyInfo, TokenKeys
from identity.sources import SourceConfig, SourceName, Sources, SourcesConfig, build_sources, generate
from identity.sources.dataset import SyntheticDataset
from identity.tickets import Tickets
from identity.tokens import AccessTokenClaims, AccessTokens
from identity.verification import Verifier
from keys import KeyStore

__all__ = ["IdentityService", "sources_config"]


def sources_config(raw: dict[str, Any]) -> SourcesConfig:
    """``YWT_IDENTITY_SOURCES`` (JSON) -> :class:`SourcesConfig` (validated there)."""
    names = {n.value for n in SourceName}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in names:
            if not isinstance(value, dict):
                raise ConfigurationError(f"identity_sources.{key} must be an object")
            try:
                values[key] = SourceConfig(**value)
            except TypeError as exc:
                raise ConfigurationError(f"identity_sources.{key}: {exc}") from None
        else:
            values[key] = value
    try:
        return SourcesConfig(**values)
    except TypeError as exc:
        raise ConfigurationError(f"identity_sources: {exc}") from None


@functools.lru_cache(maxsize=2)
def _dataset(seed: int, persons: int, entities: int) -> SyntheticDataset:
    """The synthetic data set is deterministic; generate it once per process (about a second)."""
    return generate(seed, persons=persons, entities=entities)


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
        self.master = master
        self.issuer = settings.base_url
        #: RFC 9068 ``aud`` of our access tokens: the API of this platform (our resource server)
        self.api_audience = settings.base_url
        self.hasher = SecretHasher(master)
        self.clients = ClientRegistry(self.hasher, journal, self.issuer)
        self.keys = TokenKeys(keystore, ca, journal)
        self.access_tokens = AccessTokens(self.keys, db.session, self.issuer, self.api_audience)
        self.token_endpoint = TokenEndpoint(db.session, self.clients, self.access_tokens, journal)
        self.accounts = Accounts(self.hasher, pii, journal)
        self.registry = Registry(pii, journal)
        self._sources_config = sources_config(settings.identity_sources)
        self._sources: Sources | None = None
        self._sources_lock = threading.Lock()
        self.verifier = Verifier(db.session, self.registry, self.accounts, journal, self.sources)
        self.sessions = Sessions()
        #: HMAC key of the login pages' CSRF tokens (api/web.py)
        self.csrf_key = master.derive("web/csrf-hmac", 32)
        self.tickets = Tickets(master)
        self.outbox = OutboxSender(pii)
        self.otp = OtpService(master, pii, self.outbox)
        self.login = Login(
            db.session, self.accounts, self.registry, self.sessions, self.otp, self.tickets, journal, pii, self.sources
        )
        self.oidc = OidcProvider(
            db.session,
            clients=self.clients,
            accounts=self.accounts,
            registry=self.registry,
            sessions=self.sessions,
            keys=self.keys,
            access_tokens=self.access_tokens,
            tickets=self.tickets,
            journal=journal,
            issuer=self.issuer,
            pairwise_key=master.derive("identity/pairwise-sub-hmac-sm3", 32),
        )
        national = NationalIdpConfig.from_settings(settings.national_idp)
        self.federation: Federation | None = (
            None
            if national is None
            else Federation(
                national,
                redirect_uri=f"{self.issuer}/login/national/callback",
                tickets=self.tickets,
                accounts=self.accounts,
                registry=self.registry,
                sessions=self.sessions,
                journal=journal,
                session_factory=db.session,
            )
        )
        self.token_endpoint.add_grant(GrantType.AUTHORIZATION_CODE, self.oidc.grant_authorization_code)
        self.token_endpoint.add_grant(GrantType.REFRESH_TOKEN, self.oidc.grant_refresh_token)

    # -- set-up --------------------------------------------------------------------------------

    def ensure_signing_keys(self, session: Session, *, actor: str = "ywt-init") -> list[SigningKeyInfo]:
        return self.keys.ensure(session, actor=actor)

    def sources(self) -> Sources:
        """The guarded base-data sources, built on first use from ``YWT_IDENTITY_SOURCES``."""
        with self._sources_lock:
            if self._sources is None:
                cfg = self._sources_config
                self._sources = build_sources(cfg, dataset=_dataset(cfg.dataset_seed, cfg.persons, cfg.entities))
            return self._sources

    def use_sources(self, sources: Sources) -> None:
        """Replace the sources (tests, or an embedding application with its own adapters)."""
        with self._sources_lock:
            self._sources = sources

    # -- endpoints -----------------------------------------------------------------------------

    def jwks(self, session: Session) -> dict[str, Any]:
        return self.keys.jwks(session)

    def token(self, authorization: str | None, form: dict[str, str]) -> dict[str, Any]:
        result = self.token_endpoint.token(ClientAuth.from_request(authorization, form), form)
        grant = form.get("grant_type", "")  # a grant that succeeded: one of the few registered ones
        for kind in ("access_token", "id_token", "refresh_token"):
            if result.get(kind):
                metrics.TOKENS_ISSUED.labels(grant, kind.removesuffix("_token")).inc()
        return result

    def verify_access_token(self, token: str) -> AccessTokenClaims:
        """Verify a bearer token; for a person, resolve its ``sub`` to our account id."""
        claims = self.access_tokens.verify(token)
        if claims.kind == "client":
            return claims
        with self.db.session() as session:
            account_id = self.account_for_subject(session, claims.subject)
            account = session.get(AccountRecord, account_id) if account_id else None
            if account is None or not account.active:
                raise InvalidToken("unknown_subject", "the account behind the token does not exist or is disabled")
        return dataclasses.replace(claims, account_id=account_id)

    def account_for_subject(self, session: Session, sub: str) -> str | None:
        if session.get(AccountRecord, sub) is not None:
            return sub
        rec = session.get(SubjectRecord, sub)
        return rec.account_id if rec is not None else None

    # -- the person behind an account ------------------------------------------------------------

    def me(self, session: Session, account_id: str) -> dict[str, Any]:
        """What an account holder may see about themselves (numbers masked)."""
        account = self.accounts.get(session, account_id)
        person = self.registry.person(session, account.person_id)
        verifications = self.registry.verifications(session, account_id)
        level = self.registry.level(session, account_id)
        link = self.registry.national_link(session, account_id)
        phone = self.accounts.phone(account)
        return {
            "account": account.id,
            "username": account.username,
            "display_name": account.display_name,
            "level": level.value if level else None,
            "verifications": [v.as_dict() for v in verifications],
            "person": None
            if person is None
            else {
                "name": person.name,
                "id_number": person.id_number_masked,
                "phone": self.registry.person_view(person).phone_masked,
            },
            "phone": mask_phone(phone) if phone else None,
            "entities": [a.as_dict() for a in self.registry.authorisations(session, person_id=account.person_id)]
            if account.person_id
            else [],
            "mfa": {"totp": account.totp_enabled},
            "national_account": None
            if link is None
            else {"issuer": link.issuer, "linked_at": link.linked_at.isoformat()},
            "roles": sorted(self.accounts.roles(account)),
        }

    def level(self, session: Session, account_id: str) -> Level | None:
        return self.registry.level(session, account_id)

    def require_person_token(self, claims_kind: str, account_id: str | None) -> str:
        if claims_kind == "client" or account_id is None:
            raise Forbidden("this needs a person's access token (authorization code flow), not a client's")
        return account_id

    def discovery(self) -> dict[str, Any]:
        """OpenID Provider Metadata (OIDC Discovery §3 / RFC 8414 §2): what we actually support."""
        return self.oidc.metadata()

    def record_in_person_check(
        self, session: Session, username: str, method: Method, evidence_ref: str, *, actor: str
    ) -> dict[str, Any]:
        """An identity officer records a counter or certificate check (L4) for a verified person."""
        if method not in (Method.COUNTER, Method.CERTIFICATE):
            raise InvalidInput("an officer records counter or certificate checks")
        ref = (evidence_ref or "").strip()
        if not ref or len(ref) > 80 or not ref.isprintable():
            raise InvalidInput("evidence_ref: 1 to 80 printable characters (e.g. the counter's receipt number)")
        account = self.accounts.by_username(session, username)
        if account is None:
            raise UnknownAccount(f"no account {username[:64]!r}")
        level = self.registry.level(session, account.id)
        if account.person_id is None or level is None or level < REQUIRES[method]:
            raise LevelTooLow(REQUIRES[method].value, level.value if level else None)
        self.registry.record_verification(
            session,
            account.id,
            level=LEVEL_OF_METHOD[method],
            method=method,
            source="officer",
            evidence_ref=f"{method.value}:{ref}",
            person_id=account.person_id,
            actor=actor,
        )
        return self.me(session, account.id)

    def inspect_token(self, token: str) -> TokenReport:
        """For ``verify/``: is ``token`` a valid token of ours or of the trusted national IdP?
        A report, never an exception for a bad token; personal numbers in it are masked."""
        return inspect_token(
            token,
            issuer=self.issuer,
            keys=self.keys,
            access_tokens=self.access_tokens,
            session_factory=self.db.session,
            federation=self.federation,
        )
