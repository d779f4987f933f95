"""The client registry: who may ask us for tokens, how they authenticate, what they may get.

A client is registered from a :class:`ClientSpec`, a frozen dataclass that refuses contradictory
metadata when it is built (RFC 7591 §2 names; OIDC Registration §2): a public client has no
secret and authenticates with ``none`` (so PKCE is required, RFC 9700 §2.1.1); a confidential
client uses ``client_secret_basic`` / ``client_secret_post`` (RFC 6749 §2.3.1) or
``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9) with its public JWKS; redirect URIs are compared
exactly (RFC 9700 §4.1.3), must be absolute, without fragment, and ``https`` except on loopback
(RFC 8252 §7.3); ``acts_for`` names the legal entity (USCC, GB 32100 checked) a machine client acts for.

Secrets: a generated secret (256 bits) is shown once and kept as a keyed hash; a secret chosen
by the operator (at least 16 characters) is kept as an argon2id hash (:mod:`identity.hashing`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from identity.errors import (
    ClientExists,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRequest,
    UnknownClient,
)
from identity.hashing import SecretHasher, new_secret
from identity.jose import SIGNING_ALGS, import_jwk, verify_compact
from identity.jwt import JwtRejected, check_audience, check_times, parse_header, parse_json_object
from identity.models import ClientRecord, UsedAssertion
from identity.numbers import validate_uscc
from identity.operators import Role
from keys import KeyFormatError

__all__ = [
    "ASSERTION_TYPE",
    "AuthMethod",
    "ClientAuth",
    "ClientInfo",
    "ClientRegistry",
    "ClientSpec",
    "ClientType",
    "GrantType",
    "SubjectType",
    "parse_scope",
]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MIN_CHOSEN_SECRET: Final = 16
MAX_ASSERTION_LIFETIME: Final = timedelta(minutes=10)
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


class ClientType(StrEnum):
    CONFIDENTIAL = "confidential"
    PUBLIC = "public"


class AuthMethod(StrEnum):
    """``token_endpoint_auth_method`` values (OIDC Core §9, RFC 7591 §2)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name, not a secret
    PRIVATE_KEY_JWT = "private_key_jwt"
    NONE = "none"

    @property
    def uses_secret(self) -> bool:
        return self in (AuthMethod.CLIENT_SECRET_BASIC, AuthMethod.CLIENT_SECRET_POST)


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant name, not a secret
    CLIENT_CREDENTIALS = "client_credentials"


class SubjectType(StrEnum):
    PUBLIC = "public"
    PAIRWISE = "pairwise"


def parse_scope(value: str | None) -> frozenset[str]:
    """Split a scope string (RFC 6749 §3.3: space-delimited scope-tokens) into a set; refuses bad tokens."""
    if value is None:
        return frozenset()
    if len(value) > 2000:
        raise InvalidRequest("scope is too long")
    tokens = value.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens if t) or (value and not any(tokens)):
        raise InvalidRequest("scope contains characters RFC 6749 §3.3 does not allow")
    return frozenset(t for t in tokens if t)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, field_name: str) -> str:
    """An absolute ``https`` URI (``http`` only on loopback) with no fragment, user info or wildcard."""
    if not isinstance(uri, str) or not uri or len(uri) > 512 or uri != uri.strip():
        raise InvalidClientMetadata(field_name, "must be a non-empty URI of at most 512 characters")
    try:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise InvalidClientMetadata(field_name, "is not a valid URI") from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidClientMetadata(field_name, "must be an absolute http(s) URI")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidClientMetadata(field_name, "plain http is only allowed on loopback (RFC 8252 §7.3)")
    if parts.fragment or "#" in uri:
        raise InvalidClientMetadata(field_name, "must not have a fragment (RFC 6749 §3.1.2)")
    if "@" in parts.netloc or "*" in uri:
        raise InvalidClientMetadata(field_name, "must not carry user info or wildcards")
    return uri


def _check_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise InvalidClientMetadata("jwks", "must be a JWK Set with 1 to 10 keys")
    kids = set()
    for key in keys:
        try:
            import_jwk(key)
        except KeyFormatError as exc:
            raise InvalidClientMetadata("jwks", str(exc)) from None
        kid = key.get("kid")
        if len(keys) > 1 and not isinstance(kid, str):
            raise InvalidClientMetadata("jwks", "every key needs a kid when there are several")
        if kid in kids:
            raise InvalidClientMetadata("jwks", "kids must be unique")
        kids.add(kid)
    return {"keys": list(keys)}


@dataclass(frozen=True)
class ClientSpec:
    """Registration metadata of a client, validated when built."""

    client_id: str
    name: str
    client_type: ClientType = ClientType.CONFIDENTIAL
    auth_method: AuthMethod = AuthMethod.CLIENT_SECRET_BASIC
    grant_types: frozenset[GrantType] = frozenset({GrantType.CLIENT_CREDENTIALS})
    scopes: frozenset[str] = frozenset()
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    token_alg: str = "RS256"  # noqa: S105 - an algorithm name
    subject_type: SubjectType = SubjectType.PUBLIC
    sector_identifier: str | None = None
    acts_for_uscc: str | None = None
    roles: frozenset[str] = frozenset()
    access_token_ttl: int = 600
    jwks: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not _CLIENT_ID.fullmatch(self.client_id):
            raise InvalidClientMetadata("client_id", "2-64 characters: letters, digits, '.', '_', '-'")
        name = (self.name or "").strip()
        if not name or len(name) > 200:
            raise InvalidClientMetadata("name", "must have 1 to 200 characters")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "client_type", ClientType(self.client_type))
        object.__setattr__(self, "auth_method", AuthMethod(self.auth_method))
        object.__setattr__(self, "subject_type", SubjectType(self.subject_type))
        object.__setattr__(self, "grant_types", frozenset(GrantType(g) for g in self.grant_types))
        public = self.client_type is ClientType.PUBLIC
        if public != (self.auth_method is AuthMethod.NONE):
            raise InvalidClientMetadata(
                "token_endpoint_auth_method", "public clients use 'none'; confidential clients must authenticate"
            )
        grants = self.grant_types
        if not grants:
            raise InvalidClientMetadata("grant_types", "at least one grant type")
        if public and GrantType.CLIENT_CREDENTIALS in grants:
            raise InvalidClientMetadata("grant_types", "a public client cannot use client_credentials")
        if GrantType.REFRESH_TOKEN in grants and GrantType.AUTHORIZATION_CODE not in grants:
            raise InvalidClientMetadata("grant_types", "refresh_token needs authorization_code")
        for s in self.scopes:
            if not _SCOPE_TOKEN.fullmatch(s):
                raise InvalidClientMetadata("scope", f"bad scope token {s[:20]!r}")
        code = GrantType.AUTHORIZATION_CODE in grants
        if code and "openid" not in self.scopes:
            raise InvalidClientMetadata("scope", "a client using authorization_code must be allowed 'openid'")
        if code and not self.redirect_uris:
            raise InvalidClientMetadata("redirect_uris", "required for authorization_code")
        if not code and (self.redirect_uris or self.post_logout_redirect_uris):
            raise InvalidClientMetadata("redirect_uris", "only clients using authorization_code have redirect URIs")
        uris = tuple(check_redirect_uri(u, "redirect_uris") for u in self.redirect_uris)
        logout = tuple(check_redirect_uri(u, "post_logout_redirect_uris") for u in self.post_logout_redirect_uris)
        if len(set(uris)) != len(uris) or len(uris) > 20:
            raise InvalidClientMetadata("redirect_uris", "at most 20, no duplicates")
        object.__setattr__(self, "redirect_uris", uris)
        object.__setattr__(self, "post_logout_redirect_uris", logout)
        if self.token_alg not in SIGNING_ALGS:
            raise InvalidClientMetadata("token_alg", f"one of {', '.join(SIGNING_ALGS)}")
        if self.subject_type is SubjectType.PAIRWISE and self.sector_identifier is None:
            hosts = {urllib.parse.urlsplit(u).hostname for u in uris}
            if len(hosts) != 1:
                raise InvalidClientMetadata(
                    "sector_identifier", "pairwise clients with redirect URIs on several hosts need a sector identifier"
                )
            object.__setattr__(self, "sector_identifier", hosts.pop())
        if self.sector_identifier is not None and not 0 < len(self.sector_identifier) <= 200:
            raise InvalidClientMetadata("sector_identifier", "1 to 200 characters")
        if self.acts_for_uscc is not None:
            if GrantType.CLIENT_CREDENTIALS not in grants:
                raise InvalidClientMetadata("acts_for", "only machine clients (client_credentials) act for an entity")
            object.__setattr__(self, "acts_for_uscc", validate_uscc(self.acts_for_uscc))
        valid_roles = {r.value for r in Role}
        if not set(self.roles) <= valid_roles:
            raise InvalidClientMetadata("roles", f"roles are {', '.join(sorted(valid_roles))}")
        if self.roles and GrantType.CLIENT_CREDENTIALS not in grants:
            raise InvalidClientMetadata("roles", "only machine clients (service accounts) hold roles")
        object.__setattr__(self, "roles", frozenset(self.roles))
        if not 60 <= self.access_token_ttl <= 3600:
            raise InvalidClientMetadata("access_token_ttl", "between 60 and 3600 seconds")
        if self.auth_method is AuthMethod.PRIVATE_KEY_JWT:
            if self.jwks is None:
                raise InvalidClientMetadata("jwks", "private_key_jwt needs the client's public JWKS")
            object.__setattr__(self, "jwks", _check_jwks(self.jwks))
        elif self.jwks is not None:
            raise InvalidClientMetadata("jwks", "only private_key_jwt clients register a JWKS")


@dataclass(frozen=True)
class ClientInfo:
    """A registered client as the rest of the service sees it (never the secret hash)."""

    spec: ClientSpec
    active: bool
    has_secret: bool

    @property
    def client_id(self) -> str:
        return self.spec.client_id

    def allows_grant(self, grant: GrantType) -> bool:
        return grant in self.spec.grant_types

    def public_dict(self) -> dict[str, Any]:
        """RFC 7591 §3.2.1-style metadata (no secret)."""
        s = self.spec
        return {
            "client_id": s.client_id,
            "client_name": s.name,
            "client_type": s.client_type.value,
            "token_endpoint_auth_method": s.auth_method.value,
            "grant_types": sorted(g.value for g in s.grant_types),
            "scope": " ".join(sorted(s.scopes)),
            "redirect_uris": list(s.redirect_uris),
            "post_logout_redirect_uris": list(s.post_logout_redirect_uris),
            "token_signing_alg": s.token_alg,
            "subject_type": s.subject_type.value,
            "sector_identifier": s.sector_identifier,
            "acts_for": s.acts_for_uscc,
            "roles": sorted(s.roles),
            "access_token_ttl": s.access_token_ttl,
            "jwks": dict(s.jwks) if s.jwks is not None else None,
            "active": self.active,
        }


def _spec_of(r: ClientRecord) -> ClientSpec:
    return ClientSpec(
        client_id=r.client_id,
        name=r.name,
        client_type=ClientType(r.client_type),
        auth_method=AuthMethod(r.auth_method),
        grant_types=frozenset(GrantType(g) for g in r.grant_types.split()),
        scopes=frozenset(r.scopes.split()),
        redirect_uris=tuple(json.loads(r.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(r.post_logout_redirect_uris)),
        token_alg=r.token_alg,
        subject_type=SubjectType(r.subject_type),
        sector_identifier=r.sector_identifier,
        acts_for_uscc=r.acts_for_uscc,
        roles=frozenset(x for x in r.roles.split(",") if x),
        access_token_ttl=r.access_token_ttl,
        jwks=json.loads(r.jwks) if r.jwks else None,
    )


def _info(r: ClientRecord) -> ClientInfo:
    return ClientInfo(_spec_of(r), r.active, r.secret_hash is not None)


def _apply(r: ClientRecord, s: ClientSpec) -> None:
    r.name = s.name
    r.client_type = s.client_type.value
    r.auth_method = s.auth_method.value
    r.grant_types = " ".join(sorted(g.value for g in s.grant_types))
    r.scopes = " ".join(sorted(s.scopes))
    r.redirect_uris = json.dumps(list(s.redirect_uris))
    r.post_logout_redirect_uris = json.dumps(list(s.post_logout_redirect_uris))
    r.token_alg = s.token_alg
    r.subject_type = s.subject_type.value
    r.sector_identifier = s.sector_identifier
    r.acts_for_uscc = s.acts_for_uscc
    r.roles = ",".join(sorted(s.roles))
    r.access_token_ttl = s.access_token_ttl
    r.jwks = json.dumps(dict(s.jwks)) if s.jwks is not None else None


@dataclass(frozen=True)
class ClientAuth:
    """What a request presented to authenticate its client (RFC 6749 §2.3, RFC 7521 §4.2)."""

    basic: tuple[str, str] | None = None
    form_client_id: str | None = None
    form_secret: str | None = None
    assertion_type: str | None = None
    assertion: str | None = None

    @staticmethod
    def from_request(authorization: str | None, form: Mapping[str, str]) -> ClientAuth:
        """Parse ``Authorization: Basic`` (RFC 6749 §2.3.1: form-urlencoded id and secret) and
        the form fields; a malformed Basic header is an authentication failure."""
        basic = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
                except (binascii.Error, ValueError):
                    raise InvalidClient("malformed Basic credentials", www_authenticate='Basic realm="ywt"') from None
                cid, sep, secret = decoded.partition(":")
                if not sep:
                    raise InvalidClient("malformed Basic credentials", www_authenticate='Basic realm="ywt"')
                basic = (urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret))
        return ClientAuth(
            basic=basic,
            form_client_id=form.get("client_id") or None,
            form_secret=form.get("client_secret") or None,
            assertion_type=form.get("client_assertion_type") or None,
            assertion=form.get("client_assertion") or None,
        )


class ClientRegistry:
    def __init__(self, hasher: SecretHasher, journal: Journal, issuer: str) -> None:
        self._hasher = hasher
        self._journal = journal
        self._issuer = issuer
        self._token_endpoint = f"{issuer}/oauth2/token"

    # -- registry ------------------------------------------------------------------------------

    def create(
        self, session: Session, spec: ClientSpec, *, secret: str | None = None, actor: str
    ) -> tuple[ClientInfo, str | None]:
        """Register ``spec``; returns the client and, for secret-based clients, the secret (shown once)."""
        if session.get(ClientRecord, spec.client_id) is not None:
            raise ClientExists(spec.client_id)
        issued, secret_hash = self._new_secret(spec, secret)
        now = clock.now()
        rec = ClientRecord(
            client_id=spec.client_id,
            name=spec.name,
            client_type=spec.client_type.value,
            auth_method=spec.auth_method.value,
            grant_types="",
            scopes="",
            token_alg=spec.token_alg,
            subject_type=spec.subject_type.value,
            secret_hash=secret_hash,
            created_at=now,
            updated_at=now,
        )
        _apply(rec, spec)
        session.add(rec)
        try:
            session.flush()
        except sa.exc.IntegrityError:
            raise ClientExists(spec.client_id) from None
        self._journal.append(
            session, actor=actor, action="identity.client.create", target=spec.client_id, data=self._audit(spec)
        )
        return _info(rec), issued

    def _new_secret(self, spec: ClientSpec, chosen: str | None) -> tuple[str | None, str | None]:
        if not spec.auth_method.uses_secret:
            if chosen is not None:
                raise InvalidClientMetadata("client_secret", f"{spec.auth_method.value} clients have no secret")
            return None, None
        if chosen is None:
            secret = new_secret()
            return secret, self._hasher.hash_generated(secret)
        if len(chosen) < MIN_CHOSEN_SECRET or len(chosen) > 200 or not chosen.isprintable():
            raise InvalidClientMetadata(
                "client_secret", f"a chosen secret has {MIN_CHOSEN_SECRET} to 200 printable characters"
            )
        return chosen, self._hasher.hash_password(chosen)

    @staticmethod
    def _audit(spec: ClientSpec) -> dict[str, Any]:
        return {
            "type": spec.client_type.value,
            "auth": spec.auth_method.value,
            "grants": sorted(g.value for g in spec.grant_types),
            "scope": " ".join(sorted(spec.scopes)),
            "alg": spec.token_alg,
            "acts_for": spec.acts_for_uscc,
            "roles": sorted(spec.roles),
        }

    def _record(self, session: Session, client_id: str) -> ClientRecord:
        rec = session.get(ClientRecord, client_id) if isinstance(client_id, str) and len(client_id) <= 64 else None
        if rec is None:
            raise UnknownClient(str(client_id))
        return rec

    def get(self, session: Session, client_id: str) -> ClientInfo:
        return _info(self._record(session, client_id))

    def find(self, session: Session, client_id: str) -> ClientInfo | None:
        try:
            return self.get(session, client_id)
        except UnknownClient:
            return None

    def list(self, session: Session) -> list[ClientInfo]:
        return [_info(r) for r in session.exec(select(ClientRecord).order_by(col(ClientRecord.client_id))).all()]

    def update(self, session: Session, client_id: str, changes: Mapping[str, Any], *, actor: str) -> ClientInfo:
        """Change metadata (not the id, type or secret); the result is validated as a whole."""
        rec = self._record(session, client_id)
        current = _spec_of(rec)
        forbidden = set(changes) & {"client_id", "client_type"}
        if forbidden:
            raise InvalidClientMetadata(sorted(forbidden)[0], "cannot be changed; register a new client")
        try:
            spec = replace(current, **dict(changes))
        except TypeError:
            raise InvalidClientMetadata("metadata", "unknown field") from None
        if spec.auth_method.uses_secret != current.auth_method.uses_secret:
            raise InvalidClientMetadata("token_endpoint_auth_method", "switching to or from secrets needs a new client")
        _apply(rec, spec)
        rec.updated_at = clock.now()
        session.add(rec)
        self._journal.append(
            session, actor=actor, action="identity.client.update", target=client_id, data=self._audit(spec)
        )
        return _info(rec)

    def set_active(self, session: Session, client_id: str, active: bool, *, actor: str) -> ClientInfo:
        rec = self._record(session, client_id)
        rec.active = active
        rec.updated_at = clock.now()
        session.add(rec)
        self._journal.append(
            session,
            actor=actor,
            action="identity.client.enable" if active else "identity.client.disable",
            target=client_id,
            data={},
        )
        return _info(rec)

    def rotate_secret(
        self, session: Session, client_id: str, *, actor: str, secret: str | None = None
    ) -> tuple[ClientInfo, str]:
        """A new secret (the old one stops working at once); returned once."""
        rec = self._record(session, client_id)
        spec = _spec_of(rec)
        issued, secret_hash = self._new_secret(spec, secret)
        if issued is None:
            raise InvalidClientMetadata("client_secret", f"{spec.auth_method.value} clients have no secret")
        rec.secret_hash = secret_hash
        rec.updated_at = clock.now()
        session.add(rec)
        self._journal.append(session, actor=actor, action="identity.client.rotate_secret", target=client_id, data={})
        return _info(rec), issued

    # -- authentication ------------------------------------------------------------------------

    def authenticate(self, session: Session, auth: ClientAuth) -> ClientInfo:
        """The client a token-endpoint request comes from, or :class:`InvalidClient`.

        Exactly one method may be used (RFC 6749 §2.3); it must be the client's registered
        method; a disabled client fails like an unknown one.
        """
        used = [
            m
            for m, present in (
                ("basic", auth.basic is not None),
                ("post", auth.form_secret is not None),
                ("jwt", auth.assertion is not None or auth.assertion_type is not None),
            )
            if present
        ]
        if len(used) > 1:
            raise InvalidRequest("use exactly one client authentication method (RFC 6749 §2.3)")
        method = used[0] if used else "none"
        if method == "basic":
            assert auth.basic is not None
            client_id, secret = auth.basic
            if auth.form_client_id is not None and auth.form_client_id != client_id:
                raise InvalidRequest("client_id in the body differs from the authenticated client")
            return self._check_secret(session, client_id, secret, AuthMethod.CLIENT_SECRET_BASIC)
        if method == "post":
            if auth.form_client_id is None:
                raise InvalidClient("client_id missing")
            assert auth.form_secret is not None
            return self._check_secret(session, auth.form_client_id, auth.form_secret, AuthMethod.CLIENT_SECRET_POST)
        if method == "jwt":
            return self._check_assertion(session, auth)
        if auth.form_client_id is None:
            raise InvalidClient("client authentication required")
        client = self.find(session, auth.form_client_id)
        if client is None or not client.active or client.spec.auth_method is not AuthMethod.NONE:
            raise InvalidClient("client authentication failed")
        return client

    def _check_secret(self, session: Session, client_id: str, secret: str, method: AuthMethod) -> ClientInfo:
        challenge = 'Basic realm="ywt"' if method is AuthMethod.CLIENT_SECRET_BASIC else None
        rec = session.get(ClientRecord, client_id) if len(client_id) <= 64 else None
        ok = self._hasher.verify_client_secret(rec.secret_hash if rec is not None else None, secret[:500])
        if rec is None or not ok or not rec.active or rec.auth_method != method.value:
            extra = {"www_authenticate": challenge} if challenge else {}
            raise _failed(client_id if rec is not None else None, **extra)
        return _info(rec)

    def _check_assertion(self, session: Session, auth: ClientAuth) -> ClientInfo:
        """``private_key_jwt`` (RFC 7523 §3, OIDC Core §9)."""
        if auth.assertion_type != ASSERTION_TYPE or not auth.assertion:
            raise InvalidClient("unsupported client_assertion_type")
        token = auth.assertion
        try:
            header = parse_header(token, SIGNING_ALGS)
            claims = parse_json_object(_payload(token), "claims")
        except JwtRejected as exc:
            raise InvalidClient(f"client assertion refused: {exc.reason}") from None
        client_id = claims.get("iss")
        if not isinstance(client_id, str) or claims.get("sub") != client_id:
            raise InvalidClient("client assertion refused: iss and sub must be the client_id")
        if auth.form_client_id is not None and auth.form_client_id != client_id:
            raise InvalidClient("client assertion refused: client_id differs")
        rec = session.get(ClientRecord, client_id) if len(client_id) <= 64 else None
        if rec is None or not rec.active or rec.auth_method != AuthMethod.PRIVATE_KEY_JWT.value or not rec.jwks:
            raise InvalidClient("client authentication failed")
        key = _select_key(json.loads(rec.jwks), header)
        if key is None:
            raise InvalidClient("client assertion refused: no matching key in the client's JWKS")
        try:
            verify_compact(token, key, header["alg"])
            check_audience(claims, [self._token_endpoint, self._issuer])
            exp = check_times(claims, clock.now(), max_lifetime=MAX_ASSERTION_LIFETIME)
        except JwtRejected as exc:
            raise InvalidClient(f"client assertion refused: {exc.reason}") from None
        except Exception:  # joserfc: bad signature, wrong key type
            raise InvalidClient("client assertion refused: bad_signature") from None
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:
            raise InvalidClient("client assertion refused: jti missing")
        self._remember_assertion(session, client_id, jti, exp)
        return _info(rec)

    def _remember_assertion(self, session: Session, client_id: str, jti: str, exp: Any) -> None:
        session.execute(
            sa.delete(UsedAssertion).where(col(UsedAssertion.expires_at) < clock.now() - timedelta(minutes=5))
        )
        if session.get(UsedAssertion, (client_id, jti)) is not None:
            raise InvalidClient("client assertion refused: replayed jti")
        session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=exp))
        try:
            session.flush()
        except sa.exc.IntegrityError:
            raise InvalidClient("client assertion refused: replayed jti") from None


def _failed(known_client_id: str | None, **extra: Any) -> InvalidClient:
    """The one answer to every failed authentication; ``attempted`` (not shown to the caller)
    names a registered client so the failure can be journaled against it."""
    exc = InvalidClient("client authentication failed", **extra)
    exc.attempted = known_client_id
    return exc


def _payload(token: str) -> bytes:
    from identity.jose import b64url_decode

    return b64url_decode(token.split(".")[1])


def _select_key(jwks: Mapping[str, Any], header: Mapping[str, Any]) -> Any:
    keys: Iterable[Mapping[str, Any]] = jwks.get("keys", [])
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    if kid is None and len(candidates) != 1:
        return None
    for k in candidates:
        if k.get("alg") not in (None, header["alg"]):
            continue
        try:
            return import_jwk(k)
        except KeyFormatError:
            continue
    return None
