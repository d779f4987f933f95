"""scripts/audit-deps (the lint step's pip-audit wrapper) judged on canned pip-audit reports:
a vulnerability fails the build, a clean audit passes, an unreachable advisory service is
reported as NOT AUDITED (and fails under YWT_AUDIT_STRICT=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, report: dict[str, object], strict: bool = False) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport sys\nassert sys.argv[1:3] == ['-m', 'pip_audit']\n"
                    f"print({json.dumps(json.dumps(report))})\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "YWT_AUDIT_STRICT"}
    if strict:
        env["YWT_AUDIT_STRICT"] = "1"
    return subprocess.run([sys.executable, str(ROOT / "scripts/audit-deps"), str(fake)], capture_output=True,
                          text=True, env=env, timeout=60)


def test_a_vulnerable_dependency_fails(tmp_path: Path) -> None:
    r = run(tmp_path, {"dependencies": [
        {"name": "jinja2", "version": "3.1.2", "vulns": [
            {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "description": "XSS via xmlattr"}]},
        {"name": "httpx", "version": "0.28.1", "vulns": []}], "fixes": []})
    assert r.returncode == 1 and "VULNERABLE jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in r.stdout


def test_a_clean_audit_passes(tmp_path: Path) -> None:
    r = run(tmp_path, {"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []},
                                        {"name": "local-thing", "skip_reason": "Dependency not found on PyPI"}]})
    assert r.returncode == 0 and "1 packages audited, no known vulnerabilities; 1 not on PyPI" in r.stdout


@pytest.mark.parametrize("strict", [False, True])
def test_an_unreachable_service_is_reported_as_not_audited(tmp_path: Path, strict: bool) -> None:
    r = run(tmp_path, {"dependencies": [{"name": "httpx", "skip_reason": "Dependency not found on PyPI"}]}, strict)
    assert "NOT AUDITED" in r.stderr
    assert r.returncode == (1 if strict else 0)
