"""The domain counters of ``core.metrics`` move when the thing they count happens, as read from
``/metrics``: tokens issued (client_credentials, authorization code), seal uses (signed, denied),
licences issued, verification verdicts, base-data source failures. Everything goes through HTTP
with real tokens; the telecom three-element source is configured to fail (as an operator's
``YWT_IDENTITY_SOURCES`` would make a stub misbehave)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Services, build_services, initialise
from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET, CITIZEN_PASSWORD, CITIZEN_USER
from core.settings import Settings
from tests.identity.oauth_helpers import client_token
from tests.identity.oidc_helpers import Flow, tokens
from tests.license.licence_helpers import person_data
from tests.license.license_samples import QUALIFICATION
from tests.seal.pdfkit import make_pdf

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    failing = settings.model_copy(update={"identity_sources": {"telecom3": {"failure_rate": 1.0}}})
    svc: Services = build_services(failing)
    initialise(svc, demo=True)
    with TestClient(create_app(failing, svc)) as c:
        yield c
    svc.close()


def test_domain_counters_move_with_the_domain(http: TestClient) -> None:
    def now() -> Any:
        resp = http.get("/metrics")
        assert resp.status_code == 200
        return scrape(resp.text)

    before = now()

    # tokens: client_credentials (access only), authorization code (access, id, refresh)
    token = client_token(http, APPROVAL_CLIENT, APPROVAL_SECRET)
    auth = {"Authorization": f"Bearer {token}"}
    citizen = tokens(http, Flow(), username=CITIZEN_USER, password=CITIZEN_PASSWORD)

    # a seal use, and a refused one
    seals = http.get("/seal/v1/seals", headers=auth).json()
    seal = next(s for s in seals if s["status"] == "active")
    files = {"file": ("d.pdf", make_pdf(), "application/pdf")}
    form = {"seal_id": seal["id"], "page": "1", "x": "350", "y": "150"}
    assert http.post("/seal/v1/sign", headers=auth, files=files, data=form).status_code == 200
    refused = http.post("/seal/v1/sign", headers=auth, files=files, data={**form, "seal_id": "no-such-seal"})
    assert refused.status_code in (403, 404)

    # a licence, then its QR code verified, and a code that is not ours (rejected as input)
    issued = http.post("/license/v1/licenses", json={"type_code": QUALIFICATION, "data": person_data()}, headers=auth)
    assert issued.status_code == 201, issued.text
    payload = issued.json()["qr"]["payload"]
    verdict = http.post("/verify/v1/qr", json={"payload": payload})
    assert verdict.status_code == 200 and verdict.json()["indication"] == "TOTAL-PASSED", verdict.text
    garbage = http.post("/verify/v1/qr", json={"payload": "garbage"})
    assert garbage.status_code >= 400, garbage.text

    # a base-data source that gives no answer
    failed = http.post(
        "/identity/v1/me/verifications",
        json={"method": "telecom3", "phone": "13920001234"},
        headers={"Authorization": f"Bearer {citizen['access_token']}"},
    )
    assert failed.status_code == 503, failed.text

    after = now()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ywt_tokens_issued_total", grant_type="client_credentials", token_type="access") == 1
    assert delta("ywt_tokens_issued_total", grant_type="authorization_code", token_type="access") == 1
    assert delta("ywt_tokens_issued_total", grant_type="authorization_code", token_type="id") == 1
    # one document sealed by the client, one licence sealed by the licence service
    assert delta("ywt_seal_uses_total", algorithm=seal["family"], result="ok") >= 1
    assert delta("ywt_seal_uses_total", result="ok") == 2
    assert delta("ywt_seal_uses_total", result="denied") == 1
    assert delta("ywt_licences_issued_total", license_type=QUALIFICATION) == 1
    assert delta("ywt_verification_verdicts_total", kind="qr", indication="TOTAL-PASSED") == 1
    assert delta("ywt_verification_verdicts_total", kind="qr", indication="REJECTED") == 1  # unreadable input
    assert delta("ywt_verification_verdicts_total") == 2
    assert delta("ywt_base_data_source_failures_total", source="telecom3") == 1
    # and the label values are categories, never identifiers
    labels = {v for (n, ls), _ in after.items() if n.startswith("ywt_") for _, v in ls}
    assert payload not in labels and seal["id"] not in labels and APPROVAL_CLIENT not in labels
