"""Client registry, token-signing keys / JWKS, client_credentials access tokens, the operator API.

Bad input tried (each asserts the RFC 6749 error or problem type and that nothing changed):
unknown client, wrong secret (journaled), disabled client, client authenticating with another
method than registered, two authentication methods at once, malformed Basic header, missing and
unsupported grant_type, a grant the client may not use, scope not allowed, user scopes
(openid) in client_credentials, a malformed scope, duplicate form parameters, a JSON body,
operator API without token / with a token lacking the role, invalid USCC in acts_for, http
redirect URI off loopback, duplicate client id, unknown client id, unknown metadata field.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from asn1crypto import x509
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from api.container import Services
from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
from core.audit import AuditEntry
from identity.models import ClientRecord
from identity.sources.demo import DEMO_DEPARTMENT
from keys import normalize_spki
from tests.identity.oauth_helpers import (
    basic,
    client_token,
    jwt_parts,
    machine_client,
    manager_token,
    oauth_problem,
    problem,
)


def _count(services: Services, model: Any) -> int:
    with services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _journal(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq))).all())


# -- JWKS and discovery -------------------------------------------------------------------------------


def test_jwks_publishes_one_key_per_family_with_certificate_chain(client: TestClient, services: Services) -> None:
    resp = client.get("/oauth2/jwks")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/jwk-set+json")
    keys = resp.json()["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "RS256", "SM2"]
    for jwk in keys:
        assert jwk["use"] == "sig" and "d" not in jwk
        leaf = x509.Certificate.load(base64.b64decode(jwk["x5c"][0]))
        _, spki = normalize_spki(leaf.public_key.dump())
        # kid is our key-store key id: SHA-256 of the SubjectPublicKeyInfo in the leaf certificate
        import hashlib

        assert jwk["kid"] == hashlib.sha256(spki).hexdigest()
        assert len(jwk["x5c"]) == 3  # leaf, Service CA, root
        issuer = x509.Certificate.load(base64.b64decode(jwk["x5c"][1]))
        assert leaf.issuer == issuer.subject and "Service CA" in issuer.subject.human_friendly
        assert "1.3.6.1.5.5.7.3" not in str(leaf.extended_key_usage_value.native)  # our own token-signing EKU
    sm2 = next(k for k in keys if k["alg"] == "SM2")
    assert sm2["kty"] == "EC" and sm2["crv"] == "SM2" and len(base64.urlsafe_b64decode(sm2["x"] + "=")) == 32
    es = next(k for k in keys if k["alg"] == "ES256")
    assert es["kty"] == "EC" and es["crv"] == "P-256"
    assert next(k for k in keys if k["alg"] == "RS256")["kty"] == "RSA"


def test_discovery_names_token_endpoint_and_jwks(client: TestClient, services: Services) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    base = services.settings.base_url
    assert meta["issuer"] == base
    assert meta["jwks_uri"] == f"{base}/oauth2/jwks" and meta["token_endpoint"] == f"{base}/oauth2/token"
    assert "client_credentials" in meta["grant_types_supported"]
    assert "SM2" in meta["access_token_signing_alg_values_supported"]


# -- client_credentials --------------------------------------------------------------------------------


def test_demo_approval_client_gets_rfc9068_token(client: TestClient, services: Services) -> None:
    resp = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET)
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "license:issue seal:sign"
    header, claims, _ = jwt_parts(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    kids = {k["kid"] for k in client.get("/oauth2/jwks").json()["keys"]}
    assert header["kid"] in kids
    assert claims["iss"] == services.settings.base_url and claims["aud"] == services.settings.base_url
    assert claims["sub"] == claims["client_id"] == APPROVAL_CLIENT
    assert claims["entity_uscc"] == DEMO_DEPARTMENT.uscc
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"]
    principal = services.token_verifier(body["access_token"])
    assert principal.kind == "client" and principal.client_id == APPROVAL_CLIENT
    assert principal.scopes == {"seal:sign", "license:issue"}
    assert principal.entity_uscc == DEMO_DEPARTMENT.uscc and principal.token_id == claims["jti"]
    issued = _journal(services, "identity.token.issue")
    assert issued[-1].target == claims["jti"] and issued[-1].actor == f"client:{APPROVAL_CLIENT}"


def test_narrower_scope_and_client_secret_post(client: TestClient, services: Services) -> None:
    token = client_token(client, scope="seal:sign")
    assert jwt_parts(token)[1]["scope"] == "seal:sign"
    secret = machine_client(services, "post-client")
    with services.db.session() as s:
        services.identity.clients.update(s, "post-client", {"auth_method": "client_secret_post"}, actor="test")
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "post-client", "client_secret": secret},
    )
    assert resp.status_code == 200, resp.text
    # the registered method is the only one accepted (RFC 7591 token_endpoint_auth_method)
    oauth_problem(
        client.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("post-client", secret)),
        401,
        "invalid_client",
    )


@pytest.mark.parametrize("alg", ["ES256", "SM2"])
def test_per_client_signing_algorithm(client: TestClient, services: Services, alg: str) -> None:
    secret = machine_client(services, f"mc-{alg.lower()}", alg=alg)
    token = client_token(client, f"mc-{alg.lower()}", secret)
    header, _, sig = jwt_parts(token)
    assert header["alg"] == alg and len(sig) == 64  # r || s, never DER
    jwk = next(k for k in client.get("/oauth2/jwks").json()["keys"] if k["kid"] == header["kid"])
    assert jwk["alg"] == alg
    assert services.token_verifier(token).client_id == f"mc-{alg.lower()}"


def test_generated_secret_is_stored_as_keyed_hash_and_chosen_as_argon2(services: Services) -> None:
    secret = machine_client(services, "hash-check")
    with services.db.session() as s:
        generated = s.get(ClientRecord, "hash-check")
        demo = s.get(ClientRecord, APPROVAL_CLIENT)
        assert generated is not None and demo is not None
        assert generated.secret_hash is not None and generated.secret_hash.startswith("$hmac-sm3$")
        assert secret not in generated.secret_hash and len(secret) == 43
        assert demo.secret_hash is not None and demo.secret_hash.startswith("$argon2id$")
        assert APPROVAL_SECRET not in demo.secret_hash


# -- bad input at the token endpoint ---------------------------------------------------------------------


def test_unknown_client_and_wrong_secret(client: TestClient, services: Services) -> None:
    before = len(_journal(services, "identity.client.auth_failed"))
    resp = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("nobody", "x" * 20))
    oauth_problem(resp, 401, "invalid_client")
    assert resp.headers["www-authenticate"].startswith("Basic")
    resp = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, "wrong-secret")
    )
    body = oauth_problem(resp, 401, "invalid_client")
    assert "secret" not in body["error_description"].lower() or "wrong" not in body["error_description"].lower()
    failed = _journal(services, "identity.client.auth_failed")
    assert len(failed) == before + 1 and failed[-1].target == APPROVAL_CLIENT  # the unknown one is only logged
    assert len(_journal(services, "identity.token.issue")) == 0


def test_disabled_client_is_refused(client: TestClient, services: Services) -> None:
    with services.db.session() as s:
        services.identity.clients.set_active(s, APPROVAL_CLIENT, False, actor="test")
    oauth_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET)
        ),
        401,
        "invalid_client",
    )


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        ({}, "basic", 400, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "basic", 400, "unsupported_grant_type"),
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a/cb"},
            "basic",
            400,
            "unauthorized_client",
        ),
        ({"grant_type": "client_credentials", "scope": "seal:manage"}, "basic", 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "openid seal:sign"}, "basic", 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "seal:sign \x01"}, "basic", 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_id": APPROVAL_CLIENT, "client_secret": APPROVAL_SECRET},
            "basic",
            400,
            "invalid_request",
        ),
        ({"grant_type": "client_credentials"}, "malformed", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "none", 401, "invalid_client"),
    ],
    ids=[
        "no-grant",
        "password-grant",
        "code-not-allowed",
        "scope-not-allowed",
        "user-scope",
        "bad-scope-chars",
        "two-auth-methods",
        "malformed-basic",
        "no-auth",
    ],
)
def test_token_endpoint_errors(
    client: TestClient, services: Services, data: dict[str, str], headers: str, status: int, error: str
) -> None:
    hdrs = {
        "basic": basic(APPROVAL_CLIENT, APPROVAL_SECRET),
        "malformed": {"Authorization": "Basic !!!notbase64"},
        "none": {},
    }[headers]
    oauth_problem(client.post("/oauth2/token", data=data, headers=hdrs), status, error)
    assert len(_journal(services, "identity.token.issue")) == 0


def test_duplicate_parameters_and_wrong_content_type(client: TestClient) -> None:
    hdrs = {**basic(APPROVAL_CLIENT, APPROVAL_SECRET), "Content-Type": "application/x-www-form-urlencoded"}
    resp = client.post(
        "/oauth2/token", content=b"grant_type=client_credentials&grant_type=client_credentials", headers=hdrs
    )
    assert "more than once" in oauth_problem(resp, 400, "invalid_request")["error_description"]
    resp = client.post(
        "/oauth2/token", json={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET)
    )
    oauth_problem(resp, 400, "invalid_request")


# -- the token verifier on a protected route ------------------------------------------------------------


def test_operator_api_requires_client_manager_role(client: TestClient, services: Services) -> None:
    problem(client.get("/identity/v1/clients"), 401, "unauthenticated")
    approval = client_token(client)
    problem(client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {approval}"}), 403, "forbidden")
    problem(client.get("/identity/v1/clients", headers={"Authorization": "Bearer not.a.token"}), 401, "invalid-token")
    ops = manager_token(client, services)
    listed = client.get("/identity/v1/clients", headers={"Authorization": f"Bearer {ops}"})
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()} >= {APPROVAL_CLIENT, "test-ops"}
    assert all("secret" not in str(c.keys()) for c in listed.json())


def test_operator_api_register_use_rotate_disable(client: TestClient, services: Services) -> None:
    auth = {"Authorization": f"Bearer {manager_token(client, services)}"}
    body = {
        "client_id": "licence-office",
        "client_name": "证照签发系统",
        "scope": "license:issue",
        "acts_for": DEMO_DEPARTMENT.uscc,
        "token_signing_alg": "SM2",
    }
    created = client.post("/identity/v1/clients", json=body, headers=auth)
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    assert created.json()["acts_for"] == DEMO_DEPARTMENT.uscc and created.json()["token_signing_alg"] == "SM2"
    token = client_token(client, "licence-office", secret)
    assert jwt_parts(token)[0]["alg"] == "SM2"
    assert "client_secret" not in client.get("/identity/v1/clients/licence-office", headers=auth).json()

    rotated = client.post("/identity/v1/clients/licence-office/secret", headers=auth).json()["client_secret"]
    assert rotated != secret
    oauth_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("licence-office", secret)
        ),
        401,
        "invalid_client",
    )
    client_token(client, "licence-office", rotated)

    patched = client.patch("/identity/v1/clients/licence-office", json={"token_signing_alg": "ES256"}, headers=auth)
    assert patched.status_code == 200 and patched.json()["token_signing_alg"] == "ES256"
    assert jwt_parts(client_token(client, "licence-office", rotated))[0]["alg"] == "ES256"

    assert client.post("/identity/v1/clients/licence-office/disable", headers=auth).json()["active"] is False
    oauth_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("licence-office", rotated)
        ),
        401,
        "invalid_client",
    )
    actions = [e.action for e in _journal(services, "identity.client.create")]
    assert actions  # registration is journaled


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"client_id": "x1", "client_name": "x", "acts_for": "11120000MB0000019X"}, 400, "invalid-uscc"),
        (
            {
                "client_id": "x2",
                "client_name": "x",
                "grant_types": ["authorization_code"],
                "scope": "openid",
                "redirect_uris": ["http://rp.example.cn/cb"],
            },
            400,
            "invalid-client-metadata",
        ),
        (
            {
                "client_id": "x3",
                "client_name": "x",
                "grant_types": ["authorization_code"],
                "scope": "openid",
                "redirect_uris": ["https://rp.example.cn/cb#frag"],
            },
            400,
            "invalid-client-metadata",
        ),
        ({"client_id": "x4", "client_name": "x", "client_type": "public"}, 400, "invalid-client-metadata"),
        ({"client_id": "x5", "client_name": "x", "token_signing_alg": "HS256"}, 400, "invalid-client-metadata"),
        ({"client_id": "x6", "client_name": "x", "roles": ["root"]}, 400, "invalid-client-metadata"),
        ({"client_id": "x7", "client_name": "x", "client_secret": "short"}, 400, "invalid-client-metadata"),
        ({"client_id": "x 8", "client_name": "x"}, 400, "invalid-client-metadata"),
        (
            {
                "client_id": "x9",
                "client_name": "x",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]},
            },
            400,
            "invalid-client-metadata",
        ),
        ({"client_id": APPROVAL_CLIENT, "client_name": "again"}, 409, "client-exists"),
        ({"client_id": "x10", "client_name": "x", "colour": "red"}, 422, "validation"),
    ],
    ids=[
        "bad-uscc",
        "http-off-loopback",
        "fragment",
        "public-with-secret-method",
        "hs256",
        "unknown-role",
        "short-secret",
        "bad-id",
        "symmetric-jwk",
        "duplicate",
        "unknown-field",
    ],
)
def test_operator_api_refuses_bad_metadata(
    client: TestClient, services: Services, body: dict[str, Any], status: int, code: str
) -> None:
    auth = {"Authorization": f"Bearer {manager_token(client, services)}"}
    before = _count(services, ClientRecord)
    problem(client.post("/identity/v1/clients", json=body, headers=auth), status, code)
    assert _count(services, ClientRecord) == before
    with services.db.session() as s:
        demo = s.get(ClientRecord, APPROVAL_CLIENT)
        assert demo is not None and demo.name.startswith("示例审批系统")


def test_operator_api_unknown_client(client: TestClient, services: Services) -> None:
    auth = {"Authorization": f"Bearer {manager_token(client, services)}"}
    problem(client.get("/identity/v1/clients/nope", headers=auth), 404, "unknown-client")
    problem(client.patch("/identity/v1/clients/nope", json={"client_name": "a"}, headers=auth), 404, "unknown-client")
    problem(client.post("/identity/v1/clients/nope/secret", headers=auth), 404, "unknown-client")


def test_memoised_argon2_check_never_outlives_the_secret(client: TestClient, services: Services) -> None:
    """The memo of successful argon2id checks is keyed by the stored hash: rotation and disabling
    take effect at once, and wrong secrets always cost a full check and fail."""
    client_token(client)  # argon2id-hashed demo secret: checked and memoised
    client_token(client)  # memoised
    oauth_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, "nope-nope")
        ),
        401,
        "invalid_client",
    )
    with services.db.session() as s:
        services.identity.clients.rotate_secret(s, APPROVAL_CLIENT, actor="test", secret="another-chosen-secret")
    oauth_problem(
        client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET)
        ),
        401,
        "invalid_client",
    )
    client_token(client, APPROVAL_CLIENT, "another-chosen-secret")
    with services.db.session() as s:
        services.identity.clients.set_active(s, APPROVAL_CLIENT, False, actor="test")
    oauth_problem(
        client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(APPROVAL_CLIENT, "another-chosen-secret"),
        ),
        401,
        "invalid_client",
    )
