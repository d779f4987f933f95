"""Access tokens as JWTs (RFC 9068) and their verification for our own API.

Issued tokens: header ``{"alg", "kid", "typ": "at+jwt"}``; claims ``iss``, ``sub``, ``aud`` (the
API base URL, our resource server), ``client_id``, ``iat``, ``nbf``, ``exp``, ``jti``, ``scope``
and, where they apply, ``acr``, ``amr``, ``auth_time``, ``roles`` (operator roles),
``entity_uscc`` (the legal entity the client or agent acts for), ``gid`` (the grant — a refresh
token family — the token came from, so revoking the grant revokes its access tokens) and
``ywt_kind`` (``client`` / ``user`` / ``operator``). For a person ``sub`` is the subject the
client knows (public or pairwise), never an internal id (RFC 9068 §6).

Verification (:meth:`AccessTokens.verify`, behind ``services.token_verifier``): size and form,
``typ`` ``at+jwt`` (RFC 9068 §4: an ID token is refused), ``alg`` in the allow-list *and* equal
to the algorithm of the key named by ``kid`` (so neither ``none`` nor HS256-with-our-public-key
nor a key confusion can pass), signature (joserfc), ``iss``, ``aud``, ``exp`` / ``nbf`` / ``iat``
with 30 s leeway, required claims, and revocation of the ``jti`` or the grant.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import clock
from identity.errors import InvalidToken
from identity.jose import SIGNING_ALGS, b64url_decode, sign_compact, verify_compact
from identity.jwt import JwtRejected, check_audience, check_times, parse_header, parse_json_object
from identity.models import RevokedToken
from identity.signing import TokenKeys

__all__ = ["AT_TYP", "AccessTokenClaims", "AccessTokens", "IssuedToken"]

AT_TYP: Final = "at+jwt"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    kid: str
    alg: str
    issued_at: datetime
    expires_at: datetime

    @property
    def expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())


@dataclass(frozen=True)
class AccessTokenClaims:
    """A verified access token, as the API layer turns it into an ``api.auth.Principal``."""

    subject: str
    kind: str  # client | user | operator
    client_id: str
    scopes: frozenset[str]
    roles: frozenset[str]
    entity_uscc: str | None
    acr: str | None
    token_id: str
    grant_id: str | None
    expires_at: datetime
    #: for person tokens: our account id behind the (public or pairwise) ``sub``
    account_id: str | None
    claims: dict[str, Any]


def within(session: Session) -> Callable[[], Any]:
    """A session factory that hands out the caller's open session (for code already in a transaction)."""
    return lambda: contextlib.nullcontext(session)


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


class AccessTokens:
    def __init__(self, keys: TokenKeys, session_factory: Callable[[], Any], issuer: str, audience: str) -> None:
        self._keys = keys
        self._session_factory = session_factory
        self.issuer = issuer
        self.audience = audience

    def issue(
        self,
        *,
        alg: str,
        client_id: str,
        subject: str,
        kind: str,
        scopes: Iterable[str],
        ttl: int,
        roles: Iterable[str] = (),
        entity_uscc: str | None = None,
        acr: str | None = None,
        amr: Iterable[str] | None = None,
        auth_time: datetime | None = None,
        grant_id: str | None = None,
        session: Session | None = None,
    ) -> IssuedToken:
        """Sign a new access token. Inside a transaction pass its ``session`` (never open a second
        session in the same thread: SQLite's writer lock would wait on itself)."""
        kid, signer = self._keys.signer(within(session) if session is not None else self._session_factory, alg)
        now = clock.now().replace(microsecond=0)
        exp = now + timedelta(seconds=ttl)
        jti = secrets.token_urlsafe(24)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "client_id": client_id,
            "iat": _ts(now),
            "nbf": _ts(now),
            "exp": _ts(exp),
            "jti": jti,
            "scope": " ".join(sorted(scopes)),
            "ywt_kind": kind,
        }
        if roles:
            claims["roles"] = sorted(roles)
        if entity_uscc:
            claims["entity_uscc"] = entity_uscc
        if acr:
            claims["acr"] = acr
        if amr:
            claims["amr"] = list(amr)
        if auth_time is not None:
            claims["auth_time"] = _ts(auth_time)
        if grant_id:
            claims["gid"] = grant_id

        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        token = sign_compact(signer, {"typ": AT_TYP, "kid": kid}, payload)
        return IssuedToken(token, jti, kid, alg, now, exp)

    # -- verification ----------------------------------------------------------------------------

    def decode(self, token: str) -> dict[str, Any]:
        """Signature, issuer, audience and times; raises :class:`InvalidToken` with a reason."""
        try:
            header = parse_header(token, SIGNING_ALGS, typ=(AT_TYP,))
            kid = header.get("kid")
            if kid is None:
                raise JwtRejected("unknown_key", "kid missing")
            key = self._keys.find(self._session_factory, kid)
            if key is None:
                raise JwtRejected("unknown_key", "no published key has this kid")
            if key.alg != header["alg"]:
                raise JwtRejected("alg_mismatch", "alg does not match the key")
            try:
                payload = verify_compact(token, key.key, key.alg)
            except Exception:
                raise JwtRejected("bad_signature", "signature does not verify") from None
            claims = parse_json_object(payload, "claims")
            if claims.get("iss") != self.issuer:
                raise JwtRejected("wrong_issuer", "issued by someone else")
            check_audience(claims, [self.audience])
            check_times(claims, clock.now())
            for name in ("sub", "client_id", "jti", "scope"):
                if not isinstance(claims.get(name), str):
                    raise JwtRejected("missing_claim", f"{name} missing")
        except JwtRejected as exc:
            raise InvalidToken(exc.reason, str(exc)) from None
        return claims

    def verify(self, token: str) -> AccessTokenClaims:
        claims = self.decode(token)
        ids = [claims["jti"]] + ([claims["gid"]] if isinstance(claims.get("gid"), str) else [])
        with self._session_factory() as session:
            if self.revoked(session, ids):
                raise InvalidToken("revoked", "the token has been revoked")
        return _claims(claims)

    @staticmethod
    def revoked(session: Session, ids: list[str]) -> bool:
        row = session.exec(select(RevokedToken.token_id).where(col(RevokedToken.token_id).in_(ids))).first()
        return row is not None

    @staticmethod
    def revoke(session: Session, token_id: str, kind: str, expires_at: datetime, reason: str) -> None:
        """Deny-list a ``jti`` or a grant id until ``expires_at`` (idempotent)."""
        now = clock.now()
        session.execute(sa.delete(RevokedToken).where(col(RevokedToken.expires_at) < now))
        if session.get(RevokedToken, token_id) is None:
            session.add(
                RevokedToken(token_id=token_id, kind=kind, revoked_at=now, expires_at=expires_at, reason=reason)
            )
            session.flush()


def _claims(c: dict[str, Any]) -> AccessTokenClaims:
    from datetime import UTC

    roles = c.get("roles") if isinstance(c.get("roles"), list) else []
    kind = c.get("ywt_kind") if c.get("ywt_kind") in ("client", "user", "operator") else "client"
    return AccessTokenClaims(
        subject=str(c["sub"]),
        kind=str(kind),
        client_id=str(c["client_id"]),
        scopes=frozenset(c["scope"].split()),
        roles=frozenset(str(r) for r in roles or []),
        entity_uscc=c.get("entity_uscc") if isinstance(c.get("entity_uscc"), str) else None,
        acr=c.get("acr") if isinstance(c.get("acr"), str) else None,
        token_id=str(c["jti"]),
        grant_id=c.get("gid") if isinstance(c.get("gid"), str) else None,
        expires_at=datetime.fromtimestamp(c["exp"], UTC),
        account_id=None,
        claims=c,
    )


def unverified_claims(token: str) -> dict[str, Any] | None:
    """Claims of a compact JWS without checking anything (for revocation of our own tokens whose
    signature is checked separately)."""
    try:
        return parse_json_object(b64url_decode(token.split(".")[1]), "claims")
    except (JwtRejected, ValueError, IndexError):
        return None
