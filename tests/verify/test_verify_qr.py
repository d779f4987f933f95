"""Licence QR codes: a real licence issued through license/ and sealed through seal/; its QR code
verified from text, from a photo (rendered by poppler, decoded by zbar server-side), and through
the live status (revoked / suspended / superseded / expired). Forged codes are verdicts, garbage is a 400."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.container import Services
from verify.errors import BadImage, BadQrPayload, NoQrCode
from verify.report import Indication, Sub
from verify.service import VerifyService


def test_licence_pdf_is_total_passed(licence_pdf: bytes, verifier: VerifyService) -> None:
    report = verifier.verify_pdf(licence_pdf)
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    sig = report.signatures[-1]
    assert sig.ours and sig.seal is not None and sig.seal.seal_id is not None
    assert sig.seal.name.endswith("电子证照专用章") and sig.seal.status == "active"
    assert sig.timestamp_time is not None


def test_qr_text_valid(licence: Any, verifier: VerifyService) -> None:
    report = verifier.verify_qr(licence.qr_url)
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    lic = report.details["licence"]
    assert lic["identifier"] == licence.identifier and lic["status"] == "valid"
    assert "*" in lic["holder"] and lic["holder"] != licence.holder_name  # masked, never in clear
    assert report.details["seal"]["name"] == licence.seal_name


def _photo(pdf: bytes, tmp: Path, fmt: str = "png") -> bytes:
    (tmp / "l.pdf").write_bytes(pdf)
    flag = "-png" if fmt == "png" else "-jpeg"
    subprocess.run(
        ["pdftoppm", "-r", "150", flag, "-f", "1", "-l", "1", str(tmp / "l.pdf"), str(tmp / "p")], check=True
    )
    return next(tmp.glob("p-*")).read_bytes()


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_qr_photo_decoded_server_side(
    fmt: str, licence: Any, licence_pdf: bytes, verifier: VerifyService, tmp_path: Path
) -> None:
    report = verifier.verify_qr_image(_photo(licence_pdf, tmp_path, fmt))
    assert report.indication is Indication.TOTAL_PASSED
    assert report.details["licence"]["identifier"] == licence.identifier


def _change(services: Services, licence: Any, action: str) -> None:
    from identity.sources.demo import DEMO_DEPARTMENT
    from license.service import Caller

    assert services.licenses is not None
    with services.db.session() as s:
        services.licenses.change_status(
            s, Caller(actor="test", issuer_code=DEMO_DEPARTMENT.uscc), licence.id, action, "测试"
        )


@pytest.mark.parametrize(
    ("action", "indication", "sub"),
    [("revoke", Indication.TOTAL_FAILED, Sub.REVOKED), ("suspend", Indication.INDETERMINATE, Sub.TRY_LATER)],
)
def test_live_status_is_reflected_at_once(
    action: str, indication: Indication, sub: Sub, services: Services, licence: Any, verifier: VerifyService
) -> None:
    _change(services, licence, action)
    report = verifier.verify_qr(licence.qr_payload)
    assert report.indication is indication and report.sub_indication is sub
    assert report.checks[0].status.value == "passed"  # the code itself is genuine


def test_forged_qr_is_a_failed_verdict(licence: Any, verifier: VerifyService) -> None:
    """Claims changed (another holder) with the signature kept: TOTAL-FAILED, not a 400."""
    import base64
    import json

    h, p, s = licence.qr_payload.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["n"] = "李*"
    p2 = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    report = verifier.verify_qr(f"{h}.{p2}.{s}")
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is Sub.SIG_CRYPTO_FAILURE
    assert "伪造" in report.summary_zh()


@pytest.mark.parametrize(
    "text",
    ["", "hello world", "a.b", "x" * 5000, "https://example.org/v/", "eyJhbGciOiJub25lIn0.e30.", "%%%.###.$$$"],
    ids=["empty", "words", "two-parts", "too-long", "url-no-payload", "alg-none", "not-base64"],
)
def test_garbage_qr_text_is_bad_input(text: str, verifier: VerifyService) -> None:
    with pytest.raises(BadQrPayload):
        verifier.verify_qr(text)


def test_image_without_code(verifier: VerifyService) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "PNG")
    with pytest.raises(NoQrCode):
        verifier.verify_qr_image(buf.getvalue())


@pytest.mark.parametrize(
    "data", [b"", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"%PDF-1.7 not an image"]
)
def test_not_an_image(data: bytes, verifier: VerifyService) -> None:
    with pytest.raises(BadImage):
        verifier.verify_qr_image(data)


def test_image_bomb_is_refused_before_decoding(verifier: VerifyService) -> None:
    """A PNG declaring 100000 x 100000 pixels (tiny file): refused from its header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(BadImage):
        verifier.verify_qr_image(png)


def test_offline_qr_without_registry_is_indeterminate(services: Services, licence: Any) -> None:
    from verify.service import verify_qr_standalone
    from verify.trust import from_bundle

    assert services.verifier is not None
    with services.db.session() as s:
        bundle = services.verifier.trust_list(s).pem_bundle().encode()
    report = verify_qr_standalone(licence.qr_payload, from_bundle(bundle))
    assert report.indication is Indication.INDETERMINATE and report.sub_indication is Sub.TRY_LATER
    assert report.checks[0].status.value == "passed"


def _business_data(**changes: str) -> dict[str, str]:
    from identity.sources.demo import DEMO_COMPANY

    data = {
        "uscc": DEMO_COMPANY.uscc,
        "name": DEMO_COMPANY.name,
        "company_type": "有限责任公司",
        "legal_representative": DEMO_COMPANY.legal_rep,
        "business_scope": "技术开发、技术咨询、技术服务；软件开发",
        "registered_capital": "500",
        "established_on": "2016-03-18",
        "term_until": "",
        "address": "天津市滨海新区示例路8号",
    }
    data.update(changes)
    return data


def _caller() -> Any:
    from identity.sources.demo import DEMO_DEPARTMENT
    from license.service import Caller

    return Caller(actor="client:demo-approval", issuer_code=DEMO_DEPARTMENT.uscc)


def test_superseded_code_fails_and_names_the_current_version(
    services: Services, licence: Any, verifier: VerifyService
) -> None:
    """A corrected licence (version +1): the old code is still genuine but no longer current."""
    import anyio

    svc = services.licenses
    assert svc is not None
    newer = anyio.run(lambda: svc.correct(_caller(), licence.id, _business_data(registered_capital="800")))
    old = verifier.verify_qr(licence.qr_payload)
    assert old.checks[0].status.value == "passed"  # the old code itself is genuine
    assert old.indication is Indication.TOTAL_FAILED and old.sub_indication is Sub.REVOKED, old.as_dict()
    lic = old.details["licence"]
    assert lic["status"] == "superseded" and lic["current_identifier"] == newer.identifier
    assert lic["status_zh"] == "已被新版本替代"
    current = verifier.verify_qr(newer.qr_payload)
    assert current.indication is Indication.TOTAL_PASSED and current.details["licence"]["version"] == 2


def test_expired_code_fails(services: Services, verifier: VerifyService) -> None:
    """A licence whose term has ended: genuine code, live status expired -> TOTAL-FAILED/EXPIRED."""
    from datetime import date, timedelta

    import anyio

    svc = services.licenses
    assert svc is not None
    ended = (date.today() - timedelta(days=3)).isoformat()
    lic = anyio.run(lambda: svc.issue(_caller(), "111200000000010116001", _business_data(term_until=ended)))
    report = verifier.verify_qr(lic.qr_url)
    assert report.checks[0].status.value == "passed"
    assert report.indication is Indication.TOTAL_FAILED and report.sub_indication is Sub.EXPIRED, report.as_dict()
    assert report.details["licence"]["status"] == "expired" and report.details["licence"]["valid_to"] == ended
