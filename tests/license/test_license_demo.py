"""The demo world's licence part (DESIGN.md "Demo mode"), with real tokens from our OIDC provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import CITIZEN_TOKEN, ISSUER_TOKEN, bearer
from licence_helpers import QUALIFICATION, decode_qr_from_pdf, trust_certs

from api.demo import DEMO_LICENCE_NUMBER
from identity.sources.demo import DEMO_DEPARTMENT
from license.qr import verify_payload


def test_citizen_has_one_licence_in_the_wallet(http: Any, services: Any, tmp_path: Path) -> None:
    items = http.get("/license/v1/wallet", headers=bearer(CITIZEN_TOKEN)).json()["items"]
    assert len(items) == 1
    lic = items[0]
    assert (lic["type_code"], lic["type_name"], lic["number"]) == (QUALIFICATION, "职业资格证书", DEMO_LICENCE_NUMBER)
    assert lic["issuer"] == {"code": DEMO_DEPARTMENT.uscc, "name": DEMO_DEPARTMENT.name}
    assert lic["holder"]["name"] == "张三" and lic["status"] == "valid"
    pdf = http.get(f"/license/v1/wallet/{lic['id']}/pdf", headers=bearer(CITIZEN_TOKEN)).content
    claims = verify_payload(decode_qr_from_pdf(pdf, tmp_path), trust_certs(services))
    assert claims.identifier == lic["identifier"] and claims.holder_masked == "张*"
    with services.db.session() as s:
        seal = services.seal.get(s, lic["seal"]["id"])
    assert (
        seal.owner_uscc == DEMO_DEPARTMENT.uscc and seal.seal_type.value == "licence" and seal.family.value == "ecdsa"
    )


def test_demo_approval_issues_and_lists_its_departments_licences(http: Any) -> None:
    listed = http.get("/license/v1/licenses", headers=bearer(ISSUER_TOKEN)).json()
    assert DEMO_LICENCE_NUMBER in [i["number"] for i in listed["items"]]
    assert all(i["issuer"]["code"] == DEMO_DEPARTMENT.uscc for i in listed["items"])
    from licence_helpers import FOOD, food_data

    r = http.post("/license/v1/licenses", json={"type_code": FOOD, "data": food_data()}, headers=bearer(ISSUER_TOKEN))
    assert r.status_code == 201, r.text
    again = http.get("/license/v1/licenses", headers=bearer(ISSUER_TOKEN)).json()
    assert again["total"] == listed["total"] + 1
