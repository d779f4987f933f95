"""Tampering, each its own test, judged by us and (for RSA/ECDSA) by poppler's pdfsig.

Agreement rule: on every plain case (valid document; or digest broken / untrusted signer) our
TOTAL-PASSED equals pdfsig's "Signature is Valid" + "Certificate is Trusted" + "Total document
signed". Where pdfsig is lenient we are stricter, and the test says so: pdfsig still reports
"Signature is Valid" for a signature whose document was changed by a later incremental update
or had bytes appended (it only adds "Not total document signed"); we give TOTAL-FAILED or
INDETERMINATE.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from api.container import Services
from core import clock
from keys import Family
from tests.verify.conftest import checks_of
from tests.verify.pdfkit import SealKey, plain_pdf, seal_pdf
from tests.verify.peers import nss_db, pdfsig
from verify.report import Indication, Sub
from verify.service import VerifyService


@pytest.fixture
def nss(services: Services, tmp_path: Path) -> Path:
    return nss_db(services, tmp_path)


def _judge(nss: Path, tmp_path: Path, pdf: bytes) -> list[bool]:
    return [s.plain_valid for s in pdfsig(nss, pdf, tmp_path)]


def test_valid_documents_agree_with_pdfsig(
    sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    for family in (Family.RSA, Family.ECDSA):
        for ts in (True, False):
            pdf = sealed(family, timestamp=ts)
            assert verifier.verify_pdf(pdf).indication is Indication.TOTAL_PASSED
            assert _judge(nss, tmp_path, pdf) == [True]


def _flip_in_signed_range(pdf: bytes) -> bytes:
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)", pdf)
    assert m is not None
    limit = int(m.group(1))
    idx = pdf.index(b"ReportLab")  # in the /Producer string of the Info dictionary
    assert idx < limit
    out = bytearray(pdf)
    out[idx] ^= 0x01  # "R" -> "S"
    return bytes(out)


@pytest.mark.parametrize("family", list(Family))
def test_byte_flipped_inside_signed_range(
    family: Family, sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    pdf = _flip_in_signed_range(sealed(family))
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is Sub.HASH_FAILURE
    assert "篡改" in report.signatures[0].summary_zh()
    if family is not Family.SM2:
        assert _judge(nss, tmp_path, pdf) == [False]


def _incremental(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(w)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _replace_content(w: IncrementalPdfFileWriter) -> None:
    page = w.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (FORGED: licence revoked) Tj ET")
    page["/Contents"] = w.add_object(stream)
    w.update_container(page)


def test_content_changed_in_appended_incremental_update(
    sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    pdf = _incremental(sealed(Family.RSA), _replace_content)
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is Sub.FORMAT_FAILURE
    assert checks_of(report)["modifications"] == "failed"
    assert checks_of(report)["integrity"] == "passed"  # the signed revision itself is intact
    # pdfsig is lenient here: the signature is "Valid", only "Not total document signed" differs
    (judged,) = pdfsig(nss, pdf, tmp_path)
    assert judged.signature_valid and judged.trusted and not judged.total


def _add_page(w: IncrementalPdfFileWriter) -> None:
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            generic.NameObject("/Contents"): w.add_object(
                generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (Extra page) Tj ET")
            ),
        }
    )
    w.insert_page(page)


def _remove_page(w: IncrementalPdfFileWriter) -> None:
    pages = w.root["/Pages"]
    kids = pages["/Kids"]
    del kids[1]
    pages["/Count"] = generic.NumberObject(len(kids))
    w.update_container(pages)


@pytest.mark.parametrize("change", [_add_page, _remove_page], ids=["page-added", "page-removed"])
def test_page_added_or_removed_after_signing(
    change: Callable[[IncrementalPdfFileWriter], None],
    services: Services,
    seal_key: Callable[[Family], SealKey],
    verifier: VerifyService,
    nss: Path,
    tmp_path: Path,
) -> None:
    signed = seal_pdf(services, plain_pdf(pages=2), seal_key(Family.ECDSA))
    assert verifier.verify_pdf(signed).indication is Indication.TOTAL_PASSED
    pdf = _incremental(signed, change)
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED, report.as_dict()
    assert report.sub_indication is Sub.FORMAT_FAILURE
    (judged,) = pdfsig(nss, pdf, tmp_path)
    assert not judged.plain_valid and judged.signature_valid  # pdfsig: "Valid", not total


def _gap(pdf: bytes) -> tuple[int, int]:
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    return int(m.group(1)), int(m.group(2))


def test_signature_contents_replaced(
    sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    """/Contents swapped for another *valid* signature by the same seal over another document."""
    victim = sealed(Family.RSA, pdf=plain_pdf("first"))
    donor = sealed(Family.RSA, pdf=plain_pdf("second"))
    a, b = _gap(victim)
    c, d = _gap(donor)
    donor_hex = donor[c + 1 : d - 1].rstrip(b"0")
    hex_len = b - a - 2
    assert len(donor_hex) <= hex_len
    pdf = victim[: a + 1] + donor_hex.ljust(hex_len, b"0") + victim[b - 1 :]
    assert len(pdf) == len(victim)
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is Sub.HASH_FAILURE
    assert _judge(nss, tmp_path, pdf) == [False]


def test_appended_bytes_not_covered(
    sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    pdf = sealed(Family.ECDSA) + b"\n% appended after signing: pay to account 6222...\n"
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is Sub.SIG_CONSTRAINTS_FAILURE
    assert {c.name for c in report.checks if c.status.value == "indeterminate"} >= {"appended-data", "whole-file"}
    (judged,) = pdfsig(nss, pdf, tmp_path)
    assert judged.signature_valid and not judged.total  # pdfsig lenient: still "Signature is Valid"


def test_byte_range_not_covering_the_file(
    sealed: Callable[..., bytes], verifier: VerifyService, nss: Path, tmp_path: Path
) -> None:
    """ByteRange edited in place (same width) so that it stops 100 bytes before the end."""
    pdf = sealed(Family.RSA)
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    old = m.group(3)
    new = str(int(old) - 100).encode().rjust(len(old), b"0")
    pdf = pdf[: m.start(3)] + new + pdf[m.end(3) :]
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED
    assert checks_of(report)["integrity"] == "failed"
    assert _judge(nss, tmp_path, pdf) == [False]


def test_signature_wrapping_gap_not_the_signature(sealed: Callable[..., bytes], verifier: VerifyService) -> None:
    """A ByteRange whose gap is moved one byte: the gap no longer holds exactly /Contents."""
    pdf = sealed(Family.ECDSA)
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", pdf)
    assert m is not None
    a = m.group(1)
    moved = str(int(a) + 1).encode()
    if len(moved) != len(a):  # 999 -> 1000 would shift every offset: move the other way
        moved = str(int(a) - 1).encode()
    assert len(moved) == len(a)
    pdf = pdf[: m.start(1)] + moved + pdf[m.end(1) :]
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.TOTAL_FAILED
    assert checks_of(report)["byte-range"] == "failed"


# --- revocation and time (ETSI EN 319 102-1 §5.5) ------------------------------------------------


def _revoke(services: Services, key: SealKey, reason: str = "keyCompromise") -> None:
    with services.db.session() as s:
        services.ca.revoke(s, key.serial, reason, actor="test")


def test_seal_revoked_after_signing_without_timestamp_is_indeterminate(
    services: Services, seal_key: Callable[[Family], SealKey], verifier: VerifyService
) -> None:
    """B-B: nothing proves the signature predates the revocation -> INDETERMINATE/REVOKED_NO_POE."""
    key = seal_key(Family.SM2)
    pdf = seal_pdf(services, plain_pdf(), key, timestamp=False)
    _revoke(services, key)
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is Sub.REVOKED_NO_POE
    assert checks_of(report)["seal-status"] == "indeterminate"


def test_seal_revoked_after_timestamped_signing_stays_valid(
    services: Services, seal_key: Callable[[Family], SealKey], verifier: VerifyService
) -> None:
    """B-T: the timestamp proves the signature existed before the revocation -> TOTAL-PASSED,
    with the later revocation reported as a warning."""
    key = seal_key(Family.RSA)
    t0 = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(t0):
        pdf = seal_pdf(services, plain_pdf(), key, timestamp=True)
    with clock.frozen(t0 + timedelta(minutes=10)):
        _revoke(services, key)
    report = verifier.verify_pdf(pdf, at=t0 + timedelta(minutes=20))
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    assert checks_of(report)["seal-status"] == "warning"
    assert "吊销" in report.signatures[0].checks[3].message_zh or "吊销" in str(report.as_dict())


def test_signed_after_revocation_with_timestamp_is_total_failed(
    services: Services, seal_key: Callable[[Family], SealKey], verifier: VerifyService
) -> None:
    """The timestamp proves the seal was used after its revocation -> TOTAL-FAILED/REVOKED."""
    key = seal_key(Family.ECDSA)
    t0 = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(t0):
        _revoke(services, key)
    with clock.frozen(t0 + timedelta(minutes=5)):
        pdf = seal_pdf(services, plain_pdf(), key, timestamp=True)
    report = verifier.verify_pdf(pdf, at=t0 + timedelta(minutes=10))
    assert report.indication is Indication.TOTAL_FAILED, report.as_dict()
    assert report.sub_indication is Sub.REVOKED


def test_expired_signer_without_timestamp(
    services: Services, seal_key: Callable[[Family], SealKey], verifier: VerifyService
) -> None:
    key = seal_key(Family.RSA)
    pdf = seal_pdf(services, plain_pdf(), key, timestamp=False)
    after_expiry = key.cert.not_valid_after + timedelta(days=1)
    report = verifier.verify_pdf(pdf, at=after_expiry)
    assert report.indication is Indication.INDETERMINATE, report.as_dict()
    assert report.sub_indication is Sub.OUT_OF_BOUNDS_NO_POE
    # and the same file validated as of its signing time (--at) passes
    assert verifier.verify_pdf(pdf, at=clock.now()).indication is Indication.TOTAL_PASSED


def test_untrusted_root(services: Services, verifier: VerifyService, nss: Path, tmp_path: Path) -> None:
    """A seal whose chain ends at a root that is not on the trust list (made with OpenSSL-like
    tooling outside our PKI): INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND; pdfsig: untrusted."""
    from tests.verify.pdfkit import foreign_signed_pdf

    pdf = foreign_signed_pdf(plain_pdf())
    report = verifier.verify_pdf(pdf)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is Sub.NO_CERTIFICATE_CHAIN_FOUND
    assert not report.signatures[0].ours
    (judged,) = pdfsig(nss, pdf, tmp_path)
    assert judged.signature_valid and not judged.trusted
    # trusting that root (ywt verify --trust) makes it pass
    from tests.verify.pdfkit import FOREIGN

    extra = VerifyService(
        verifier.settings, verifier.db, verifier.ca, verifier.journal, verifier.trust, extra_anchors=(FOREIGN.root,)
    )
    assert extra.verify_pdf(pdf).indication is Indication.TOTAL_PASSED
