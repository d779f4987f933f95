"""Login pages: password (+ lockout, throttling), SMS code, registration with real-name check,
TOTP, sessions in cookies, CSRF on every form, logout, the development outbox.

Bad input tried: wrong password (generic message, journaled), a locked account with the right
password, an unknown user, missing / wrong / cross-origin CSRF token, too many attempts from one
address (429), an SMS code for an unknown phone (same answer, nothing sent), wrong SMS codes up
to exhaustion, a second code within a minute (429), a reused TOTP code, registration with a bad
citizen ID number, a taken phone, a name that does not match, the population source down at
confirmation (503, nothing created), a tampered registration ticket, open-redirect ``next``
values, an expired (idle) session, the outbox page in production (404).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from api.app import create_app
from api.container import Services
from api.demo import CITIZEN_PASSWORD, CITIZEN_USER
from core import clock
from core.audit import AuditEntry
from identity import totp
from identity.accounts import LOCK_AFTER
from identity.models import AccountRecord, OutboxMessage, PersonRecord
from identity.sources import SourceConfig, SourcesConfig, build_sources
from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY_REP, DEMO_MISMATCH
from tests.identity.web_helpers import form, last_code, login, submit


def _count(services: Services, model: Any) -> int:
    with services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _journal(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq))).all())


def _account(services: Services, username: str) -> AccountRecord:
    with services.db.session() as s:
        rec = services.identity.accounts.by_username(s, username)
        assert rec is not None
        return rec


def test_login_page_sets_csrf_cookie_and_labels(client: TestClient) -> None:
    resp = client.get("/login")
    assert resp.status_code == 200 and "登录" in resp.text
    assert '<label for="username">' in resp.text and '<label for="password">' in resp.text
    assert form(resp.text, "/login")["fields"]["csrf"]
    cookie = resp.headers["set-cookie"]
    assert "ywt_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert (
        resp.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    )


def test_password_login_sets_session_cookie_and_shows_account(client: TestClient, services: Services) -> None:
    resp = login(client, CITIZEN_USER, CITIZEN_PASSWORD)
    assert resp.status_code == 303 and resp.headers["location"] == "/account"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("ywt_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    page = client.get("/account")
    assert page.status_code == 200
    assert "1201**********1239" in page.text and DEMO_CITIZEN.id_number not in page.text
    assert "139****1234" in page.text and DEMO_CITIZEN.phone not in page.text
    assert "L2" in page.text and "population_2e" in page.text and "phone_otp" in page.text
    assert _journal(services, "identity.login")[-1].target == _account(services, CITIZEN_USER).id


def test_session_cookie_is_secure_on_https(services: Services) -> None:
    settings = services.settings.model_copy(update={"base_url": "https://ywt.example.gov.cn"})
    services.settings = settings
    with TestClient(create_app(settings, services), base_url="https://ywt.example.gov.cn") as c:
        resp = login(c, CITIZEN_USER, CITIZEN_PASSWORD)
        assert resp.status_code == 303
        assert all("Secure" in h for h in resp.headers.get_list("set-cookie"))


def test_wrong_password_then_lockout(client: TestClient, services: Services) -> None:
    for _ in range(LOCK_AFTER):
        resp = login(client, CITIZEN_USER, "not-the-password")
        assert resp.status_code == 401 and "用户名或密码错误" in resp.text
    rec = _account(services, CITIZEN_USER)
    assert rec.failed_logins == LOCK_AFTER and rec.locked_until is not None and rec.locked_until > clock.now()
    locked = login(client, CITIZEN_USER, CITIZEN_PASSWORD)
    assert locked.status_code == 401 and "ywt_session" not in locked.headers.get("set-cookie", "")
    unknown = login(client, "nobody-here", CITIZEN_PASSWORD)
    assert unknown.status_code == 401 and unknown.text.count("用户名或密码错误") == locked.text.count(
        "用户名或密码错误"
    )
    failed = _journal(services, "identity.login.failed")
    assert len(failed) == LOCK_AFTER + 1 and '"locked":true' in failed[-1].data


def test_lock_expires(client: TestClient, services: Services) -> None:
    start = clock.now()
    clock.set_global(start)
    try:
        for _ in range(LOCK_AFTER):
            login(client, CITIZEN_USER, "wrong-password")
        clock.advance(timedelta(minutes=16))
        assert login(client, CITIZEN_USER, CITIZEN_PASSWORD).status_code == 303
        assert _account(services, CITIZEN_USER).failed_logins == 0
    finally:
        clock.set_global(None)


@pytest.mark.parametrize("variant", ["missing", "wrong", "cross-origin", "no-cookie"])
def test_csrf_is_checked(client: TestClient, services: Services, variant: str) -> None:
    page = client.get("/login").text
    fields = {**form(page, "/login")["fields"], "username": CITIZEN_USER, "password": CITIZEN_PASSWORD}
    headers = {}
    if variant == "missing":
        fields.pop("csrf")
    elif variant == "wrong":
        fields["csrf"] = "0" * 64
    elif variant == "cross-origin":
        headers["Origin"] = "https://evil.example"
    else:
        client.cookies.clear()
    resp = client.post("/login", data=fields, headers=headers, follow_redirects=False)
    assert resp.status_code == 403 and "页面已过期或来源不正确" in resp.text
    assert "ywt_session" not in resp.headers.get("set-cookie", "")
    assert _journal(services, "identity.login") == []


def test_throttling_per_address(client: TestClient, services: Services) -> None:
    statuses = [login(client, f"user{i}", "whatever-password").status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    last = login(client, CITIZEN_USER, CITIZEN_PASSWORD)
    assert last.status_code == 429 and int(last.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_is_local_only(client: TestClient, target: str) -> None:
    page = client.get("/login", params={"next": target}).text
    assert form(page, "/login")["fields"]["next"] == "/account"
    resp = login(client, CITIZEN_USER, CITIZEN_PASSWORD, next_url=target)
    assert resp.headers["location"] == "/account"


def test_sms_login(client: TestClient, services: Services) -> None:
    page = client.get("/login/sms").text
    sent = submit(client, page, "/login/sms/send", phone=DEMO_CITIZEN.phone)
    assert sent.status_code == 200 and "验证码已发送" in sent.text
    code = last_code(services, DEMO_CITIZEN.phone)
    outbox = client.get("/dev/outbox").text
    assert code in outbox and "139****1234" in outbox and DEMO_CITIZEN.phone not in outbox
    resp = submit(client, sent.text, "/login/sms", code=code)
    assert resp.status_code == 303
    assert "sms" in client.get("/account").text


def test_sms_unknown_phone_and_wrong_codes(client: TestClient, services: Services) -> None:
    before = _count(services, OutboxMessage)
    page = client.get("/login/sms").text
    unknown = submit(client, page, "/login/sms/send", phone="13800000000")
    assert unknown.status_code == 200 and "验证码已发送" in unknown.text
    assert _count(services, OutboxMessage) == before
    bad = submit(client, page, "/login/sms/send", phone="12345")
    assert bad.status_code == 400 and "手机号码不正确" in bad.text

    sent = submit(client, client.get("/login/sms").text, "/login/sms/send", phone=DEMO_CITIZEN.phone)
    code = last_code(services, DEMO_CITIZEN.phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert submit(client, sent.text, "/login/sms", code=wrong).status_code == 401
    assert submit(client, sent.text, "/login/sms", code=code).status_code == 401  # exhausted
    again = submit(client, client.get("/login/sms").text, "/login/sms/send", phone=DEMO_CITIZEN.phone)
    assert again.status_code == 429 and again.headers["retry-after"]


def _register_page(client: TestClient, **overrides: str) -> Any:
    values = {
        "username": "liuyang",
        "password": "liuyang-password",
        "password2": "liuyang-password",
        "name": DEMO_COMPANY_REP.name,
        "id_number": DEMO_COMPANY_REP.id_number,
        "phone": DEMO_COMPANY_REP.phone,
    }
    values.update(overrides)
    return submit(client, client.get("/register").text, "/register", **values)


def test_registration_with_real_name_check(client: TestClient, services: Services) -> None:
    step2 = _register_page(client)
    assert step2.status_code == 200, step2.text
    assert "1201**********5678" in step2.text and DEMO_COMPANY_REP.id_number not in step2.text
    code = last_code(services, DEMO_COMPANY_REP.phone)
    done = submit(client, step2.text, "/register/confirm", code=code)
    assert done.status_code == 303, done.text
    me = client.get("/account").text
    assert "刘洋" in me and "L2" in me and "1201**********5678" in me and DEMO_COMPANY_REP.id_number not in me
    rec = _account(services, "liuyang")
    assert rec.person_id is not None
    with services.db.session() as s:
        methods = [v.method for v in services.identity.registry.verifications(s, rec.id)]
    assert methods == ["phone_otp", "population_2e"]


@pytest.mark.parametrize(
    ("overrides", "status", "text"),
    [
        ({"id_number": "120116198804125679"}, 400, "公民身份号码不正确"),
        ({"phone": DEMO_CITIZEN.phone}, 409, "已被注册"),
        ({"username": CITIZEN_USER}, 409, "已被注册"),
        ({"id_number": DEMO_CITIZEN.id_number, "name": DEMO_CITIZEN.name}, 409, "已被注册"),
        ({"password2": "something-else"}, 422, "核验未通过"),
        ({"password": "short", "password2": "short"}, 400, "密码须为"),
        ({"username": "a b"}, 400, "用户名须为"),
    ],
    ids=[
        "bad-id",
        "phone-taken",
        "username-taken",
        "person-taken",
        "passwords-differ",
        "weak-password",
        "bad-username",
    ],
)
def test_registration_step1_bad_input(
    client: TestClient, services: Services, overrides: dict[str, str], status: int, text: str
) -> None:
    before = (_count(services, OutboxMessage), _count(services, AccountRecord))
    resp = _register_page(client, **overrides)
    assert resp.status_code == status and text in resp.text
    assert (overrides.get("id_number") or DEMO_COMPANY_REP.id_number) not in resp.text
    assert (_count(services, OutboxMessage), _count(services, AccountRecord)) == before


def test_registration_confirm_failures(client: TestClient, services: Services) -> None:
    step2 = _register_page(
        client,
        name=DEMO_MISMATCH.name_variant or "",
        id_number=DEMO_MISMATCH.id_number,
        phone=DEMO_MISMATCH.phone,
        username="wangwu",
    )
    code = last_code(services, DEMO_MISMATCH.phone)
    before = (_count(services, AccountRecord), _count(services, PersonRecord))
    mismatch = submit(client, step2.text, "/register/confirm", code=code)
    assert mismatch.status_code == 422 and "核验未通过" in mismatch.text
    tampered = submit(
        client, step2.text, "/register/confirm", code=code, ticket=form(step2.text)["fields"]["ticket"][:-4] + "AAAA"
    )
    assert tampered.status_code == 400 and "页面已过期" in tampered.text
    assert (_count(services, AccountRecord), _count(services, PersonRecord)) == before

    ok_step2 = _register_page(client)
    services.identity.use_sources(
        build_sources(SourcesConfig(population=SourceConfig(failure_rate=1.0), persons=10, entities=4))
    )
    down = submit(client, ok_step2.text, "/register/confirm", code=last_code(services, DEMO_COMPANY_REP.phone))
    assert down.status_code == 503 and down.headers["retry-after"] and "暂时不可用" in down.text
    assert (_count(services, AccountRecord), _count(services, PersonRecord)) == before


def test_totp_enrol_login_replay_disable(client: TestClient, services: Services) -> None:
    start = clock.now()
    clock.set_global(start)
    try:
        login(client, CITIZEN_USER, CITIZEN_PASSWORD)
        setup = submit(client, client.get("/account").text, "/account/totp/setup")
        assert setup.status_code == 200 and "otpauth://" not in setup.text  # the URI is inside the QR image only
        secret = setup.text.split("<code>")[1].split("</code>")[0]
        confirm = form(setup.text, "/account/totp/confirm")
        bad = client.post("/account/totp/confirm", data={**confirm["fields"], "code": "000000"})
        assert bad.status_code == 400 and not _account(services, CITIZEN_USER).totp_enabled
        step = int(start.timestamp()) // totp.STEP
        ok = client.post("/account/totp/confirm", data={**confirm["fields"], "code": totp.hotp(secret, step)})
        assert ok.status_code == 200 and "已启用动态口令" in ok.text
        assert _account(services, CITIZEN_USER).totp_enabled

        client.post("/logout", data=form(client.get("/account").text, "/logout")["fields"])
        first = login(client, CITIZEN_USER, CITIZEN_PASSWORD)
        assert first.status_code == 200 and "动态口令" in first.text
        clock.advance(timedelta(seconds=totp.STEP))
        code = totp.hotp(secret, step + 1)
        resp = submit(client, first.text, "/login/totp", code=code)
        assert resp.status_code == 303
        account = client.get("/account").text
        assert "mfa" in account
        # the same code again (same step) is refused: RFC 6238 §5.2
        client.post("/logout", data=form(account, "/logout")["fields"])
        second = login(client, CITIZEN_USER, CITIZEN_PASSWORD)
        assert submit(client, second.text, "/login/totp", code=code).status_code == 401
        clock.advance(timedelta(seconds=totp.STEP))
        assert submit(client, second.text, "/login/totp", code=totp.hotp(secret, step + 2)).status_code == 303
        clock.advance(timedelta(seconds=totp.STEP))
        off = submit(client, client.get("/account").text, "/account/totp/disable", code=totp.hotp(secret, step + 3))
        assert off.status_code == 200 and not _account(services, CITIZEN_USER).totp_enabled
    finally:
        clock.set_global(None)


def test_logout_and_idle_expiry(client: TestClient, services: Services) -> None:
    start = clock.now()
    clock.set_global(start)
    try:
        login(client, CITIZEN_USER, CITIZEN_PASSWORD)
        assert client.get("/account", follow_redirects=False).status_code == 200
        clock.advance(timedelta(minutes=31))
        assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")
        login(client, CITIZEN_USER, CITIZEN_PASSWORD)
        out = client.post("/logout", data=form(client.get("/logout").text, "/logout")["fields"], follow_redirects=False)
        assert out.status_code == 303 and 'ywt_session=""' in out.headers["set-cookie"]
        assert client.get("/account", follow_redirects=False).status_code == 303
        assert _journal(services, "identity.logout")
    finally:
        clock.set_global(None)


def test_outbox_is_not_served_in_production(client: TestClient, services: Services) -> None:
    assert client.get("/dev/outbox").status_code == 200
    services.settings = services.settings.model_copy(update={"env": "production"})
    assert client.get("/dev/outbox").status_code == 404
