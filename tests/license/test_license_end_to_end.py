"""Issue 5 end to end over HTTP, where the other tests stop at the service: status changes seen at
once by the QR landing page (``GET /v/{payload}``) and the verify API (``POST /verify/v1/qr``),
the GB/T 36903 metadata exported as JSON (the same elements the PDF embeds), search by issuer /
status / date / holder keyed hash, an expired share, and forged or truncated QR payloads."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CITIZEN_TOKEN, ISSUER_TOKEN, OPERATOR_TOKEN, bearer, mint
from licence_helpers import DEPT, FOOD, QUALIFICATION, embedded_metadata, food_data, journal_actions, person_data
from licence_helpers import stored_state as _stored_state

from core import clock
from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY
from license.values import today_in_china


def _issue(http: Any, type_code: str, data: dict[str, Any], token: str = ISSUER_TOKEN, **extra: Any) -> dict[str, Any]:
    r = http.post("/license/v1/licenses", json={"type_code": type_code, "data": data, **extra}, headers=bearer(token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _licence_state(services: Any) -> dict[str, int]:
    """Stored state apart from the audit journal (verifications and refused accesses are journaled)."""
    return {k: v for k, v in _stored_state(services).items() if k != "audit_entry"}


# ---------------------------------------------------------------- status everywhere, at once

STATUS_ZH = {"valid": "有效", "suspended": "已暂停", "revoked": "已注销/吊销", "superseded": "已被新版本替代"}


def _seen(http: Any, lic: dict[str, Any]) -> tuple[str, str, str]:
    """(indication, status) from the verify API for the scanned URL, and the landing page text."""
    api = http.post("/verify/v1/qr", json={"payload": lic["qr"]["url"]})
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["details"]["licence"]["identifier"] == lic["identifier"]
    page = http.get("/v/" + lic["qr"]["payload"])
    assert page.status_code == 200, page.text
    return body["indication"], body["details"]["licence"]["status"], page.text


def _assert_seen(http: Any, lic: dict[str, Any], indication: str, status: str) -> None:
    got_indication, got_status, page = _seen(http, lic)
    assert (got_indication, got_status) == (indication, status)
    assert f"<td>{STATUS_ZH[status]}</td>" in page, page  # 当前状态 row of the landing page
    assert indication in page


def test_every_status_change_shows_at_once_on_the_landing_page_and_the_verify_api(http: Any) -> None:
    lic = _issue(http, FOOD, food_data("JY21201160077001"))
    url = f"/license/v1/licenses/{lic['id']}"
    _assert_seen(http, lic, "TOTAL-PASSED", "valid")

    assert http.post(url + "/suspend", json={"reason": "停业整顿"}, headers=bearer(ISSUER_TOKEN)).status_code == 200
    _assert_seen(http, lic, "INDETERMINATE", "suspended")

    assert http.post(url + "/resume", headers=bearer(ISSUER_TOKEN)).status_code == 200
    _assert_seen(http, lic, "TOTAL-PASSED", "valid")

    r = http.post(
        url + "/correct",
        json={"data": food_data("JY21201160077001", premises="天津市滨海新区示例路9号")},
        headers=bearer(ISSUER_TOKEN),
    )
    assert r.status_code == 201, r.text
    new = r.json()
    _assert_seen(http, lic, "TOTAL-FAILED", "superseded")  # the old code: genuine but replaced
    old = http.post("/verify/v1/qr", json={"payload": lic["qr"]["payload"]}).json()
    assert old["details"]["licence"]["current_identifier"] == new["identifier"]
    _assert_seen(http, new, "TOTAL-PASSED", "valid")

    r = http.post(f"/license/v1/licenses/{new['id']}/revoke", json={"reason": "吊销"}, headers=bearer(ISSUER_TOKEN))
    assert r.status_code == 200
    _assert_seen(http, new, "TOTAL-FAILED", "revoked")
    _assert_seen(http, lic, "TOTAL-FAILED", "superseded")


# ---------------------------------------------------------------- GB/T 36903 metadata as JSON


@pytest.mark.parametrize("type_code", [QUALIFICATION, FOOD])
def test_metadata_is_exported_as_json_and_is_what_the_pdf_embeds(http: Any, type_code: str) -> None:
    data = person_data() if type_code == QUALIFICATION else food_data("JY21201160077002")
    lic = _issue(http, type_code, data)
    r = http.get(f"/license/v1/licenses/{lic['id']}/metadata", headers=bearer(ISSUER_TOKEN))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    exported = r.json()
    pdf = http.get(f"/license/v1/licenses/{lic['id']}/pdf", headers=bearer(ISSUER_TOKEN)).content
    raw = embedded_metadata(pdf)
    assert hashlib.sha256(raw).hexdigest() == lic["data_hash"]  # what the QR code signs
    embedded = json.loads(raw)
    assert list(exported) == list(embedded)  # same elements, same order
    for name in ("ZZMC", "ZZLXDM", "ZZBH", "ZZBS", "ZZBFJG", "ZZBFJGDM", "ZZBFRQ", "CZZT", "CZZTDMLX"):
        assert exported[name] == embedded[name], name
    assert exported["ZZBS"] == lic["identifier"] and exported["ZZBFJGDM"] == DEPT
    assert exported["ZZBH"] == lic["number"] and exported["ZZYXQQSRQ"] == lic["valid_from"]
    if type_code == QUALIFICATION:
        assert embedded["CZZTDM"] == DEMO_CITIZEN.id_number  # in the PDF the holder carries ...
        assert exported["CZZTDM"] == "1201**********1239"  # ... masked in the API response
        assert DEMO_CITIZEN.id_number not in r.text
        assert exported["CZZTDMLXDM"] == "111"
    else:
        assert exported["CZZTDM"] == DEMO_COMPANY.uscc and exported["CZZTDMLXDM"] == "001"
        assert exported["ZZYXQJZRQ"] == "2031-05-31"
    # the holder may export it; a stranger may not
    if type_code == QUALIFICATION:
        assert http.get(f"/license/v1/licenses/{lic['id']}/metadata", headers=bearer(CITIZEN_TOKEN)).json() == exported
    r = http.get(f"/license/v1/licenses/{'0' * 32}/metadata", headers=bearer(ISSUER_TOKEN))
    assert r.status_code == 404 and r.json()["type"] == "urn:ywt:problem:license-not-found"


# ---------------------------------------------------------------- search


def test_search_by_type_issuer_status_date_and_holder_keyed_hash(http: Any, services: Any) -> None:
    person = _issue(http, QUALIFICATION, person_data())
    food = _issue(http, FOOD, food_data("JY21201160077003"))
    suspended = _issue(http, FOOD, food_data("JY21201160077004"))
    http.post(f"/license/v1/licenses/{suspended['id']}/suspend", json={"reason": "核查"}, headers=bearer(ISSUER_TOKEN))
    mint(OPERATOR_TOKEN)

    def ids(token: str = ISSUER_TOKEN, **params: Any) -> set[str]:
        r = http.get("/license/v1/licenses", params=params, headers=bearer(token))
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    mine = {person["id"], food["id"], suspended["id"]}
    assert ids(type_code=FOOD) >= {food["id"], suspended["id"]} and person["id"] not in ids(type_code=FOOD)
    # an operator searches across issuers and narrows by issuer
    assert ids(OPERATOR_TOKEN, issuer_code=DEPT) >= mine
    assert ids(OPERATOR_TOKEN, issuer_code=DEMO_COMPANY.uscc) == set()
    assert suspended["id"] in ids(status="suspended") and food["id"] not in ids(status="suspended")
    assert food["id"] in ids(status="valid") and suspended["id"] not in ids(status="valid")
    today = today_in_china()
    assert ids(issued_from=today.isoformat(), issued_to=today.isoformat()) >= mine
    assert ids(issued_from=(today + timedelta(days=1)).isoformat()) & mine == set()
    assert ids(issued_to=date(2000, 1, 1).isoformat()) & mine == set()
    bad = http.get("/license/v1/licenses", params={"status": "lost"}, headers=bearer(ISSUER_TOKEN))
    assert bad.status_code == 422 and bad.json()["type"] == "urn:ywt:problem:validation"

    # the holder's code is found by its keyed hash: the stored index is the HMAC, never the number
    body = {"holder_kind": "person", "holder_code": DEMO_CITIZEN.id_number}
    found = http.post("/license/v1/licenses/search", json=body, headers=bearer(ISSUER_TOKEN)).json()
    assert person["id"] in {i["id"] for i in found["items"]}
    from license.service import holder_index

    with services.db.session() as s:
        stored = (
            s.connection()
            .execute(sa.text("SELECT holder_index FROM license_licence WHERE id = :i"), {"i": person["id"]})
            .scalar_one()
        )
    assert stored == holder_index(services.licenses.pii, "person", DEMO_CITIZEN.id_number)
    assert DEMO_CITIZEN.id_number not in stored and len(stored) == 64


# ---------------------------------------------------------------- shares: expired


def test_expired_share_is_refused_journaled_and_stores_nothing(http: Any, services: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data())
    r = http.post(
        "/license/v1/shares",
        json={"licence_id": lic["id"], "recipient": "某用人单位", "expires_in_minutes": 10},
        headers=bearer(CITIZEN_TOKEN),
    )
    token = r.json()["token"]
    before = _licence_state(services)
    clock.set_global(clock.now() + timedelta(minutes=11))
    try:
        for path in ("", "/pdf"):
            resp = http.get(f"/license/v1/shared/{token}{path}")
            assert resp.status_code == 410 and resp.json()["type"] == "urn:ywt:problem:license-share-expired"
    finally:
        clock.set_global(None)
    assert _licence_state(services) == before
    results = [json.loads(d)["result"] for _, _, d in journal_actions(services, "license.share.access")]
    assert results[-2:] == ["expired", "expired"]


# ---------------------------------------------------------------- forged / truncated QR payloads


def test_forged_or_truncated_qr_payload_is_refused_and_stores_nothing(http: Any, services: Any) -> None:
    import base64

    lic = _issue(http, QUALIFICATION, person_data())
    payload = lic["qr"]["payload"]
    h, p, s = payload.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["n"] = "李*"
    forged = f"{h}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{s}"
    before = _licence_state(services)

    r = http.post("/verify/v1/qr", json={"payload": forged})
    assert r.status_code == 200 and r.json()["indication"] == "TOTAL-FAILED"  # a verdict: forged
    page = http.get("/v/" + forged)
    assert page.status_code == 200 and "TOTAL-FAILED" in page.text and "真实有效" not in page.text

    for truncated in (payload[: len(payload) // 2], payload[:-10], f"{h}.{p}"):
        r = http.post("/verify/v1/qr", json={"payload": truncated})
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"] == "urn:ywt:problem:bad-qr-payload"
        else:  # a signature cut short still parses: then it must be a failed verdict, never a pass
            assert r.json()["indication"] == "TOTAL-FAILED"
        page = http.get("/v/" + truncated)
        assert "真实有效" not in page.text
    assert _licence_state(services) == before
