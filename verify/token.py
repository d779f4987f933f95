"""Tokens (JWS / JWT): ours (our OIDC provider's ID and access tokens) and those of the
external identity providers on the trust list (the national IdP), for relying parties that
want a second opinion or cannot run a JOSE stack.

Checks, in order: the protected header (RFC 7515 §4; no ``jku``/``x5u``/``jwk``/``crit`` —
a token cannot bring its own key), the issuer on the trust list, the key by ``kid`` from the
issuer's JWKS (RFC 7517) and the algorithm fixed by that key (no alg confusion), the signature,
``exp``/``nbf``/``iat`` (RFC 7519 §4.1), the audience when the caller names one, and, for our
own tokens, the deny list (revoked ``jti`` / grant). Only standard claims are echoed back.

A token that is not even a compact JWS (wrong number of parts, not base64url, not JSON) is
bad input (400); every other defect is a verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from joserfc.errors import JoseError

from identity.jose import import_jwk, verify_compact
from identity.jwt import JwtRejected, check_audience, check_times, parse_header, parse_json_object
from keys import KeyFormatError
from verify import report as r
from verify.errors import BadToken
from verify.report import Check, DocumentReport, Sub
from verify.trust import TrustList

SIGNING_ALGS = frozenset({"RS256", "PS256", "ES256", "SM2"})
_EVERY_ALG = SIGNING_ALGS | {"none", "HS256", "HS384", "HS512", "RS384", "RS512", "ES384", "ES512", "EdDSA", "PS384"}
ECHOED = ("iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "acr", "amr", "azp", "client_id", "scope", "jti")

JwksSource = Callable[[str], dict[str, Any] | None]
RevokedCheck = Callable[[list[str]], bool]


def _report(token: str, at: datetime, checks: list[Check], details: dict[str, Any]) -> DocumentReport:
    return DocumentReport(
        "token", hashlib.sha256(token.encode()).hexdigest(), len(token), at, tuple(checks), details=details
    )


def verify_token(
    token: str,
    *,
    trust: TrustList,
    our_issuer: str,
    our_jwks: dict[str, Any] | None,
    at: datetime,
    audience: str | None = None,
    revoked: RevokedCheck | None = None,
    fetch_jwks: JwksSource | None = None,
) -> DocumentReport:
    if not isinstance(token, str) or not token.strip():
        raise BadToken("the token is empty")
    token = token.strip()
    try:
        header = parse_header(token, _EVERY_ALG)
        claims = parse_json_object(_payload(token), "claims")
    except JwtRejected as exc:
        if exc.reason in ("malformed", "alg_not_allowed"):
            raise BadToken(f"not a compact JWS: {exc}", reason=exc.reason) from None
        return _report(
            token,
            at,
            [r.failed("header", Sub.FORMAT_FAILURE, f"the header is refused: {exc}", "令牌头部含有不被接受的字段")],
            {},
        )
    alg = str(header["alg"])
    details: dict[str, Any] = {"alg": alg, "kid": header.get("kid"), "typ": header.get("typ")}
    details["claims"] = {k: claims[k] for k in ECHOED if k in claims}
    checks: list[Check] = []
    if alg not in SIGNING_ALGS:
        checks.append(
            r.failed(
                "signature",
                Sub.SIG_CRYPTO_FAILURE,
                f"alg {alg} is not accepted (unsigned, symmetric or unknown)",
                "令牌未签名或使用了不被接受的算法",
            )
        )
        return _report(token, at, checks, details)
    iss = claims.get("iss")
    if not isinstance(iss, str):
        checks.append(r.failed("issuer", Sub.FORMAT_FAILURE, "the token names no issuer (iss)", "令牌未注明签发者"))
        return _report(token, at, checks, details)
    ours = iss == our_issuer
    idp = None if ours else trust.idp(iss)
    if not ours and idp is None:
        checks.append(
            r.indeterminate(
                "issuer",
                Sub.NO_CERTIFICATE_CHAIN_FOUND,
                f"the issuer {iss[:100]} is not on the trust list",
                "令牌签发者不在信任列表中",
            )
        )
        return _report(token, at, checks, details)
    details["issuer"] = "ours" if ours else (idp.name if idp else iss)
    checks.append(
        r.passed("issuer", f"issued by {'this platform' if ours else idp.name if idp else iss}", "签发者可信")
    )
    jwks = (
        our_jwks
        if ours
        else (
            idp.jwks
            if idp and idp.jwks
            else (fetch_jwks(idp.jwks_uri) if idp and idp.jwks_uri and fetch_jwks else None)
        )
    )
    if not jwks or not isinstance(jwks.get("keys"), list):
        checks.append(
            r.indeterminate(
                "signature", Sub.TRY_LATER, "the issuer's keys (JWKS) are not available", "暂时无法取得签发者公钥"
            )
        )
        return _report(token, at, checks, details)
    checks.append(_signature(token, header, jwks))
    if checks[-1].status is r.Status.FAILED:
        return _report(token, at, checks, details)
    checks.append(_times(claims, at))
    if audience is not None:
        try:
            check_audience(claims, [audience])
            checks.append(r.passed("audience", f"meant for {audience}", "令牌受众正确"))
        except JwtRejected:
            checks.append(
                r.indeterminate(
                    "audience",
                    Sub.SIG_CONSTRAINTS_FAILURE,
                    f"the token is not meant for {audience}",
                    "令牌不是签发给该受众的",
                )
            )
    if ours and revoked is not None:
        ids = [v for v in (claims.get("jti"), claims.get("gid")) if isinstance(v, str)]
        if ids and revoked(ids):
            checks.append(r.failed("revocation", Sub.REVOKED, "the token has been revoked", "令牌已被撤销"))
        else:
            checks.append(r.passed("revocation", "not revoked", "令牌未被撤销"))
    return _report(token, at, checks, details)


def _payload(token: str) -> bytes:
    from identity.jose import b64url_decode

    try:
        return b64url_decode(token.split(".")[1])
    except (ValueError, IndexError):
        raise JwtRejected("malformed", "payload is not base64url") from None


def _signature(token: str, header: dict[str, Any], jwks: dict[str, Any]) -> Check:
    alg = str(header["alg"])
    kid = header.get("kid")
    candidates = [k for k in jwks["keys"] if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    if not candidates:
        return r.failed("signature", Sub.SIG_CRYPTO_FAILURE, "no key of the issuer has this kid", "签发者没有该密钥")
    for jwk in candidates:
        if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
            continue  # RFC 7517 §4.4: the key fixes its algorithm — no alg confusion
        if alg == "SM2" and jwk.get("crv") != "SM2":
            continue
        try:
            key = import_jwk(jwk)
            verify_compact(token, key, alg)
        except (KeyFormatError, ValueError, TypeError, JoseError):
            continue  # not this key (or the signature does not verify with it)
        return r.passed(
            "signature", f"{alg} signature verifies with key {str(jwk.get('kid', ''))[:24]}", "令牌签名有效"
        )
    return r.failed(
        "signature",
        Sub.SIG_CRYPTO_FAILURE,
        "the signature does not verify with the issuer's keys",
        "令牌签名无效：被篡改或伪造",
    )


def _times(claims: dict[str, Any], at: datetime) -> Check:
    try:
        exp = check_times(claims, at.astimezone(UTC))
    except JwtRejected as exc:
        if exc.reason == "expired":
            return r.failed("validity", Sub.EXPIRED, "the token has expired", "令牌已过期")
        if exc.reason == "not_yet_valid":
            return r.indeterminate("validity", Sub.NOT_YET_VALID, str(exc), "令牌尚未生效")
        return r.failed("validity", Sub.FORMAT_FAILURE, str(exc), "令牌时间声明无效")
    return r.passed("validity", f"valid until {exp.isoformat()}", "令牌在有效期内")
