"""OpenID Connect provider: authorization requests, codes, ID tokens, refresh, userinfo,
introspection, revocation and RP-initiated logout.

Standards followed (and where we chose):

* Authorization (OIDC Core §3.1.2, RFC 6749 §4.1): ``response_type=code`` only, ``response_mode``
  query, ``openid`` required. ``client_id`` and the exact ``redirect_uri`` (RFC 9700 §4.1.3) are
  checked first and their errors are shown to the user, never redirected (RFC 6749 §4.1.2.1);
  every later error goes back to the client with ``state`` and ``iss`` (RFC 9207). PKCE (RFC 7636)
  with S256 only: required for public clients, honoured (and then enforced) for confidential ones.
  ``prompt`` (none / login / consent / select_account), ``max_age``, ``nonce``; ``acr_values`` is
  read as the lowest level the client accepts (DESIGN.md: a minimum), with step-up when the
  session asserts less. Consent is implicit: every client is a registered government system
  (first party to the citizen), and the scopes it may ask for are fixed at registration.
* Codes: 256 random bits, 60 s, single use, bound to client, redirect URI, PKCE challenge, nonce
  and session; a second use revokes every token issued from the first (RFC 6749 §4.1.2).
* Tokens: access tokens per RFC 9068 (:mod:`identity.tokens`); ID tokens (OIDC Core §2) with
  ``at_hash`` (§3.1.3.6; for ``SM2`` the hash is SM3, by analogy with the rule "the hash of the
  alg"), ``sid``, ``acr``, ``amr``, ``auth_time``; refresh tokens opaque, hashed, rotated on every
  use, reuse revokes the family (RFC 9700 §4.14.2); 30 days at most per family.
* Claims: ``sub`` public (the account id) or pairwise (OIDC Core §8.1: HMAC-SM3 of sector and
  account); ``name``; ``id_number_masked`` — the full ``id_number`` only with the ``id_number``
  scope, which a client holds only if registered for it; ``phone_number`` with ``phone``;
  ``entity`` / ``entities`` (USCC, name, role) with ``entity``; ``roles`` (operator roles, in
  access tokens) only with the ``roles`` scope.
* Userinfo (OIDC Core §5.3), introspection (RFC 7662; the token's own client or a client holding
  the ``introspect`` scope), revocation (RFC 7009: a refresh token revokes its whole grant;
  unknown or foreign tokens are answered 200 and change nothing), RP-initiated logout 1.0 (exact
  ``post_logout_redirect_uri``; the session's grants are revoked with it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import clock
from core.audit import Journal
from identity.accounts import Accounts
from identity.clients import AuthMethod, ClientInfo, ClientRegistry, ClientType, GrantType, SubjectType, parse_scope
from identity.errors import IdentityError, InvalidGrant, InvalidRequest, InvalidScope, InvalidToken, OAuthError
from identity.hashing import token_hash
from identity.jose import SIGNING_ALGS, b64url_encode, sign_compact, verify_compact
from identity.jwt import parse_header, parse_json_object
from identity.levels import Level
from identity.models import AccountRecord, AuthCodeRecord, GrantRecord, RefreshTokenRecord, SubjectRecord
from identity.registry import Registry
from identity.sessions import ProviderSession, Sessions, session_acr
from identity.signing import KEY_RETENTION, TokenKeys
from identity.tickets import BadTicket, Tickets
from identity.tokens import AccessTokenClaims, AccessTokens, unverified_claims, within

__all__ = [
    "AuthorizationError",
    "AuthzRequest",
    "IssueCode",
    "LoginRequired",
    "OidcProvider",
    "StepUpRequired",
]

CODE_TTL: Final = timedelta(seconds=60)
ID_TOKEN_TTL: Final = 600
REFRESH_TTL: Final = timedelta(days=30)
AUTHZ_TICKET_TTL: Final = timedelta(minutes=30)
_PKCE: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CLIENT_SCOPES_FOR_USERS: Final = frozenset(
    {"openid", "profile", "phone", "id_number", "entity", "roles", "offline_access"}
)
PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})


class AuthorizationError(IdentityError):
    """An authorization-request error. ``redirect`` is where to send it (the client's redirect URI,
    with ``state``); ``None`` when client or redirect URI are in doubt (shown to the user)."""

    code = "authorization-error"
    title = "The sign-in request is not valid"

    def __init__(self, error: str, description: str, redirect: str | None = None, state: str | None = None) -> None:
        self.error = error
        self.redirect = redirect
        self.state = state
        super().__init__(description, error=error)


@dataclass(frozen=True)
class AuthzRequest:
    client_id: str
    redirect_uri: str
    scope: frozenset[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    acr_min: Level | None
    entity: str | None
    #: when the request was made (microseconds): prompt=login needs a login after this instant
    issued_at: float

    def data(self) -> dict[str, Any]:
        return {
            "c": self.client_id,
            "r": self.redirect_uri,
            "s": sorted(self.scope),
            "st": self.state,
            "n": self.nonce,
            "cc": self.code_challenge,
            "p": sorted(self.prompt),
            "ma": self.max_age,
            "acr": self.acr_min.value if self.acr_min else None,
            "e": self.entity,
            "t": self.issued_at,
        }

    @staticmethod
    def from_data(d: Mapping[str, Any]) -> AuthzRequest:
        return AuthzRequest(
            client_id=d["c"],
            redirect_uri=d["r"],
            scope=frozenset(d["s"]),
            state=d["st"],
            nonce=d["n"],
            code_challenge=d["cc"],
            prompt=frozenset(d["p"]),
            max_age=d["ma"],
            acr_min=Level(d["acr"]) if d["acr"] else None,
            entity=d["e"],
            issued_at=float(d["t"]),
        )


@dataclass(frozen=True)
class LoginRequired:
    ticket: str


@dataclass(frozen=True)
class StepUpRequired:
    ticket: str
    needed: Level
    account_level: Level | None
    session_acr: Level | None


@dataclass(frozen=True)
class IssueCode:
    redirect: str


Decision = LoginRequired | StepUpRequired | IssueCode


def _with_params(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urllib.parse.urlsplit(uri)
    extra = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def s256(verifier: str) -> str:
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


def half_hash(value: str, alg: str) -> str:
    """``at_hash`` (OIDC Core §3.1.3.6): left half of the hash the ``alg`` uses, base64url."""
    digest = hashlib.new("sm3" if alg == "SM2" else "sha256", value.encode("ascii")).digest()
    return b64url_encode(digest[: len(digest) // 2])


class OidcProvider:
    def __init__(
        self,
        session_factory: Callable[[], Any],
        *,
        clients: ClientRegistry,
        accounts: Accounts,
        registry: Registry,
        sessions: Sessions,
        keys: TokenKeys,
        access_tokens: AccessTokens,
        tickets: Tickets,
        journal: Journal,
        issuer: str,
        pairwise_key: bytes,
    ) -> None:
        self._db = session_factory
        self.clients = clients
        self.accounts = accounts
        self.registry = registry
        self.sessions = sessions
        self.keys = keys
        self.access_tokens = access_tokens
        self.tickets = tickets
        self.journal = journal
        self.issuer = issuer
        self._pairwise_key = pairwise_key

    # -- authorization request ---------------------------------------------------------------------

    def parse(self, session: Session, params: Mapping[str, str]) -> AuthzRequest:
        """Validate an authorization request (see the module docstring for the order)."""
        client_id = params.get("client_id")
        if not client_id:
            raise AuthorizationError("invalid_request", "client_id is missing")
        client = self.clients.find(session, client_id)
        if client is None or not client.active:
            raise AuthorizationError("invalid_client", "unknown or disabled client")
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            raise AuthorizationError("invalid_request", "redirect_uri is missing")
        if redirect_uri not in client.spec.redirect_uris:
            raise AuthorizationError("invalid_request", "redirect_uri is not registered for this client (exact match)")
        state = params.get("state")

        def fail(error: str, description: str) -> AuthorizationError:
            return AuthorizationError(error, description, redirect=redirect_uri, state=state)

        if state is not None and len(state) > 1000:
            raise fail("invalid_request", "state is too long")
        if "request" in params:
            raise fail("request_not_supported", "request objects are not supported")
        if "request_uri" in params:
            raise fail("request_uri_not_supported", "request_uri is not supported")
        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        if params.get("response_mode", "query") != "query":
            raise fail("invalid_request", "only response_mode=query is supported")
        if not client.allows_grant(GrantType.AUTHORIZATION_CODE):
            raise fail("unauthorized_client", "this client may not use the authorization code flow")
        try:
            scope = parse_scope(params.get("scope"))
        except InvalidRequest:
            raise fail("invalid_scope", "malformed scope") from None
        if "openid" not in scope:
            raise fail("invalid_scope", "scope must include openid")
        if not scope <= client.spec.scopes:
            raise fail(
                "invalid_scope", f"not allowed for this client: {' '.join(sorted(scope - client.spec.scopes))[:200]}"
            )
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise fail("invalid_request", "code_challenge_method without code_challenge")
            if client.spec.client_type is ClientType.PUBLIC:
                raise fail("invalid_request", "PKCE (code_challenge, S256) is required for public clients")
        else:
            if method != "S256":
                raise fail("invalid_request", "code_challenge_method must be S256")
            if not _PKCE.fullmatch(challenge) or len(challenge) != 43:
                raise fail("invalid_request", "code_challenge is not a base64url SHA-256 value")
        nonce = params.get("nonce")
        if nonce is not None and not 0 < len(nonce) <= 255:
            raise fail("invalid_request", "nonce must have 1 to 255 characters")
        prompt = frozenset((params.get("prompt") or "").split())
        if not prompt <= PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise fail("invalid_request", "prompt must be none, or a combination of login, consent, select_account")
        max_age = None
        if params.get("max_age") is not None:
            raw = params["max_age"]
            if not raw.isdigit() or len(raw) > 9:
                raise fail("invalid_request", "max_age must be a non-negative integer")
            max_age = int(raw)
        acr_min = None
        wanted = [lv for lv in (Level.parse(v) for v in (params.get("acr_values") or "").split()) if lv is not None]
        if wanted:
            acr_min = min(wanted, key=lambda lv: lv.rank)
        entity = params.get("entity_uscc")
        if entity is not None and (len(entity) != 18 or "entity" not in scope):
            raise fail("invalid_request", "entity_uscc is an 18-character USCC and needs the entity scope")
        return AuthzRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            prompt=prompt,
            max_age=max_age,
            acr_min=acr_min,
            entity=entity,
            issued_at=clock.now().timestamp(),
        )

    def ticket(self, req: AuthzRequest) -> str:
        return self.tickets.seal("authz", req.data(), AUTHZ_TICKET_TTL)

    def from_ticket(self, ticket: str | None) -> AuthzRequest:
        try:
            return AuthzRequest.from_data(self.tickets.open("authz", ticket))
        except (KeyError, ValueError, TypeError):
            raise BadTicket("the sign-in request is malformed") from None

    def error_redirect(self, exc: AuthorizationError) -> str:
        assert exc.redirect is not None
        return _with_params(
            exc.redirect, {"error": exc.error, "error_description": exc.detail, "state": exc.state, "iss": self.issuer}
        )

    def decide(self, session: Session, req: AuthzRequest, ps: ProviderSession | None) -> Decision:
        """Log in, step up, or issue a code (raising :class:`AuthorizationError` for redirects)."""

        def fail(error: str, description: str) -> AuthorizationError:
            return AuthorizationError(error, description, redirect=req.redirect_uri, state=req.state)

        client = self.clients.find(session, req.client_id)
        if client is None or not client.active:
            raise AuthorizationError("invalid_client", "unknown or disabled client")
        now = clock.now()
        account = self.accounts.get(session, ps.account_id) if ps is not None else None
        fresh_needed = ps is not None and (
            ("login" in req.prompt and ps.auth_time.timestamp() < req.issued_at)
            or (req.max_age is not None and (now - ps.auth_time).total_seconds() > req.max_age)
        )
        if ps is None or account is None or not account.active or fresh_needed:
            if "none" in req.prompt:
                raise fail("login_required", "the user is not logged in")
            return LoginRequired(self.ticket(req))
        level = self.registry.level(session, account.id)
        acr = session_acr(level, ps.amr)
        if req.acr_min is not None and (acr is None or acr < req.acr_min):
            if "none" in req.prompt:
                raise fail("interaction_required", f"level {req.acr_min.value} needs the user's interaction")
            return StepUpRequired(self.ticket(req), req.acr_min, level, acr)
        entity = self._entity(session, account, req)
        if req.entity is not None and entity is None:
            raise fail("access_denied", "the user does not act for this entity")
        code = secrets.token_urlsafe(32)
        session.add(
            AuthCodeRecord(
                code_hash=token_hash(code),
                client_id=client.client_id,
                account_id=account.id,
                sid=ps.sid,
                redirect_uri=req.redirect_uri,
                scope=" ".join(sorted(req.scope)),
                nonce=req.nonce,
                code_challenge=req.code_challenge,
                acr=acr.value if acr else None,
                amr=" ".join(sorted(ps.amr)),
                auth_time=ps.auth_time,
                entity_uscc=entity,
                created_at=now,
                expires_at=now + CODE_TTL,
            )
        )
        self.journal.append(
            session,
            actor=f"account:{account.id}",
            action="identity.authorize",
            target=client.client_id,
            data={
                "scope": " ".join(sorted(req.scope)),
                "acr": acr.value if acr else None,
                "sid": ps.sid,
                "entity": entity,
            },
        )
        return IssueCode(_with_params(req.redirect_uri, {"code": code, "state": req.state, "iss": self.issuer}))

    def _entity(self, session: Session, account: AccountRecord, req: AuthzRequest) -> str | None:
        if "entity" not in req.scope:
            return None
        active = self.registry.active_authorisations(session, account.person_id)
        usccs = sorted({a.entity_uscc for a in active})
        if req.entity is not None:
            return req.entity if req.entity in usccs else None
        return usccs[0] if len(usccs) == 1 else None

    # -- subjects and claims -----------------------------------------------------------------------

    def subject(self, session: Session, client: ClientInfo, account_id: str) -> str:
        """``sub`` for this client: the account id, or a pairwise value per sector (OIDC Core §8.1)."""
        if client.spec.subject_type is SubjectType.PUBLIC:
            return account_id
        sector = client.spec.sector_identifier or client.client_id
        mac = hmac.new(self._pairwise_key, f"{sector}\x00{account_id}".encode(), "sm3").digest()
        sub = b64url_encode(mac)
        if session.get(SubjectRecord, sub) is None:
            session.add(SubjectRecord(sub=sub, sector=sector, account_id=account_id, created_at=clock.now()))
            session.flush()
        return sub

    def claims(
        self, session: Session, account: AccountRecord, scope: frozenset[str], entity: str | None
    ) -> dict[str, Any]:
        """Person claims for ``scope`` (see the module docstring); numbers masked unless allowed."""
        out: dict[str, Any] = {}
        person = self.registry.person(session, account.person_id)
        level = self.registry.level(session, account.id)
        if "profile" in scope:
            out["name"] = person.name if person else account.display_name
            if person is not None:
                out["id_number_masked"] = person.id_number_masked
        if "id_number" in scope and person is not None:
            out["id_number"] = self.registry.id_number(person)
            out["id_number_verified"] = level is not None and level >= Level.L2
        if "phone" in scope:
            phone = self.accounts.phone(account)
            if phone is not None:
                out["phone_number"] = "+86" + phone
                out["phone_number_verified"] = True
        if "entity" in scope:
            active = self.registry.active_authorisations(session, account.person_id)
            out["entities"] = [{"uscc": a.entity_uscc, "name": a.entity_name, "role": a.role} for a in active]
            chosen = next((a for a in active if a.entity_uscc == entity), None)
            if chosen is not None:
                out["entity"] = {
                    "uscc": chosen.entity_uscc,
                    "name": chosen.entity_name,
                    "role": chosen.role,
                    "scope": " ".join(chosen.scope),
                }
        return out

    # -- token endpoint grants -------------------------------------------------------------------

    def grant_authorization_code(self, client: ClientInfo, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code")
        if not code or len(code) > 200:
            raise InvalidRequest("code is missing")
        redirect_uri = form.get("redirect_uri")
        verifier = form.get("code_verifier")
        replayed: list[str | None] = []

        def exchange(session: Session) -> dict[str, Any] | None:
            rec = session.get(AuthCodeRecord, token_hash(code))
            now = clock.now()
            if rec is None or rec.client_id != client.client_id:
                raise InvalidGrant("the code is invalid or was issued to another client")
            if rec.used_at is not None:
                replayed.append(rec.grant_id)
                return None
            if rec.expires_at <= now:
                raise InvalidGrant("the code has expired")
            if redirect_uri != rec.redirect_uri:
                raise InvalidGrant("redirect_uri differs from the authorization request")
            if rec.code_challenge is not None:
                if (
                    not verifier
                    or not _PKCE.fullmatch(verifier)
                    or not hmac.compare_digest(s256(verifier), rec.code_challenge)
                ):
                    raise InvalidGrant("PKCE verification failed (code_verifier)")
            elif verifier is not None:
                raise InvalidGrant("code_verifier sent but no code_challenge was")
            grant_id = secrets.token_urlsafe(32)
            taken = session.execute(
                sa.update(AuthCodeRecord)
                .where(col(AuthCodeRecord.code_hash) == rec.code_hash, col(AuthCodeRecord.used_at).is_(None))
                .values(used_at=now, grant_id=grant_id)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                replayed.append(None)
                return None
            account = session.get(AccountRecord, rec.account_id)
            if account is None or not account.active:
                raise InvalidGrant("the account is disabled")
            session.add(
                GrantRecord(
                    grant_id=grant_id,
                    client_id=client.client_id,
                    account_id=account.id,
                    sid=rec.sid,
                    created_at=now,
                    expires_at=now + REFRESH_TTL,
                )
            )
            return self._tokens(
                session,
                client,
                account,
                grant_id=grant_id,
                scope=frozenset(rec.scope.split()),
                acr=rec.acr,
                amr=rec.amr.split(),
                auth_time=rec.auth_time,
                entity=rec.entity_uscc,
                nonce=rec.nonce,
                sid=rec.sid,
                grant_type="authorization_code",
            )

        with self._db() as session:
            result = exchange(session)
        if result is None:
            with self._db() as session:
                if replayed and replayed[0]:
                    self.revoke_grant(session, replayed[0], "code_replay", actor=f"client:{client.client_id}")
                self.journal.append(
                    session,
                    actor=f"client:{client.client_id}",
                    action="identity.code.replay",
                    target=client.client_id,
                    data={"grant": replayed[0] if replayed else None},
                )
            raise InvalidGrant("the code was already used; tokens issued from it are revoked")
        return result

    def grant_refresh_token(self, client: ClientInfo, form: Mapping[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token or len(token) > 200:
            raise InvalidRequest("refresh_token is missing")
        requested = parse_scope(form.get("scope"))
        reused: list[str] = []

        def refresh(session: Session) -> dict[str, Any] | None:
            rec = session.get(RefreshTokenRecord, token_hash(token))
            now = clock.now()
            if rec is None or rec.client_id != client.client_id:
                raise InvalidGrant("the refresh token is invalid or was issued to another client")
            grant = session.get(GrantRecord, rec.grant_id)
            if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
                raise InvalidGrant("the grant has been revoked or has expired")
            if rec.used_at is not None:
                reused.append(rec.grant_id)
                return None
            if rec.expires_at <= now:
                raise InvalidGrant("the refresh token has expired")
            scope = frozenset(rec.scope.split())
            if requested and not requested <= scope:
                raise InvalidScope("a refresh may only narrow the scope")
            taken = session.execute(
                sa.update(RefreshTokenRecord)
                .where(col(RefreshTokenRecord.token_hash) == rec.token_hash, col(RefreshTokenRecord.used_at).is_(None))
                .values(used_at=now)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                reused.append(rec.grant_id)
                return None
            account = session.get(AccountRecord, rec.account_id)
            if account is None or not account.active:
                raise InvalidGrant("the account is disabled")
            return self._tokens(
                session,
                client,
                account,
                grant_id=rec.grant_id,
                scope=requested or scope,
                acr=rec.acr,
                amr=rec.amr.split(),
                auth_time=rec.auth_time,
                entity=rec.entity_uscc,
                nonce=None,
                sid=grant.sid,
                grant_type="refresh_token",
                refresh_scope=scope,
            )

        with self._db() as session:
            result = refresh(session)
        if result is None:
            with self._db() as session:
                self.revoke_grant(session, reused[0], "refresh_reuse", actor=f"client:{client.client_id}")
            raise InvalidGrant("the refresh token was already used; the whole grant is revoked")
        return result

    def _tokens(
        self,
        session: Session,
        client: ClientInfo,
        account: AccountRecord,
        *,
        grant_id: str,
        scope: frozenset[str],
        acr: str | None,
        amr: list[str],
        auth_time: datetime,
        entity: str | None,
        nonce: str | None,
        sid: str | None,
        grant_type: str,
        refresh_scope: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        spec = client.spec
        sub = self.subject(session, client, account.id)
        roles = self.accounts.roles(account) if "roles" in scope else frozenset()
        at = self.access_tokens.issue(
            alg=spec.token_alg,
            client_id=spec.client_id,
            subject=sub,
            kind="operator" if roles else "user",
            scopes=scope,
            ttl=spec.access_token_ttl,
            roles=roles,
            entity_uscc=entity,
            acr=acr,
            amr=amr,
            auth_time=auth_time,
            grant_id=grant_id,
            session=session,
        )
        now = clock.now().replace(microsecond=0)
        id_claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": spec.client_id,
            "azp": spec.client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ID_TOKEN_TTL)).timestamp()),
            "auth_time": int(auth_time.timestamp()),
            "at_hash": half_hash(at.token, spec.token_alg),
            "amr": amr,
        }
        if acr:
            id_claims["acr"] = acr
        if nonce:
            id_claims["nonce"] = nonce
        if sid:
            id_claims["sid"] = sid
        id_claims.update(self.claims(session, account, scope, entity))
        kid, signer = self.keys.signer(within(session), spec.token_alg)
        id_token = sign_compact(
            signer,
            {"typ": "JWT", "kid": kid},
            json.dumps(id_claims, separators=(",", ":"), ensure_ascii=False).encode(),
        )
        response: dict[str, Any] = {
            "access_token": at.token,
            "token_type": "Bearer",
            "expires_in": at.expires_in,
            "scope": " ".join(sorted(scope)),
            "id_token": id_token,
        }
        if client.allows_grant(GrantType.REFRESH_TOKEN):
            grant = session.get(GrantRecord, grant_id)
            assert grant is not None
            refresh = secrets.token_urlsafe(32)
            session.add(
                RefreshTokenRecord(
                    token_hash=token_hash(refresh),
                    grant_id=grant_id,
                    client_id=spec.client_id,
                    account_id=account.id,
                    scope=" ".join(sorted(refresh_scope or scope)),
                    acr=acr,
                    amr=" ".join(amr),
                    auth_time=auth_time,
                    entity_uscc=entity,
                    created_at=now,
                    expires_at=min(now + REFRESH_TTL, grant.expires_at),
                )
            )
            response["refresh_token"] = refresh
        self.journal.append(
            session,
            actor=f"client:{spec.client_id}",
            action="identity.token.issue",
            target=at.jti,
            data={
                "grant": grant_type,
                "account": account.id,
                "gid": grant_id,
                "scope": response["scope"],
                "alg": at.alg,
                "acr": acr,
            },
        )
        return response

    # -- revocation ----------------------------------------------------------------------------

    def revoke_grant(self, session: Session, grant_id: str, reason: str, *, actor: str) -> None:
        """Revoke a grant: its refresh tokens stop working and its access tokens (``gid``) are refused."""
        grant = session.get(GrantRecord, grant_id)
        if grant is None or grant.revoked_at is not None:
            return
        grant.revoked_at, grant.revoke_reason = clock.now(), reason
        session.add(grant)
        self.access_tokens.revoke(session, grant_id, "grant", clock.now() + KEY_RETENTION, reason)
        self.journal.append(
            session,
            actor=actor,
            action="identity.grant.revoke",
            target=grant_id,
            data={"reason": reason, "client": grant.client_id, "account": grant.account_id},
        )

    def revoke_session_grants(self, session: Session, sid: str, *, actor: str) -> None:
        grants = session.exec(
            select(GrantRecord).where(GrantRecord.sid == sid, col(GrantRecord.revoked_at).is_(None))
        ).all()
        for grant in grants:
            self.revoke_grant(session, grant.grant_id, "logout", actor=actor)

    def revoke(self, client: ClientInfo, token: str | None, hint: str | None) -> None:
        """RFC 7009: revoke a refresh token (and its grant) or an access token of this client."""
        if not token:
            raise InvalidRequest("token is missing")
        if hint not in (None, "access_token", "refresh_token"):
            from identity.errors import UnsupportedTokenType

            raise UnsupportedTokenType(f"token_type_hint {hint[:30]!r} is not supported")
        actor = f"client:{client.client_id}"
        with self._db() as session:
            rec = session.get(RefreshTokenRecord, token_hash(token)) if len(token) <= 200 else None
            if rec is not None:
                if rec.client_id == client.client_id:
                    self.revoke_grant(session, rec.grant_id, "revoked", actor=actor)
                return
            claims = self._our_access_token(token, session)
            if claims is None or claims.get("client_id") != client.client_id:
                return
            from datetime import UTC

            expires = datetime.fromtimestamp(claims["exp"], UTC)
            self.access_tokens.revoke(session, claims["jti"], "jti", expires, "revoked")
            self.journal.append(session, actor=actor, action="identity.token.revoke", target=claims["jti"], data={})

    def _our_access_token(self, token: str, session: Session) -> dict[str, Any] | None:
        """Claims of an access token we signed (even if expired or revoked), else None."""
        try:
            header = parse_header(token, SIGNING_ALGS)
            key = self.keys.find(within(session), str(header.get("kid")))
            if key is None or key.alg != header["alg"]:
                return None
            verify_compact(token, key.key, key.alg)
        except Exception:  # any failure means: not one of our access tokens
            return None
        claims = unverified_claims(token)
        if claims is None or claims.get("iss") != self.issuer or not isinstance(claims.get("jti"), str):
            return None
        if not isinstance(claims.get("exp"), int | float):
            return None
        return claims

    # -- introspection -------------------------------------------------------------------------

    def introspect(self, client: ClientInfo, token: str | None, hint: str | None) -> dict[str, Any]:
        if not token:
            raise InvalidRequest("token is missing")
        privileged = "introspect" in client.spec.scopes
        with self._db() as session:
            rec = session.get(RefreshTokenRecord, token_hash(token)) if len(token) <= 200 else None
            if rec is not None:
                grant = session.get(GrantRecord, rec.grant_id)
                now = clock.now()
                live = (
                    rec.used_at is None
                    and rec.expires_at > now
                    and grant is not None
                    and grant.revoked_at is None
                    and grant.expires_at > now
                )
                if not live or (rec.client_id != client.client_id and not privileged):
                    return {"active": False}
                owner = self.clients.get(session, rec.client_id)
                return {
                    "active": True,
                    "token_type": "refresh_token",
                    "client_id": rec.client_id,
                    "scope": rec.scope,
                    "sub": self.subject(session, owner, rec.account_id),
                    "exp": int(rec.expires_at.timestamp()),
                    "iat": int(rec.created_at.timestamp()),
                    "iss": self.issuer,
                }
        try:
            verified = self.access_tokens.verify(token)
        except (InvalidToken, OAuthError):
            return {"active": False}
        if verified.client_id != client.client_id and not privileged:
            return {"active": False}
        c = verified.claims
        out: dict[str, Any] = {
            k: c[k] for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti") if k in c
        }
        out.update({"active": True, "token_type": "Bearer"})
        for extra in ("acr", "auth_time", "entity_uscc", "roles"):
            if extra in c:
                out[extra] = c[extra]
        return out

    # -- userinfo ------------------------------------------------------------------------------

    def userinfo(self, token_claims: AccessTokenClaims) -> dict[str, Any]:
        if token_claims.kind == "client" or token_claims.account_id is None:
            raise InvalidToken("not_a_person", "userinfo needs a person's access token")
        if "openid" not in token_claims.scopes:
            raise InvalidToken("insufficient_scope", "the token lacks scope openid")
        with self._db() as session:
            account = self.accounts.get(session, token_claims.account_id)
            out = {"sub": token_claims.subject}
            out.update(self.claims(session, account, token_claims.scopes, token_claims.entity_uscc))
            if token_claims.acr:
                out["acr"] = token_claims.acr
            return out

    # -- RP-initiated logout -------------------------------------------------------------------

    def logout_request(self, session: Session, params: Mapping[str, str]) -> dict[str, Any]:
        """Validate an RP-initiated logout request; returns what the confirmation page needs."""
        hint = params.get("id_token_hint")
        client_id = params.get("client_id")
        hint_claims: dict[str, Any] | None = None
        if hint:
            hint_claims = self._our_id_token(hint, session)
            if hint_claims is None:
                raise InvalidRequest("id_token_hint is not an ID token we issued")
            aud = hint_claims.get("aud")
            if client_id is not None and aud != client_id:
                raise InvalidRequest("client_id does not match the id_token_hint audience")
            client_id = aud if isinstance(aud, str) else None
        uri = params.get("post_logout_redirect_uri")
        client = self.clients.find(session, client_id) if client_id else None
        if uri is not None:
            if client is None:
                raise InvalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
            if uri not in client.spec.post_logout_redirect_uris:
                raise InvalidRequest("post_logout_redirect_uri is not registered for this client (exact match)")
        state = params.get("state")
        if state is not None and len(state) > 1000:
            raise InvalidRequest("state is too long")
        return {
            "client_id": client.client_id if client else None,
            "client_name": client.spec.name if client else None,
            "post_logout_redirect_uri": uri,
            "state": state,
            "sid": hint_claims.get("sid") if hint_claims else None,
        }

    def _our_id_token(self, token: str, session: Session) -> dict[str, Any] | None:
        """Claims of an ID token we signed (expired ones too: OIDC RP-Initiated Logout §2)."""
        try:
            header = parse_header(token, SIGNING_ALGS, typ=("JWT",))
            key = self.keys.find(within(session), str(header.get("kid")))
            if key is None or key.alg != header["alg"]:
                return None
            claims = parse_json_object(verify_compact(token, key.key, key.alg), "claims")
        except Exception:
            return None
        return claims if claims.get("iss") == self.issuer else None

    def logout(self, session: Session, cookie: str | None, request: Mapping[str, Any]) -> str | None:
        """End the session and revoke its grants; the post-logout redirect URL (with state), if any."""
        ps = self.sessions.end(session, cookie)
        if ps is not None:
            self.revoke_session_grants(session, ps.sid, actor=f"account:{ps.account_id}")
            self.journal.append(
                session,
                actor=f"account:{ps.account_id}",
                action="identity.logout",
                target=ps.account_id,
                data={"sid": ps.sid, "client": request.get("client_id")},
            )
        return self.logout_redirect(request) if request.get("post_logout_redirect_uri") else None

    @staticmethod
    def logout_redirect(request: Mapping[str, Any]) -> str:
        return _with_params(str(request["post_logout_redirect_uri"]), {"state": request.get("state")})

    # -- discovery -----------------------------------------------------------------------------

    def metadata(self, extra_scopes: frozenset[str] = frozenset()) -> dict[str, Any]:
        i = self.issuer
        return {
            "issuer": i,
            "authorization_endpoint": f"{i}/oauth2/authorize",
            "token_endpoint": f"{i}/oauth2/token",
            "userinfo_endpoint": f"{i}/oauth2/userinfo",
            "jwks_uri": f"{i}/oauth2/jwks",
            "introspection_endpoint": f"{i}/oauth2/introspect",
            "revocation_endpoint": f"{i}/oauth2/revoke",
            "end_session_endpoint": f"{i}/oauth2/logout",
            "scopes_supported": sorted(_CLIENT_SCOPES_FOR_USERS | extra_scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "userinfo_signing_alg_values_supported": [],
            "access_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "token_endpoint_auth_methods_supported": [m.value for m in AuthMethod],
            "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
            "introspection_endpoint_auth_methods_supported": [m.value for m in AuthMethod if m is not AuthMethod.NONE],
            "revocation_endpoint_auth_methods_supported": [m.value for m in AuthMethod],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [lv.value for lv in Level],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "azp",
                "at_hash",
                "sid",
                "name",
                "id_number_masked",
                "id_number",
                "id_number_verified",
                "phone_number",
                "phone_number_verified",
                "entity",
                "entities",
            ],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "frontchannel_logout_supported": False,
            "backchannel_logout_supported": False,
            "prompt_values_supported": sorted(PROMPTS),
            "ui_locales_supported": ["zh-CN", "en"],
            "ywt_sm2_jose_profile": (
                "alg SM2: GB/T 32918.2 SM2 signature with SM3 and the default user ID 1234567812345678 over the "
                "JWS signing input; signature r||s (2x32 bytes); JWK kty EC, crv SM2, x/y 32 bytes; at_hash uses SM3"
            ),
        }
