"""The portal in a real browser: Playwright (npm ``playwright-core``) driving Debian's ``chromium``
headless against the service on a loopback port (tests/peers/portal_flow.mjs).

One journey, each step screenshotted into ``test-artifacts/portal/`` (gitignored): a person
registers (real-name check, SMS code read from the development outbox), raises the account to L3
on the verification form, logs out and in again with the keyboard; the demo operator issues a
licence to that person from the console form, applies for a seal, approves and activates it and
grants it to the approval system; the person finds the licence in the wallet, downloads the sealed
PDF and shares it with a named bank; the bank opens the link in another browser and reads
"genuine"; the verify page calls the downloaded PDF genuine and a copy with one flipped byte not;
the licence's QR landing page on a 390x844 phone screen shows the verdict first, without sideways
scrolling; the holder withdraws the share and the bank's link stops working; the operator revokes
the licence and the phone's QR page says so on reload. On every screenshotted page all visible
text meets WCAG AA contrast (4.5:1, 3:1 when large), and the first Tab reaches the skip link. The
browser reports what the pages say; this test judges it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.container import Services, build_services, initialise
from api.demo import ADMIN_PASSWORD, ADMIN_USER, APPROVAL_CLIENT
from identity.sources.demo import DEMO_DEPARTMENT, DEMO_NO_CARD
from tests.conftest import Template, clone_installation, free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "tests" / "peers"
ARTEFACTS = ROOT / "test-artifacts" / "portal"
QUALIFICATION = "11120000000002022H001"
BUDGET_SECONDS = 110  # the whole browser journey; the issue asks for < 2 minutes


@pytest.fixture
def portal_server(pki_template: Template, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    """The service on a real loopback port whose base URL (QR codes, share links) is that port."""
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    settings = make_settings(home, clone_installation(pki_template, home), base_url=base)
    services = build_services(settings)
    initialise(services, demo=True)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    yield base, services
    server.should_exit = True
    thread.join(timeout=10)
    services.close()


def _run_browser(base: str, options: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    chromium = shutil.which("chromium")
    if node is None or chromium is None or not (PEERS / "node_modules" / "playwright-core").is_dir():
        pytest.fail("node, Debian's chromium and tests/peers/node_modules are needed: make setup-test")
    if ARTEFACTS.exists():
        shutil.rmtree(ARTEFACTS)
    done = subprocess.run(
        [node, str(PEERS / "portal_flow.mjs"), base, str(ARTEFACTS), json.dumps({**options, "chromium": chromium})],
        capture_output=True,
        text=True,
        timeout=BUDGET_SECONDS,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLAYWRIGHT_")},
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], f"{result.get('error')}\nsteps so far: {[s['name'] for s in result['steps']]}\n{done.stderr}"
    return result


def test_portal_journey_in_chromium(portal_server: tuple[str, Services]) -> None:
    base, services = portal_server
    person = DEMO_NO_CARD
    options = {
        "citizen": {
            "username": "chenjing",
            "password": "chenjing-pw-2026",
            "name": person.name,
            "id_number": person.id_number,
            "phone": person.phone,
        },
        "admin": {"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        "licence": {
            "type": QUALIFICATION,
            "issuer": DEMO_DEPARTMENT.uscc,
            "fields": {
                "name": person.name,
                "id_number": person.id_number,
                "occupation": "电工",
                "level": "三级/高级工",
                "certificate_no": "TJ2026ZY000042",
            },
        },
        "recipient": "中国银行天津分行",
        "seal": {"owner_uscc": DEMO_DEPARTMENT.uscc, "owner_name": DEMO_DEPARTMENT.name},
        "grant_client": APPROVAL_CLIENT,
    }
    started = time.monotonic()
    result = _run_browser(base, options)
    elapsed = time.monotonic() - started
    steps = {s["name"]: s for s in result["steps"]}
    for s in result["steps"]:
        assert s["screenshot"] is None or Path(s["screenshot"]).stat().st_size > 5000, s["name"]
        assert s["contrast"] == [], f"text below WCAG AA contrast on {s['name']}: {s['contrast']}"
    assert steps["keyboard-skip-link"]["skip"].startswith("跳到正文")
    assert steps["keyboard-skip-link"]["after_skip"] == "#main"

    assert steps["register-confirm"]["masked_id"] != person.id_number  # shown masked
    assert "L2" in steps["account-registered"]["level"]
    assert "L3" in steps["account-verified"]["message"] and "L3" in steps["account-verified"]["level"]
    assert steps["account"]["sessions"] == 1 and steps["account"]["url"] == "/account"

    assert "已签发" in steps["console-issue"]["message"] and "TJ2026ZY000042" in steps["console-issue"]["message"]
    seals = steps["console-seals"]
    assert "已提交印章申请" in seals["applied"] and "已审批" in seals["approved"] and "✔ 启用" in seals["activated"]
    assert seals["image_ok"] is True and "✔ 启用 Active" in seals["row"]
    assert "✔ 已生效" in steps["console-grants"]["message"] and APPROVAL_CLIENT in steps["console-grants"]["message"]
    with services.db.session() as s:
        grants = services.seal.list_grants(s, seal_id=seals["seal_id"])
        assert [(g.client_id, g.status.value) for g in grants] == [(APPROVAL_CLIENT, "active")]
    assert steps["console-audit"]["chain"] == "✔ 日志链完整"

    assert "职业资格证书" in steps["wallet"]["row"] and "TJ2026ZY000042" in steps["wallet"]["row"]
    assert "✔ 有效" in steps["wallet"]["row"]
    assert "中国银行天津分行" in steps["share-created"]["message"]
    third = steps["share-third-party"]
    assert third["verdict"].startswith("✔ 真实有效") and "中国银行天津分行" in third["notice"]

    assert steps["verify-genuine"]["verdict"].startswith("✔ 真实有效")
    assert steps["verify-tampered"]["verdict"].startswith("✘ 验证失败")

    phone = steps["qr-landing-phone"]
    assert result["qr_url"].startswith("/v/") and phone["verdict"].startswith("✔ 真实有效")
    assert phone["scroll_width"] <= 390, "the landing page scrolls sideways on a phone"
    assert phone["verdict_top"] is not None and phone["verdict_top"] < 300  # verdict first, above the fold

    withdrawn = steps["share-withdrawn"]
    assert "已撤回" in withdrawn["withdrawn"] and withdrawn["verdict"].startswith("✘ 无法查看")
    assert "持证人已撤回该共享" in withdrawn["detail"]
    revoked = steps["qr-landing-revoked"]
    assert "revoked" in revoked["revoked_message"] and revoked["verdict"].startswith("✘")
    assert "吊销" in revoked["summary"], revoked["summary"]
    assert elapsed < BUDGET_SECONDS
