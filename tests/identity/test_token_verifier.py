"""The bearer-token verifier behind ``services.token_verifier``: crafted attacks, rotation, revocation,
and independent peers (python-jose for RS256, joserfc for ES256, gmssl for SM2).

Attack classes covered with crafted tokens (each must give 401 ``invalid-token`` with a reason):
``alg: none`` (with and without a signature), HS256 signed with our RSA public key (PEM and
DER), an algorithm we never use (PS256, ES384), a header ``alg`` that differs from the ``kid``'s key
(key/alg confusion), unknown and missing ``kid``, a key embedded in the header (``jwk``, ``jku``,
``x5c``), ``crit``, expired / not-yet-valid (``nbf``, ``iat`` in the future), wrong ``iss``, wrong /
missing ``aud``, an ID token presented as access token (``typ``), tampered payload and header,
signature of another token, truncated / empty / oversized signature, DER instead of ``r||s``,
SM2/ECDSA ``r`` or ``s`` zero or >= n, non-canonical base64url, duplicate JSON members, JWS JSON
serialization, too many segments, oversize tokens, missing ``jti`` / ``exp`` / ``sub``, revoked
``jti`` and revoked grant, a retired key after its publication window, a revoked key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.container import Services
from core import clock
from identity.errors import InvalidToken
from identity.jose import der_to_raw, raw_to_der
from identity.signing import KEY_RETENTION
from keys import Family, SignatureScheme
from tests.identity.oauth_helpers import b64e, client_token, jwt_parts, machine_client, problem

SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _enc(obj: Any) -> str:
    return b64e(json.dumps(obj, separators=(",", ":")).encode())


class Forge:
    """Signs arbitrary headers and claims with our real token-signing keys (through keys/)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.base = services.settings.base_url

    def signer(self, alg: str) -> tuple[str, Any]:
        return self.services.identity.keys.signer(self.services.db.session, alg)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(clock.now().timestamp())
        c: dict[str, Any] = {
            "iss": self.base,
            "sub": "forged",
            "aud": self.base,
            "client_id": "forged",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": "j-" + str(now),
            "scope": "seal:sign",
            "ywt_kind": "client",
        }
        c.update(changes)
        return {k: v for k, v in c.items() if v is not None}

    def token(
        self, alg: str = "RS256", header: dict[str, Any] | None = None, payload: bytes | None = None, **claims: Any
    ) -> str:
        kid, signer = self.signer(alg)
        h = {"alg": alg, "typ": "at+jwt", "kid": kid, **(header or {})}
        h = {k: v for k, v in h.items() if v is not None}
        body = payload if payload is not None else json.dumps(self.claims(**claims)).encode()
        signing_input = _enc(h) + "." + b64e(body)
        scheme = {
            "RS256": SignatureScheme.RSA_PKCS1_SHA256,
            "ES256": SignatureScheme.ECDSA_SHA256,
            "SM2": SignatureScheme.SM2_SM3,
        }[alg]
        sig = signer.sign(signing_input.encode(), scheme)
        if alg != "RS256":
            sig = der_to_raw(sig)
        return signing_input + "." + b64e(sig)


@pytest.fixture
def forge(services: Services) -> Forge:
    return Forge(services)


def _reason(services: Services, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        services.token_verifier(token)
    return info.value.reason


def test_forged_but_correct_token_is_accepted(services: Services, forge: Forge) -> None:
    """The forge itself is sound: the same construction with honest values passes."""
    for alg in ("RS256", "ES256", "SM2"):
        assert services.token_verifier(forge.token(alg)).subject == "forged"


def _rsa_public_pem(services: Services) -> tuple[bytes, bytes, str]:
    from cryptography.hazmat.primitives import serialization

    kid, signer = services.identity.keys.signer(services.db.session, "RS256")
    der = signer.public_key_der
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, der, kid


CASES: dict[str, tuple[Callable[[Forge], str], str]] = {
    "alg-none-empty-sig": (
        lambda f: _enc({"alg": "none", "typ": "at+jwt", "kid": f.signer("RS256")[0]}) + "." + _enc(f.claims()) + ".",
        "alg_not_allowed",
    ),
    "alg-None-capitalised": (
        lambda f: _enc({"alg": "None", "typ": "at+jwt"}) + "." + _enc(f.claims()) + ".",
        "alg_not_allowed",
    ),
    "alg-none-with-sig": (lambda f: ".".join(f.token("RS256", header={"alg": "none"}).split(".")), "alg_not_allowed"),
    "ps256": (lambda f: f.token("RS256", header={"alg": "PS256"}), "alg_not_allowed"),
    "es384": (lambda f: f.token("ES256", header={"alg": "ES384"}), "alg_not_allowed"),
    "alg-kid-confusion-rs-as-es": (lambda f: f.token("RS256", header={"alg": "ES256"}), "alg_mismatch"),
    "alg-kid-confusion-sm2-key-es256": (lambda f: f.token("SM2", header={"alg": "ES256"}), "alg_mismatch"),
    "alg-kid-confusion-es-key-sm2": (lambda f: f.token("ES256", header={"alg": "SM2"}), "alg_mismatch"),
    "unknown-kid": (lambda f: f.token("RS256", header={"kid": "0" * 64}), "unknown_key"),
    "missing-kid": (lambda f: f.token("RS256", header={"kid": None}), "unknown_key"),
    "kid-not-string": (lambda f: f.token("RS256", header={"kid": 5}), "malformed"),
    "embedded-jwk": (lambda f: f.token("RS256", header={"jwk": {"kty": "oct", "k": "AAAA"}}), "header_not_allowed"),
    "jku": (lambda f: f.token("RS256", header={"jku": "https://evil.example/jwks"}), "header_not_allowed"),
    "x5c": (lambda f: f.token("RS256", header={"x5c": ["MII="]}), "header_not_allowed"),
    "crit": (lambda f: f.token("RS256", header={"crit": ["exp"], "exp": 1}), "header_not_allowed"),
    "unknown-header": (lambda f: f.token("RS256", header={"foo": 1}), "header_not_allowed"),
    "expired": (lambda f: f.token(exp=int(clock.now().timestamp()) - 120), "expired"),
    "exp-missing": (lambda f: f.token(exp=None), "missing_claim"),
    "exp-string": (lambda f: f.token(exp="9999999999"), "malformed"),
    "exp-bool": (lambda f: f.token(exp=True), "malformed"),
    "exp-huge": (lambda f: f.token(exp=10**30), "malformed"),
    "nbf-future": (lambda f: f.token(nbf=int(clock.now().timestamp()) + 3600), "not_yet_valid"),
    "iat-future": (lambda f: f.token(iat=int(clock.now().timestamp()) + 3600), "not_yet_valid"),
    "wrong-iss": (lambda f: f.token(iss="https://idp.other.gov.cn"), "wrong_issuer"),
    "iss-trailing-slash": (lambda f: f.token(iss=f.base + "/"), "wrong_issuer"),
    "wrong-aud": (lambda f: f.token(aud="demo-rp"), "wrong_audience"),
    "aud-missing": (lambda f: f.token(aud=None), "wrong_audience"),
    "aud-list-other": (lambda f: f.token(aud=["a", "b"]), "wrong_audience"),
    "aud-number": (lambda f: f.token(aud=5), "wrong_audience"),
    "id-token-typ": (lambda f: f.token(header={"typ": "JWT"}), "wrong_type"),
    "typ-missing": (lambda f: f.token(header={"typ": None}), "wrong_type"),
    "jti-missing": (lambda f: f.token(jti=None), "missing_claim"),
    "sub-missing": (lambda f: f.token(sub=None), "missing_claim"),
    "scope-not-string": (lambda f: f.token(scope=["seal:sign"]), "missing_claim"),
    "tampered-payload": (
        lambda f: _swap_payload(f.token(), {"scope": "seal:sign license:issue seal:manage"}),
        "bad_signature",
    ),
    "tampered-header-kid-other-family-same-alg": (
        lambda f: _rekid(f.token("ES256"), f.signer("SM2")[0], "SM2"),
        "bad_signature",
    ),
    "signature-of-other-token": (lambda f: _graft(f.token(sub="a"), f.token(sub="b")), "bad_signature"),
    "signature-empty": (lambda f: f.token().rsplit(".", 1)[0] + ".", "bad_signature"),
    "signature-truncated": (lambda f: _sig(f.token("ES256"), lambda s: s[:-1]), "bad_signature"),
    "signature-extended": (lambda f: _sig(f.token("SM2"), lambda s: s + b"\x00"), "bad_signature"),
    "signature-der-not-raw": (lambda f: _sig(f.token("ES256"), raw_to_der), "bad_signature"),
    "sm2-r-zero": (lambda f: _sig(f.token("SM2"), lambda s: b"\x00" * 32 + s[32:]), "bad_signature"),
    "sm2-s-plus-n": (
        lambda f: _sig(
            f.token("SM2"),
            lambda s: (
                s[:32] + (int.from_bytes(s[32:], "big") + SM2_N).to_bytes(32, "big")
                if int.from_bytes(s[32:], "big") + SM2_N < 2**256
                else s[:32] + b"\xff" * 32
            ),
        ),
        "bad_signature",
    ),
    "es256-s-zero": (lambda f: _sig(f.token("ES256"), lambda s: s[:32] + b"\x00" * 32), "bad_signature"),
    "es256-r-equals-n": (
        lambda f: _sig(f.token("ES256"), lambda s: P256_N.to_bytes(32, "big") + s[32:]),
        "bad_signature",
    ),
    "rsa-sig-zero": (lambda f: _sig(f.token(), lambda s: b"\x00" * len(s)), "bad_signature"),
    "non-canonical-b64-sig": (lambda f: _noncanonical(f.token("ES256")), "malformed"),
    "padded-b64": (lambda f: f.token() + "==", "malformed"),
    "std-b64-alphabet": (
        lambda f: (
            f.token().replace("-", "+").replace("_", "/") if ("-" in f.token() or "_" in f.token()) else "a+b.c.d"
        ),
        "malformed",
    ),
    "duplicate-claim": (
        lambda f: f.token(
            payload=b'{"iss":"x","iss":"'
            + f.base.encode()
            + b'","sub":"s","aud":"'
            + f.base.encode()
            + b'","client_id":"c","jti":"j","scope":"s","exp":9999999999}'
        ),
        "malformed",
    ),
    "duplicate-header-member": (lambda f: _dup_header(f), "malformed"),  # noqa: PLW0108 - defined below
    "payload-array": (lambda f: f.token(payload=b"[1,2]"), "malformed"),
    "payload-not-json": (lambda f: f.token(payload=b"\xff\xfe"), "malformed"),
    "json-serialization": (lambda f: json.dumps({"payload": "e30", "signatures": []}), "malformed"),
    "four-segments": (lambda f: f.token() + ".AAAA", "malformed"),
    "two-segments": (lambda f: f.token().rsplit(".", 1)[0], "malformed"),
    "oversize": (lambda f: f.token(pad="x" * 9000), "malformed"),
    "empty": (lambda f: "..", "malformed"),
}


def _swap_payload(token: str, changes: dict[str, Any]) -> str:
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims.update(changes)
    return ".".join([h, _enc(claims), s])


def _rekid(token: str, kid: str, alg: str) -> str:
    h, p, s = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
    header.update({"kid": kid, "alg": alg})
    return ".".join([_enc(header), p, s])


def _graft(a: str, b: str) -> str:
    return a.rsplit(".", 1)[0] + "." + b.rsplit(".", 1)[1]


def _sig(token: str, change: Callable[[bytes], bytes]) -> str:
    head, s = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    return head + "." + b64e(change(raw))


def _noncanonical(token: str) -> str:
    """64 bytes -> 86 base64url chars whose last one carries 4 unused bits: set one of them."""
    head, s = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(s[-1])
    return head + "." + s[:-1] + alphabet[last | 1 if last % 2 == 0 else last & ~1]


def _dup_header(f: Forge) -> str:
    kid, signer = f.signer("RS256")
    raw = ('{"alg":"RS256","typ":"at+jwt","kid":"' + kid + '","kid":"' + kid + '"}').encode()
    signing_input = b64e(raw) + "." + _enc(f.claims())
    return signing_input + "." + b64e(signer.sign(signing_input.encode()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_token_is_refused(services: Services, forge: Forge, case: str) -> None:
    make, reason = CASES[case]
    assert _reason(services, make(forge)) == reason


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_hs256_with_our_rsa_public_key_is_refused(services: Services, forge: Forge, encoding: str) -> None:
    pem, der, kid = _rsa_public_pem(services)
    secret = pem if encoding == "pem" else der
    signing_input = _enc({"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + _enc(forge.claims())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert _reason(services, signing_input + "." + b64e(mac)) == "alg_not_allowed"


def test_refusal_over_http_is_401_invalid_token(client: TestClient, services: Services, forge: Forge) -> None:
    ops_secret = machine_client(services, "ops", scopes=frozenset({"ops"}), roles=frozenset({"client_manager"}))
    token = client_token(client, "ops", ops_secret)
    assert client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    expired = forge.token(exp=int(clock.now().timestamp()) - 100, ywt_kind="operator", roles=["client_manager"])
    resp = client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {expired}"})
    body = problem(resp, 401, "invalid-token")
    assert body["reason"] == "expired"
    assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


# -- revocation, rotation ---------------------------------------------------------------------------------


def test_revoked_jti_and_grant(services: Services, forge: Forge) -> None:
    token = forge.token(jti="jti-1", gid="grant-1")
    assert services.token_verifier(token).token_id == "jti-1"
    with services.db.session() as s:
        services.identity.access_tokens.revoke(s, "grant-1", "grant", clock.now() + timedelta(hours=1), "test")
    assert _reason(services, token) == "revoked"
    other = forge.token(jti="jti-2")
    with services.db.session() as s:
        services.identity.access_tokens.revoke(s, "jti-2", "jti", clock.now() + timedelta(hours=1), "test")
    assert _reason(services, other) == "revoked"


def test_rotation_keeps_old_key_until_its_tokens_expire(client: TestClient, services: Services) -> None:
    start = clock.now()
    clock.set_global(start)
    try:
        old = client_token(client)
        old_kid = jwt_parts(old)[0]["kid"]
        with services.db.session() as s:
            new = services.identity.keys.rotate(s, Family.RSA, actor="test")
        jwks = {k["kid"] for k in client.get("/oauth2/jwks").json()["keys"]}
        assert {old_kid, new.kid} <= jwks and len(jwks) == 4
        fresh = client_token(client)
        assert jwt_parts(fresh)[0]["kid"] == new.kid
        assert services.token_verifier(old).token_id  # still valid: signed before rotation, not expired
        clock.advance(KEY_RETENTION + timedelta(seconds=1))
        jwks = {k["kid"] for k in client.get("/oauth2/jwks").json()["keys"]}
        assert old_kid not in jwks and new.kid in jwks and len(jwks) == 3
        assert _reason(services, old) in {"expired", "unknown_key"}
    finally:
        clock.set_global(None)


def test_revoked_signing_key_is_withdrawn_at_once(client: TestClient, services: Services, forge: Forge) -> None:
    token = forge.token("SM2")
    kid = jwt_parts(token)[0]["kid"]
    with services.db.session() as s:
        info = services.identity.keys.revoke(s, kid, actor="test")
        assert services.ca.get_certificate(s, info.cert_serial).status == "revoked"
    assert kid not in {k["kid"] for k in client.get("/oauth2/jwks").json()["keys"]}
    assert _reason(services, token) == "unknown_key"
    assert services.token_verifier(forge.token("SM2")).subject == "forged"  # a new SM2 key took over


# -- independent peers --------------------------------------------------------------------------------------


def test_python_jose_verifies_rs256_access_token(client: TestClient, services: Services) -> None:
    from jose import jwt as jose_jwt

    token = client_token(client)
    jwk = next(k for k in client.get("/oauth2/jwks").json()["keys"] if k["kid"] == jwt_parts(token)[0]["kid"])
    claims = jose_jwt.decode(
        token, jwk, algorithms=["RS256"], audience=services.settings.base_url, issuer=services.settings.base_url
    )
    assert claims["client_id"] == "demo-approval"


def test_joserfc_verifies_es256_access_token_from_the_published_jwk(client: TestClient, services: Services) -> None:
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import KeySet

    secret = machine_client(services, "es-peer", alg="ES256")
    token = client_token(client, "es-peer", secret)
    keys = [k for k in client.get("/oauth2/jwks").json()["keys"] if k["alg"] != "SM2"]
    decoded = rfc_jwt.decode(token, KeySet.import_key_set({"keys": keys}), algorithms=["ES256"])
    assert decoded.claims["client_id"] == "es-peer" and decoded.header["typ"] == "at+jwt"


def test_gmssl_verifies_sm2_access_token_signature(client: TestClient, services: Services) -> None:
    from gmssl import sm2

    secret = machine_client(services, "sm2-peer", alg="SM2")
    token = client_token(client, "sm2-peer", secret)
    jwk = next(k for k in client.get("/oauth2/jwks").json()["keys"] if k["kid"] == jwt_parts(token)[0]["kid"])
    x = base64.urlsafe_b64decode(jwk["x"] + "=").hex()
    y = base64.urlsafe_b64decode(jwk["y"] + "=").hex()
    head, sig = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    peer = sm2.CryptSM2(public_key=x + y, private_key="")
    assert peer.verify_with_sm3(raw.hex(), head.encode()) is True
    assert peer.verify_with_sm3(raw.hex(), head.encode() + b"x") is False


def test_start_up_renews_keys_before_their_certificates_expire(services: Services) -> None:
    with services.db.session() as s:
        before = services.identity.keys.all(s)
        not_after = min(services.ca.get_certificate(s, k.cert_serial).not_after for k in before)
        assert services.identity.ensure_signing_keys(s) == []  # nothing to do today
    with clock.frozen(not_after - timedelta(days=10)), services.db.session() as s:
        renewed = services.identity.ensure_signing_keys(s, actor="test")
        assert {k.family for k in renewed} == set(Family)
        statuses = {k.kid: k.status for k in services.identity.keys.all(s)}
    assert all(statuses[k.kid] == "retired" for k in before)
