"""The HTTP surface of sealing: listing, signing, idempotency, and every bad input of issue 4.

Each bad input asserts the problem type, that nothing was stored (no seal use row, no new
blob) and — once the caller is authenticated — that the refusal is in the audit journal
(``seal.use.denied`` with the problem code as result).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pdfkit import Tokens, encrypted_pdf, looping_pdf, make_pdf, nested_pdf
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlmodel import func, select

from api.app import create_app
from api.container import Services
from core import clock
from core.audit import AuditEntry
from seal.models import SealUse


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{code}" and body["status"] == status and body["title"], body
    return body


def _stored(services: Services) -> tuple[int, int, int]:
    """(seal use rows, blob files, journal length)"""
    with services.db.session() as s:
        uses = s.exec(select(func.count()).select_from(SealUse)).one()
        journal = s.exec(select(func.count()).select_from(AuditEntry)).one()
    blobs = sum(1 for p in Path(services.settings.blob_dir).rglob("*") if p.is_file())
    return int(uses), blobs, int(journal)


def _last_entry(services: Services) -> AuditEntry:
    with services.db.session() as s:
        e = s.exec(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()  # type: ignore[attr-defined]
    assert e is not None
    return e


def _sign(client: TestClient, headers: dict[str, str], seal_id: str, pdf: bytes, **fields: Any) -> Any:
    data = {"seal_id": seal_id, "page": "1", "x": "380", "y": "150", "level": "B-B"}
    data.update({k: str(v) for k, v in fields.items() if v is not None})
    for k in [k for k, v in fields.items() if v is None]:
        data.pop(k, None)
    return client.post("/seal/v1/sign", files={"file": ("d.pdf", pdf, "application/pdf")}, data=data, headers=headers)


def test_demo_seals_listed_with_ids_and_algorithms(client: TestClient, tokens: Tokens) -> None:
    seals = client.get("/seal/v1/seals", headers=tokens["demo"]).json()
    by_family = {s["family"]: s for s in seals}
    assert set(by_family) == {"rsa", "ecdsa", "sm2"}
    assert by_family["rsa"]["key_algorithm"] == "rsa-3072" and by_family["rsa"]["seal_type"] == "official"
    assert by_family["sm2"]["signature_algorithm"] == "SM2-with-SM3" and by_family["sm2"]["seal_type"] == "approval"
    assert by_family["sm2"]["name"] == "天津市示例行政审批局行政审批专用章"
    assert by_family["ecdsa"]["seal_type"] == "licence" and by_family["ecdsa"]["key_algorithm"] == "ec-p256"
    assert all(s["status"] == "active" and s["owner_uscc"] == "11120000MB0000019W" for s in seals)
    # the client that holds no grant sees none; operators see all
    assert client.get("/seal/v1/seals", headers=tokens["other"]).json() == []
    assert len(client.get("/seal/v1/seals", headers=tokens["admin"]).json()) == 3
    _problem(client.get("/seal/v1/seals", headers=tokens["auditor"]), 403, "forbidden")
    img = client.get(by_family["sm2"]["image_url"], headers=tokens["demo"])
    assert img.headers["content-type"] == "image/png" and img.content.startswith(b"\x89PNG")


def test_sign_over_http_returns_a_sealed_pdf_and_journals_the_use(
    client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    pdf = make_pdf()
    resp = _sign(
        client, tokens["demo"], demo_seals["rsa"], pdf, level="B-T", reason="准予许可", document_type="decision"
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf" and resp.headers["idempotent-replayed"] == "false"
    out = resp.content
    assert out.startswith(pdf) and out.rstrip().endswith(b"%%EOF")
    sig = PdfFileReader(io.BytesIO(out)).embedded_signatures[0]
    assert sig.sig_object["/Reason"] == "准予许可"
    entry = _last_entry(services)
    assert entry.action == "seal.use" and entry.target == demo_seals["rsa"] and entry.actor == "client:demo-approval"
    assert '"result":"signed"' in entry.data and '"client":"demo-approval"' in entry.data
    import hashlib

    assert hashlib.sha256(pdf).hexdigest() in entry.data and hashlib.sha256(out).hexdigest() in entry.data


def test_idempotency_key(client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]) -> None:
    pdf = make_pdf()
    key = {"Idempotency-Key": "decision-2026-0001", **tokens["demo"]}
    first = _sign(client, key, demo_seals["ecdsa"], pdf, level="B-T")
    assert first.status_code == 200
    stored = _stored(services)
    second = _sign(client, key, demo_seals["ecdsa"], pdf, level="B-T")
    assert second.status_code == 200 and second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content and second.headers["x-seal-use-id"] == first.headers["x-seal-use-id"]
    assert _stored(services) == stored  # never signed twice, nothing journaled twice
    # same key, another document: 422, nothing stored, refusal journaled
    body = _problem(_sign(client, key, demo_seals["ecdsa"], make_pdf(2), level="B-T"), 422, "idempotency-key-reused")
    assert body["idempotency_key"] == "decision-2026-0001"
    uses, blobs, journal = _stored(services)
    assert (uses, blobs, journal) == (stored[0], stored[1], stored[2] + 1)
    assert _last_entry(services).action == "seal.use.denied" and "idempotency-key-reused" in _last_entry(services).data
    # same key, same document, other parameters (level): also a different request
    _problem(_sign(client, key, demo_seals["ecdsa"], pdf, level="B-B"), 422, "idempotency-key-reused")
    # the key is scoped to the client: another client may use the same key string independently
    with services.db.session() as s:
        services.seal.grant(s, demo_seals["ecdsa"], "other-client", actor="test")
    other = _sign(client, {"Idempotency-Key": "decision-2026-0001", **tokens["other"]}, demo_seals["ecdsa"], pdf)
    assert other.status_code == 200 and other.headers["idempotent-replayed"] == "false"


def test_concurrent_requests_with_one_key_sign_once(
    client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pdf = make_pdf()
    key = {"Idempotency-Key": "parallel-1", **tokens["demo"]}
    before = _stored(services)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _sign(client, key, demo_seals["rsa"], pdf), range(4)))
    assert all(r.status_code == 200 for r in results)
    assert len({r.content for r in results}) == 1
    assert sum(r.headers["idempotent-replayed"] == "false" for r in results) == 1
    assert _stored(services)[0] == before[0] + 1


def test_missing_or_wrong_token(
    client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    before = _stored(services)
    resp = client.post("/seal/v1/sign", files={"file": ("d.pdf", make_pdf())}, data={"seal_id": demo_seals["rsa"]})
    _problem(resp, 401, "unauthenticated")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    _problem(
        _sign(client, {"Authorization": "Bearer not-a-token"}, demo_seals["rsa"], make_pdf()), 401, "invalid-token"
    )
    _problem(_sign(client, {"Authorization": "Basic abc"}, demo_seals["rsa"], make_pdf()), 401, "unauthenticated")
    _problem(_sign(client, tokens["noscope"], demo_seals["rsa"], make_pdf()), 403, "forbidden")
    assert _stored(services) == before


NO_XY: dict[str, Any] = {"x": None, "y": None, "page": None}
BAD_INPUTS: list[tuple[str, Callable[[], dict[str, Any]], int, str]] = [
    ("not-a-pdf", lambda: {"pdf": b"GIF89a this is no PDF at all"}, 400, "not-a-pdf"),
    ("empty", lambda: {"pdf": b""}, 400, "not-a-pdf"),
    ("truncated", lambda: {"pdf": make_pdf()[:1500]}, 400, "damaged-pdf"),
    ("header-only", lambda: {"pdf": b"%PDF-1.7\n" + b"x" * 200}, 400, "damaged-pdf"),
    ("encrypted", lambda: {"pdf": encrypted_pdf()}, 400, "encrypted-pdf"),
    ("deeply-nested", lambda: {"pdf": nested_pdf()}, 400, "pdf-too-complex"),
    ("looping-page-tree", lambda: {"pdf": looping_pdf()}, 400, "pdf-too-complex"),
    ("page-out-of-range", lambda: {"pdf": make_pdf(2), "page": 3}, 400, "page-out-of-range"),
    ("box-outside-page", lambda: {"pdf": make_pdf(), "x": 580, "y": 150}, 400, "placement-outside-page"),
    ("anchor-not-found", lambda: {"pdf": make_pdf(), **NO_XY, "anchor": "不存在的文字"}, 400, "anchor-not-found"),
    ("anchor-and-xy", lambda: {"pdf": make_pdf(), "anchor": "盖章"}, 400, "invalid-seal-request"),
    ("unknown-seal", lambda: {"pdf": make_pdf(), "seal_id": "seal-0000000000000000"}, 404, "seal-not-found"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "build", "status", "code"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_nothing_stored_and_journaled(
    name: str,
    build: Callable[[], dict[str, Any]],
    status: int,
    code: str,
    client: TestClient,
    services: Services,
    tokens: Tokens,
    demo_seals: dict[str, str],
) -> None:
    spec = build()
    pdf = spec.pop("pdf")
    seal_id = spec.pop("seal_id", demo_seals["rsa"])
    before = _stored(services)
    body = _problem(_sign(client, tokens["demo"], seal_id, pdf, **spec), status, code)
    assert body["detail"]
    uses, blobs, journal = _stored(services)
    assert (uses, blobs) == before[:2]
    assert journal == before[2] + 1
    entry = _last_entry(services)
    assert (
        entry.action == "seal.use.denied"
        and f'"result":"{code}"' in entry.data
        and entry.actor == "client:demo-approval"
    )


def test_oversized_upload(services: Services, tokens: Tokens, demo_seals: dict[str, str]) -> None:
    """413 from the seal service's own limit (journaled) and from the body limit before the
    route runs (nothing reaches the service)."""
    services.seal.max_pdf_bytes = 30_000
    big = make_pdf(40)
    assert len(big) > 30_000
    with TestClient(create_app(services.settings, services)) as c:
        before = _stored(services)
        body = _problem(_sign(c, tokens["demo"], demo_seals["rsa"], big), 413, "pdf-too-large")
        assert body["limit"] == 30_000
        assert _stored(services)[:2] == before[:2] and _last_entry(services).action == "seal.use.denied"
    small = services.settings.model_copy(update={"max_upload_bytes": 20_000})
    with TestClient(create_app(small, services)) as c:
        before = _stored(services)
        _problem(_sign(c, tokens["demo"], demo_seals["rsa"], big), 413, "too-large")
        assert _stored(services) == before


def test_seal_not_granted_and_grant_limits(
    client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    other = tokens["other"]
    before = _stored(services)
    body = _problem(_sign(client, other, demo_seals["sm2"], make_pdf()), 403, "seal-not-granted")
    assert body["client_id"] == "other-client" and body["seal_id"] == demo_seals["sm2"]
    assert _stored(services)[:2] == before[:2]
    assert _last_entry(services).action == "seal.use.denied" and "seal-not-granted" in _last_entry(services).data
    # a grant limited to document types and time
    g = client.post(
        "/seal/v1/grants",
        json={
            "seal_id": demo_seals["sm2"],
            "client_id": "other-client",
            "document_types": ["license-decision"],
            "not_after": (clock.now() + timedelta(days=1)).isoformat(),
        },
        headers=tokens["admin"],
    )
    assert g.status_code == 201 and g.json()["status"] == "active"
    _problem(_sign(client, other, demo_seals["sm2"], make_pdf()), 403, "seal-not-granted")
    _problem(_sign(client, other, demo_seals["sm2"], make_pdf(), document_type="other"), 403, "seal-not-granted")
    assert _sign(client, other, demo_seals["sm2"], make_pdf(), document_type="license-decision").status_code == 200
    clock.set_global(clock.now() + timedelta(days=2))
    try:
        tokens.renew()
        other = tokens["other"]
        _problem(
            _sign(client, other, demo_seals["sm2"], make_pdf(), document_type="license-decision"),
            403,
            "seal-not-granted",
        )
    finally:
        clock.set_global(None)
    tokens.renew()  # those were issued in the future
    # revoking the grant ends it
    client.post(f"/seal/v1/grants/{g.json()['id']}/revoke", headers=tokens["admin"])
    grants = client.get("/seal/v1/grants", params={"client_id": "other-client"}, headers=tokens["admin"]).json()
    assert [x["status"] for x in grants] == ["revoked"]


@pytest.mark.parametrize("state", ["suspended", "revoked", "expired"])
def test_unusable_seal_is_409(
    state: str, client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    seal_id = demo_seals["ecdsa"]
    if state == "suspended":
        assert (
            client.post(
                f"/seal/v1/seals/{seal_id}/suspend", json={"reason": "印章保管人变更"}, headers=tokens["admin"]
            ).status_code
            == 200
        )
    elif state == "revoked":
        assert (
            client.post(
                f"/seal/v1/seals/{seal_id}/revoke", json={"reason": "key_compromise"}, headers=tokens["admin"]
            ).status_code
            == 200
        )
    else:
        valid_to = client.get(f"/seal/v1/seals/{seal_id}", headers=tokens["admin"]).json()["valid_to"]
        from datetime import datetime

        clock.set_global(datetime.fromisoformat(valid_to) + timedelta(days=1))
        tokens.renew()
    try:
        before = _stored(services)
        code = {"suspended": "seal-suspended", "revoked": "seal-revoked", "expired": "seal-expired"}[state]
        body = _problem(_sign(client, tokens["demo"], seal_id, make_pdf()), 409, code)
        assert body["seal_id"] == seal_id and body["seal_status"] == state
        assert _stored(services)[:2] == before[:2]
        entry = _last_entry(services)
        assert entry.action == "seal.use.denied"
        if state == "expired":  # the transition itself was journaled with the refusal
            with services.db.session() as s:
                actions = [e.action for e in s.exec(select(AuditEntry).where(AuditEntry.seq > before[2])).all()]
            assert actions[-1] == "seal.use.denied" and set(actions[:-1]) == {"seal.expire"}
            assert client.get(f"/seal/v1/seals/{seal_id}", headers=tokens["admin"]).json()["status"] == "expired"
    finally:
        clock.set_global(None)
