"""Helpers for the OAuth / OIDC tests: client authentication headers, token requests, JWT parts."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

from fastapi.testclient import TestClient

from api.container import Services
from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
from identity.clients import AuthMethod, ClientSpec, ClientType, GrantType


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then Basic."""
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), b64d(s)


def client_token(
    client: TestClient, client_id: str = APPROVAL_CLIENT, secret: str = APPROVAL_SECRET, scope: str | None = None
) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    resp = client.post("/oauth2/token", data=data, headers=basic(client_id, secret))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


def machine_client(
    services: Services,
    client_id: str,
    *,
    alg: str = "RS256",
    scopes: frozenset[str] = frozenset({"seal:sign"}),
    roles: frozenset[str] = frozenset(),
    acts_for: str | None = None,
    ttl: int = 600,
) -> str:
    """Register a client_credentials client; returns its generated secret."""
    with services.db.session() as session:
        _, secret = services.identity.clients.create(
            session,
            ClientSpec(
                client_id=client_id,
                name=client_id,
                client_type=ClientType.CONFIDENTIAL,
                auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
                scopes=scopes,
                token_alg=alg,
                roles=roles,
                acts_for_uscc=acts_for,
                access_token_ttl=ttl,
            ),
            actor="test",
        )
    assert secret is not None
    return secret


def manager_token(client: TestClient, services: Services, client_id: str = "test-ops") -> str:
    """An access token holding the client_manager role (a service-account client)."""
    secret = machine_client(services, client_id, scopes=frozenset({"ops"}), roles=frozenset({"client_manager"}))
    return client_token(client, client_id, secret)


def problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers["content-type"]
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{code}" and body["status"] == status and body["title"]
    return body


def oauth_problem(resp: Any, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2 error (application/json) that also carries the problem members."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].split(";")[0] == "application/json"
    assert resp.headers["cache-control"] == "no-store"
    body: dict[str, Any] = resp.json()
    assert body["error"] == error and body["error_description"]
    assert body["type"] == "urn:ywt:problem:" + error.replace("_", "-") and body["status"] == status
    return body
