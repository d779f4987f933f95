"""Registry API: persons (L2 via the population DB), level upgrades (L3), legal entities, agents.

Bad input tried (problem type asserted, and that nothing stored changed): an ID number with a
wrong check digit, too short, a future birth date; a name that does not match (王伍 for 王五),
an unknown but well-formed ID number (answered like a mismatch), a deceased person; an ID
number registered to another account; a second person for the same account; the population
source failing, timing out, and with its circuit open (503 try-later, never a verdict); upgrades
below L2, a wrong phone for telecom-3, a card that is not the person's, a face that is not the
person's, malformed base64; an entity with a bad USCC, a wrong name, cancelled and revoked
entities, a caller who is not the legal representative; an agent who is not registered, a naive
or past ``valid_until``; a client token and no token on person endpoints; unknown fields.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from api.container import Services
from api.demo import CITIZEN_USER
from core import clock
from core.audit import AuditEntry
from identity.models import AuthorisationRecord, PersonRecord, VerificationRecord
from identity.sources import SourceConfig, SourcesConfig, build_sources, reference_face
from identity.sources.demo import (
    DEMO_CANCELLED_ENTITY,
    DEMO_CITIZEN,
    DEMO_COMPANY,
    DEMO_COMPANY_REP,
    DEMO_DECEASED,
    DEMO_DEPARTMENT,
    DEMO_DEPARTMENT_HEAD,
    DEMO_MISMATCH,
    DEMO_NO_CARD,
    DEMO_REVOKED_ENTITY,
)
from tests.identity.oauth_helpers import client_token, problem


def person_token(services: Services, account_id: str, scopes: str = "openid profile") -> str:
    return services.identity.access_tokens.issue(
        alg="RS256", client_id="test-rp", subject=account_id, kind="user", scopes=scopes.split(), ttl=600
    ).token


def new_account(services: Services, username: str, phone: str | None = None) -> str:
    with services.db.session() as s:
        return services.identity.accounts.create(s, username, "a-long-password", phone=phone, actor="test").id


def account_id(services: Services, username: str) -> str:
    with services.db.session() as s:
        rec = services.identity.accounts.by_username(s, username)
        assert rec is not None
        return rec.id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _count(services: Services, model: Any) -> int:
    with services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _actions(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq))).all())


@pytest.fixture
def rep(services: Services) -> Iterator[dict[str, str]]:
    """An account for 刘洋 (legal representative of the demo company), not yet verified."""
    aid = new_account(services, "liuyang", phone=DEMO_COMPANY_REP.phone)
    yield {"id": aid, **bearer(person_token(services, aid))}


# -- the demo citizen ---------------------------------------------------------------------------------


def test_demo_citizen_is_l2_with_methods_kept_apart(client: TestClient, services: Services) -> None:
    me = client.get("/identity/v1/me", headers=bearer(person_token(services, account_id(services, CITIZEN_USER))))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["username"] == CITIZEN_USER and body["level"] == "L2"
    assert [(v["level"], v["method"]) for v in body["verifications"]] == [("L1", "phone_otp"), ("L2", "population_2e")]
    assert body["person"] == {"name": "张三", "id_number": "1201**********1239", "phone": "139****1234"}
    assert body["phone"] == "139****1234" and body["mfa"] == {"totp": False}
    assert DEMO_CITIZEN.id_number not in me.text and DEMO_CITIZEN.phone not in me.text


# -- persons -------------------------------------------------------------------------------------------


def test_register_person_reaches_l2(client: TestClient, services: Services, rep: dict[str, str]) -> None:
    hdr = {"Authorization": rep["Authorization"]}
    resp = client.post(
        "/identity/v1/persons",
        json={"name": DEMO_COMPANY_REP.name, "id_number": DEMO_COMPANY_REP.id_number, "phone": DEMO_COMPANY_REP.phone},
        headers=hdr,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["level"] == "L2" and resp.json()["verification"]["method"] == "population_2e"
    assert resp.json()["verification"]["evidence_ref"].startswith("population:")
    me = client.get("/identity/v1/me", headers=hdr).json()
    assert me["level"] == "L2" and me["person"]["id_number"] == "1201**********5678"
    with services.db.session() as s:
        person = s.exec(select(PersonRecord).where(PersonRecord.name == DEMO_COMPANY_REP.name)).one()
        assert DEMO_COMPANY_REP.id_number.encode() not in person.id_number_enc
        assert services.identity.registry.id_number(person) == DEMO_COMPANY_REP.id_number
    entries = _actions(services, "identity.verification.record")
    assert entries[-1].target == rep["id"] and DEMO_COMPANY_REP.id_number not in entries[-1].data
    assert "1201**********5678" in entries[-1].data


@pytest.mark.parametrize(
    ("name", "id_number", "status", "code", "outcome"),
    [
        ("刘洋", "120116198804125679", 400, "invalid-id-number", None),
        ("刘洋", "12011619880412567", 400, "invalid-id-number", None),
        ("刘洋", "120116208804125670", 400, "invalid-id-number", None),
        ("", "120116198804125678", 422, "validation", None),
        (DEMO_MISMATCH.name_variant, DEMO_MISMATCH.id_number, 422, "verification-failed", "mismatch"),
        ("赵六", "110101199003070011", 422, "verification-failed", "mismatch"),
        (DEMO_DECEASED.name, DEMO_DECEASED.id_number, 422, "verification-failed", "not_eligible"),
        (DEMO_CITIZEN.name, DEMO_CITIZEN.id_number, 409, "already-registered", None),
    ],
    ids=["check-digit", "too-short", "future-birth", "empty-name", "name-mismatch", "unknown-id", "deceased", "taken"],
)
def test_register_person_bad_input(
    client: TestClient,
    services: Services,
    rep: dict[str, str],
    name: str,
    id_number: str,
    status: int,
    code: str,
    outcome: str | None,
) -> None:
    before = (_count(services, PersonRecord), _count(services, VerificationRecord))
    resp = client.post(
        "/identity/v1/persons",
        json={"name": name, "id_number": id_number},
        headers={"Authorization": rep["Authorization"]},
    )
    body = problem(resp, status, code)
    if outcome is not None:
        assert body["outcome"] == outcome
        denied = _actions(services, "identity.verification.denied")[-1]
        assert denied.target == rep["id"] and id_number not in denied.data
    assert id_number not in resp.text
    assert (_count(services, PersonRecord), _count(services, VerificationRecord)) == before


def test_second_person_for_the_same_account_is_refused(client: TestClient, services: Services) -> None:
    hdr = bearer(person_token(services, account_id(services, CITIZEN_USER)))
    resp = client.post(
        "/identity/v1/persons", json={"name": DEMO_NO_CARD.name, "id_number": DEMO_NO_CARD.id_number}, headers=hdr
    )
    assert problem(resp, 409, "already-registered")["reason"] == "account_has_person"


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (SourceConfig(failure_rate=1.0), "error"),
        (SourceConfig(latency=0.5, timeout=0.05), "timeout"),
    ],
    ids=["failing", "slow"],
)
def test_population_source_down_is_503_try_later(
    client: TestClient, services: Services, rep: dict[str, str], config: SourceConfig, reason: str
) -> None:
    services.identity.use_sources(build_sources(SourcesConfig(population=config, persons=10, entities=4)))
    before = (_count(services, PersonRecord), _count(services, VerificationRecord))
    resp = client.post(
        "/identity/v1/persons",
        json={"name": DEMO_COMPANY_REP.name, "id_number": DEMO_COMPANY_REP.id_number},
        headers={"Authorization": rep["Authorization"]},
    )
    body = problem(resp, 503, "source-unavailable")
    assert body["source"] == "population" and body["reason"] == reason
    assert resp.headers["retry-after"]
    assert (_count(services, PersonRecord), _count(services, VerificationRecord)) == before


def test_open_circuit_answers_at_once(client: TestClient, services: Services, rep: dict[str, str]) -> None:
    services.identity.use_sources(
        build_sources(
            SourcesConfig(population=SourceConfig(failure_rate=1.0, failure_threshold=2), persons=10, entities=4)
        )
    )
    body = {"name": DEMO_COMPANY_REP.name, "id_number": DEMO_COMPANY_REP.id_number}
    hdr = {"Authorization": rep["Authorization"]}
    reasons = [client.post("/identity/v1/persons", json=body, headers=hdr).json()["reason"] for _ in range(3)]
    assert reasons == ["error", "error", "circuit_open"]


# -- upgrades -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "method"),
    [
        ({"method": "telecom3"}, "telecom3"),
        ({"method": "bank_card4", "card_number": DEMO_CITIZEN.card_number}, "bank_card4"),
        (
            {"method": "face_match", "face_image": base64.b64encode(reference_face(DEMO_CITIZEN.id_number)).decode()},
            "face_match",
        ),
    ],
    ids=["telecom3", "bank_card4", "face"],
)
def test_upgrade_to_l3(client: TestClient, services: Services, payload: dict[str, str], method: str) -> None:
    hdr = bearer(person_token(services, account_id(services, CITIZEN_USER)))
    resp = client.post("/identity/v1/me/verifications", json=payload, headers=hdr)
    assert resp.status_code == 201, resp.text
    assert resp.json()["level"] == "L3" and resp.json()["verification"]["method"] == method
    me = client.get("/identity/v1/me", headers=hdr).json()
    assert me["level"] == "L3" and me["verifications"][-1]["method"] == method


@pytest.mark.parametrize(
    ("payload", "status", "code", "outcome"),
    [
        ({"method": "telecom3", "phone": "13900000000"}, 422, "verification-failed", "mismatch"),
        ({"method": "bank_card4", "card_number": "6217000123456789019"}, 422, "verification-failed", "mismatch"),
        ({"method": "bank_card4", "card_number": "6222020123456789016"}, 400, "invalid-bank-card", None),
        (
            {"method": "face_match", "face_image": base64.b64encode(b"not me").decode()},
            422,
            "verification-failed",
            "face_failed",
        ),
        ({"method": "face_match", "face_image": "!!"}, 400, "invalid-input", None),
        ({"method": "face_match"}, 400, "invalid-identity-query", None),
        ({"method": "counter"}, 422, "validation", None),
        ({"method": "telecom3", "extra": 1}, 422, "validation", None),
        ({"method": "population_2e"}, 400, "invalid-input", None),
    ],
    ids=[
        "wrong-phone",
        "other-card",
        "card-luhn",
        "other-face",
        "bad-base64",
        "no-image",
        "counter",
        "extra",
        "pop-empty",
    ],
)
def test_upgrade_bad_input(
    client: TestClient, services: Services, payload: dict[str, str], status: int, code: str, outcome: str | None
) -> None:
    hdr = bearer(person_token(services, account_id(services, CITIZEN_USER)))
    before = _count(services, VerificationRecord)
    body = problem(client.post("/identity/v1/me/verifications", json=payload, headers=hdr), status, code)
    if outcome:
        assert body["outcome"] == outcome
    assert _count(services, VerificationRecord) == before
    assert client.get("/identity/v1/me", headers=hdr).json()["level"] == "L2"


def test_upgrade_needs_l2(client: TestClient, services: Services, rep: dict[str, str]) -> None:
    resp = client.post(
        "/identity/v1/me/verifications", json={"method": "telecom3"}, headers={"Authorization": rep["Authorization"]}
    )
    body = problem(resp, 403, "level-too-low")
    assert body["needed"] == "L2" and body["current"] is None


def test_person_endpoints_need_a_person_token(client: TestClient, services: Services) -> None:
    problem(client.get("/identity/v1/me"), 401, "unauthenticated")
    problem(client.get("/identity/v1/me", headers=bearer(client_token(client))), 403, "forbidden")
    citizen = account_id(services, CITIZEN_USER)
    problem(client.get("/identity/v1/me", headers=bearer(person_token(services, citizen, "profile"))), 403, "forbidden")
    with services.db.session() as s:
        services.identity.accounts.get(s, citizen).active = False
    problem(client.get("/identity/v1/me", headers=bearer(person_token(services, citizen))), 401, "invalid-token")


# -- entities and agents -----------------------------------------------------------------------------------


def _verified(client: TestClient, services: Services, username: str, person: Any) -> dict[str, str]:
    aid = new_account(services, username)
    hdr = bearer(person_token(services, aid))
    resp = client.post("/identity/v1/persons", json={"name": person.name, "id_number": person.id_number}, headers=hdr)
    assert resp.status_code == 201, resp.text
    return hdr


def test_legal_representative_registers_entity_and_authorises_agent(client: TestClient, services: Services) -> None:
    head = _verified(client, services, "zhaomin", DEMO_DEPARTMENT_HEAD)
    resp = client.post(
        "/identity/v1/entities",
        json={"uscc": DEMO_DEPARTMENT.uscc, "name": DEMO_DEPARTMENT.name, "legal_rep": DEMO_DEPARTMENT.legal_rep},
        headers=head,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["authorisation"]["role"] == "legal_representative"
    resp = client.post(
        f"/identity/v1/entities/{DEMO_DEPARTMENT.uscc}/agents",
        json={
            "agent_name": DEMO_CITIZEN.name,
            "agent_id_number": DEMO_CITIZEN.id_number,
            "scope": "seal:apply license:apply",
            "valid_until": "2099-01-01T00:00:00+08:00",
        },
        headers=head,
    )
    assert resp.status_code == 201, resp.text
    grant = resp.json()
    assert grant["role"] == "agent" and grant["scope"] == "license:apply seal:apply" and grant["active"]
    assert DEMO_CITIZEN.id_number not in resp.text
    citizen = bearer(person_token(services, account_id(services, CITIZEN_USER)))
    entities = client.get("/identity/v1/me", headers=citizen).json()["entities"]
    assert [(e["uscc"], e["role"], e["active"]) for e in entities] == [(DEMO_DEPARTMENT.uscc, "agent", True)]
    # the agent cannot authorise others; the representative revokes
    problem(
        client.post(
            f"/identity/v1/entities/{DEMO_DEPARTMENT.uscc}/agents",
            json={"agent_name": DEMO_CITIZEN.name, "agent_id_number": DEMO_CITIZEN.id_number, "scope": "x"},
            headers=citizen,
        ),
        403,
        "not-legal-representative",
    )
    revoked = client.post(f"/identity/v1/entities/{DEMO_DEPARTMENT.uscc}/agents/{grant['id']}/revoke", headers=head)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert client.get("/identity/v1/me", headers=citizen).json()["entities"][0]["active"] is False


@pytest.mark.parametrize(
    ("entity", "status", "code", "outcome"),
    [
        ({"uscc": "91120116MA05D1E12H", "name": DEMO_COMPANY.name, "legal_rep": "刘洋"}, 400, "invalid-uscc", None),
        (
            {"uscc": DEMO_COMPANY.uscc, "name": DEMO_COMPANY.name_variant, "legal_rep": "刘洋"},
            422,
            "verification-failed",
            "name_mismatch",
        ),
        (
            {"uscc": DEMO_COMPANY.uscc, "name": DEMO_COMPANY.name, "legal_rep": "张三"},
            403,
            "not-legal-representative",
            None,
        ),
        (
            {"uscc": DEMO_CANCELLED_ENTITY.uscc, "name": DEMO_CANCELLED_ENTITY.name, "legal_rep": "刘洋"},
            422,
            "verification-failed",
            "legal_rep_mismatch",
        ),
        ({"uscc": DEMO_COMPANY.uscc, "name": DEMO_COMPANY.name}, 422, "validation", None),
    ],
    ids=["bad-uscc", "wrong-name", "not-the-rep", "other-rep", "missing-field"],
)
def test_entity_bad_input(
    client: TestClient, services: Services, entity: dict[str, str], status: int, code: str, outcome: str | None
) -> None:
    hdr = _verified(client, services, "liuyang2", DEMO_COMPANY_REP)
    before = _count(services, AuthorisationRecord)
    body = problem(client.post("/identity/v1/entities", json=entity, headers=hdr), status, code)
    if outcome:
        assert body["outcome"] == outcome
    assert _count(services, AuthorisationRecord) == before


@pytest.mark.parametrize("entity", [DEMO_CANCELLED_ENTITY, DEMO_REVOKED_ENTITY], ids=["cancelled", "revoked"])
def test_cancelled_and_revoked_entities_are_refused(client: TestClient, services: Services, entity: Any) -> None:
    hdr = _verified(client, services, "chenjing", DEMO_NO_CARD)  # 陈静 is their legal representative
    resp = client.post(
        "/identity/v1/entities",
        json={"uscc": entity.uscc, "name": entity.name, "legal_rep": entity.legal_rep},
        headers=hdr,
    )
    assert problem(resp, 422, "verification-failed")["outcome"] == entity.status.value


def test_agent_bad_input(client: TestClient, services: Services) -> None:
    head = _verified(client, services, "zhaomin", DEMO_DEPARTMENT_HEAD)
    client.post(
        "/identity/v1/entities",
        json={"uscc": DEMO_DEPARTMENT.uscc, "name": DEMO_DEPARTMENT.name, "legal_rep": DEMO_DEPARTMENT.legal_rep},
        headers=head,
    )
    url = f"/identity/v1/entities/{DEMO_DEPARTMENT.uscc}/agents"
    before = _count(services, AuthorisationRecord)
    ok = {"agent_name": DEMO_CITIZEN.name, "agent_id_number": DEMO_CITIZEN.id_number, "scope": "seal:apply"}
    problem(client.post(url, json={**ok, "agent_name": "李雷"}, headers=head), 404, "unknown-person")
    problem(
        client.post(url, json={**ok, "agent_id_number": DEMO_NO_CARD.id_number}, headers=head), 404, "unknown-person"
    )
    problem(client.post(url, json={**ok, "valid_until": "2099-01-01T00:00:00"}, headers=head), 400, "invalid-input")
    past = (clock.now().replace(year=2000)).isoformat()
    problem(client.post(url, json={**ok, "valid_until": past}, headers=head), 400, "invalid-input")
    problem(client.post(url, json={**ok, "scope": "   "}, headers=head), 400, "invalid-request")
    problem(
        client.post("/identity/v1/entities/91120116MA05D1E12G/agents", json=ok, headers=head), 404, "unknown-entity"
    )
    problem(client.post(f"{url}/nope/revoke", headers=head), 404, "unknown-authorisation")
    assert _count(services, AuthorisationRecord) == before


# -- in-person checks (L4) ------------------------------------------------------------------------------


def test_identity_officer_records_counter_check(client: TestClient, services: Services) -> None:
    from tests.identity.oauth_helpers import machine_client

    secret = machine_client(services, "counter-desk", scopes=frozenset({"ops"}), roles=frozenset({"identity_officer"}))
    officer = bearer(client_token(client, "counter-desk", secret))
    url = f"/identity/v1/accounts/{CITIZEN_USER}/verifications"
    before = _count(services, VerificationRecord)
    problem(
        client.post(url, json={"method": "counter", "evidence_ref": "x"}, headers=bearer(client_token(client))),
        403,
        "forbidden",
    )
    problem(client.post(url, json={"method": "telecom3", "evidence_ref": "x"}, headers=officer), 422, "validation")
    problem(client.post(url, json={"method": "counter", "evidence_ref": "\x00"}, headers=officer), 400, "invalid-input")
    problem(
        client.post(
            "/identity/v1/accounts/nobody/verifications",
            json={"method": "counter", "evidence_ref": "r1"},
            headers=officer,
        ),
        404,
        "unknown-account",
    )
    unverified = new_account(services, "noperson")
    assert unverified
    problem(
        client.post(
            "/identity/v1/accounts/noperson/verifications",
            json={"method": "counter", "evidence_ref": "r1"},
            headers=officer,
        ),
        403,
        "level-too-low",
    )
    assert _count(services, VerificationRecord) == before
    done = client.post(url, json={"method": "counter", "evidence_ref": "TJ-0001"}, headers=officer)
    assert done.status_code == 201, done.text
    assert done.json()["level"] == "L4" and done.json()["verifications"][-1]["evidence_ref"] == "counter:TJ-0001"
