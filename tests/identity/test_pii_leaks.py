"""Personal numbers never appear in clear: not in any response, log line, journal entry, or the
database file (DESIGN.md: encrypted at rest, masked in every response and log).

Runs the flows that handle ID numbers and phones — registration (valid, invalid check digit,
mismatch, source down), the registry API, level upgrades with a bank card, entity and agent
requests, OIDC tokens and userinfo — while capturing every log record at DEBUG and every
response, then greps all of it (and the journal, and the SQLite file with its WAL) for the full
numbers. The one deliberate exception is the ``id_number`` claim for a client registered for that
scope, and the ``phone_number`` claim with the ``phone`` scope, checked separately to appear only there.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.container import Services
from api.demo import CITIZEN_PASSWORD, CITIZEN_USER
from core.audit import AuditEntry
from identity.sources import SourceConfig, SourcesConfig, build_sources
from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY_REP, DEMO_DECEASED, DEMO_MISMATCH, DEMO_PERSONS
from tests.identity.oauth_helpers import jwt_parts
from tests.identity.oidc_helpers import Flow, rp_client, tokens
from tests.identity.test_registry_api import account_id, bearer, new_account, person_token
from tests.identity.web_helpers import last_code, login, submit

SECRETS = sorted(
    {p.id_number for p in DEMO_PERSONS}
    | {p.phone for p in DEMO_PERSONS}
    | {DEMO_CITIZEN.card_number or ""}
    | {"110101199003070011", "120116198804125679"} - {""}
)


class Recorder:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.texts: list[str] = []

    def __call__(self, method: str, url: str, **kw: Any) -> Any:
        resp = self.client.request(method, url, **kw)
        self.texts.append(resp.text + "\n" + "\n".join(f"{k}: {v}" for k, v in resp.headers.items()))
        return resp


def test_no_full_number_in_responses_logs_journal_or_database(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder(client)
    # registration through the pages: valid, bad check digit, mismatch, source down
    page = rec("GET", "/register").text
    for overrides in (
        {"id_number": "120116198804125679"},
        {"id_number": DEMO_MISMATCH.id_number, "name": DEMO_MISMATCH.name_variant or ""},
    ):
        fields = {
            "username": "leaky",
            "password": "leaky-password",
            "password2": "leaky-password",
            "name": DEMO_COMPANY_REP.name,
            "id_number": DEMO_COMPANY_REP.id_number,
            "phone": DEMO_MISMATCH.phone,
            **overrides,
        }
        step = submit(client, page, "/register", **fields)
        rec.texts.append(step.text)
        if step.status_code == 200:
            done = submit(client, step.text, "/register/confirm", code=last_code(services, DEMO_MISMATCH.phone))
            rec.texts.append(done.text)
    fields = {
        "username": "liuyang",
        "password": "liuyang-password",
        "password2": "liuyang-password",
        "name": DEMO_COMPANY_REP.name,
        "id_number": DEMO_COMPANY_REP.id_number,
        "phone": DEMO_COMPANY_REP.phone,
    }
    step = submit(client, rec("GET", "/register").text, "/register", **fields)
    rec.texts.append(step.text)
    done = submit(client, step.text, "/register/confirm", code=last_code(services, DEMO_COMPANY_REP.phone))
    rec.texts.append(done.text)
    rec.texts.append(rec("GET", "/account").text)
    rec.texts.append(rec("GET", "/dev/outbox").text)

    # the registry API
    fresh = bearer(person_token(services, new_account(services, "apiuser")))
    rec(
        "POST",
        "/identity/v1/persons",
        json={"name": DEMO_DECEASED.name, "id_number": DEMO_DECEASED.id_number},
        headers=fresh,
    )
    rec(
        "POST",
        "/identity/v1/persons",
        json={"name": "x", "id_number": DEMO_CITIZEN.id_number[:-1] + "0"},
        headers=fresh,
    )
    citizen = bearer(person_token(services, account_id(services, CITIZEN_USER)))
    rec("GET", "/identity/v1/me", headers=citizen)
    rec(
        "POST",
        "/identity/v1/me/verifications",
        json={"method": "bank_card4", "card_number": DEMO_CITIZEN.card_number},
        headers=citizen,
    )
    rec(
        "POST",
        "/identity/v1/me/verifications",
        json={"method": "telecom3", "phone": DEMO_MISMATCH.phone},
        headers=citizen,
    )
    rec(
        "POST",
        "/identity/v1/me/verifications",
        json={"method": "face_match", "face_image": base64.b64encode(b"x").decode()},
        headers=citizen,
    )
    services.identity.use_sources(
        build_sources(SourcesConfig(population=SourceConfig(failure_rate=1.0), persons=10, entities=4))
    )
    rec(
        "POST",
        "/identity/v1/persons",
        json={"name": DEMO_MISMATCH.name, "id_number": DEMO_MISMATCH.id_number},
        headers=fresh,
    )

    # OIDC: tokens, userinfo, introspection
    client.cookies.clear()
    login(client, CITIZEN_USER, CITIZEN_PASSWORD)
    body = tokens(client, Flow(scope="openid profile entity"))
    rec.texts.append(str(body))
    for token_part in (body["id_token"], body["access_token"]):
        rec.texts.append(str(jwt_parts(token_part)[:2]))
    rec("GET", "/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})

    # the deliberate exceptions: the id_number scope (a client registered for it) and the phone scope
    flow = rp_client(services, "social-security", scopes="openid profile id_number")
    flow.scope = "openid profile id_number"
    allowed = tokens(client, flow)
    assert jwt_parts(allowed["id_token"])[1]["id_number"] == DEMO_CITIZEN.id_number
    with_phone = tokens(client, Flow(scope="openid phone"))
    assert jwt_parts(with_phone["id_token"])[1]["phone_number"] == "+86" + DEMO_CITIZEN.phone

    logs = caplog.text
    journal = ""
    with services.db.session() as s:
        journal = "\n".join(e.data + e.target + e.actor for e in s.exec(select(AuditEntry)).all())
    db_bytes = b""
    if services.settings.database_url is None:
        services.db.engine.dispose()  # flush nothing, just let us read the files
        home = Path(services.settings.resolved_home)
        db_bytes = b"".join(p.read_bytes() for p in home.glob("ywt.db*"))
    texts = "\n".join(rec.texts)
    assert "1201**********1239" in texts and "1201**********5678" in texts  # masked forms do appear
    for secret in SECRETS:
        assert secret not in texts, f"{secret[:4]}… in a response"
        assert secret not in logs, f"{secret[:4]}… in the logs"
        assert secret not in journal, f"{secret[:4]}… in the journal"
        assert secret.encode() not in db_bytes, f"{secret[:4]}… in the database file"
