"""HTTP surface of verification: /verify/v1/{pdf,certificate,ses,qr}, the signed trust list
(checked with python-jose as an independent JOSE implementation), pages, and every bad input
as problem+json with nothing stored but the journal entry."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.container import Services
from keys import Family
from tests.verify.pdfkit import SealKey, plain_pdf

PROBLEM = "application/problem+json"


def _state(services: Services) -> dict[str, int]:
    """Row count of every table except the journal's, plus stored blobs."""
    out: dict[str, int] = {}
    with services.db.engine.connect() as c:
        for t in sa.inspect(c).get_table_names():
            if t.startswith("audit_") or t == "alembic_version":
                continue
            out[t] = int(c.execute(sa.text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one())
    blob_dir = services.settings.blob_dir
    out["blobs"] = sum(1 for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else 0
    return out


def _journal(services: Services) -> list[tuple[str, dict[str, Any]]]:
    with services.db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT action, data FROM audit_entry ORDER BY seq")).all()
    return [(str(a), json.loads(d)) for a, d in rows]


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{code}", body
    return body


def test_pdf_endpoint(client: TestClient, sealed: Callable[..., bytes]) -> None:
    r = client.post("/verify/v1/pdf", files={"file": ("a.pdf", sealed(Family.SM2), "application/pdf")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["indication"] == "TOTAL-PASSED" and body["signatures"][0]["algorithm"] == "sm2_sm3/sm3"
    assert "验证通过" in body["summary_zh"] and body["signatures"][0]["checks"]


def test_pdf_endpoint_at_parameter(client: TestClient, sealed: Callable[..., bytes]) -> None:
    pdf = sealed(Family.RSA, timestamp=False)
    r = client.post("/verify/v1/pdf", files={"file": ("a.pdf", pdf)}, data={"at": "2099-01-01T00:00:00Z"})
    assert r.json()["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"
    _problem(
        client.post("/verify/v1/pdf", files={"file": ("a.pdf", pdf)}, data={"at": "yesterday"}), 400, "invalid-input"
    )


def _deep() -> bytes:
    return (
        b"%PDF-1.7\n1 0 obj\n<</Type/Catalog/X "
        + b"[" * 20000
        + b"]" * 20000
        + b">>\nendobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _xref_bomb() -> bytes:
    c = zlib.compressobj(9)
    data = b"".join(c.compress(b"\x00" * (1 << 20)) for _ in range(512)) + c.flush()
    head = b"%%PDF-1.7\n1 0 obj\n<</Type/XRef/Size 2/W[1 1 1]/Root 1 0 R/Filter/FlateDecode/Length %d>>stream\n" % len(
        data
    )
    return head + data + b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n"


def _ref_loop() -> bytes:
    objs = [b"2 0 R", b"1 0 R"]
    out = bytearray(b"%PDF-1.7\n")
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, o)
    x = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offs)
    out += b"trailer\n<</Size 3/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % x
    return bytes(out)


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("not-a-pdf", lambda: b"hello, this is a text file\n" * 10, 400, "not-a-pdf"),
        ("empty", lambda: b"", 400, "empty-input"),
        ("png", lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 400, "not-a-pdf"),
        ("deep-nesting", _deep, 400, "pdf-too-complex"),
        ("inflating-xref-stream", _xref_bomb, 400, "pdf-too-complex"),
        ("reference-loop", _ref_loop, 400, "pdf-too-complex"),
    ],
)
def test_pdf_bad_input(
    name: str, make: Callable[[], bytes], status: int, code: str, client: TestClient, services: Services
) -> None:
    data = make()
    before, journal_before = _state(services), len(_journal(services))
    t0 = time.monotonic()
    r = client.post("/verify/v1/pdf", files={"file": ("x.pdf", data, "application/pdf")})
    elapsed = time.monotonic() - t0
    _problem(r, status, code)
    assert elapsed < 35, f"{name} took {elapsed:.1f} s"
    assert _state(services) == before
    journal = _journal(services)
    assert len(journal) == journal_before + 1
    action, entry = journal[-1]
    assert action == "verify.pdf" and entry["indication"] == "REJECTED" and entry["sub_indication"] == code


def _with_stream_bomb(base: bytes) -> bytes:
    """``base`` plus an incremental update whose page content is a FlateDecode stream of 2 MB
    that inflates to 2 GiB (a PDF bomb that is a well-formed PDF)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    c = zlib.compressobj(9)
    data = b"".join(c.compress(b"\x00" * (1 << 20)) for _ in range(2048)) + c.flush()
    w = IncrementalPdfFileWriter(io.BytesIO(base), strict=False)
    page = w.root["/Pages"]["/Kids"][0].get_object()
    bomb = generic.StreamObject({generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")}, encoded_data=data)
    page["/Contents"] = w.add_object(bomb)
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "sealed-then-bomb-appended"])
def test_huge_stream_is_a_bounded_verdict_never_valid(
    signed: bool, client: TestClient, services: Services, sealed: Callable[..., bytes]
) -> None:
    """A huge (inflating) stream is parseable PDF, so the answer is a report, not a 400: within
    bounded time, never TOTAL-PASSED, nothing stored but the journal entry."""
    pdf = _with_stream_bomb(sealed(Family.RSA) if signed else plain_pdf())
    before, journal_before = _state(services), len(_journal(services))
    t0 = time.monotonic()
    r = client.post("/verify/v1/pdf", files={"file": ("bomb.pdf", pdf, "application/pdf")})
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["indication"] != "TOTAL-PASSED"
    if signed:
        assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == "FORMAT_FAILURE", body
    else:
        assert body["sub_indication"] == "SIGNED_DATA_NOT_FOUND", body
    assert elapsed < 35, f"took {elapsed:.1f} s"
    assert _state(services) == before
    assert len(_journal(services)) == journal_before + 1 and _journal(services)[-1][0] == "verify.pdf"


def test_pdf_too_large_is_413(client: TestClient, services: Services) -> None:
    before = _state(services)
    big = b"%PDF-1.7\n" + b"0" * (services.settings.max_upload_bytes + 10)
    _problem(client.post("/verify/v1/pdf", files={"file": ("big.pdf", big)}), 413, "too-large")
    assert _state(services) == before


def test_pdf_missing_field_is_422(client: TestClient) -> None:
    _problem(client.post("/verify/v1/pdf", data={"x": "1"}), 422, "validation")


def test_truncated_sealed_pdf_is_never_valid(client: TestClient, sealed: Callable[..., bytes]) -> None:
    pdf = sealed(Family.ECDSA)
    r = client.post("/verify/v1/pdf", files={"file": ("t.pdf", pdf[: len(pdf) // 2] + b"\n%%EOF\n")})
    assert r.status_code == 200 and r.json()["indication"] != "TOTAL-PASSED"


def test_sandbox_bounds_memory_and_time() -> None:
    from tests.verify import hogs
    from verify import sandbox
    from verify.errors import PdfTooComplex

    limits = sandbox.Limits(memory_bytes=400 * 1024 * 1024, timeout=3, workers=1)
    with pytest.raises(PdfTooComplex):
        sandbox.run(hogs.hog_memory, 2000, limits=limits)
    assert sandbox.run(hogs.hog_memory, 1, limits=limits) == 1  # a warm worker: time the job alone
    t0 = time.monotonic()
    with pytest.raises(PdfTooComplex):
        sandbox.run(hogs.spin, 60.0, limits=limits)
    assert time.monotonic() - t0 < 10
    with pytest.raises(PdfTooComplex):
        sandbox.run(hogs.recurse, 0, limits=limits)
    assert sandbox.run(hogs.hog_memory, 10, limits=limits) == 10  # the pool recovered


# --- certificates -------------------------------------------------------------------------------


def test_certificate_endpoint(client: TestClient, services: Services, seal_key: Callable[[Family], SealKey]) -> None:
    key = seal_key(Family.SM2)
    pem = base64.b64encode(key.cert.dump()).decode()
    body = client.post("/verify/v1/certificate", json={"certificate": pem}).json()
    assert body["indication"] == "TOTAL-PASSED", body
    assert body["details"]["path"][-1].startswith("Common Name: YWT SM2 Root CA")
    with services.db.session() as s:
        services.ca.revoke(s, key.serial, "keyCompromise", actor="test")
    body = client.post("/verify/v1/certificate", json={"certificate": pem}).json()
    assert body["indication"] == "TOTAL-FAILED" and body["sub_indication"] == "REVOKED"


def test_certificate_foreign_and_garbage(client: TestClient, services: Services) -> None:
    from tests.verify.pdfkit import FOREIGN

    pem = base64.b64encode(FOREIGN.leaf.dump()).decode()
    body = client.post("/verify/v1/certificate", json={"certificate": pem}).json()
    assert body["indication"] == "INDETERMINATE" and body["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    before = _state(services)
    _problem(client.post("/verify/v1/certificate", json={"certificate": "bm90IGEgY2VydA=="}), 400, "bad-certificate")
    _problem(client.post("/verify/v1/certificate", json={"certificate": "%%%"}), 400, "invalid-input")
    _problem(client.post("/verify/v1/certificate", json={}), 422, "validation")
    assert _state(services) == before


# --- SES ----------------------------------------------------------------------------------------


def _ses_signature(services: Services, document: bytes) -> bytes:
    from sqlmodel import select

    from seal.models import SealRecord
    from seal.ses import make_signature

    with services.db.session() as s:
        rec = s.exec(select(SealRecord).where(SealRecord.family == "sm2", SealRecord.status == "active")).first()
        assert rec is not None and rec.ses_seal is not None and rec.key_id is not None
        signer = services.keys.signer(s, rec.key_id)
        cert, _chain = services.seal.certificate(s, rec.id)
        return make_signature(rec.ses_seal, document, cert, signer.sign, property_info="test.pdf")


def test_ses_endpoint(client: TestClient, services: Services) -> None:
    doc = plain_pdf("SES document")
    ses = _ses_signature(services, doc)
    r = client.post("/verify/v1/ses", files={"ses": ("s.der", ses), "document": ("d.pdf", doc)})
    body = r.json()
    assert body["indication"] == "TOTAL-PASSED", body
    assert body["details"]["seal_name"]
    r = client.post("/verify/v1/ses", files={"ses": ("s.der", ses), "document": ("d.pdf", doc + b" ")})
    assert r.json()["indication"] == "TOTAL-FAILED" and r.json()["sub_indication"] == "HASH_FAILURE"
    r = client.post("/verify/v1/ses", files={"ses": ("s.b64", base64.b64encode(ses))})
    assert r.json()["indication"] == "INDETERMINATE"  # no document: dataHash not compared


def test_ses_endpoint_reads_gmt0031_v1(client: TestClient, services: Services) -> None:
    """A GM/T 0031-2014 (v1) signature from a maker outside our PKI, as ofdrw lays it out: parsed
    and both signatures checked over the bytes as received; no chain to our trust list, so
    INDETERMINATE (never TOTAL-PASSED); a flipped byte in the seal is a failed signature."""
    from tests.seal.seal_testkit import DOCUMENT, make_v1_seal, make_v1_signature, new_party

    maker, holder = new_party("外地制章机构"), new_party("外地印章")
    blob = make_v1_signature(make_v1_seal(maker, holder), DOCUMENT, holder, time_info=b"250131000000Z")
    before = _state(services)
    body = client.post("/verify/v1/ses", files={"ses": ("v1.der", blob), "document": ("d.ofd", DOCUMENT)}).json()
    assert body["indication"] == "INDETERMINATE", body
    checks = {c["name"]: c for c in body["checks"]}
    assert "GM/T 0031-2014" in checks["header"]["message"], checks["header"]
    assert checks["signature"]["status"] == "passed" and checks["maker-signature"]["status"] == "passed", checks
    assert checks["data-hash"]["status"] == "passed", checks
    forged = blob.replace("示例一版印章".encode(), "示例二版印章".encode())
    body = client.post("/verify/v1/ses", files={"ses": ("v1.der", forged), "document": ("d.ofd", DOCUMENT)}).json()
    assert body["indication"] == "TOTAL-FAILED", body
    assert _state(services) == before


def test_ses_garbage(client: TestClient, services: Services) -> None:
    before = _state(services)
    r = client.post("/verify/v1/ses", files={"ses": ("s.der", b"\x30\x03\x02\x01\x01")})
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)
    _problem(client.post("/verify/v1/ses", files={"ses": ("s.der", b"")}), 400, "empty-input")
    assert _state(services) == before


# --- QR -----------------------------------------------------------------------------------------


def test_qr_json_and_image(client: TestClient, licence: Any, licence_pdf: bytes, tmp_path: Any) -> None:
    import subprocess

    body = client.post("/verify/v1/qr", json={"payload": licence.qr_url}).json()
    assert body["indication"] == "TOTAL-PASSED" and body["details"]["licence"]["status"] == "valid"
    (tmp_path / "l.pdf").write_bytes(licence_pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp_path / "l.pdf"), str(tmp_path / "p")],
        check=True,
    )
    png = next(tmp_path.glob("p-*.png")).read_bytes()
    body = client.post("/verify/v1/qr", files={"image": ("photo.png", png, "image/png")}).json()
    assert body["indication"] == "TOTAL-PASSED"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": {"payload": "garbage"}}, "bad-qr-payload"),
        ({"json": {"payload": ""}}, "bad-qr-payload"),
        ({"content": b"not json", "headers": {"content-type": "application/json"}}, "bad-qr-payload"),
        ({"json": {"nope": 1}}, "bad-qr-payload"),
        ({"files": {"image": ("x.png", b"not an image", "image/png")}}, "bad-image"),
        ({"files": {"other": ("x.png", b"x", "image/png")}}, "empty-input"),
    ],
)
def test_qr_bad_input(kwargs: dict[str, Any], code: str, client: TestClient, services: Services) -> None:
    before = _state(services)
    _problem(client.post("/verify/v1/qr", **kwargs), 400, code)
    assert _state(services) == before


def test_qr_photo_without_code(client: TestClient, services: Services) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(buf, "JPEG")
    journal_before = len(_journal(services))
    _problem(client.post("/verify/v1/qr", files={"image": ("p.jpg", buf.getvalue(), "image/jpeg")}), 400, "no-qr-code")
    assert _journal(services)[-1][1]["sub_indication"] == "no-qr-code" and len(_journal(services)) == journal_before + 1


# --- trust list ---------------------------------------------------------------------------------


def test_trust_list_is_signed_and_verifies_with_python_jose(client: TestClient, services: Services) -> None:
    from asn1crypto import pem as asn1pem
    from asn1crypto import x509
    from jose import jws

    r = client.get("/pki/trust-list")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/jose")
    token = r.text
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    leaf = x509.Certificate.load(base64.b64decode(header["x5c"][0]))
    leaf_pem = asn1pem.armor("PUBLIC KEY", leaf.public_key.dump()).decode()
    payload = json.loads(jws.verify(token, leaf_pem, algorithms=["ES256"]))  # independent JOSE check
    assert payload["format"] == "ywt-trust-list/1"
    assert {a["family"] for a in payload["anchors"] if a["source"] == "ywt"} == {"rsa", "ecdsa", "sm2"}
    assert payload["qr_signers"], "licence QR signers are published"
    # the signer chains to our ECDSA root (our own check, with the roots obtained out of band)
    from verify.trust import verify_published

    with services.db.session() as s:
        roots = [x509.Certificate.load(c.cert_der) for c in services.ca.roots(s)]
    assert verify_published(token, roots)["anchors"] == payload["anchors"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    from verify.errors import BadTrustAnchor

    with pytest.raises(BadTrustAnchor):
        verify_published(tampered, roots)


def test_external_ca_in_trust_list(client: TestClient, services: Services) -> None:
    """An operator adds another accredited CA: its documents verify, and it is published."""
    from asn1crypto import pem as asn1pem

    from tests.verify.pdfkit import FOREIGN, foreign_signed_pdf

    pdf = foreign_signed_pdf(plain_pdf())
    assert client.post("/verify/v1/pdf", files={"file": ("f.pdf", pdf)}).json()["indication"] == "INDETERMINATE"
    assert services.verifier is not None
    with services.db.session() as s:
        services.verifier.trust.add_ca(
            s, asn1pem.armor("CERTIFICATE", FOREIGN.root.dump()), name="外地认证机构", source="accredited", actor="test"
        )
    assert client.post("/verify/v1/pdf", files={"file": ("f.pdf", pdf)}).json()["indication"] == "TOTAL-PASSED"
    bundle = client.get("/pki/trust-list.pem").text
    assert "外地认证机构 [accredited]" in bundle
    from verify.errors import BadTrustAnchor

    with services.db.session() as s, pytest.raises(BadTrustAnchor):
        services.verifier.trust.add_ca(
            s, asn1pem.armor("CERTIFICATE", FOREIGN.leaf.dump()), name="x", source="accredited", actor="test"
        )


# --- pages --------------------------------------------------------------------------------------


def _csrf(client: TestClient) -> dict[str, str]:
    """The verify form's CSRF token (the GET sets the cookie the token is bound to)."""
    import re

    match = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/verify").text)
    assert match
    return {"csrf": match.group(1)}


def test_pages(client: TestClient, sealed: Callable[..., bytes], licence: Any) -> None:
    page = client.get("/verify")
    assert page.status_code == 200 and '<label for="file">' in page.text and 'name="file"' in page.text
    token = _csrf(client)
    r = client.post("/verify", files={"file": ("a.pdf", sealed(Family.RSA), "application/pdf")}, data=token)
    assert r.status_code == 200 and "真实有效" in r.text and "测试专用章" in r.text
    assert "签署者：测试专用章" in r.text and "，可信时间戳" in r.text  # who signed, when (timestamped)
    assert re.search(r"时间：\d{4}-\d\d-\d\d \d\d:\d\d:\d\d（北京时间）", r.text)
    r = client.post("/verify", files={"file": ("a.pdf", sealed(Family.RSA), "application/pdf")})
    assert r.status_code == 403 and "页面已过期或来源不正确" in r.text  # no CSRF token
    r = client.post("/verify", files={"file": ("x.pdf", b"garbage", "application/pdf")}, data=token)
    assert r.status_code == 400 and "无法验真" in r.text
    landing = client.get(f"/v/{licence.qr_payload}")
    assert landing.status_code == 200 and "真实有效" in landing.text and licence.number in landing.text
    assert f"/v/seal/{licence.seal_id}.png" in landing.text
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d（北京时间）"
    assert re.search(f"由「{re.escape(licence.seal_name)}」.*于 {when} 签章", landing.text), landing.text  # who, when
    img = client.get(f"/v/seal/{licence.seal_id}.png")
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")
    bad = client.get("/v/not-a-code")
    assert bad.status_code == 400 and "二维码无效" in bad.text


def test_page_qr_photo_and_text(client: TestClient, licence: Any, licence_pdf: bytes, tmp_path: Any) -> None:
    import subprocess

    (tmp_path / "l.pdf").write_bytes(licence_pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-jpeg", "-f", "1", "-l", "1", str(tmp_path / "l.pdf"), str(tmp_path / "p")],
        check=True,
    )
    jpg = next(tmp_path.glob("p-*.jpg")).read_bytes()
    token = _csrf(client)
    r = client.post("/verify", files={"file": ("photo.jpg", jpg, "image/jpeg")}, data=token)
    assert r.status_code == 200 and "证照真实、当前有效" in r.text and licence.number in r.text
    r = client.post("/verify", data={"qr_text": licence.qr_url, **token})
    assert r.status_code == 200 and "真实有效" in r.text
    r = client.post("/verify", data={"qr_text": "not a code", **token})
    assert r.status_code == 400 and "无法验真" in r.text
