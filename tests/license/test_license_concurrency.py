"""Licence numbers stay unique under concurrent issuance: parallel HTTP requests against a live
server (run with ``YWT_DATABASE_URL`` pointing at PostgreSQL for real row-level races; on SQLite
the same requests are serialised by the writer lock)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import sqlalchemy as sa
from conftest import ISSUER_TOKEN, TestOnlyTokenVerifier, bearer
from licence_helpers import FOOD, food_data

from license.identifier import parse_identifier

N = 6


def _parallel(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def go(i: int) -> None:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            results[i] = c.post(f"{url}/license/v1/licenses", json=bodies[i], headers=bearer(ISSUER_TOKEN))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_same_number_in_parallel_issues_once(licensing: Any, services: Any, live_server: Any) -> None:
    services.token_verifier = TestOnlyTokenVerifier()
    body = {"type_code": FOOD, "data": food_data("JY21201160031337")}
    responses = _parallel(live_server.url, [body] * N)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (N - 1), [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:ywt:problem:license-duplicate-number"
    with services.db.session() as s:
        conn = s.connection()
        assert conn.execute(sa.text("SELECT COUNT(*) FROM license_lineage")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT COUNT(*) FROM license_licence")).scalar_one() == 1
        issues = conn.execute(sa.text("SELECT COUNT(*) FROM audit_entry WHERE action = 'license.issue'")).scalar_one()
    assert issues == 1


def test_different_numbers_in_parallel_get_distinct_serials(licensing: Any, services: Any, live_server: Any) -> None:
    services.token_verifier = TestOnlyTokenVerifier()
    bodies = [{"type_code": FOOD, "data": food_data(f"JY2120116004{i:04d}")} for i in range(N)]
    responses = _parallel(live_server.url, bodies)
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    serials = sorted(int(parse_identifier(r.json()["identifier"]).serial) for r in responses)
    assert len(set(serials)) == N
    assert serials == list(range(serials[0], serials[0] + N))  # no gaps when nothing failed
    with services.db.session() as s:
        assert s.connection().execute(sa.text("SELECT COUNT(*) FROM license_licence")).scalar_one() == N
