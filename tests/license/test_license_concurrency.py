"""Licence numbers stay unique under concurrent issuance: parallel HTTP requests against a live
server (run with ``YWT_DATABASE_URL`` pointing at PostgreSQL for real row-level races; on SQLite
the same requests are serialised by the writer lock)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import sqlalchemy as sa
from licence_helpers import FOOD, food_data

from license.identifier import parse_identifier
from tests.identity.oauth_helpers import basic

N = 6


def _counts(services: Any) -> dict[str, int]:
    with services.db.session() as s:
        conn = s.connection()
        return {
            "lineages": int(conn.execute(sa.text("SELECT COUNT(*) FROM license_lineage")).scalar_one()),
            "licences": int(conn.execute(sa.text("SELECT COUNT(*) FROM license_licence")).scalar_one()),
            "issues": int(
                conn.execute(sa.text("SELECT COUNT(*) FROM audit_entry WHERE action = 'license.issue'")).scalar_one()
            ),
        }


def _token(url: str) -> str:
    """A real client_credentials token of the demo department's approval system."""
    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET

    r = httpx.post(
        f"{url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _parallel(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {_token(url)}"}
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def go(i: int) -> None:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            results[i] = c.post(f"{url}/license/v1/licenses", json=bodies[i], headers=headers)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_same_number_in_parallel_issues_once(licensing: Any, services: Any, live_server: Any) -> None:
    body = {"type_code": FOOD, "data": food_data("JY21201160031337")}
    before = _counts(services)
    responses = _parallel(live_server.url, [body] * N)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (N - 1), [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:ywt:problem:license-duplicate-number"
    after = _counts(services)
    assert {k: after[k] - before[k] for k in after} == {"lineages": 1, "licences": 1, "issues": 1}


def test_different_numbers_in_parallel_get_distinct_serials(licensing: Any, services: Any, live_server: Any) -> None:
    bodies = [{"type_code": FOOD, "data": food_data(f"JY2120116004{i:04d}")} for i in range(N)]
    before = _counts(services)
    responses = _parallel(live_server.url, bodies)
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses]
    serials = sorted(int(parse_identifier(r.json()["identifier"]).serial) for r in responses)
    assert len(set(serials)) == N
    assert serials == list(range(serials[0], serials[0] + N))  # no gaps when nothing failed
    assert _counts(services)["licences"] - before["licences"] == N
