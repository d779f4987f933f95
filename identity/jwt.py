"""Strict JWT parsing and claim checks shared by every token we accept (RFC 7519, RFC 8725).

Signature checking is :func:`identity.jose.verify_compact`'s job; this module refuses everything
that should never reach it or pass after it: oversize tokens, JWS JSON or JWE forms, non-canonical
base64url, duplicate JSON members, headers we do not understand (``crit``), keys embedded in the
header (``jwk``, ``jku``, ``x5u``, ``x5c``: RFC 8725 §3.10 — the key comes from our own registry,
never from the token), algorithms outside the caller's allow-list, and claims out of time or
meant for someone else.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from identity.jose import b64url_decode

__all__ = [
    "LEEWAY",
    "MAX_TOKEN_BYTES",
    "JwtRejected",
    "check_audience",
    "check_times",
    "parse_header",
    "parse_json_object",
]

#: Upper bound on a token we parse at all (ours are < 2 KiB).
MAX_TOKEN_BYTES: Final = 8192
#: Clock skew tolerated on exp / nbf / iat (RFC 7519 §4.1.4 "some small leeway").
LEEWAY: Final = timedelta(seconds=30)
_FORBIDDEN_HEADERS: Final = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc"})
_ALLOWED_HEADERS: Final = frozenset({"alg", "kid", "typ", "cty", "x5t", "x5t#S256"})


class JwtRejected(ValueError):
    """A token failed a check; ``reason`` is a short stable slug (``expired``, ``bad_signature``...)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(detail or reason)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise JwtRejected("malformed", f"duplicate member {k[:20]!r}")
        out[k] = v
    return out


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """UTF-8 JSON object with unique member names (RFC 7515 §5.2 step 4, RFC 7519 §7.2 step 10)."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except JwtRejected:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise JwtRejected("malformed", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise JwtRejected("malformed", f"{what} is not a JSON object")
    return value


def parse_header(token: str, allowed_algs: Collection[str], *, typ: Collection[str] | None = None) -> dict[str, Any]:
    """Decode and check the protected header of a compact JWS before any key is looked up."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise JwtRejected("malformed", "token missing or too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtRejected("malformed", "not a compact JWS (3 parts)")
    try:
        raw_header = b64url_decode(parts[0])
        b64url_decode(parts[1])
        b64url_decode(parts[2])
    except ValueError:
        raise JwtRejected("malformed", "not base64url") from None
    header = parse_json_object(raw_header, "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwtRejected("malformed", "alg missing")
    if alg not in allowed_algs:
        raise JwtRejected("alg_not_allowed", f"alg {alg[:20]!r} is not allowed")
    if _FORBIDDEN_HEADERS & header.keys():
        raise JwtRejected("header_not_allowed", "header carries a member we do not accept")
    unknown = header.keys() - _ALLOWED_HEADERS
    if unknown:
        raise JwtRejected("header_not_allowed", "header carries an unknown member")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 128):
        raise JwtRejected("malformed", "kid is not a short string")
    if typ is not None:
        got = header.get("typ")
        if not isinstance(got, str) or got.lower().removeprefix("application/") not in {t.lower() for t in typ}:
            raise JwtRejected("wrong_type", "wrong token type (typ)")
    return header


def _numeric_date(claims: Mapping[str, Any], name: str, required: bool) -> datetime | None:
    from datetime import UTC

    value = claims.get(name)
    if value is None:
        if required:
            raise JwtRejected("missing_claim", f"{name} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtRejected("malformed", f"{name} is not a NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise JwtRejected("malformed", f"{name} is out of range") from None


def check_times(
    claims: Mapping[str, Any], now: datetime, *, max_lifetime: timedelta | None = None, leeway: timedelta = LEEWAY
) -> datetime:
    """``exp`` required and in the future, ``nbf`` / ``iat`` not in the future (RFC 7519 §4.1.4-6).

    ``max_lifetime`` also refuses tokens whose ``exp`` is further away than that (client assertions).
    Returns ``exp``.
    """
    exp = _numeric_date(claims, "exp", True)
    assert exp is not None
    if exp <= now - leeway:
        raise JwtRejected("expired", "the token has expired")
    nbf = _numeric_date(claims, "nbf", False)
    if nbf is not None and nbf > now + leeway:
        raise JwtRejected("not_yet_valid", "the token is not valid yet (nbf)")
    iat = _numeric_date(claims, "iat", False)
    if iat is not None and iat > now + leeway:
        raise JwtRejected("not_yet_valid", "the token was issued in the future (iat)")
    if max_lifetime is not None and exp > now + max_lifetime + leeway:
        raise JwtRejected("lifetime_too_long", "the token lives too long")
    return exp


def check_audience(claims: Mapping[str, Any], accepted: Collection[str]) -> None:
    """``aud`` (a string or a list of strings) must name one of ``accepted`` (RFC 7519 §4.1.3)."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(a, str) for a in values):
        raise JwtRejected("wrong_audience", "aud missing or malformed")
    if not set(values) & set(accepted):
        raise JwtRejected("wrong_audience", "the token is meant for another audience")


def verify_jws(token: str, keys: list[dict[str, Any]], allowed_algs: Collection[str]) -> bytes:
    """Verify a compact JWS from an external issuer against its public JWKs; returns the payload.

    The same steps as for every token we accept: strict header (:func:`parse_header`), the key
    chosen by ``kid`` (or the only key) and refused unless its own ``alg`` / ``use`` allow this
    use, a symmetric or private JWK never accepted, then the signature through joserfc.
    """
    from identity.jose import import_jwk, verify_compact

    header = parse_header(token, allowed_algs)
    kid = header.get("kid")
    candidates = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    candidates = [k for k in candidates if k.get("alg") in (None, header["alg"]) and k.get("use") in (None, "sig")]
    if not candidates or (kid is None and len(candidates) != 1):
        raise JwtRejected("unknown_key", "no usable key for this token")
    for jwk in candidates:
        try:
            return verify_compact(token, import_jwk(jwk), header["alg"])
        except Exception:  # noqa: S112 - wrong key type for the alg or bad signature: try the next candidate
            continue
    raise JwtRejected("bad_signature", "the signature does not verify")
