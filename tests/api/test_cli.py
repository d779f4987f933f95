"""The ywt CLI as a user runs it (subprocesses, environment settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings


def ywt(settings_env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")} | settings_env
    r = subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).resolve().parents[2], timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"ywt {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def _env(settings: Settings) -> dict[str, str]:
    env = {"YWT_HOME": str(settings.home), "YWT_ENV": "test"}
    if settings.database_url:
        env["YWT_DATABASE_URL"] = settings.database_url
    return env


def test_init_on_a_fresh_home_prints_what_it_created(tmp_path: Path) -> None:
    env = {"YWT_HOME": str(tmp_path / "fresh"), "YWT_ENV": "test"}
    out = ywt(env, "init", "--demo").stdout
    assert "PKI initialised: 12 CAs" in out and "admin / admin-demo-pw" in out
    assert "already initialised" in ywt(env, "init").stdout
    assert (tmp_path / "fresh" / "master.key").stat().st_mode & 0o077 == 0


def test_pki_commands(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings)
    cas = json.loads(ywt(env, "pki", "list", "--json").stdout)
    assert len(cas) == 12
    r = ywt(env, "pki", "issue", "--ca", "sm2-identity", "--profile", "person", "--new-key", "sm2",
            "--subject", "CN=李雷,C=CN", "--out", str(tmp_path / "c.pem"))
    serial = r.stderr.split("issued serial ")[1].split()[0]
    assert (tmp_path / "c.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "revoked" in ywt(env, "pki", "revoke", serial, "--reason", "superseded").stdout
    ywt(env, "pki", "crl", "sm2-identity", "--out", str(tmp_path / "x.crl"))
    assert (tmp_path / "x.crl").read_bytes()[0] == 0x30
    bad = ywt(env, "pki", "issue", "--ca", "sm2-identity", "--profile", "root-of-all", "--new-key", "sm2",
              "--subject", "CN=x", check=False)
    assert bad.returncode == 1 and "No such certificate profile" in bad.stderr
    bad = ywt(env, "pki", "revoke", "deadbeef", check=False)
    assert bad.returncode == 1 and "deadbeef" in bad.stderr
    keys = ywt(env, "keys", "list").stdout
    assert "sm2" in keys and "CA sm2-root" in keys


def test_audit_commands(settings: Settings) -> None:
    env = _env(settings)
    assert "checkpoint at entry" in ywt(env, "audit", "checkpoint").stdout
    report = json.loads(ywt(env, "audit", "verify", "--json").stdout)
    assert report["ok"] and report["checkpoints"] >= 1
