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


def test_json_logs_of_a_full_flow_carry_request_ids_and_no_personal_numbers(settings: Any, tmp_path: Path) -> None:
    """``ywt serve`` as deployed (JSON log lines on stderr, DEBUG) through a full flow: a machine
    client's token, a person licence issued with the holder's ID number, searched by that number,
    read, its QR verified (API and landing page), a document sealed, logins that put an ID number
    and a phone number where a username goes, a registration. Every log line is one JSON object;
    each request has an access line with its request id (the caller's when it sent a valid one);
    no full ID or phone number appears anywhere in the output."""
    import json
    import os
    import re
    import subprocess
    import sys
    import time

    import httpx

    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
    from tests.conftest import free_port
    from tests.identity.oauth_helpers import basic
    from tests.identity.web_helpers import form
    from tests.license.licence_helpers import person_data
    from tests.license.license_samples import QUALIFICATION
    from tests.seal.pdfkit import make_pdf

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YWT_")},
        "YWT_HOME": str(settings.resolved_home),
        "YWT_ENV": "test",
        "YWT_DEMO": "true",
        "YWT_BASE_URL": base,
        "YWT_LOG_LEVEL": "DEBUG",
    }
    if settings.database_url:
        env["YWT_DATABASE_URL"] = settings.database_url
    err_path, out_path = tmp_path / "stderr.log", tmp_path / "stdout.log"
    with err_path.open("wb") as err, out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            for _ in range(300):
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise AssertionError("the server did not start")
            rid = "pii-flow-0123456789abcdef"
            token = c.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET),
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            issued = c.post(
                "/license/v1/licenses",
                json={"type_code": QUALIFICATION, "data": person_data("TJ2024LOG0001")},
                headers={**auth, "X-Request-ID": rid},
            )
            assert issued.status_code == 201, issued.text
            assert issued.headers["x-request-id"] == rid
            lic = issued.json()
            found = c.post(
                "/license/v1/licenses/search",
                json={"holder_kind": "person", "holder_code": DEMO_CITIZEN.id_number},
                headers=auth,
            )
            assert found.status_code == 200 and found.json()["total"] >= 1, found.text
            assert c.get(f"/license/v1/licenses/{lic['id']}", headers=auth).status_code == 200
            assert c.post("/verify/v1/qr", json={"payload": lic["qr"]["payload"]}).status_code == 200
            assert c.get(lic["qr"]["url"].removeprefix(base)).status_code == 200
            seal = next(s for s in c.get("/seal/v1/seals", headers=auth).json() if s["status"] == "active")
            signed = c.post(
                "/seal/v1/sign",
                headers=auth,
                files={"file": ("d.pdf", make_pdf(text=f"申请人 {DEMO_CITIZEN.id_number}"), "application/pdf")},
                data={"seal_id": seal["id"], "page": "1", "x": "350", "y": "150"},
            )
            assert signed.status_code == 200, signed.text
            page = c.get("/login").text
            for username in (DEMO_CITIZEN.id_number, DEMO_CITIZEN.phone):
                fields = {**form(page, "/login")["fields"], "username": username, "password": "wrong-password-9"}
                assert c.post("/login", data=fields).status_code in (200, 401)
            fields = {
                **form(c.get("/register").text, "/register")["fields"],
                "username": "logflow",
                "password": "logflow-password",
                "password2": "logflow-password",
                "name": DEMO_MISMATCH.name,
                "id_number": DEMO_MISMATCH.id_number,
                "phone": DEMO_MISMATCH.phone,
            }
            c.post("/register", data=fields)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    stderr = err_path.read_text("utf-8", errors="replace")
    stdout = out_path.read_text("utf-8", errors="replace")
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    ours = [line for line in stderr.splitlines() if '"logger":"ywt' in line]
    assert ours and all(line.startswith("{") for line in ours)  # every line of ours is JSON
    access = [r for r in records if r["logger"] == "ywt.access"]
    assert len(access) >= 12, stderr[-2000:]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{8,}", r["request_id"]) for r in access)
    assert len({r["request_id"] for r in access}) == len(access)  # one id per request
    mine = [r for r in access if r["request_id"] == rid]
    assert len(mine) == 1 and mine[0]["route"] == "/license/v1/licenses" and mine[0]["status"] == 201
    assert any(r.get("client_id") == APPROVAL_CLIENT for r in access)
    for secret in [*SECRETS, DEMO_CITIZEN.id_number, DEMO_CITIZEN.phone]:
        assert secret not in stderr, f"{secret[:4]}… in the logs"
        assert secret not in stdout, f"{secret[:4]}… on stdout"
