"""Mutual recognition: log in with the national government-service platform's IdP (identity brokering).

We are an OpenID Connect relying party of the trusted national IdP named in the configuration
(``YWT_NATIONAL_IDP``: issuer, metadata or JWKS URL, our client credentials there, level map):

1. :meth:`Federation.start`: authorization request with ``state``, ``nonce`` and PKCE S256; the
   three secrets travel in a sealed ticket (cookie), never in clear.
2. :meth:`Federation.finish`: ``state`` must match, ``iss`` (RFC 9207) must be the trusted issuer;
   the code is exchanged with the client secret and the PKCE verifier; the ID token is checked
   like any token we accept (:mod:`identity.jwt`: alg allow-list RS256/ES256/PS256, never ``none``
   or HMAC; ``kid`` from the issuer's JWKS, fetched again once for an unknown ``kid``; ``iss``,
   ``aud`` (and ``azp`` when several audiences), ``exp`` / ``iat``, ``nonce``); userinfo must
   name the same ``sub``.
3. Linking: by the pair (issuer, sub) once linked; the first time only by the **verified** citizen
   ID number (``id_number`` with ``id_number_verified`` true, GB 11643 checked) through its blind
   index — never by name, phone or e-mail. Without a local account, one is provisioned for the
   verified person (no password: national login only). A linked account whose person has another
   ID number is refused.
4. Level: the national assertion (``acr``) is mapped through the configured table
   (default L2, the national platform's real-name check) and recorded as a verification with
   method ``national_idp``; the local session has ``amr`` ``fed``.

The IdP being unreachable or answering nonsense is :class:`FederationUnavailable` (503, try
later); a token that fails a check is :class:`FederationRefused` (401) — never a login.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import httpx
from sqlmodel import Session, select

from core import clock
from core.audit import Journal
from core.errors import ConfigurationError, TryLater, Unauthenticated
from identity.accounts import Accounts
from identity.errors import IdentityError
from identity.jwt import JwtRejected, check_audience, check_times, parse_json_object, verify_jws
from identity.levels import Level, Method
from identity.models import AccountRecord, FederatedLink
from identity.numbers import mask_id_number, validate_id_number
from identity.oidc import s256
from identity.registry import Registry
from identity.sessions import Sessions
from identity.sources.base import normalize_name
from identity.tickets import Tickets

__all__ = ["Federation", "FederationRefused", "FederationUnavailable", "NationalIdpConfig"]

FED_TICKET_TTL: Final = timedelta(minutes=10)
ALLOWED_ALGS: Final = ("RS256", "ES256", "PS256")
JWKS_CACHE_SECONDS: Final = 300.0


class FederationUnavailable(IdentityError, TryLater):
    code = "federation-unavailable"
    title = "The national identity platform is unavailable; try again later"


class FederationRefused(IdentityError, Unauthenticated):
    code = "federation-refused"
    title = "The national login could not be accepted"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(detail or reason, reason=reason)


@dataclass(frozen=True)
class NationalIdpConfig:
    """The trusted national IdP (one entry of the trust list)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    metadata_url: str | None = None
    jwks_url: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    scope: str = "openid profile id_number"
    name: str = "国家政务服务平台"
    #: national ``acr`` value -> our level; anything unlisted gets ``default_level``
    levels: Mapping[str, str] = field(default_factory=dict)
    default_level: str = "L2"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")):
            raise ConfigurationError("national_idp.issuer must be an http(s) URL")
        if not self.client_id or not self.client_secret:
            raise ConfigurationError("national_idp needs client_id and client_secret")
        if self.metadata_url is None and not (self.jwks_url and self.authorization_endpoint and self.token_endpoint):
            raise ConfigurationError("national_idp needs metadata_url, or jwks_url + authorization and token endpoints")
        for value in [self.default_level, *self.levels.values()]:
            if Level.parse(value) is None:
                raise ConfigurationError(f"national_idp level {value!r} is not L1..L4")

    @staticmethod
    def from_settings(raw: Mapping[str, Any]) -> NationalIdpConfig | None:
        if not raw:
            return None
        try:
            return NationalIdpConfig(**dict(raw))
        except TypeError as exc:
            raise ConfigurationError(f"national_idp: {exc}") from None

    def level_for(self, acr: Any) -> Level:
        value = self.levels.get(acr, self.default_level) if isinstance(acr, str) else self.default_level
        level = Level.parse(value)
        assert level is not None
        return level


@dataclass(frozen=True)
class Brokered:
    account_id: str
    cookie: str
    next: str
    created: bool


class Federation:
    def __init__(
        self,
        config: NationalIdpConfig,
        *,
        redirect_uri: str,
        tickets: Tickets,
        accounts: Accounts,
        registry: Registry,
        sessions: Sessions,
        journal: Journal,
        session_factory: Callable[[], Any],
        http: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.config = config
        self.redirect_uri = redirect_uri
        self._tickets = tickets
        self._accounts = accounts
        self._registry = registry
        self._sessions = sessions
        self._journal = journal
        self._db = session_factory
        self._http = http or (lambda: httpx.Client(timeout=config.timeout, follow_redirects=False))
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks: tuple[float, dict[str, Any]] | None = None
        self._last_jwks_refresh = 0.0

    # -- remote documents -------------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            with self._http() as client:
                resp = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise FederationUnavailable(f"{what}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise FederationUnavailable(f"{what}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise FederationUnavailable(f"{what}: not JSON") from None
        if not isinstance(body, dict):
            raise FederationUnavailable(f"{what}: not a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        c = self.config
        if c.metadata_url:
            meta = self._get_json(c.metadata_url, "national IdP metadata")
            if meta.get("issuer") != c.issuer:  # OIDC Discovery §4.3
                raise FederationUnavailable("national IdP metadata names another issuer")
        else:
            meta = {"issuer": c.issuer}
        for key in ("jwks_uri", "authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
            explicit = getattr(c, "jwks_url" if key == "jwks_uri" else key)
            if explicit:
                meta[key] = explicit
        if not all(isinstance(meta.get(k), str) for k in ("jwks_uri", "authorization_endpoint", "token_endpoint")):
            raise FederationUnavailable("national IdP metadata lacks endpoints")
        with self._lock:
            self._metadata = meta
        return meta

    def _keys(self, force: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._jwks
            if cached is not None and not force and now - cached[0] < JWKS_CACHE_SECONDS:
                return cached[1]
            if force:  # an unknown kid: fetch again, at most once a second
                if now - self._last_jwks_refresh < 1.0 and cached is not None:
                    return cached[1]
                self._last_jwks_refresh = now
        jwks = self._get_json(str(self.metadata()["jwks_uri"]), "national IdP JWKS")
        with self._lock:
            self._jwks = (now, jwks)
        return jwks

    # -- the login -----------------------------------------------------------------------------

    def start(self, next_url: str) -> tuple[str, str]:
        """The IdP authorization URL and the ticket to keep (cookie) until the callback."""
        meta = self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        ticket = self._tickets.seal(
            "federation", {"s": state, "n": nonce, "v": verifier, "next": next_url}, FED_TICKET_TTL
        )
        query = urllib.parse.urlencode(
            {
                "client_id": self.config.client_id,
                "response_type": "code",
                "scope": self.config.scope,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = str(meta["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", ticket

    def finish(self, params: Mapping[str, str], ticket: str | None) -> Brokered:
        """Validate the callback, the tokens and the person; link or provision; open a session."""
        pending = self._tickets.open("federation", ticket)
        if not secrets.compare_digest(str(params.get("state") or ""), str(pending["s"])):
            raise FederationRefused("state_mismatch", "the answer is not for the request this browser made")
        if "error" in params:
            raise FederationRefused("idp_error", f"the national IdP answered {str(params['error'])[:60]}")
        iss = params.get("iss")
        if iss is not None and iss != self.config.issuer:
            raise FederationRefused("wrong_issuer", "the answer names another issuer (RFC 9207)")
        code = params.get("code")
        if not code:
            raise FederationRefused("no_code", "the answer carries no code")
        tokens = self._exchange(code, str(pending["v"]))
        id_claims = self.validate_id_token(str(tokens.get("id_token") or ""), str(pending["n"]))
        info = self._userinfo(str(tokens.get("access_token") or ""))
        if info.get("sub") != id_claims["sub"]:
            raise FederationRefused("sub_mismatch", "userinfo names another subject than the ID token")
        claims = {**info, **{k: v for k, v in id_claims.items() if k in ("id_number", "id_number_verified", "name")}}
        with self._db() as session:
            account_id, created = self._link(session, str(id_claims["sub"]), claims, id_claims.get("acr"))
            cookie, ps = self._sessions.create(session, account_id, frozenset({"fed"}))
            self._journal.append(
                session,
                actor=f"account:{account_id}",
                action="identity.login",
                target=account_id,
                data={"method": "national_idp", "issuer": self.config.issuer, "sid": ps.sid, "provisioned": created},
            )
        return Brokered(account_id, cookie, str(pending["next"]), created)

    def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        meta = self.metadata()
        try:
            with self._http() as client:
                resp = client.post(
                    str(meta["token_endpoint"]),
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self.redirect_uri,
                        "code_verifier": verifier,
                    },
                    auth=(
                        urllib.parse.quote_plus(self.config.client_id),
                        urllib.parse.quote_plus(self.config.client_secret),
                    ),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise FederationUnavailable(f"token endpoint: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise FederationUnavailable(f"token endpoint: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise FederationUnavailable("token endpoint: not JSON") from None
        if resp.status_code != 200 or not isinstance(body, dict):
            raise FederationRefused("token_error", f"the national IdP refused the code: {str(body.get('error'))[:60]}")
        return body

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str) or not access_token:
            return {}
        try:
            with self._http() as client:
                resp = client.get(
                    endpoint, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise FederationUnavailable(f"userinfo: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise FederationUnavailable(f"userinfo: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise FederationUnavailable("userinfo: not JSON") from None
        return body if isinstance(body, dict) else {}

    def validate_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        """An ID token of the trusted IdP (OIDC Core §3.1.3.7), or :class:`FederationRefused`."""
        try:
            try:
                payload = verify_jws(token, self.key_list(force=False), ALLOWED_ALGS)
            except JwtRejected as exc:
                if exc.reason != "unknown_key":
                    raise
                payload = verify_jws(token, self.key_list(force=True), ALLOWED_ALGS)  # rotated at the IdP?
            claims = parse_json_object(payload, "claims")
            if claims.get("iss") != self.config.issuer:
                raise JwtRejected("wrong_issuer", "the ID token is from another issuer")
            check_audience(claims, [self.config.client_id])
            aud = claims.get("aud")
            if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
                raise JwtRejected("wrong_audience", "several audiences and azp is not us")
            check_times(claims, clock.now())
            if not isinstance(claims.get("iat"), int | float):
                raise JwtRejected("missing_claim", "iat missing")
            if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= 200:
                raise JwtRejected("missing_claim", "sub missing")
            if claims.get("nonce") != nonce:
                raise JwtRejected("nonce_mismatch", "the ID token is not for this login (nonce)")
        except JwtRejected as exc:
            raise FederationRefused(exc.reason, str(exc)) from None
        return claims

    def key_list(self, force: bool) -> list[dict[str, Any]]:
        keys = self._keys(force=force).get("keys")
        if not isinstance(keys, list):
            raise FederationUnavailable("the national IdP JWKS is malformed")
        return [k for k in keys if isinstance(k, dict)]

    # -- linking -------------------------------------------------------------------------------

    def _link(self, session: Session, sub: str, claims: Mapping[str, Any], acr: Any) -> tuple[str, bool]:
        issuer = self.config.issuer
        now = clock.now()
        raw_id = claims.get("id_number")
        if claims.get("id_number_verified") is not True or not isinstance(raw_id, str):
            raise FederationRefused("id_number_not_verified", "the national IdP did not assert a verified ID number")
        try:
            id_number = validate_id_number(raw_id)
        except IdentityError:
            raise FederationRefused("bad_id_number", "the national IdP asserted a malformed ID number") from None
        level = self.config.level_for(acr)
        link = session.get(FederatedLink, (issuer, sub))
        person = self._registry.person_by_id_number(session, id_number)
        created = False
        if link is not None:
            account = self._accounts.get(session, link.account_id)
            if person is None or account.person_id != person.id:
                raise FederationRefused("link_conflict", "the linked account belongs to another person")
        else:
            found = None
            if person is not None:
                found = session.exec(select(AccountRecord).where(AccountRecord.person_id == person.id)).first()
            if found is None:
                found = self._provision(session, claims, id_number)
                created = True
            account = found
            session.add(
                FederatedLink(issuer=issuer, subject=sub, account_id=account.id, linked_at=now, last_login_at=now)
            )
            self._journal.append(
                session,
                actor=f"account:{account.id}",
                action="identity.federation.link",
                target=account.id,
                data={"issuer": issuer, "id_number": mask_id_number(id_number), "provisioned": created},
            )
        if not account.active:
            raise FederationRefused("account_disabled", "the local account is disabled")
        if link is not None:
            link.last_login_at = now
            session.add(link)
        current = self._registry.level(session, account.id)
        if current is None or current < level or created:
            self._registry.record_verification(
                session,
                account.id,
                level=level,
                method=Method.NATIONAL_IDP,
                source=issuer[:40],
                evidence_ref=f"national:{secrets.token_hex(10)}",
                person_id=account.person_id,
                actor=f"account:{account.id}",
                data={"acr": acr if isinstance(acr, str) else None},
            )
        return account.id, created

    def _provision(self, session: Session, claims: Mapping[str, Any], id_number: str) -> AccountRecord:
        """A local account for a person known only through the national IdP (no password)."""
        name = normalize_name(str(claims.get("name") or ""), "name")
        username = f"gj-{secrets.token_hex(6)}"
        account = self._accounts.create(session, username, None, display_name=name, actor="national_idp")
        self._registry.link_person(session, account, name, id_number, None, actor="national_idp")
        return account
