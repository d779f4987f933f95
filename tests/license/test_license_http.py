"""The /license/v1 HTTP surface: who may call what, problem+json for every refusal, shares."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import (
    AUDITOR_TOKEN,
    CITIZEN_TOKEN,
    ISSUER_TOKEN,
    NOSCOPE_TOKEN,
    OPERATOR_TOKEN,
    OTHER_ISSUER_TOKEN,
    STRANGER_TOKEN,
    bearer,
    mint,
)
from licence_helpers import BUSINESS, DEPT, FOOD, QUALIFICATION, food_data, journal_actions, person_data, stored_state

from api.demo import DEMO_LICENCE_NUMBER
from core import clock
from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY
from license.types import builtin_types

PROBLEM = "application/problem+json"


def _issue(http: Any, type_code: str, data: dict[str, Any], token: str = ISSUER_TOKEN, **extra: Any) -> Any:
    return http.post(
        "/license/v1/licenses", json={"type_code": type_code, "data": data, **extra}, headers=bearer(token)
    )


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{code}", body
    return body


def test_issue_list_get_pdf(http: Any) -> None:
    r = _issue(http, QUALIFICATION, person_data())
    assert r.status_code == 201, r.text
    lic = r.json()
    assert lic["issuer"]["code"] == DEPT and lic["status"] == "valid"
    assert lic["holder"]["code"] == "1201**********1239" and DEMO_CITIZEN.id_number not in r.text
    listed = http.get("/license/v1/licenses", headers=bearer(ISSUER_TOKEN)).json()
    assert listed["total"] >= 1 and lic["id"] in [i["id"] for i in listed["items"]]
    got = http.get(f"/license/v1/licenses/{lic['id']}", headers=bearer(ISSUER_TOKEN))
    assert got.status_code == 200 and got.json()["identifier"] == lic["identifier"]
    pdf = http.get(f"/license/v1/licenses/{lic['id']}/pdf", headers=bearer(ISSUER_TOKEN))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["x-licence-status"] == "valid"


def test_who_may_issue(http: Any, services: Any) -> None:
    mint(NOSCOPE_TOKEN, AUDITOR_TOKEN, CITIZEN_TOKEN, ISSUER_TOKEN, OTHER_ISSUER_TOKEN, OPERATOR_TOKEN)
    before = stored_state(services)
    _problem(http.post("/license/v1/licenses", json={"type_code": FOOD, "data": food_data()}), 401, "unauthenticated")
    _problem(_issue(http, FOOD, food_data(), NOSCOPE_TOKEN), 403, "forbidden")
    _problem(_issue(http, FOOD, food_data(), AUDITOR_TOKEN), 403, "forbidden")
    _problem(_issue(http, FOOD, food_data(), CITIZEN_TOKEN), 403, "forbidden")
    _problem(
        _issue(http, FOOD, food_data(), ISSUER_TOKEN, issuer_code=DEMO_COMPANY.uscc), 403, "license-issuer-not-allowed"
    )
    # DEMO_COMPANY's client: an active entity, but with no licence-issuing seal
    _problem(_issue(http, FOOD, food_data(), OTHER_ISSUER_TOKEN), 409, "license-no-issuing-seal")
    assert stored_state(services) == before
    r = _issue(http, FOOD, food_data(), OPERATOR_TOKEN, issuer_code=DEPT)
    assert r.status_code == 201, r.text


def test_bad_input_problems(http: Any, services: Any) -> None:
    mint(ISSUER_TOKEN)
    before = stored_state(services)
    bad_id = person_data(id_number=DEMO_CITIZEN.id_number[:-1] + "0")
    body = _problem(_issue(http, QUALIFICATION, bad_id), 400, "license-invalid-data")
    assert body["errors"] == [
        {"field": "id_number", "code": "bad_check_digit", "message": body["errors"][0]["message"]}
    ]
    assert DEMO_CITIZEN.id_number[:-1] not in str(body)
    _problem(_issue(http, "111200000000010116999", food_data()), 404, "license-unknown-type")
    _problem(_issue(http, FOOD, food_data(premises="路" * 121)), 400, "license-invalid-data")
    body = _problem(
        _issue(http, QUALIFICATION, person_data(name="王五", id_number="120103198506203453")),
        400,
        "license-holder-not-eligible",
    )
    assert body["reason"] == "level_too_low" and body["masked"] == "1201**********3453"
    assert (body["level"], body["required_level"]) == (1, 2)
    _problem(http.post("/license/v1/licenses", json={"data": {}}, headers=bearer(ISSUER_TOKEN)), 422, "validation")
    _problem(
        http.post(
            "/license/v1/licenses",
            content=b"{not json",
            headers={**bearer(ISSUER_TOKEN), "content-type": "application/json"},
        ),
        422,
        "validation",
    )
    assert stored_state(services) == before
    assert _issue(http, FOOD, food_data("JY21201160000555")).status_code == 201
    _problem(_issue(http, FOOD, food_data("JY21201160000555")), 409, "license-duplicate-number")


def test_other_parties_cannot_read(http: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    for token in (OTHER_ISSUER_TOKEN, STRANGER_TOKEN):
        _problem(http.get(f"/license/v1/licenses/{lic['id']}", headers=bearer(token)), 404, "license-not-found")
        _problem(http.get(f"/license/v1/licenses/{lic['id']}/pdf", headers=bearer(token)), 404, "license-not-found")
    # the holder may
    assert http.get(f"/license/v1/licenses/{lic['id']}", headers=bearer(CITIZEN_TOKEN)).status_code == 200
    # another department's client sees an empty list; a holder cannot search
    assert http.get("/license/v1/licenses", headers=bearer(OTHER_ISSUER_TOKEN)).json()["total"] == 0
    _problem(http.get("/license/v1/licenses", headers=bearer(CITIZEN_TOKEN)), 403, "forbidden")


def test_status_changes_over_http(http: Any) -> None:
    lic = _issue(http, FOOD, food_data()).json()
    url = f"/license/v1/licenses/{lic['id']}"
    _problem(http.post(url + "/suspend", json={}, headers=bearer(ISSUER_TOKEN)), 400, "license-invalid-data")
    r = http.post(url + "/suspend", json={"reason": "停业整顿"}, headers=bearer(ISSUER_TOKEN))
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert http.post(url + "/resume", headers=bearer(ISSUER_TOKEN)).json()["status"] == "valid"
    assert (
        http.post(url + "/revoke", json={"reason": "吊销"}, headers=bearer(ISSUER_TOKEN)).json()["status"] == "revoked"
    )
    _problem(http.post(url + "/resume", headers=bearer(ISSUER_TOKEN)), 409, "license-invalid-status-change")
    _problem(
        http.post(url + "/revoke", json={"reason": "x"}, headers=bearer(OTHER_ISSUER_TOKEN)), 404, "license-not-found"
    )
    got = http.get(url, headers=bearer(ISSUER_TOKEN)).json()
    assert got["status"] == "revoked" and got["status_reason"] == "吊销"


def test_correct_over_http(http: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    r = http.post(
        f"/license/v1/licenses/{lic['id']}/correct",
        json={"data": person_data(occupation="电工（维修）")},
        headers=bearer(ISSUER_TOKEN),
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["version"] == 2 and new["previous_id"] == lic["id"]
    old = http.get(f"/license/v1/licenses/{lic['id']}", headers=bearer(ISSUER_TOKEN)).json()
    assert old["status"] == "superseded" and old["superseded_by"] == new["id"]


# ----------------------------------------------------------------------------------- wallet


def test_wallet(http: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    _issue(http, FOOD, food_data())  # someone else's (the company's)
    items = http.get("/license/v1/wallet", headers=bearer(CITIZEN_TOKEN)).json()["items"]
    # the new licence first, then the demo world's qualification certificate (DESIGN.md demo)
    assert items[0]["id"] == lic["id"]
    assert [i["number"] for i in items][1:] == [DEMO_LICENCE_NUMBER]
    detail = http.get(f"/license/v1/wallet/{lic['id']}", headers=bearer(CITIZEN_TOKEN))
    assert detail.status_code == 200 and detail.json()["data"]["id_number"] == "1201**********1239"
    pdf = http.get(f"/license/v1/wallet/{lic['id']}/pdf", headers=bearer(CITIZEN_TOKEN))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert http.get("/license/v1/wallet", headers=bearer(STRANGER_TOKEN)).json()["items"] == []
    _problem(http.get(f"/license/v1/wallet/{lic['id']}", headers=bearer(STRANGER_TOKEN)), 404, "license-not-found")
    _problem(http.get("/license/v1/wallet", headers=bearer(ISSUER_TOKEN)), 403, "forbidden")
    _problem(http.get("/license/v1/wallet"), 401, "unauthenticated")


# ----------------------------------------------------------------------------------- shares


def _share(http: Any, licence_id: str, **extra: Any) -> Any:
    body = {"licence_id": licence_id, "recipient": "中国银行天津分行", "purpose": "开户核验", **extra}
    return http.post("/license/v1/shares", json=body, headers=bearer(CITIZEN_TOKEN))


def test_share_lifecycle_every_access_journaled(http: Any, services: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    r = _share(http, lic["id"], expires_in_minutes=60)
    assert r.status_code == 201, r.text
    share = r.json()
    token = share["token"]
    assert share["link"].endswith(f"/license/v1/shared/{token}") and share["state"] == "active"
    # the third party fetches with the link, no account needed
    got = http.get(f"/license/v1/shared/{token}")
    assert got.status_code == 200 and got.json()["licence"]["identifier"] == lic["identifier"]
    assert DEMO_CITIZEN.id_number not in got.text
    pdf = http.get(f"/license/v1/shared/{token}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    listed = http.get("/license/v1/shares", headers=bearer(CITIZEN_TOKEN)).json()
    assert listed[0]["access_count"] == 2 and "token" not in listed[0]
    # the holder revokes: the link stops working at once
    assert (
        http.post(f"/license/v1/shares/{share['id']}/revoke", headers=bearer(CITIZEN_TOKEN)).json()["state"]
        == "revoked"
    )
    before = stored_state(services)
    _problem(http.get(f"/license/v1/shared/{token}"), 410, "license-share-revoked")
    _problem(http.get(f"/license/v1/shared/{token}/pdf"), 410, "license-share-revoked")
    _problem(http.get("/license/v1/shared/" + "A" * 43), 404, "license-share-not-found")
    after = stored_state(services)
    assert after["audit_entry"] == before["audit_entry"] + 3  # the refused accesses are journaled ...
    assert {k: v for k, v in after.items() if k != "audit_entry"} == {
        k: v for k, v in before.items() if k != "audit_entry"
    }  # ... and nothing else changed
    results = [d for a, _, d in journal_actions(services, "license.share.access")]
    assert [r.split('"result":"')[1].split('"')[0] for r in results] == [
        "granted",
        "granted",
        "revoked",
        "revoked",
        "unknown_token",
    ]
    assert token not in str(journal_actions(services))


def test_share_expires(http: Any, services: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    token = _share(http, lic["id"], expires_in_minutes=5).json()["token"]
    assert http.get(f"/license/v1/shared/{token}").status_code == 200
    clock.set_global(clock.now() + timedelta(minutes=6))
    try:
        body = _problem(http.get(f"/license/v1/shared/{token}"), 410, "license-share-expired")
        assert "expired" in body["detail"]
    finally:
        clock.set_global(None)


def test_share_follows_corrections_and_shows_live_status(http: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    token = _share(http, lic["id"]).json()["token"]
    new = http.post(
        f"/license/v1/licenses/{lic['id']}/correct",
        json={"data": person_data(level="二级/技师")},
        headers=bearer(ISSUER_TOKEN),
    ).json()
    assert http.get(f"/license/v1/shared/{token}").json()["licence"]["id"] == new["id"]
    http.post(f"/license/v1/licenses/{new['id']}/revoke", json={"reason": "撤销"}, headers=bearer(ISSUER_TOKEN))
    assert http.get(f"/license/v1/shared/{token}").json()["licence"]["status"] == "revoked"


def test_share_bad_input(http: Any, services: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    other = _issue(http, FOOD, food_data()).json()
    mint(CITIZEN_TOKEN, STRANGER_TOKEN)
    before = stored_state(services)
    _problem(_share(http, lic["id"], expires_in_minutes=1), 400, "license-invalid-data")
    _problem(_share(http, lic["id"], expires_in_minutes=60 * 24 * 31), 400, "license-invalid-data")
    _problem(_share(http, lic["id"], recipient=""), 400, "license-invalid-data")
    _problem(_share(http, lic["id"], recipient="银" * 101), 400, "license-invalid-data")
    _problem(_share(http, other["id"]), 404, "license-not-found")  # not the citizen's licence
    _problem(
        http.post(
            "/license/v1/shares", json={"licence_id": lic["id"], "recipient": "x"}, headers=bearer(STRANGER_TOKEN)
        ),
        404,
        "license-not-found",
    )
    _problem(
        http.post(f"/license/v1/shares/{'0' * 32}/revoke", headers=bearer(CITIZEN_TOKEN)),
        404,
        "license-share-not-found",
    )
    assert stored_state(services) == before
    http.post(f"/license/v1/licenses/{lic['id']}/suspend", json={"reason": "核查"}, headers=bearer(ISSUER_TOKEN))
    _problem(_share(http, lic["id"]), 409, "license-invalid-status-change")


# ------------------------------------------------------------------------------------ types


def _new_type() -> dict[str, Any]:
    t = builtin_types()[QUALIFICATION].to_dict()
    t["type_code"] = "11120000000002022H002"
    t["name"] = "专业技术人员职业资格证书"
    t["layout"]["title"] = "专业技术资格证书"
    return t


def test_types_listed_and_added_without_code_changes(http: Any) -> None:
    types = http.get("/license/v1/types").json()
    assert {t["type_code"] for t in types} >= {BUSINESS, FOOD, QUALIFICATION}
    assert http.get(f"/license/v1/types/{FOOD}").json()["name"] == "食品经营许可证"
    _problem(http.post("/license/v1/types", json=_new_type(), headers=bearer(ISSUER_TOKEN)), 403, "forbidden")
    r = http.post("/license/v1/types", json=_new_type(), headers=bearer(OPERATOR_TOKEN))
    assert r.status_code == 201 and r.json()["version"] == 1
    _problem(
        http.post("/license/v1/types", json=_new_type(), headers=bearer(OPERATOR_TOKEN)), 409, "license-type-exists"
    )
    issued = _issue(http, "11120000000002022H002", person_data())
    assert issued.status_code == 201 and issued.json()["type_name"] == "专业技术人员职业资格证书"
    # a new version; the issued licence keeps the template it was rendered from
    t2 = _new_type()
    t2["name_en"] = "Professional qualification certificate"
    r = http.put("/license/v1/types/11120000000002022H002", json=t2, headers=bearer(OPERATOR_TOKEN))
    assert r.json()["template_version"] == 2
    assert (
        http.get(f"/license/v1/licenses/{issued.json()['id']}", headers=bearer(ISSUER_TOKEN)).json()["template_version"]
        == 1
    )
    # deactivated: no new licences of this type
    http.post("/license/v1/types/11120000000002022H002/active", json={"active": False}, headers=bearer(OPERATOR_TOKEN))
    _problem(
        _issue(http, "11120000000002022H002", person_data(certificate_no="ZZ12345678")), 404, "license-unknown-type"
    )


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda t: t.update(type_code="11120000000002022H00X"), "type_code"),
        (lambda t: t["fields"][0].update(max_length=None), "fields[0].max_length"),
        (lambda t: t["layout"].update(seal=[10, 10, 5, 5]), "layout.seal"),
        (lambda t: t["metadata"].update(KZ_YWT_SALT="occupation"), "metadata"),
        (lambda t: t.update(surprise=1), ""),
    ],
)
def test_invalid_type_definitions_are_refused(http: Any, services: Any, mutate: Any, path: str) -> None:
    t = _new_type()
    mutate(t)
    mint(OPERATOR_TOKEN)
    before = stored_state(services)
    body = _problem(http.post("/license/v1/types", json=t, headers=bearer(OPERATOR_TOKEN)), 400, "license-invalid-type")
    assert body["path"].startswith(path)
    assert stored_state(services) == before


def test_search_by_holder_keeps_the_id_number_out_of_urls(http: Any) -> None:
    lic = _issue(http, QUALIFICATION, person_data()).json()
    _issue(http, FOOD, food_data())
    body = {"holder_kind": "person", "holder_code": DEMO_CITIZEN.id_number.lower()}
    found = http.post("/license/v1/licenses/search", json=body, headers=bearer(ISSUER_TOKEN)).json()
    assert {i["number"] for i in found["items"]} == {lic["number"], DEMO_LICENCE_NUMBER}
    by_company = http.post(
        "/license/v1/licenses/search",
        json={"holder_kind": "entity", "holder_code": DEMO_COMPANY.uscc, "status": "valid"},
        headers=bearer(ISSUER_TOKEN),
    ).json()
    assert by_company["total"] == 1 and by_company["items"][0]["type_code"] == FOOD
    _problem(
        http.post("/license/v1/licenses/search", json={"holder_code": "x"}, headers=bearer(ISSUER_TOKEN)),
        400,
        "license-invalid-data",
    )  # a code without its kind
    _problem(http.post("/license/v1/licenses/search", json=body, headers=bearer(CITIZEN_TOKEN)), 403, "forbidden")
