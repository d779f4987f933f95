"""Documents sealed by the production sealer (seal/'s SealService, the demo department's
seals), verified end to end: every family and PAdES level, B-LT verified offline from the
embedded validation data alone, the seal registry's revocation reported, and an independent
check of an SM2 signature in a PDF with OpenSSL (PEERS.md recipe)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, pem
from sqlmodel import select

from api.container import Services
from seal.models import SealRecord
from seal.pdf import PadesLevel, Placement
from tests.verify.conftest import checks_of
from tests.verify.pdfkit import plain_pdf
from verify.report import Indication
from verify.service import VerifyService


def _seal(services: Services, family: str, level: PadesLevel = PadesLevel.B_T, pdf: bytes | None = None) -> bytes:
    with services.db.session() as s:
        rec = s.exec(select(SealRecord).where(SealRecord.family == family, SealRecord.status == "active")).first()
        assert rec is not None, f"no active demo {family} seal"
        out = services.seal.sign_pdf(
            s,
            seal_id=rec.id,
            pdf=pdf or plain_pdf(f"decision sealed with {family}"),
            placement=Placement(page=1, x=350, y=80),
            level=level,
            actor="test",
        )
    return bytes(out.pdf)


def _seal_id(services: Services, family: str) -> str:
    with services.db.session() as s:
        rec = s.exec(select(SealRecord).where(SealRecord.family == family, SealRecord.status == "active")).first()
        assert rec is not None
        return rec.id


@pytest.mark.parametrize("family", ["rsa", "ecdsa", "sm2"])
@pytest.mark.parametrize("level", [PadesLevel.B_B, PadesLevel.B_T, PadesLevel.B_LT, PadesLevel.B_LTA])
def test_production_seals_verify(family: str, level: PadesLevel, services: Services, verifier: VerifyService) -> None:
    report = verifier.verify_pdf(_seal(services, family, level))
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    sig = next(s for s in report.signatures if s.signer is not None and s.seal is not None)
    assert sig.seal is not None and sig.seal.seal_id == _seal_id(services, family)
    assert sig.seal.image_url and sig.ours


def test_b_lt_verifies_offline_from_embedded_data(services: Services, verifier: VerifyService) -> None:
    """A third party with only the exported bundle: B-LT carries the CRLs/OCSP it needs (DSS),
    B-T does not (revocation cannot be decided offline: INDETERMINATE/TRY_LATER)."""
    from verify.report import Sub
    from verify.service import verify_pdf_standalone
    from verify.trust import from_bundle

    with services.db.session() as s:
        bundle = from_bundle(verifier.trust_list(s).pem_bundle().encode())
    lt = verify_pdf_standalone(_seal(services, "ecdsa", PadesLevel.B_LT), bundle)
    assert lt.indication is Indication.TOTAL_PASSED, lt.as_dict()
    bt = verify_pdf_standalone(_seal(services, "ecdsa", PadesLevel.B_T), bundle)
    assert bt.indication is Indication.INDETERMINATE and bt.sub_indication is Sub.TRY_LATER


def test_seal_revoked_in_registry_after_timestamped_signing(
    services: Services, verifier: VerifyService, licence_pdf: bytes, licence: Any
) -> None:
    """The licence was sealed (B-T) before its seal was revoked in the registry: the licence stays
    valid (ETSI §5.5), the report says the seal is revoked since a later time."""
    from datetime import timedelta

    from core import clock

    later = clock.now() + timedelta(minutes=1)
    with clock.frozen(later), services.db.session() as s:
        services.seal.revoke(s, licence.seal_id, actor="test", reason="key_compromise")
    report = verifier.verify_pdf(licence_pdf, at=later + timedelta(minutes=1))
    assert report.indication is Indication.TOTAL_PASSED, report.as_dict()
    sig = report.signatures[-1]
    assert sig.seal is not None and sig.seal.status == "revoked"
    assert checks_of(report, len(report.signatures) - 1)["seal-status"] == "warning"
    # a document sealed *now* with the revoked seal's key cannot exist through seal/ (refused);
    # and the QR of the licence still verifies, the licence itself not being revoked
    qr = verifier.verify_qr(licence.qr_payload, at=later + timedelta(minutes=1))
    assert qr.indication is Indication.TOTAL_PASSED


def test_sm2_pdf_signature_checked_by_openssl(services: Services, verifier: VerifyService, tmp_path: Path) -> None:
    """Independent check of the same SM2 signature our verifier accepts: messageDigest = SM3 over
    the ByteRange, and OpenSSL verifies the SignerInfo's signed attributes with the seal's key
    (distid 1234567812345678). Then a flipped byte: both reject."""
    import re

    pdf = _seal(services, "sm2", PadesLevel.B_B)
    assert verifier.verify_pdf(pdf).indication is Indication.TOTAL_PASSED
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    a, b, c = (int(x) for x in m.groups())
    signed = pdf[:a] + pdf[b : b + c]
    contents = bytes.fromhex(pdf[a + 1 : b - 1].decode())
    sd = cms.ContentInfo.load(contents.rstrip(b"\x00"))["content"]
    si = sd["signer_infos"][0]
    assert si["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"  # SM3
    assert si["signature_algorithm"]["algorithm"].dotted in ("1.2.156.10197.1.501", "1.2.156.10197.1.301.1")
    digest = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
    assert digest == hashlib.new("sm3", signed).digest()
    sid = si["sid"].chosen
    cert = next(
        c.chosen
        for c in sd["certificates"]
        if c.chosen.serial_number == sid["serial_number"].native and c.chosen.issuer == sid["issuer"]
    )
    (tmp_path / "pub.pem").write_bytes(pem.armor("PUBLIC KEY", cert.public_key.dump()))
    (tmp_path / "sattrs.der").write_bytes(si["signed_attrs"].untag().dump())
    (tmp_path / "sig.der").write_bytes(si["signature"].native)

    def openssl_ok(attrs: Path) -> bool:
        r = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(tmp_path / "pub.pem"),
                "-rawin",
                "-in",
                str(attrs),
                "-sigfile",
                str(tmp_path / "sig.der"),
                "-digest",
                "sm3",
                "-pkeyopt",
                "distid:1234567812345678",
            ],
            capture_output=True,
            text=True,
        )
        return r.returncode == 0 and "Signature Verified Successfully" in r.stdout

    assert openssl_ok(tmp_path / "sattrs.der")
    bad = bytearray(si["signed_attrs"].untag().dump())
    bad[-1] ^= 1
    (tmp_path / "bad.der").write_bytes(bytes(bad))
    assert not openssl_ok(tmp_path / "bad.der")
