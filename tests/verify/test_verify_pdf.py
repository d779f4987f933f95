"""PDF verification of documents sealed on our PKI: RSA, ECDSA and SM2 (CMS with SM3 and
sm2sign/sm2-with-sm3 OIDs), B-B and B-T; and the report's shape."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keys import Family
from tests.verify.conftest import checks_of
from verify.report import Indication, Sub
from verify.service import VerifyService


@pytest.mark.parametrize("family", list(Family))
def test_sealed_bt_pdf_is_total_passed(family: Family, sealed: Callable[..., bytes], verifier: VerifyService) -> None:
    report = verifier.verify_pdf(sealed(family))
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    sig = report.signatures[0]
    assert checks_of(report) == {
        "byte-range": "passed",
        "integrity": "passed",
        "chain": "passed",
        "revocation": "passed",
        "key-usage": "passed",
        "timestamp": "passed",
        "modifications": "passed",
        "seal-status": "passed",
    }
    assert sig.ours and sig.seal is not None and sig.seal.status == "active"
    assert sig.timestamp_time is not None and sig.signer is not None
    assert sig.signer.common_name == "测试专用章"
    if family is Family.SM2:
        assert sig.algorithm == "sm2_sm3/sm3"
    assert "验证通过" in report.summary_zh()


def test_sealed_bb_pdf_passes_without_timestamp(sealed: Callable[..., bytes], verifier: VerifyService) -> None:
    report = verifier.verify_pdf(sealed(Family.ECDSA, timestamp=False))
    assert report.indication is Indication.TOTAL_PASSED
    assert checks_of(report)["timestamp"] == "skipped"


def test_unsigned_pdf_is_not_valid(verifier: VerifyService) -> None:
    from tests.verify.pdfkit import plain_pdf

    report = verifier.verify_pdf(plain_pdf())
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is Sub.SIGNED_DATA_NOT_FOUND


def test_two_seals_both_verified(services, seal_key, verifier: VerifyService) -> None:  # type: ignore[no-untyped-def]
    from tests.verify.pdfkit import plain_pdf, seal_pdf

    once = seal_pdf(services, plain_pdf(), seal_key(Family.RSA), field_name="SealA")
    twice = seal_pdf(services, once, seal_key(Family.SM2), field_name="SealB")
    report = verifier.verify_pdf(twice)
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    assert [s.field_name for s in report.signatures] == ["SealA", "SealB"]
    assert report.signatures[0].modification == "FORM_FILLING"


def test_verification_is_journaled_without_content(services, sealed, verifier: VerifyService) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from sqlmodel import col, select

    from core.audit import AuditEntry

    pdf = sealed(Family.RSA)
    verifier.verify_pdf(pdf)
    with services.db.session() as s:
        last = s.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())).first()
    assert last is not None and last.action == "verify.pdf"
    assert last.target == hashlib.sha256(pdf).hexdigest()
    assert "TOTAL-PASSED" in last.data and "测试" not in last.data
