"""Inspect a token for a third party (``verify/``): is it one of ours, or the national IdP's, and
is it valid now? Returns a report, never raises for a bad token (DESIGN.md, "Verification").

Our access tokens (``typ`` ``at+jwt``) go through the same verifier as bearer tokens (signature,
issuer, audience, times, revocation); our ID tokens are checked for signature, issuer, times and
whether their session's grants were revoked is not knowable, so they are reported as "signature
and lifetime valid". Tokens of the trusted national IdP are checked with its JWKS (signature,
issuer, times; the audience is the relying party's business). Personal numbers in the returned
claims are masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import clock
from identity.errors import IdentityError, InvalidToken
from identity.federation import ALLOWED_ALGS, Federation
from identity.jose import SIGNING_ALGS, verify_compact
from identity.jwt import JwtRejected, check_times, parse_header, parse_json_object, verify_jws
from identity.numbers import mask_id_number, mask_phone
from identity.signing import TokenKeys
from identity.tokens import AT_TYP, AccessTokens, unverified_claims

__all__ = ["TokenReport", "inspect_token"]


@dataclass(frozen=True)
class TokenReport:
    valid: bool
    issuer: str | None
    kind: str  # access_token | id_token | unknown
    reason: str | None = None
    alg: str | None = None
    kid: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


def _masked(claims: dict[str, Any]) -> dict[str, Any]:
    out = dict(claims)
    if isinstance(out.get("id_number"), str):
        out["id_number"] = mask_id_number(out["id_number"])
    if isinstance(out.get("phone_number"), str):
        out["phone_number"] = mask_phone(out["phone_number"].removeprefix("+86"))
    return out


def inspect_token(
    token: str,
    *,
    issuer: str,
    keys: TokenKeys,
    access_tokens: AccessTokens,
    session_factory: Callable[[], Any],
    federation: Federation | None,
) -> TokenReport:
    raw = unverified_claims(token) if isinstance(token, str) and token.count(".") == 2 else None
    claimed_issuer = raw.get("iss") if raw else None
    try:
        header = parse_header(token, (*SIGNING_ALGS, *ALLOWED_ALGS))
    except JwtRejected as exc:
        return TokenReport(False, claimed_issuer if isinstance(claimed_issuer, str) else None, "unknown", exc.reason)
    alg, kid = header["alg"], header.get("kid")
    if claimed_issuer == issuer:
        typ = str(header.get("typ", "")).lower().removeprefix("application/")
        if typ == AT_TYP:
            try:
                verified = access_tokens.verify(token)
            except InvalidToken as exc:
                return TokenReport(False, issuer, "access_token", exc.reason, alg, kid)
            return TokenReport(True, issuer, "access_token", None, alg, kid, _masked(verified.claims))
        try:
            key = keys.find(session_factory, str(kid))
            if key is None or key.alg != alg:
                raise JwtRejected("unknown_key", "no published key has this kid")
            try:
                claims = parse_json_object(verify_compact(token, key.key, key.alg), "claims")
            except JwtRejected:
                raise
            except Exception:
                raise JwtRejected("bad_signature", "the signature does not verify") from None
            check_times(claims, clock.now())
        except JwtRejected as exc:
            return TokenReport(False, issuer, "id_token", exc.reason, alg, kid)
        return TokenReport(True, issuer, "id_token", None, alg, kid, _masked(claims))
    if federation is not None and claimed_issuer == federation.config.issuer:
        try:
            keys_list = federation.key_list(force=False)
            try:
                payload = verify_jws(token, keys_list, ALLOWED_ALGS)
            except JwtRejected as exc:
                if exc.reason != "unknown_key":
                    raise
                payload = verify_jws(token, federation.key_list(force=True), ALLOWED_ALGS)
            claims = parse_json_object(payload, "claims")
            check_times(claims, clock.now())
        except JwtRejected as exc:
            return TokenReport(False, claimed_issuer, "id_token", exc.reason, alg, kid)
        except IdentityError:
            return TokenReport(False, claimed_issuer, "id_token", "issuer_unreachable", alg, kid)
        return TokenReport(True, claimed_issuer, "id_token", None, alg, kid, _masked(claims))
    return TokenReport(
        False, claimed_issuer if isinstance(claimed_issuer, str) else None, "unknown", "untrusted_issuer", alg, kid
    )
