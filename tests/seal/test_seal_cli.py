"""``ywt seal ...``: the operator's command line over the same service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pdfkit import DEPT, USCC, make_pdf

from api.cli import main
from api.container import Services


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    s = services.settings
    monkeypatch.setenv("YWT_HOME", str(s.home))
    monkeypatch.setenv("YWT_ENV", "test")
    monkeypatch.setenv("YWT_DEMO", "false")
    if s.database_url:
        monkeypatch.setenv("YWT_DATABASE_URL", s.database_url)
    return services


def test_cli_lifecycle_sign_and_verify(cli_env: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seal", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {s["family"] for s in listed} == {"rsa", "ecdsa", "sm2"}
    assert (
        main(
            [
                "seal",
                "apply",
                "--uscc",
                USCC,
                "--owner-name",
                DEPT,
                "--type",
                "contract",
                "--family",
                "sm2",
                "--as",
                "alice",
            ]
        )
        == 0
    )
    seal_id = capsys.readouterr().out.split()[0]
    for op in ("approve", "activate"):
        assert main(["seal", op, seal_id, "--as", "alice"]) == 0
    assert "active" in capsys.readouterr().out
    src = tmp_path / "decision.pdf"
    src.write_bytes(make_pdf())
    out = tmp_path / "sealed.pdf"
    rc = main(
        ["seal", "sign", str(src), "--seal", seal_id, "--anchor", "（盖章）", "--level", "B-T", "--out", str(out)]
    )
    assert rc == 0 and out.read_bytes().startswith(src.read_bytes())
    assert "B-T" in capsys.readouterr().out
    ses = tmp_path / "seal.ses"
    assert main(["seal", "export", seal_id, "ses", "--out", str(ses)]) == 0
    capsys.readouterr()
    assert main(["seal", "ses-verify", str(ses)]) == 0
    assert capsys.readouterr().out.startswith("TOTAL-PASSED")
    bad = tmp_path / "bad.ses"
    bad.write_bytes(ses.read_bytes()[:-3] + b"\x00\x00\x00")
    assert main(["seal", "ses-verify", str(bad)]) == 1
    capsys.readouterr()
    assert main(["seal", "suspend", seal_id, "--reason", "test"]) == 0
    assert main(["seal", "sign", str(src), "--seal", seal_id, "--x", "100", "--y", "100"]) == 1
    assert "suspended" in capsys.readouterr().err
    assert (
        main(["seal", "grant", seal_id, "some-client", "--types", "a,b", "--until", "2099-01-01T00:00:00+08:00"]) == 0
    )
    assert main(["seal", "grants", "--seal-id", seal_id]) == 0
    assert "types=a,b" in capsys.readouterr().out
    assert main(["seal", "revoke", seal_id]) == 0
    assert "revoked" in capsys.readouterr().out
