"""Token verification: our access tokens (issued by identity/'s token endpoint), and tokens of a
"national IdP" on the trust list, signed by python-jose (an independent JOSE implementation)
with keys we never see; crafted tokens; malformed input as problem+json."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jose import jwt as jose_jwt

from api.container import Services
from core import clock
from tests.verify.test_verify_api import _problem, _state

NATIONAL = "https://idp.gov.example/national"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _b64u(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


JWKS = {
    "keys": [
        {
            "kty": "RSA",
            "kid": "nat-1",
            "use": "sig",
            "alg": "RS256",
            "n": _b64u(KEY.public_key().public_numbers().n),
            "e": _b64u(KEY.public_key().public_numbers().e),
        }
    ]
}


def national_token(**over: Any) -> str:
    now = int(clock.now().timestamp())
    claims = {"iss": NATIONAL, "sub": "nat-7f3a", "aud": "ywt", "iat": now, "exp": now + 600, "acr": "L3"}
    claims.update(over)
    return str(jose_jwt.encode(claims, KEY_PEM.decode(), algorithm="RS256", headers={"kid": "nat-1"}))


@pytest.fixture
def national(services: Services) -> None:
    assert services.verifier is not None
    with services.db.session() as s:
        services.verifier.trust.add_idp(
            s, issuer=NATIONAL, name="国家政务服务平台", source="national", actor="test", jwks=JWKS
        )


def _our_access_token(services: Services) -> str:
    auth = "Basic " + base64.b64encode(b"demo-approval:demo-approval-secret").decode()
    out = services.identity.token(auth, {"grant_type": "client_credentials", "scope": "seal:sign"})
    return str(out["access_token"])


def test_our_access_token(client: TestClient, services: Services) -> None:
    token = _our_access_token(services)
    body = client.post("/verify/v1/token", json={"token": token}).json()
    assert body["indication"] == "TOTAL-PASSED", body
    assert body["details"]["issuer"] == "ours" and body["details"]["claims"]["client_id"] == "demo-approval"
    h, p, s = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(p + "=="))
    forged["scope"] = "seal:sign license:issue admin"
    p2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    body = client.post("/verify/v1/token", json={"token": f"{h}.{p2}.{s}"}).json()
    assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == "SIG_CRYPTO_FAILURE"
    later = (clock.now() + timedelta(days=2)).isoformat()
    body = client.post("/verify/v1/token", json={"token": token, "at": later}).json()
    assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == "EXPIRED"


def test_our_revoked_token(client: TestClient, services: Services) -> None:
    from identity.tokens import AccessTokens

    token = _our_access_token(services)
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    with services.db.session() as s:
        AccessTokens.revoke(s, jti, "access", clock.now() + timedelta(hours=1), "test")
    body = client.post("/verify/v1/token", json={"token": token}).json()
    assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == "REVOKED"


def test_national_idp_token(client: TestClient, national: None) -> None:
    body = client.post("/verify/v1/token", json={"token": national_token(), "audience": "ywt"}).json()
    assert body["indication"] == "TOTAL-PASSED", body
    assert body["details"]["issuer"] == "国家政务服务平台" and body["details"]["claims"]["acr"] == "L3"
    body = client.post("/verify/v1/token", json={"token": national_token(), "audience": "other-rp"}).json()
    assert body["indication"] == "INDETERMINATE" and body["sub_indication"] == "SIG_CONSTRAINTS_FAILURE"
    body = client.post("/verify/v1/token", json={"token": national_token(exp=1000, iat=900)}).json()
    assert body["sub_indication"] == "EXPIRED"


def test_untrusted_issuer(client: TestClient) -> None:
    body = client.post("/verify/v1/token", json={"token": national_token(iss="https://evil.example")}).json()
    assert body["indication"] == "INDETERMINATE" and body["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def _hs256_with_public_key() -> str:
    """The classic alg confusion: HS256 keyed with the issuer's public key."""
    pub = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac

    h = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "nat-1"}).encode()).rstrip(b"=")
    now = int(clock.now().timestamp())
    p = base64.urlsafe_b64encode(json.dumps({"iss": NATIONAL, "exp": now + 60}).encode()).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac.new(pub, h + b"." + p, hashlib.sha256).digest()).rstrip(b"=")
    return (h + b"." + p + b"." + sig).decode()


def _alg_none() -> str:
    h = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    p = base64.urlsafe_b64encode(json.dumps({"iss": NATIONAL, "exp": 9999999999}).encode()).rstrip(b"=").decode()
    return f"{h}.{p}."


def _jku() -> str:
    token = national_token()
    h = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    h["jku"] = "https://evil.example/jwks"
    return base64.urlsafe_b64encode(json.dumps(h).encode()).rstrip(b"=").decode() + "." + ".".join(token.split(".")[1:])


@pytest.mark.parametrize(
    ("make", "sub"),
    [(_hs256_with_public_key, "SIG_CRYPTO_FAILURE"), (_alg_none, "SIG_CRYPTO_FAILURE"), (_jku, "FORMAT_FAILURE")],
    ids=["hs256-confusion", "alg-none", "jku-header"],
)
def test_crafted_tokens_fail(make: Any, sub: str, client: TestClient, national: None) -> None:
    body = client.post("/verify/v1/token", json={"token": make()}).json()
    assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == sub, body


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "!!!.###.$$$", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "e30.e30.e30", "x" * 9000],
    ids=["empty", "one-part", "two-parts", "not-json", "not-base64", "payload-not-json", "no-alg", "oversized"],
)
def test_malformed_tokens(token: str, client: TestClient, services: Services) -> None:
    before = _state(services)
    _problem(client.post("/verify/v1/token", json={"token": token}), 400, "bad-token")
    assert _state(services) == before


def test_national_idp_jwks_uri(client: TestClient, services: Services) -> None:
    """The trust list may hold the IdP's jwks_uri instead of its keys (fetched, cached)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(JWKS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert services.verifier is not None
        with services.db.session() as s:
            services.verifier.trust.add_idp(
                s,
                issuer=NATIONAL,
                name="国家政务服务平台",
                source="national",
                actor="test",
                jwks_uri=f"http://127.0.0.1:{server.server_port}/jwks",
            )
        body = client.post("/verify/v1/token", json={"token": national_token()}).json()
        assert body["indication"] == "TOTAL-PASSED", body
    finally:
        server.shutdown()


def test_idp_added_with_the_cli_is_trusted_and_published(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    """``ywt pki trust-add --idp ISSUER --jwks FILE``: the national IdP's tokens then verify, and
    the signed trust list names it; a malformed JWKS is refused with nothing stored."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")}
    env["YWT_HOME"] = str(services.settings.home)
    if services.settings.database_url:
        env["YWT_DATABASE_URL"] = services.settings.database_url

    def ywt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.cli", "pki", "trust-add", *args],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip

    before = client.post("/verify/v1/token", json={"token": national_token(), "audience": "ywt"}).json()
    assert before["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    state = _state(services)
    private = dict(JWKS["keys"][0], d="AQAB")
    for name, jwks in [
        ("no-modulus", {"keys": [{"kty": "RSA", "kid": "x"}]}),
        ("private-member", {"keys": [private]}),
        ("symmetric", {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        ("empty", {"keys": []}),
    ]:
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(jwks))
        r = ywt("--idp", NATIONAL, "--jwks", str(bad), "--name", "国家政务服务平台")
        assert r.returncode == 1 and "JWKS" in r.stderr and "Traceback" not in r.stderr, (name, r.stdout + r.stderr)
    assert _state(services) == state
    good = tmp_path / "jwks.json"
    good.write_text(json.dumps(JWKS))
    r = ywt("--idp", NATIONAL, "--jwks", str(good), "--name", "国家政务服务平台", "--source", "national")
    assert r.returncode == 0 and f"trusted IdP {NATIONAL}" in r.stdout, r.stdout + r.stderr
    body = client.post("/verify/v1/token", json={"token": national_token(), "audience": "ywt"}).json()
    assert body["indication"] == "TOTAL-PASSED" and body["details"]["issuer"] == "国家政务服务平台", body
    signed = client.get("/pki/trust-list").text
    payload = json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))
    assert any(i["issuer"] == NATIONAL and i["source"] == "national" for i in payload["idps"]), payload["idps"]
