"""``ywt pki issue`` from each source the issue names: an OpenSSL-made CSR (``--csr``) and a key
already in the store (``--key-id``); the certificate chains in OpenSSL; bad input is a clear
message and exit 1, never a traceback, and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from api.cli import main as cli
from api.container import Services
from keys import KeyAlgorithm
from tests.ca.helpers import make_csr, openssl, verify_chain, write_cas


@pytest.fixture
def env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("YWT_HOME", str(services.settings.home))
    if services.settings.database_url:
        monkeypatch.setenv("YWT_DATABASE_URL", services.settings.database_url)
    return services


def _certs(services: Services) -> int:
    with services.db.engine.connect() as c:
        return int(c.execute(sa.text("SELECT COUNT(*) FROM ca_certificate")).scalar_one())


@pytest.mark.parametrize("family", ["rsa", "sm2"])
def test_issue_from_csr_file(env: Services, tmp_path: Path, family: str, capsys: pytest.CaptureFixture[str]) -> None:
    csr = make_csr(tmp_path, family, f"/C=CN/O=示例单位/CN=CLI CSR {family}")
    out = tmp_path / "leaf.pem"
    assert cli(["pki", "issue", "--ca", f"{family}-identity", "--profile", "organisation",
                "--csr", str(csr), "--out", str(out)]) == 0  # fmt: skip
    assert "issued serial" in capsys.readouterr().err
    cas = write_cas(env, tmp_path)
    verify_chain(tmp_path, family, cas[f"{family}-root"], cas[f"{family}-identity"], out)
    # the certificate is for the CSR's key
    key_pub = openssl("pkey", "-in", f"{tmp_path}/req.key", "-pubout", cwd=tmp_path).stdout
    cert_pub = openssl("x509", "-in", str(out), "-noout", "-pubkey", cwd=tmp_path).stdout
    assert key_pub == cert_pub


def test_issue_for_a_key_in_the_store(env: Services, tmp_path: Path) -> None:
    with env.db.session() as s:
        key = env.keys.generate(s, KeyAlgorithm.EC_P256, "cli test key")
    out = tmp_path / "c.pem"
    assert cli(["pki", "issue", "--ca", "ecdsa-seal", "--profile", "seal-signing", "--key-id", key.key_id,
                "--subject", "CN=命令行专用章,C=CN", "--out", str(out)]) == 0  # fmt: skip
    with env.db.session() as s:
        cert = env.ca.certificate_for_key(s, key.key_id)
    assert cert is not None and cert.cert_pem == out.read_text()
    text = openssl("x509", "-in", str(out), "-noout", "-subject", "-nameopt", "utf8", cwd=tmp_path).stdout
    assert "命令行专用章" in text


def test_bad_cli_issue_input(env: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _certs(env)
    (tmp_path / "garbage.csr").write_bytes(b"not a request")
    cases = [
        (["--csr", str(tmp_path / "garbage.csr")], "PKCS#10"),
        (["--csr", str(tmp_path / "missing.csr")], "missing.csr"),
        (["--key-id", "0" * 64, "--subject", "CN=x"], "0" * 16),
    ]
    for extra, needle in cases:
        rc = cli(["pki", "issue", "--ca", "rsa-identity", "--profile", "person", *extra])
        err = capsys.readouterr().err
        assert rc == 1 and needle in err and "Traceback" not in err, (extra, rc, err)
    assert _certs(env) == before
