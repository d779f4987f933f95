"""Our provider judged by implementations we did not write.

* node ``openid-client@6`` (certified relying party, tests/peers/rp_flow.mjs) drives the whole flow
  against the running server: discovery, authorization code + PKCE with our login form submitted
  by the script, token, ID token validation including the signature against our JWKS
  (``enableNonRepudiationChecks``), userinfo, refresh (rotation), revocation of the access token
  (userinfo then fails) and of the refresh token (refresh then fails) — for a confidential RS256
  client (client_secret_basic), a confidential ES256 client (client_secret_post) and the public
  demo client ``demo-rp`` (PKCE only).
* Wycheproof's ``json_web_signature_test.json`` through our JWS verification (identity.jwt.verify_jws,
  which the national-IdP login uses): no registry ships the file (tests/vectors/README.md), so the
  test runs only when ``YWT_WYCHEPROOF_JWS`` points at a copy and is an explicit skip otherwise. The
  same attack classes are covered by our own crafted cases in test_token_verifier.py (alg none,
  HS256 with the RSA public key, key/alg confusion, header keys, crit, tampering, truncated / DER /
  zero / out-of-range signatures, non-canonical base64url, duplicate members, JSON serialization)
  and test_federation.py (the same checks on ID tokens of the national IdP).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.container import Services, build_services, initialise
from api.demo import CITIZEN_PASSWORD, CITIZEN_USER, RP_CLIENT, RP_REDIRECT
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType
from identity.jwt import JwtRejected, verify_jws
from identity.sources.demo import DEMO_CITIZEN
from tests import vectorlib
from tests.conftest import Template, clone_installation, free_port, make_settings

PEERS = Path(__file__).resolve().parent.parent / "peers"
CALLBACK = "http://127.0.0.1:9/cb"


@pytest.fixture
def oidc_server(pki_template: Template, tmp_path: Path) -> Iterator[tuple[str, Services, dict[str, str]]]:
    """Our service on a real loopback port whose base URL (issuer) is that port."""
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    url = clone_installation(pki_template, home)
    settings = make_settings(home, url, base_url=base)
    services = build_services(settings)
    initialise(services, demo=True)
    secrets: dict[str, str] = {}
    with services.db.session() as s:
        for client_id, alg, method in (
            ("rp-rs256", "RS256", AuthMethod.CLIENT_SECRET_BASIC),
            ("rp-es256", "ES256", AuthMethod.CLIENT_SECRET_POST),
        ):
            _, secret = services.identity.clients.create(
                s,
                ClientSpec(
                    client_id=client_id,
                    name=client_id,
                    client_type=ClientType.CONFIDENTIAL,
                    auth_method=method,
                    grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
                    scopes=frozenset({"openid", "profile", "phone"}),
                    redirect_uris=(CALLBACK,),
                    token_alg=alg,
                ),
                actor="test",
            )
            assert secret is not None
            secrets[client_id] = secret
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    yield base, services, secrets
    server.should_exit = True
    thread.join(timeout=10)
    services.close()


def _rp_flow(issuer: str, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    node = shutil.which("node")
    if node is None or not (PEERS / "node_modules" / "openid-client" / "package.json").is_file():
        pytest.fail("node and tests/peers/node_modules are needed: npm ci --prefix tests/peers")
    done = subprocess.run(
        [node, str(PEERS / "rp_flow.mjs"), issuer, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("RP_")},
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0]), done.stderr


def _assert_flow(result: dict[str, Any], issuer: str, client_id: str, stderr: str) -> None:
    assert result["ok"] is True, f"{result}\n{stderr}"
    assert result["issuer"] == issuer and result["non_repudiation_checks"] is True
    assert result["callback"] == {"has_code": True, "iss": issuer}
    assert result["browser"]["forms_submitted"] == 1
    claims = result["id_token_claims"]
    assert claims["iss"] == issuer and claims["aud"] == client_id
    assert claims["acr"] == "L2" and claims["amr"] == ["pwd"] and claims["name"] == DEMO_CITIZEN.name
    assert claims["id_number_masked"] == "1201**********1239" and "id_number" not in claims
    assert result["userinfo"]["sub"] == claims["sub"] and result["userinfo"]["name"] == DEMO_CITIZEN.name
    assert result["refresh"]["access_token_changed"] is True and result["refresh"]["refresh_token_rotated"] is True
    assert result["refresh"]["id_token_sub"] == claims["sub"] and result["refresh"]["userinfo_sub"] == claims["sub"]
    assert result["revocation"]["access_token"]["rejected"] is True
    assert result["revocation"]["refresh_token"] == {"rejected": True, "error": "invalid_grant", "status": 400}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("client_id", "auth_method"),
    [("rp-rs256", "client_secret_basic"), ("rp-es256", "client_secret_post"), (RP_CLIENT, "none")],
    ids=["rs256-basic", "es256-post", "demo-rp-public-pkce"],
)
def test_openid_client_drives_our_provider(
    oidc_server: tuple[str, Services, dict[str, str]], client_id: str, auth_method: str
) -> None:
    issuer, _, secrets = oidc_server
    options = {
        "client_id": client_id,
        "client_secret": secrets.get(client_id, ""),
        "redirect_uri": RP_REDIRECT if client_id == RP_CLIENT else CALLBACK,
        "auth_method": auth_method,
        "scope": "openid profile phone",
        "username": CITIZEN_USER,
        "password": CITIZEN_PASSWORD,
    }
    rc, result, stderr = _rp_flow(issuer, options)
    assert rc == 0, f"{result}\n{stderr}"
    _assert_flow(result, issuer, client_id, stderr)
    assert result["token_response"]["token_type"].lower() == "bearer"
    assert DEMO_CITIZEN.id_number not in json.dumps(result)


@pytest.mark.slow
def test_openid_client_fails_loudly_on_a_wrong_password(oidc_server: tuple[str, Services, dict[str, str]]) -> None:
    issuer, _, secrets = oidc_server
    rc, result, _ = _rp_flow(
        issuer,
        {
            "client_id": "rp-rs256",
            "client_secret": secrets["rp-rs256"],
            "redirect_uri": CALLBACK,
            "scope": "openid profile",
            "username": CITIZEN_USER,
            "password": "wrong-password",
        },
    )
    assert rc == 1 and result["ok"] is False and result["step"] == "login"
    assert "HTTP 401" in result["error"]["message"]


# -- Wycheproof JWS ------------------------------------------------------------------------------------


def _keys(group: dict[str, Any]) -> list[dict[str, Any]]:
    public = group.get("public") or group.get("jwk") or {}
    keys = public.get("keys") if isinstance(public, dict) and "keys" in public else [public]
    return [k for k in keys if isinstance(k, dict)]


def run_corpus(data: dict[str, Any], allowed: tuple[str, ...] = ("RS256", "ES256")) -> tuple[int, list[str], list[str]]:
    """Run a Wycheproof-format JWS corpus through :func:`identity.jwt.verify_jws`.

    Returns (cases run, valid cases our policy refused, invalid cases we accepted). JSON-serialized
    tokens count as refused (we accept compact tokens only); valid ones of that form are not applicable.
    """
    refused_valid: list[str] = []
    accepted_invalid: list[str] = []
    ran = 0
    for group in data["testGroups"]:
        keys = _keys(group)
        for case in group["tests"]:
            token = case["jws"]
            if not isinstance(token, str):
                if case["result"] == "valid":
                    continue
                token = json.dumps(token)
            ran += 1
            try:
                verify_jws(token, keys, allowed)
                ok = True
            except (JwtRejected, ValueError):
                ok = False
            label = f"tcId {case['tcId']}: {case.get('comment', '')}"
            if case["result"] == "invalid" and ok:
                accepted_invalid.append(label)
            elif case["result"] == "valid" and not ok:
                refused_valid.append(label)
    return ran, refused_valid, accepted_invalid


def test_wycheproof_json_web_signature() -> None:
    """Every applicable case of Wycheproof's JWS corpus through our verifier (RS256 / ES256):
    invalid cases must all be refused; valid ones our stricter header policy refuses are printed."""
    if not os.environ.get(vectorlib.JWS_ENV):
        pytest.skip(
            "Wycheproof json_web_signature_test.json has no registry source (tests/vectors/README.md); "
            f"set {vectorlib.JWS_ENV} to a copy to run it. The attack classes are covered by crafted "
            "cases in test_token_verifier.py and test_federation.py."
        )
    ran, refused_valid, accepted_invalid = run_corpus(vectorlib.jws_wycheproof())
    print(f"\nWycheproof JWS: {ran} cases run; valid refused by our policy: {len(refused_valid)}")
    for label in refused_valid:
        print("  refused valid:", label)
    assert ran > 0
    assert accepted_invalid == [], accepted_invalid


def test_wycheproof_harness_on_a_crafted_corpus() -> None:
    """The harness above classifies correctly (so it cannot silently pass when the corpus appears)."""
    import hashlib
    import hmac

    from joserfc import jws
    from joserfc.jwk import ECKey, RSAKey

    from tests.identity.oauth_helpers import b64e

    rsa = RSAKey.generate_key(2048, parameters={"kid": "r"})
    ec = ECKey.generate_key("P-256", parameters={"kid": "e"})
    payload = b'{"x":1}'
    good_rs = jws.serialize_compact({"alg": "RS256", "kid": "r"}, payload, rsa, algorithms=["RS256"])
    good_es = jws.serialize_compact({"alg": "ES256", "kid": "e"}, payload, ec, algorithms=["ES256"])
    none = b64e(b'{"alg":"none","kid":"r"}') + "." + b64e(payload) + "."
    si = b64e(b'{"alg":"HS256","kid":"r"}') + "." + b64e(payload)
    hs = si + "." + b64e(hmac.new(rsa.as_pem(private=False), si.encode(), hashlib.sha256).digest())
    tampered = good_rs.split(".")[0] + "." + b64e(b'{"x":2}') + "." + good_rs.split(".")[2]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    crit_input = b64e(b'{"alg":"RS256","kid":"r","crit":["exp"],"exp":1}') + "." + b64e(payload)
    crit_sig = rsa.private_key.sign(crit_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    crit = crit_input + "." + b64e(crit_sig)
    corpus = {
        "testGroups": [
            {
                "public": {"keys": [rsa.as_dict(private=False)]},
                "tests": [
                    {"tcId": 1, "jws": good_rs, "result": "valid"},
                    {"tcId": 2, "jws": none, "result": "invalid"},
                    {"tcId": 3, "jws": hs, "result": "invalid"},
                    {"tcId": 4, "jws": tampered, "result": "invalid"},
                    {"tcId": 5, "jws": crit, "result": "invalid"},
                    {"tcId": 6, "jws": {"payload": b64e(payload), "signatures": []}, "result": "invalid"},
                ],
            },
            {
                "public": ec.as_dict(private=False),
                "tests": [
                    {"tcId": 7, "jws": good_es, "result": "valid"},
                    {
                        "tcId": 8,
                        "jws": good_es[:-2] + ("AA" if not good_es.endswith("AA") else "BA"),
                        "result": "invalid",
                    },
                ],
            },
        ]
    }
    ran, refused_valid, accepted_invalid = run_corpus(corpus)
    assert (ran, refused_valid, accepted_invalid) == (8, [], [])
    # and a harness that accepted everything would be caught:
    ran, _, accepted = run_corpus(
        {
            "testGroups": [
                {"public": rsa.as_dict(private=False), "tests": [{"tcId": 9, "jws": good_rs, "result": "invalid"}]}
            ]
        }
    )
    assert accepted == ["tcId 9: "]
