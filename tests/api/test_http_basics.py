"""HTTP surface basics: health, CA listing, problem+json for every error class we produce.

Bad input tried: unknown CA id (404), unknown route (404), wrong method (405), bad query
parameter value (422), oversized body with and without a truthful Content-Length (413).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Services


def _problem(resp: Any, status: int, type_suffix: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{type_suffix}" and body["status"] == status and body["title"]
    return body


def test_health_ready_and_cas(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    cas = client.get("/pki/cas").json()
    assert {c["id"] for c in cas} >= {
        f"{f}-{r}" for f in ("rsa", "ecdsa", "sm2") for r in ("root", "identity", "seal", "service")
    }
    seal = next(c for c in cas if c["id"] == "sm2-seal")
    assert seal["chain_pem"].count("BEGIN CERTIFICATE") == 2 and seal["parent_id"] == "sm2-root"
    der = client.get("/pki/cas/sm2-seal/crl")
    assert der.headers["content-type"] == "application/pkix-crl" and der.content[0] == 0x30
    assert client.get("/pki/cas/sm2-seal/cert").headers["content-type"] == "application/pkix-cert"


def test_problem_details(client: TestClient) -> None:
    body = _problem(client.get("/pki/cas/no-such-ca/crl"), 404, "unknown-ca")
    assert body["ca_id"] == "no-such-ca" and body["instance"] == "/pki/cas/no-such-ca/crl"
    _problem(client.get("/nowhere"), 404, "not-found")
    _problem(client.delete("/pki/cas"), 405, "method-not-allowed")
    body = _problem(client.post("/pki/tsa?family=dsa", content=b"x"), 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "family"]


def test_oversized_bodies_are_refused_before_reading(services: Services) -> None:
    app = create_app(services.settings.model_copy(update={"max_upload_bytes": 1000}), services)
    with TestClient(app) as c:
        _problem(c.post("/pki/tsa", content=b"x" * 1001), 413, "too-large")

        def chunks() -> Any:  # no Content-Length: the limit counts what arrives
            for _ in range(10):
                yield b"y" * 200

        _problem(c.post("/pki/ocsp", content=chunks()), 413, "too-large")
        assert c.post("/pki/tsa", content=b"x" * 999).status_code == 200


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "/pki/ocsp" in doc["paths"] and "/pki/tsa" in doc["paths"]
