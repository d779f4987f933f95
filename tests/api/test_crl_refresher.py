"""The server's background CRL refresher (``api.app._crl_refresher``), run by the app's lifespan.

``CaService.refresh_crls`` itself is tested in tests/ca/test_issue.py; this shows that a running
server calls it on its own: with the clock moved into the refresh window every CA gets a new CRL
(higher number, later nextUpdate) without any request, and a refresh that fails (the database
refusing, simulated once) is logged and retried on the next round instead of ending the task.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import api.app as app_module
from api.app import create_app
from api.container import Services
from ca.models import CrlRecord
from core import clock


def _latest_numbers(services: Services) -> dict[str, int]:
    with services.db.session() as s:
        rows = s.exec(select(CrlRecord).order_by(col(CrlRecord.number))).all()
        return {r.ca_id: r.number for r in rows}


def _wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_running_server_reissues_crls_and_survives_a_failed_round(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with services.db.session() as s:
        cas = [c.id for c in services.ca.list_cas(s)]
        for ca_id in cas:
            services.ca.current_crl(s, ca_id)  # every CA has a fresh CRL now
    before = _latest_numbers(services)
    assert set(before) == set(cas)

    real_refresh = services.ca.refresh_crls
    calls: list[str] = []

    def flaky_refresh(session: Session) -> list[str]:
        calls.append("call")
        if len(calls) == 1:
            raise RuntimeError("database unavailable (simulated)")
        return real_refresh(session)

    monkeypatch.setattr(services.ca, "refresh_crls", flaky_refresh)
    monkeypatch.setattr(app_module, "CRL_REFRESH_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="ywt")

    # Within the refresh window: less than crl_refresh_hours left of every CRL's validity.
    later = clock.now() + timedelta(
        hours=services.settings.crl_validity_hours - services.settings.crl_refresh_hours + 1
    )
    clock.set_global(later)
    try:
        with TestClient(create_app(services.settings, services)):
            refreshed = _wait_for(lambda: all(_latest_numbers(services)[c] > before[c] for c in cas))
    finally:
        clock.set_global(None)

    assert refreshed, f"CRLs not re-issued by the running server: {before} -> {_latest_numbers(services)}"
    assert len(calls) >= 2  # the failed first round did not end the task
    messages = [r.getMessage() for r in caplog.records if r.name == "ywt"]
    assert any("CRL refresh failed; will retry" in m for m in messages), messages
    assert any(m.startswith("re-issued CRLs: ") for m in messages), messages
    with services.db.session() as s:
        for ca_id in cas:
            latest = s.exec(
                select(CrlRecord).where(CrlRecord.ca_id == ca_id).order_by(col(CrlRecord.number).desc())
            ).first()
            assert latest is not None
            assert clock.utc(latest.next_update) > later + timedelta(hours=services.settings.crl_refresh_hours)


def test_fresh_crls_are_left_alone_by_the_running_server(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the refresh window the refresher runs but issues nothing (no CRL churn)."""
    with services.db.session() as s:
        for ca in services.ca.list_cas(s):
            services.ca.current_crl(s, ca.id)
    before = _latest_numbers(services)
    rounds: list[list[str]] = []
    real_refresh = services.ca.refresh_crls

    def counting(session: Session) -> list[str]:
        out = real_refresh(session)
        rounds.append(out)
        return out

    monkeypatch.setattr(services.ca, "refresh_crls", counting)
    monkeypatch.setattr(app_module, "CRL_REFRESH_SECONDS", 0.05)
    with TestClient(create_app(services.settings, services)):
        assert _wait_for(lambda: len(rounds) >= 3)
    assert all(r == [] for r in rounds), rounds
    assert _latest_numbers(services) == before
