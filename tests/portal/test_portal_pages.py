"""Portal pages through the app (TestClient): wallet, shares and the third party's page, the operator
console (role-gated), account sessions. Every POST needs the CSRF token; bad input gets a page
with a message in Chinese and a 4xx status, never a 500.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.container import Services
from api.demo import ADMIN_PASSWORD, ADMIN_USER, CITIZEN_PASSWORD, CITIZEN_USER, DEMO_LICENCE_NUMBER
from identity.sources.demo import DEMO_CITIZEN, DEMO_DEPARTMENT
from tests.identity.web_helpers import forms, login


def form(page: str, action: str) -> dict[str, Any]:
    """The POST form with this action (a page may also have a GET form with the same action)."""
    found = [f for f in forms(page) if f["action"] == action and f["method"] == "post"]
    assert found, f"no POST form {action!r}"
    return found[0]


def submit(client: TestClient, page: str, action: str, **values: str) -> Any:
    f = form(page, action)
    return client.post(action, data={**f["fields"], **values}, follow_redirects=False)


def _as(client: TestClient, user: str, password: str) -> None:
    assert login(client, user, password).status_code == 303


def _licence_id(client: TestClient) -> str:
    page = client.get("/license/wallet").text
    match = re.search(r'href="/license/wallet/([0-9a-f]{32})"', page)
    assert match, page[:3000]
    return match.group(1)


def test_wallet_needs_a_login(client: TestClient) -> None:
    resp = client.get("/license/wallet", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=/license/wallet")


def test_wallet_shows_the_licence_its_details_and_pdf(client: TestClient) -> None:
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    page = client.get("/license/wallet")
    assert page.status_code == 200 and "职业资格证书" in page.text and DEMO_LICENCE_NUMBER in page.text
    assert "✔ 有效" in page.text  # status in words and a symbol, not colour alone
    lid = _licence_id(client)
    item = client.get(f"/license/wallet/{lid}")
    assert item.status_code == 200 and DEMO_CITIZEN.id_number not in item.text
    assert '<label for="recipient">' in item.text and form(item.text, f"/license/wallet/{lid}/share")["fields"]["csrf"]
    pdf = client.get(f"/license/wallet/{lid}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert client.get("/license/wallet/" + "0" * 32).status_code == 404


def test_share_third_party_page_and_revocation(client: TestClient, services: Services) -> None:
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    lid = _licence_id(client)
    item = client.get(f"/license/wallet/{lid}").text
    created = submit(client, item, f"/license/wallet/{lid}/share", recipient="中国银行天津分行", minutes="60")
    assert created.status_code == 200 and "已创建共享" in created.text
    link = re.search(r'id="sharelink" readonly value="([^"]+)"', created.text)
    assert link, created.text[:3000]
    path = "/license/shared/" + link.group(1).rsplit("/license/shared/", 1)[1]

    third = TestClient(client.app)  # another browser: no cookies of the holder
    seen = third.get(path)
    assert seen.status_code == 200 and "✔ 真实有效" in seen.text and "中国银行天津分行" in seen.text
    assert DEMO_LICENCE_NUMBER in seen.text and DEMO_CITIZEN.id_number not in seen.text
    assert third.get(path + "/pdf").content.startswith(b"%PDF-")

    wallet = client.get("/license/wallet").text
    assert "中国银行天津分行" in wallet and "✔ 有效 Active" in wallet
    action = re.search(r'action="(/license/wallet/shares/[0-9a-f]+/revoke)"', wallet)
    assert action
    revoked = submit(client, wallet, action.group(1))
    assert revoked.status_code == 200 and "已撤回" in revoked.text and "✘ 已撤回 Revoked" in revoked.text
    gone = third.get(path)
    assert gone.status_code == 410, gone.status_code
    assert "持证人已撤回该共享" in gone.text
    assert third.get("/license/shared/not-a-token").status_code == 404


def test_share_bad_input_and_missing_csrf(client: TestClient) -> None:
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    lid = _licence_id(client)
    item = client.get(f"/license/wallet/{lid}").text
    empty = submit(client, item, f"/license/wallet/{lid}/share", recipient="  ", minutes="60")
    assert empty.status_code == 400 and "✘" in empty.text and "recipient" in empty.text
    bad_minutes = submit(client, item, f"/license/wallet/{lid}/share", recipient="某银行", minutes="forever")
    assert bad_minutes.status_code == 400 and "共享期限" in bad_minutes.text
    too_long = submit(client, item, f"/license/wallet/{lid}/share", recipient="某银行", minutes=str(60 * 24 * 365))
    assert too_long.status_code == 400 and "30 days" in too_long.text
    no_csrf = client.post(f"/license/wallet/{lid}/share", data={"recipient": "x", "minutes": "60"})
    assert no_csrf.status_code == 403 and "页面已过期或来源不正确" in no_csrf.text


def test_console_is_role_gated(client: TestClient) -> None:
    anon = client.get("/console/seals", follow_redirects=False)
    assert anon.status_code == 303 and "/login?next=/console/seals" in anon.headers["location"]
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    for path in ("/console", "/console/seals", "/console/grants", "/console/clients", "/console/audit"):
        denied = client.get(path)
        assert denied.status_code == 403 and "您没有执行此操作的权限" in denied.text, path
    refused = client.post("/console/seals", data={"csrf": "x", "owner_uscc": DEMO_DEPARTMENT.uscc})
    assert refused.status_code == 403


def test_console_seal_lifecycle_and_grant(client: TestClient, services: Services) -> None:
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    page = client.get("/console/seals").text
    assert '<img src="/console/seals/' in page and 'alt="印章图像' in page
    preview = re.search(r'<img src="(/console/seals/[^"]+/image)"', page)
    assert preview and client.get(preview.group(1)).content.startswith(b"\x89PNG")
    applied = submit(
        client,
        page,
        "/console/seals",
        owner_uscc=DEMO_DEPARTMENT.uscc,
        owner_name=DEMO_DEPARTMENT.name,
        seal_type="contract",
        family="sm2",
        shape="round",
    )
    assert applied.status_code == 200 and "已提交印章申请" in applied.text
    seal_id = re.search(r"（(seal[^）]+)）", applied.text)
    assert seal_id, applied.text[:2000]
    sid = seal_id.group(1)
    for op, words in (("approve", "已审批"), ("activate", "✔ 启用")):
        done = submit(client, client.get("/console/seals").text, f"/console/seals/{sid}/{op}")
        assert done.status_code == 200 and words in done.text, op
    grants = client.get("/console/grants").text
    granted = submit(client, grants, "/console/grants", seal_id=sid, client_id="demo-approval", not_after="2099-12-31")
    assert granted.status_code == 200 and "✔ 已生效" in granted.text
    with services.db.session() as s:
        assert any(g.seal_id == sid and g.status.value == "active" for g in services.seal.list_grants(s))
    suspended = submit(client, client.get("/console/seals").text, f"/console/seals/{sid}/suspend")
    assert "! 暂停" in suspended.text
    revoked = submit(client, client.get("/console/seals").text, f"/console/seals/{sid}/revoke")
    assert "✘ 已撤销" in revoked.text
    conflict = submit(
        client,
        client.get("/console/seals").text,
        "/console/seals",
        owner_uscc="x",
        owner_name="y",
        seal_type="contract",
    )
    assert conflict.status_code == 400 and "印章申请信息不正确" in conflict.text
    again = client.post(f"/console/seals/{sid}/approve", data={"csrf": form(page, "/console/seals")["fields"]["csrf"]})
    assert again.status_code == 409 and "当前状态下不能" in again.text


def test_console_bad_input_never_500(client: TestClient) -> None:
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    page = client.get("/console/seals").text
    bad_type = submit(client, page, "/console/seals", owner_uscc=DEMO_DEPARTMENT.uscc, owner_name="x", seal_type="nope")
    assert bad_type.status_code == 400 and "✘" in bad_type.text
    grants = client.get("/console/grants").text
    bad_date = submit(client, grants, "/console/grants", client_id="demo-approval", not_after="31/12/2099")
    assert bad_date.status_code == 400
    unknown_client = submit(client, grants, "/console/grants", client_id="no-such-client")
    assert unknown_client.status_code == 404
    no_csrf = client.post("/console/grants", data={"seal_id": "x", "client_id": "demo-approval"})
    assert no_csrf.status_code == 403
    token = form(page, "/console/seals")["fields"]["csrf"]
    unknown_op = client.post("/console/seals/whatever/explode", data={"csrf": token})
    assert unknown_op.status_code == 400
    clients = client.get("/console/clients").text
    bad_client = submit(client, clients, "/console/clients", client_id="!", client_name="x")
    assert bad_client.status_code == 400 and "✘" in bad_client.text


def test_console_issues_and_revokes_a_licence(client: TestClient) -> None:
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    page = client.get("/console/licences?type=11120000000002022H001")
    assert page.status_code == 200 and '<label for="f_name">' in page.text
    missing = submit(client, page.text, "/console/licences", f_name=DEMO_CITIZEN.name)
    assert missing.status_code == 400 and "证照数据不正确" in missing.text and "id_number" in missing.text
    issued = submit(
        client,
        page.text,
        "/console/licences",
        f_name=DEMO_CITIZEN.name,
        f_id_number=DEMO_CITIZEN.id_number,
        f_occupation="焊工",
        f_level="四级/中级工",
        f_certificate_no="TJ2026ZY000777",
    )
    assert issued.status_code == 200 and "已签发" in issued.text and "TJ2026ZY000777" in issued.text
    assert DEMO_CITIZEN.id_number not in issued.text
    lid = re.search(r'action="/console/licences/([0-9a-f]+)/revoke"', issued.text)
    assert lid
    token = form(issued.text, f"/console/licences/{lid.group(1)}/revoke")["fields"]["csrf"]
    assert f'formaction="/console/licences/{lid.group(1)}/suspend"' in issued.text
    no_reason = client.post(f"/console/licences/{lid.group(1)}/suspend", data={"csrf": token})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    suspended = client.post(f"/console/licences/{lid.group(1)}/suspend", data={"csrf": token, "reason": "核查中"})
    assert suspended.status_code == 200 and "现为：suspended" in suspended.text
    assert f'formaction="/console/licences/{lid.group(1)}/resume"' in suspended.text
    resumed = client.post(f"/console/licences/{lid.group(1)}/resume", data={"csrf": token})
    assert resumed.status_code == 200 and "现为：valid" in resumed.text
    revoked = submit(client, issued.text, f"/console/licences/{lid.group(1)}/revoke", reason="测试撤销")
    assert revoked.status_code == 200 and "revoked" in revoked.text
    dup = submit(
        client,
        page.text,
        "/console/licences",
        f_name=DEMO_CITIZEN.name,
        f_id_number=DEMO_CITIZEN.id_number,
        f_occupation="焊工",
        f_level="四级/中级工",
        f_certificate_no="TJ2026ZY000777",
    )
    assert dup.status_code == 409 and "已签发过" in dup.text


def test_console_types_clients_imports_audit(client: TestClient) -> None:
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    assert "职业资格证书" in client.get("/console/types").text
    clients = client.get("/console/clients").text
    assert "demo-approval" in clients
    added = submit(
        client, clients, "/console/clients", client_id="bank-tj", client_name="某银行验证系统", scope="seal:sign"
    )
    assert added.status_code == 200 and "仅显示一次" in added.text and "bank-tj" in added.text
    imports = client.get("/console/imports")
    assert imports.status_code == 200 and "尚无导入记录" in imports.text
    audit = client.get("/console/audit")
    assert audit.status_code == 200 and "✔ 日志链完整" in audit.text and "identity.client.create" in audit.text
    only = client.get("/console/audit?action=seal.").text
    actions = re.findall(r'<td class="mono">([a-z_.]+)</td>\s*<td class="mono">', only)
    assert actions and all(a.startswith("seal.") for a in actions), actions


def test_account_shows_sessions_and_ends_another(client: TestClient, services: Services) -> None:
    other = TestClient(client.app)
    _as(other, CITIZEN_USER, CITIZEN_PASSWORD)
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    page = client.get("/account").text
    assert "本设备 this device" in page and "L2" in page and "未关联 Not linked" in page
    action = re.search(r'action="(/account/sessions/[0-9a-f]+/end)"', page)
    assert action
    ended = submit(client, page, action.group(1))
    assert ended.status_code == 200 and "已结束该会话" in ended.text
    assert other.get("/account", follow_redirects=False).status_code == 303


def test_agent_acts_for_the_company_in_the_wallet(client: TestClient, services: Services) -> None:
    """The company's legal representative (verified, recorded by the identity registry) switches
    the wallet to the company and sees its business licence; an entity without an authorisation
    is refused even with a forged cookie."""
    import anyio

    from identity.sources.demo import DEMO_COMPANY, DEMO_COMPANY_REP
    from license.service import Caller
    from tests.license.licence_helpers import BUSINESS, business_data

    identity = services.identity
    with services.db.session() as s:
        account = identity.accounts.create(
            s, "liuyang", "liuyang-pw-2026", display_name=DEMO_COMPANY_REP.name, actor="test"
        )
        account_id = account.id

    async def setup() -> None:
        await identity.verifier.register_person(
            account_id, DEMO_COMPANY_REP.name, DEMO_COMPANY_REP.id_number, None, actor="test"
        )
        await identity.verifier.register_entity(
            account_id, DEMO_COMPANY.uscc, DEMO_COMPANY.name, DEMO_COMPANY.legal_rep, actor="test"
        )
        assert services.licenses is not None
        await services.licenses.issue(
            Caller(actor="test", operator=True), BUSINESS, business_data(), issuer_code=DEMO_DEPARTMENT.uscc
        )

    anyio.run(setup)
    _as(client, "liuyang", "liuyang-pw-2026")
    own = client.get("/license/wallet").text
    assert "我的证照" in own and "营业执照" not in own and DEMO_COMPANY.name in own  # offered in the switcher
    switched = submit(client, own, "/license/wallet/act-as", uscc=DEMO_COMPANY.uscc)
    assert switched.status_code == 303
    company = client.get("/license/wallet").text
    assert f"单位证照：{DEMO_COMPANY.name}" in company and "营业执照" in company
    back = submit(client, company, "/license/wallet/act-as", uscc="")
    assert back.status_code == 303 and "营业执照" not in client.get("/license/wallet").text
    forged = submit(client, own, "/license/wallet/act-as", uscc=DEMO_DEPARTMENT.uscc)
    assert forged.status_code == 403 and "没有代办该单位的有效授权" in forged.text
    client.cookies.set("ywt_actas", DEMO_DEPARTMENT.uscc)
    assert "单位证照" not in client.get("/license/wallet").text  # the cookie alone grants nothing


def test_sensitive_seal_needs_a_second_operator(client: TestClient, services: Services) -> None:
    """Four eyes: the operator who applied for a sensitive seal cannot approve it (403 page)."""
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    page = client.get("/console/seals").text
    applied = submit(
        client,
        page,
        "/console/seals",
        owner_uscc=DEMO_DEPARTMENT.uscc,
        owner_name=DEMO_DEPARTMENT.name,
        seal_type="finance",
        family="ecdsa",
        sensitive="on",
    )
    assert applied.status_code == 200 and "! 敏感 Sensitive" in applied.text
    sid = re.search(r"（(seal[^）]+)）", applied.text)
    assert sid
    same = submit(client, applied.text, f"/console/seals/{sid.group(1)}/approve")
    assert same.status_code == 403 and "须由另一名管理员审批" in same.text
    with services.db.session() as s:
        assert services.seal.get(s, sid.group(1)).status.value == "applied"


def test_audit_page_reports_a_broken_chain(client: TestClient, services: Services) -> None:
    import sqlalchemy as sa

    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    assert "✔ 日志链完整" in client.get("/console/audit").text
    with services.db.session() as s:
        s.connection().execute(sa.text("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 3"))
    walked = submit(client, client.get("/console/audit").text, "/console/audit/verify")  # the full walk
    assert walked.status_code == 200 and "✘ 日志链已损坏" in walked.text and "entry 3" in walked.text
    broken = client.get("/console/audit")  # after a failure the page walks everything again
    assert broken.status_code == 200 and "✘ 日志链已损坏" in broken.text and "entry 3" in broken.text
    with services.db.session() as s:
        last = s.connection().execute(sa.text("SELECT action, data FROM audit_entry ORDER BY seq DESC LIMIT 1")).one()
    assert last[0] == "audit.verify" and '"ok":false' in last[1]


def test_audit_page_walks_new_entries_and_the_whole_journal_when_due(client: TestClient, services: Services) -> None:
    """The page walks only what was appended since its last walk, says so, and walks everything
    again once the last full walk is ``audit_full_walk_minutes`` old: an edit of an old entry is
    then caught without anyone pressing the button. The button needs the CSRF token."""
    from datetime import timedelta

    import sqlalchemy as sa

    from core import clock

    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    first = client.get("/console/audit").text
    assert "✔ 日志链完整" in first and "本次完整校验了全部日志" in first
    with services.db.session() as s:
        services.journal.append(s, actor="tester", action="test.event", target="x")
        s.commit()
    quick = client.get("/console/audit").text
    assert "✔ 日志链完整" in quick and "上次完整校验于" in quick and "new entries walked" in quick

    no_csrf = client.post("/console/audit/verify", data={}, follow_redirects=False)
    assert no_csrf.status_code in (400, 403) and "audit.verify" not in client.get("/console/audit?action=audit.").text

    with services.db.session() as s:
        s.connection().execute(sa.text("UPDATE audit_entry SET target = 'forged' WHERE seq = 2"))
        s.commit()
    assert "✔ 日志链完整" in client.get("/console/audit").text  # before the verified prefix: not walked
    clock.set_global(clock.now() + timedelta(minutes=services.settings.audit_full_walk_minutes))
    try:
        due = client.get("/console/audit")
    finally:
        clock.set_global(None)
    assert due.status_code == 200 and "✘ 日志链已损坏" in due.text and "entry 2" in due.text


def test_import_progress_lists_a_recorded_job(client: TestClient, services: Services, tmp_path: Any) -> None:
    """A CSV import (two good rows, one with a wrong ID check character) shows up with its counts."""
    import anyio

    from identity.numbers import id_number_check_char
    from license.importer import run_import

    qualification = "11120000000002022H001"
    header = "证照类型代码,证照编号,持证主体,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,职业（工种）,等级"
    lines = [header]
    for i, body in enumerate(("12010119800101101", "12010119810202102")):
        lines.append(
            f"{qualification},TJ2019LS00000{i},测试{i},{body + id_number_check_char(body)},"
            "2019-06-01,2019-06-01,,焊工,四级/中级工"
        )
    lines.append(f"{qualification},TJ2019LS000009,测试九,120101199001011230,2019-06-01,2019-06-01,,焊工,四级/中级工")
    src = tmp_path / "old.csv"
    src.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert services.licenses is not None
    licenses = services.licenses
    anyio.run(
        lambda: run_import(licenses, src, type_code=qualification, issuer_code=DEMO_DEPARTMENT.uscc, actor="test")
    )
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    page = client.get("/console/imports").text
    assert "old.csv" in page and "2 / 1" in page and "100%" in page and "✔ 完成 completed" in page


PAGES_PUBLIC = ("/", "/verify", "/login", "/register")
PAGES_CITIZEN = ("/account", "/license/wallet")
PAGES_OPERATOR = (
    "/console",
    *(f"/console/{s}" for s in ("seals", "grants", "clients", "types", "imports", "audit")),
    "/console/licences?type=11120000000002022H001",
)


def _unlabelled(html_text: str) -> list[str]:
    """Form controls without a label: neither ``<label for=id>`` nor an enclosing ``<label>``."""
    from html.parser import HTMLParser

    class Scan(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.labels: set[str] = set()
            self.controls: list[tuple[str, str | None, bool]] = []
            self.depth = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "label":
                self.depth += 1
                if a.get("for"):
                    self.labels.add(str(a["for"]))
            elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
                self.controls.append((str(a.get("name")), a.get("id"), self.depth > 0 or "aria-label" in a))

        def handle_endtag(self, tag: str) -> None:
            if tag == "label":
                self.depth -= 1

    scan = Scan()
    scan.feed(html_text)
    return [name for name, id_, wrapped in scan.controls if not wrapped and (id_ is None or id_ not in scan.labels)]


def test_every_form_control_has_a_label_and_every_post_form_a_csrf_token(client: TestClient) -> None:
    def check(path: str) -> None:
        page = client.get(path)
        assert page.status_code == 200, path
        assert _unlabelled(page.text) == [], path
        for f in forms(page.text):
            if f["method"] == "post":
                assert f["fields"].get("csrf"), (path, f["action"])

    for path in PAGES_PUBLIC:
        check(path)
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    for path in PAGES_CITIZEN:
        check(path)
    check(f"/license/wallet/{_licence_id(client)}")
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    for path in PAGES_OPERATOR:
        check(path)


def test_grant_of_a_sensitive_seal_needs_a_second_operator_and_roles_gate_sections(
    client: TestClient, services: Services
) -> None:
    """A second operator holding only seal_manager approves the sensitive seal and its grant; the
    operator who asked cannot; that second operator is refused the auditor's journal page."""
    from identity import operators

    with services.db.session() as s:
        operators.create_operator(
            s, services.journal, "sealer2", "sealer2-pw-2026", {operators.Role.SEAL_MANAGER}, actor="test"
        )
    second = TestClient(client.app)
    _as(second, "sealer2", "sealer2-pw-2026")
    assert second.get("/console/seals").status_code == 200
    for path in ("/console/audit", "/console/clients", "/console/licences"):
        assert second.get(path).status_code == 403, path
    home = second.get("/console").text
    assert 'href="/console/seals"' in home and 'href="/console/audit"' not in home

    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    applied = submit(
        client,
        client.get("/console/seals").text,
        "/console/seals",
        owner_uscc=DEMO_DEPARTMENT.uscc,
        owner_name=DEMO_DEPARTMENT.name,
        seal_type="finance",
        family="sm2",
        sensitive="on",
    )
    match = re.search(r"（(seal[^）]+)）", applied.text)
    assert match
    sid = match.group(1)
    assert "已审批" in submit(second, second.get("/console/seals").text, f"/console/seals/{sid}/approve").text
    assert "✔ 启用" in submit(second, second.get("/console/seals").text, f"/console/seals/{sid}/activate").text
    granted = submit(
        client, client.get("/console/grants").text, "/console/grants", seal_id=sid, client_id="demo-approval"
    )
    assert granted.status_code == 200 and "○ 待第二名管理员审批" in granted.text
    gid = re.search(r"（(grant[^）]+)）", granted.text)
    assert gid
    own = submit(client, granted.text, f"/console/grants/{gid.group(1)}/approve")
    assert own.status_code == 403 and "须由另一名管理员审批" in own.text
    ok = submit(second, second.get("/console/grants").text, f"/console/grants/{gid.group(1)}/approve")
    assert ok.status_code == 200 and "现为：active" in ok.text
    gone = submit(second, ok.text, f"/console/grants/{gid.group(1)}/revoke")
    assert gone.status_code == 200 and "现为：revoked" in gone.text
    with services.db.session() as s:
        assert [g.status.value for g in services.seal.list_grants(s, seal_id=sid)] == ["revoked"]


HOSTILE = ("", "\x00\x01", "x" * 5000, "../../etc/passwd", "<script>alert(1)</script>", "１２３", "\ud7ff" * 50)
FIELDS = (
    "owner_uscc",
    "owner_name",
    "seal_type",
    "family",
    "shape",
    "department",
    "name",
    "sensitive",
    "reason",
    "seal_id",
    "client_id",
    "document_types",
    "not_after",
    "client_name",
    "scope",
    "acts_for",
    "target",
    "definition",
    "width_mm",
    "type_code",
    "issuer_code",
    "f_name",
    "f_id_number",
    "f_certificate_no",
    "uscc",
    "recipient",
    "purpose",
    "minutes",
    "qr_text",
    "at",
)


def test_hostile_form_input_never_gives_a_500(client: TestClient) -> None:
    """Every portal POST, with every field empty, binary, huge, a path, markup or odd Unicode:
    a page with a 2xx/3xx/4xx status, never a server error, and the markup never comes back raw."""
    _as(client, ADMIN_USER, ADMIN_PASSWORD)
    token = form(client.get("/console/seals").text, "/console/seals")["fields"]["csrf"]
    lid = "0" * 32
    posts = (
        "/console/seals",
        "/console/seals/seal-x/approve",
        "/console/seals/seal-x/revoke",
        "/console/grants",
        "/console/grants/grant-x/approve",
        "/console/clients",
        "/console/clients/x/secret",
        "/console/clients/x/disable",
        "/console/types",
        "/console/types/x/deactivate",
        "/console/seals/seal-x/image",
        "/console/licences",
        f"/console/licences/{lid}/revoke",
        "/license/wallet/act-as",
        f"/license/wallet/{lid}/share",
        "/license/wallet/shares/x/revoke",
        "/account/sessions/x/end",
        "/verify",
    )
    for value in HOSTILE:
        for path in posts:
            resp = client.post(path, data={"csrf": token, **dict.fromkeys(FIELDS, value)}, follow_redirects=False)
            assert resp.status_code < 500, (path, value[:20], resp.status_code)
            assert "<script>alert(1)</script>" not in resp.text, path
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    real = _licence_id(client)
    token = form(client.get(f"/license/wallet/{real}").text, f"/license/wallet/{real}/share")["fields"]["csrf"]
    for value in HOSTILE:
        for path in (f"/license/wallet/{real}/share", "/license/wallet/act-as", "/account/verify"):
            resp = client.post(
                path, data={"csrf": token, "method": value, **dict.fromkeys(FIELDS, value)}, follow_redirects=False
            )
            assert resp.status_code < 500, (path, value[:20], resp.status_code)
            assert "<script>alert(1)</script>" not in resp.text, path


def test_account_page_offers_the_l3_checks_only_below_l3(client: TestClient) -> None:
    """The citizen (L2) sees the L3 checks; after the telecom check passes the page says the level is
    reached and offers no further verification form."""
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    page = client.get("/account").text
    assert any(f["action"] == "/account/verify" for f in forms(page)) and "无需再次核验" not in page
    done = submit(client, page, "/account/verify", method="telecom3")
    assert done.status_code == 200 and "当前等级 L3" in done.text, done.text[:2000]
    again = client.get("/account").text
    assert "无需再次核验" in again and not any(f["action"] == "/account/verify" for f in forms(again))


def test_account_forms_without_csrf_are_refused_and_change_nothing(client: TestClient, services: Services) -> None:
    """Every form of the account page, posted by a logged-in person without the CSRF token (or with
    a wrong one): the same refusal page, and the account is as it was (level, sessions)."""
    _as(client, CITIZEN_USER, CITIZEN_PASSWORD)
    before = client.get("/account").text
    sid = re.search(r'action="/account/sessions/([^"/]+)/end"', before)
    paths = ["/account/verify", "/account/totp/setup", "/account/totp/confirm", "/account/totp/disable"]
    paths.append(f"/account/sessions/{sid.group(1) if sid else 'zz-none'}/end")
    for path in paths:
        for data in ({"method": "telecom3", "code": "000000"}, {"csrf": "0" * 64, "method": "telecom3"}):
            resp = client.post(path, data=data, follow_redirects=False)
            assert resp.status_code == 403 and "页面已过期或来源不正确" in resp.text, (path, resp.status_code)
    after = client.get("/account")
    assert after.status_code == 200 and "当前等级" not in after.text and "无需再次核验" not in after.text
    assert len(re.findall(r'action="/account/sessions/', after.text)) == len(
        re.findall(r'action="/account/sessions/', before)
    )
