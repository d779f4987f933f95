"""``ywt verify`` offline (a real process, no server): with the installation, with only an
exported bundle (``--trust``) in an empty home, ``--qr``, ``--qr-image``, ``--at``, ``--json``, exit
codes, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.container import Services
from keys import Family


def _ywt(home: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")}
    env["YWT_HOME"] = str(home)
    if db:
        env["YWT_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, timeout=300, cwd=Path.cwd()
    )


def test_cli_verify_with_installation(services: Services, sealed: Callable[..., bytes], tmp_path: Path) -> None:
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(sealed(Family.SM2))
    home, db = services.settings.home, services.settings.database_url
    r = _ywt(home, "verify", str(pdf), db=db)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("TOTAL-PASSED") and "验证通过" in r.stdout
    r = _ywt(home, "verify", str(pdf), "--json", db=db)
    report: dict[str, Any] = json.loads(r.stdout)
    assert report["indication"] == "TOTAL-PASSED" and report["signatures"][0]["algorithm"] == "sm2_sm3/sm3"
    tampered = tmp_path / "tampered.pdf"
    data = bytearray(pdf.read_bytes())
    i = data.index(b"ReportLab")
    data[i] ^= 1
    tampered.write_bytes(bytes(data))
    r = _ywt(home, "verify", str(tampered), db=db)
    assert r.returncode == 1 and "HASH_FAILURE" in r.stdout
    r = _ywt(home, "verify", str(tmp_path / "missing.pdf"), db=db)
    assert r.returncode == 3
    notpdf = tmp_path / "n.pdf"
    notpdf.write_text("hello")
    r = _ywt(home, "verify", str(notpdf), db=db)
    assert r.returncode == 3 and "not a PDF" in r.stderr


def test_cli_trust_bundle_and_offline_verify(
    services: Services, sealed: Callable[..., bytes], licence: Any, tmp_path: Path
) -> None:
    """A third party: no installation, only the exported bundle."""
    home, db = services.settings.home, services.settings.database_url
    bundle = tmp_path / "trust.pem"
    r = _ywt(home, "pki", "trust-bundle", "--out", str(bundle), db=db)
    assert r.returncode == 0, r.stderr
    assert bundle.read_text().count("BEGIN CERTIFICATE") >= 4  # 3 roots + the QR signer
    empty = tmp_path / "empty-home"
    empty.mkdir()
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(sealed(Family.RSA, timestamp=False))
    r = _ywt(empty, "verify", str(pdf))
    assert r.returncode == 3 and "--trust" in r.stderr
    r = _ywt(empty, "verify", str(pdf), "--trust", str(bundle), "--json")
    out = json.loads(r.stdout)
    # offline: no live CRL for our CAs -> revocation cannot be decided: not TOTAL-PASSED
    assert r.returncode == 2 and out["sub_indication"] == "TRY_LATER", out
    r = _ywt(empty, "verify", "--qr", licence.qr_url, "--trust", str(bundle))
    assert r.returncode == 2 and "签名真实" in r.stdout  # signature genuine, status not checked offline
    r = _ywt(empty, "verify", "--qr", "garbage", "--trust", str(bundle))
    assert r.returncode == 3
    assert not (empty / "ywt.db").exists()  # offline verification creates nothing


def test_cli_at_validates_as_of_a_past_time(
    services: Services, seal_key: Callable[[Family], Any], tmp_path: Path
) -> None:
    from datetime import timedelta

    from core import clock
    from tests.verify.pdfkit import plain_pdf, seal_pdf

    key = seal_key(Family.ECDSA)
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(seal_pdf(services, plain_pdf(), key, timestamp=False))
    home, db = services.settings.home, services.settings.database_url
    later = (key.cert.not_valid_after + timedelta(days=2)).isoformat()
    r = _ywt(home, "verify", str(pdf), "--at", later, "--json", db=db)
    assert json.loads(r.stdout)["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"
    r = _ywt(home, "verify", str(pdf), "--at", clock.now().isoformat(), db=db)
    assert r.returncode == 0
    r = _ywt(home, "verify", str(pdf), "--at", "not-a-time", db=db)
    assert r.returncode == 3


def test_cli_trust_add(services: Services, tmp_path: Path) -> None:
    from asn1crypto import pem

    from tests.verify.pdfkit import FOREIGN

    home, db = services.settings.home, services.settings.database_url
    ca = tmp_path / "national.pem"
    ca.write_bytes(pem.armor("CERTIFICATE", FOREIGN.root.dump()))
    r = _ywt(home, "pki", "trust-add", "--ca", str(ca), "--name", "国家平台CA", "--source", "national", db=db)
    assert r.returncode == 0 and "trusted CA" in r.stdout, r.stderr
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pem.armor("CERTIFICATE", FOREIGN.leaf.dump()))
    r = _ywt(home, "pki", "trust-add", "--ca", str(leaf), db=db)
    assert r.returncode == 1 and "not a CA certificate" in r.stderr
    bundle = _ywt(home, "pki", "trust-bundle", db=db).stdout
    assert "国家平台CA [national]" in bundle


def test_cli_qr_image(services: Services, licence: Any, licence_pdf: bytes, tmp_path: Path) -> None:
    """``--qr-image``: a photo of the licence (poppler at 150 dpi, as a phone would see it)
    decoded by zbar in the CLI, with the installation and offline with only the bundle."""
    (tmp_path / "l.pdf").write_bytes(licence_pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp_path / "l.pdf"), str(tmp_path / "p")],
        check=True,
    )
    photo = next(tmp_path.glob("p-*.png"))
    home, db = services.settings.home, services.settings.database_url
    r = _ywt(home, "verify", "--qr-image", str(photo), "--json", db=db)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["indication"] == "TOTAL-PASSED" and report["details"]["licence"]["identifier"] == licence.identifier
    bundle = tmp_path / "trust.pem"
    assert _ywt(home, "pki", "trust-bundle", "--out", str(bundle), db=db).returncode == 0
    empty = tmp_path / "empty-home"
    empty.mkdir()
    r = _ywt(empty, "verify", "--qr-image", str(photo), "--trust", str(bundle))
    assert r.returncode == 2 and "签名真实" in r.stdout, r.stdout + r.stderr  # genuine; status not checked offline
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(blank)
    r = _ywt(home, "verify", "--qr-image", str(blank), db=db)
    assert r.returncode == 3 and "QR" in r.stderr, r.stdout + r.stderr
    r = _ywt(empty, "verify", "--qr-image", str(blank), "--trust", str(bundle))
    assert r.returncode == 3, r.stdout + r.stderr
    assert not (empty / "ywt.db").exists()


def test_cli_output_into_a_closed_pipe(services: Services, sealed: Callable[..., bytes], tmp_path: Path) -> None:
    """``ywt verify x.pdf | head -1``: the reader leaves early; no traceback on stderr, exit 141."""
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(sealed(Family.RSA))
    env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")}
    env["YWT_HOME"] = str(services.settings.home)
    if services.settings.database_url:
        env["YWT_DATABASE_URL"] = services.settings.database_url
    # the reader is gone before anything is written: every write meets EPIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "verify", str(pdf)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=Path.cwd(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141  # as a shell reports SIGPIPE, not a verdict
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
