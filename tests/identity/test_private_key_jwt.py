"""``private_key_jwt`` client authentication (RFC 7523 §2.2 / §3, OIDC Core §9) at the token endpoint.

Bad input tried: a replayed assertion (same ``jti``), wrong ``aud``, ``iss`` != ``sub``, expired,
living too long, no ``jti``, signed with a key not in the client's JWKS, ``alg: none``, HS256
keyed with the client's public key, a wrong ``client_assertion_type``, an assertion for a client
registered for client_secret_basic, an SM2 assertion verified with the client's SM2 JWK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import ECKey

from api.container import Services
from core import clock
from identity.clients import ASSERTION_TYPE, AuthMethod, ClientSpec, ClientType, GrantType
from identity.jose import SM2Key
from keys import KeyAlgorithm, LocalSigner
from keys.crypto import generate
from tests.identity.oauth_helpers import b64e, jwt_parts, oauth_problem

TOKEN_ENDPOINT = "http://127.0.0.1:8000/oauth2/token"


def _register(services: Services, client_id: str, jwk: dict[str, Any]) -> None:
    with services.db.session() as s:
        services.identity.clients.create(
            s,
            ClientSpec(
                client_id=client_id,
                name=client_id,
                client_type=ClientType.CONFIDENTIAL,
                auth_method=AuthMethod.PRIVATE_KEY_JWT,
                grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
                scopes=frozenset({"seal:sign"}),
                jwks={"keys": [jwk]},
            ),
            actor="test",
        )


def _claims(client_id: str, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    c = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
    }
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def _post(client: TestClient, assertion: str, assertion_type: str = ASSERTION_TYPE) -> Any:
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": assertion_type,
            "client_assertion": assertion,
        },
    )


@pytest.fixture
def ec_client(services: Services) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256"})
    _register(services, "pkjwt-ec", key.as_dict(private=False))
    return key


def _sign(key: Any, claims: dict[str, Any], alg: str = "ES256") -> str:
    return jws.serialize_compact({"alg": alg, "kid": key.kid}, json.dumps(claims).encode(), key, algorithms=[alg])


def test_es256_assertion_and_replay(client: TestClient, services: Services, ec_client: ECKey) -> None:
    assertion = _sign(ec_client, _claims("pkjwt-ec"))
    resp = _post(client, assertion)
    assert resp.status_code == 200, resp.text
    assert jwt_parts(resp.json()["access_token"])[1]["client_id"] == "pkjwt-ec"
    oauth_problem(_post(client, assertion), 401, "invalid_client")  # RFC 7523 §3 item 7: jti used once


def _none(claims: dict[str, Any]) -> str:
    return b64e(b'{"alg":"none","kid":"ec-1"}') + "." + b64e(json.dumps(claims).encode()) + "."


def _hs256(key: ECKey, claims: dict[str, Any]) -> str:
    si = b64e(b'{"alg":"HS256","kid":"ec-1"}') + "." + b64e(json.dumps(claims).encode())
    return si + "." + b64e(hmac.new(key.as_pem(private=False), si.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize(
    "case",
    [
        "wrong-aud",
        "iss-not-sub",
        "expired",
        "too-long",
        "no-jti",
        "other-key",
        "alg-none",
        "hs256",
        "bad-type",
        "other-client-method",
        "tampered",
    ],
)
def test_bad_assertions(client: TestClient, services: Services, ec_client: ECKey, case: str) -> None:
    now = int(clock.now().timestamp())
    other = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    assertion = {
        "wrong-aud": lambda: _sign(ec_client, _claims("pkjwt-ec", aud="https://elsewhere.example/token")),
        "iss-not-sub": lambda: _sign(ec_client, _claims("pkjwt-ec", sub="demo-approval")),
        "expired": lambda: _sign(ec_client, _claims("pkjwt-ec", exp=now - 120)),
        "too-long": lambda: _sign(ec_client, _claims("pkjwt-ec", exp=now + 86400)),
        "no-jti": lambda: _sign(ec_client, _claims("pkjwt-ec", jti=None)),
        "other-key": lambda: _sign(other, _claims("pkjwt-ec")),
        "alg-none": lambda: _none(_claims("pkjwt-ec")),
        "hs256": lambda: _hs256(ec_client, _claims("pkjwt-ec")),
        "bad-type": lambda: _sign(ec_client, _claims("pkjwt-ec")),
        "other-client-method": lambda: _sign(ec_client, _claims("demo-approval")),
        "tampered": lambda: _tamper(_sign(ec_client, _claims("pkjwt-ec"))),
    }[case]()
    atype = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer" if case == "bad-type" else ASSERTION_TYPE
    oauth_problem(_post(client, assertion, atype), 401, "invalid_client")


def _tamper(token: str) -> str:
    h, p, s = token.split(".")
    return h + "." + b64e(p.encode()[::-1][:10] + b"x") + "." + s


def test_sm2_assertion(client: TestClient, services: Services) -> None:
    """An SM2 client key: the client signs with our joserfc SM2 algorithm (keys/ underneath)."""
    signer = LocalSigner(KeyAlgorithm.SM2, generate(KeyAlgorithm.SM2))
    key = SM2Key.from_signer(signer, {"kid": "sm2-1"})
    _register(services, "pkjwt-sm2", {**key.as_dict(private=False), "alg": "SM2"})
    assertion = jws.serialize_compact(
        {"alg": "SM2", "kid": "sm2-1"}, json.dumps(_claims("pkjwt-sm2")).encode(), key, algorithms=["SM2"]
    )
    resp = _post(client, assertion)
    assert resp.status_code == 200, resp.text
    forged = LocalSigner(KeyAlgorithm.SM2, generate(KeyAlgorithm.SM2))
    bad = jws.serialize_compact(
        {"alg": "SM2", "kid": "sm2-1"},
        json.dumps(_claims("pkjwt-sm2")).encode(),
        SM2Key.from_signer(forged, {"kid": "sm2-1"}),
        algorithms=["SM2"],
    )
    oauth_problem(_post(client, bad), 401, "invalid_client")
