"""Idempotency-Key on licence issuance (``POST /license/v1/licenses``), as on sealing: the same key
with the same request gives the licence the first request issued and never issues a second, also
when the retries race (parallel HTTP requests against a live server; real row-level races with
``YWT_DATABASE_URL`` on PostgreSQL, serialised by the writer lock on SQLite); the same key with a
different request is a 422 ``idempotency-key-reused``; keys are per caller."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import sqlalchemy as sa
from licence_helpers import DEPT, FOOD, food_data

from tests.identity.oauth_helpers import basic, machine_client

N = 6


def _counts(services: Any) -> dict[str, int]:
    with services.db.session() as s:
        conn = s.connection()

        def one(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).scalar_one())

        return {
            "licences": one("SELECT COUNT(*) FROM license_licence"),
            "issues": one("SELECT COUNT(*) FROM audit_entry WHERE action = 'license.issue'"),
            "seal_uses": one("SELECT COUNT(*) FROM seal_use"),
        }


def _token(url: str, client_id: str, secret: str) -> dict[str, str]:
    r = httpx.post(f"{url}/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _approval(url: str) -> dict[str, str]:
    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET

    return _token(url, APPROVAL_CLIENT, APPROVAL_SECRET)


def _post(url: str, body: dict[str, Any], headers: dict[str, str], key: str | None) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return httpx.post(f"{url}/license/v1/licenses", json=body, headers={**headers, **extra}, timeout=120)


def test_retry_with_the_same_key_returns_the_same_licence(licensing: Any, services: Any, live_server: Any) -> None:
    url, auth = live_server.url, _approval(live_server.url)
    body = {"type_code": FOOD, "data": food_data("JY21201160050001")}
    before = _counts(services)
    first = _post(url, body, auth, "order-4711")
    assert first.status_code == 201, first.text
    assert first.headers["idempotent-replayed"] == "false"
    again = _post(url, body, auth, "order-4711")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["identifier"] == first.json()["identifier"]
    pdf1 = httpx.get(f"{url}/license/v1/licenses/{first.json()['id']}/pdf", headers=auth)
    assert pdf1.status_code == 200 and pdf1.headers["content-type"] == "application/pdf"
    after = _counts(services)
    assert {k: after[k] - before[k] for k in after} == {"licences": 1, "issues": 1, "seal_uses": 1}

    # without a key the same body is a new request: the licence number is taken -> 409, nothing issued
    dup = _post(url, body, auth, None)
    assert dup.status_code == 409 and dup.json()["type"] == "urn:ywt:problem:license-duplicate-number"
    assert _counts(services) == after


def test_same_key_with_another_request_is_422(licensing: Any, services: Any, live_server: Any) -> None:
    url, auth = live_server.url, _approval(live_server.url)
    first = _post(url, {"type_code": FOOD, "data": food_data("JY21201160050002")}, auth, "k-reuse")
    assert first.status_code == 201, first.text
    before = _counts(services)
    other = _post(url, {"type_code": FOOD, "data": food_data("JY21201160050003")}, auth, "k-reuse")
    assert other.status_code == 422, other.text
    problem = other.json()
    assert other.headers["content-type"].startswith("application/problem+json")
    assert problem["type"] == "urn:ywt:problem:idempotency-key-reused" and problem["idempotency_key"] == "k-reuse"
    assert _counts(services) == before
    # the body is compared as data, not as bytes: reordered keys are the same request
    reordered = dict(reversed(list(food_data("JY21201160050002").items())))
    replay = _post(url, {"data": reordered, "type_code": FOOD}, auth, "k-reuse")
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    # a key is the caller's own: another issuing client may use the same string for its request
    secret = machine_client(services, "dept-2", scopes=frozenset({"license:issue"}), acts_for=DEPT)
    mine = _post(
        url, {"type_code": FOOD, "data": food_data("JY21201160050004")}, _token(url, "dept-2", secret), "k-reuse"
    )
    assert mine.status_code == 201 and mine.headers["idempotent-replayed"] == "false", mine.text
    # a bad key is bad input
    bad = _post(url, {"type_code": FOOD, "data": food_data("JY21201160050005")}, auth, "k" * 201)
    assert bad.status_code in (400, 422) and bad.json()["type"].startswith("urn:ywt:problem:")


def test_concurrent_retries_issue_exactly_once(licensing: Any, services: Any, live_server: Any) -> None:
    """N clients' retries of one request race: one licence, one journal entry, one seal use, and
    every retry gets that same licence (201)."""
    url, auth = live_server.url, _approval(live_server.url)
    body = {"type_code": FOOD, "data": food_data("JY21201160050009")}
    before = _counts(services)
    barrier = threading.Barrier(N)
    results: list[httpx.Response | None] = [None] * N

    def go(i: int) -> None:
        barrier.wait()
        results[i] = _post(url, body, auth, "race-key-1")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    responses = [r for r in results if r is not None]
    assert [r.status_code for r in responses] == [201] * N, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.headers["idempotent-replayed"] for r in responses) == ["false"] + ["true"] * (N - 1)
    after = _counts(services)
    assert {k: after[k] - before[k] for k in after} == {"licences": 1, "issues": 1, "seal_uses": 1}


def test_retried_correction_returns_the_version_it_made(licensing: Any, services: Any, live_server: Any) -> None:
    """Without the key a retried correction would fail (the licence is superseded by then) or, after
    a lost answer, leave the client not knowing which version it made."""
    url, auth = live_server.url, _approval(live_server.url)
    lic = _post(url, {"type_code": FOOD, "data": food_data("JY21201160050011")}, auth, None).json()
    fix = {"data": food_data("JY21201160050011", premises="天津市滨海新区示例路9号")}

    def correct(key: str | None, body: dict[str, Any] = fix) -> httpx.Response:
        extra = {"Idempotency-Key": key} if key else {}
        return httpx.post(f"{url}/license/v1/licenses/{lic['id']}/correct", json=body, headers={**auth, **extra})

    before = _counts(services)
    first = correct("fix-1")
    assert first.status_code == 201 and first.json()["version"] == 2, first.text
    again = correct("fix-1")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], again.text
    assert again.headers["idempotent-replayed"] == "true"
    after = _counts(services)
    assert after["licences"] - before["licences"] == 1
    other = correct("fix-1", {"data": food_data("JY21201160050011", premises="别处")})
    assert other.status_code == 422 and other.json()["type"] == "urn:ywt:problem:idempotency-key-reused"
    assert correct(None).status_code == 409  # without a key: the licence is superseded now


def test_a_twin_that_completes_mid_request_wins_over_the_error_it_causes(
    licensing: Any, services: Any, live_server: Any, monkeypatch: Any
) -> None:
    """The race the concurrent test can only hit by chance, made certain: a retry looks for its key
    before the first request has committed (sees nothing), and by the time it checks the licence
    number the first has committed, so the number is taken. The retry must answer with the first
    request's licence (201, replayed), not 409 duplicate-number; nothing more is issued."""
    url, auth = live_server.url, _approval(live_server.url)
    body = {"type_code": FOOD, "data": food_data("JY21201160050011")}
    first = _post(url, body, auth, "twin-key")
    assert first.status_code == 201, first.text
    before = _counts(services)
    service = live_server.services.licenses
    real = service._replay
    calls: list[int] = []

    def first_look_sees_nothing(idem: Any, session: Any = None) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(idem, session)

    monkeypatch.setattr(service, "_replay", first_look_sees_nothing)
    retry = _post(url, body, auth, "twin-key")
    assert len(calls) >= 2, "the retry did not look for its key again after the error"
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"] and retry.headers["idempotent-replayed"] == "true"
    assert _counts(services) == before
    # the same race without a key is a plain duplicate number (409), nothing stored
    dup = _post(url, body, auth, None)
    assert dup.status_code == 409 and dup.json()["type"] == "urn:ywt:problem:license-duplicate-number"
    assert _counts(services) == before
