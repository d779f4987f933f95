"""Sealed PDFs judged by implementations we did not write.

* poppler ``pdfsig`` with our roots in an NSS database: "Signature is Valid", "Total document
  signed" (for the last signature) and "Certificate is Trusted", RSA and ECDSA seals;
* pyHanko's validator with our roots only: intact, valid, trusted; the signature timestamp
  (B-T) trusted; B-LT validated with revocation *required* and only the DSS as source;
  B-LTA's document timestamp;
* ``pdftoppm`` renders the page and the seal is visibly there (red pixels in the box);
* OpenSSL ``pkeyutl`` verifies an SM2 seal's CMS signature over the signed attributes, and the
  messageDigest attribute is recomputed with SM3 over the ByteRange (GM/T 0010 identifiers).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from pdfkit import make_pdf, nss_db, pdfsig, red_fraction, render_page, signature_blocks
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext

from api.container import Services
from seal.pdf import PadesLevel, Placement
from seal.service import SealService

PAGE_H = 841.89


def _sign(services: Services, seal_id: str, pdf: bytes, level: PadesLevel, **kw: object) -> bytes:
    placement = kw.pop("placement", Placement(page=1, x=380, y=150))
    with services.db.session() as s:
        out = services.seal.sign_pdf(
            s,
            seal_id=seal_id,
            pdf=pdf,
            placement=placement,
            level=level,
            actor="test",
            reason="同意",
            **kw,  # type: ignore[arg-type]
        )
    return out.pdf


def _roots(services: Services) -> dict[str, x509.Certificate]:
    with services.db.session() as s:
        return {c.family.value: x509.Certificate.load(c.cert_der) for c in services.ca.roots(s)}


def _roots_pem(services: Services) -> list[str]:
    with services.db.session() as s:
        return [c.cert_pem for c in services.ca.roots(s)]


@pytest.mark.parametrize("family", ["rsa", "ecdsa"])
def test_pdfsig_valid_total_and_trusted(
    family: str, services: Services, demo_seals: dict[str, str], tmp_path: Path
) -> None:
    nss = nss_db(tmp_path, _roots_pem(services))
    for level in (PadesLevel.B_B, PadesLevel.B_T):
        f = tmp_path / f"{family}-{level}.pdf"
        f.write_bytes(_sign(services, demo_seals[family], make_pdf(), level))
        report = pdfsig(f, nss)
        blocks = signature_blocks(report)
        assert len(blocks) == 1, report
        assert "Signature is Valid." in blocks[0], report
        assert "Total document signed" in blocks[0], report
        assert "Certificate is Trusted." in blocks[0], report
        assert "ETSI.CAdES.detached" in blocks[0]
    # negative control: an empty NSS database does not trust our root
    empty = nss_db(tmp_path / "empty", []) if (tmp_path / "empty").mkdir() is None else ""
    assert "Certificate is Trusted." not in pdfsig(f, empty)


def test_two_seals_incremental_both_valid_and_tamper_detected(
    services: Services, demo_seals: dict[str, str], tmp_path: Path
) -> None:
    """A second seal is an incremental update: the first signature stays valid (covering its
    revision), the second covers the whole file; flipping one byte breaks the first."""
    nss = nss_db(tmp_path, _roots_pem(services))
    first = _sign(services, demo_seals["rsa"], make_pdf(2), PadesLevel.B_T)
    second = _sign(services, demo_seals["ecdsa"], first, PadesLevel.B_T, placement=Placement(page=2, x=100, y=100))
    assert second.startswith(first)
    f = tmp_path / "two.pdf"
    f.write_bytes(second)
    blocks = signature_blocks(pdfsig(f, nss))
    assert len(blocks) == 2
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks)
    assert "Not total document signed" in blocks[0] and "Total document signed" in blocks[1]
    roots = _roots(services)
    r = PdfFileReader(io.BytesIO(second))
    for sig, fam in zip(r.embedded_signatures, ("rsa", "ecdsa"), strict=True):
        st = validate_pdf_signature(sig, ValidationContext(trust_roots=[roots[fam]], allow_fetching=False))
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()
    # tamper inside the first signed range (the page text)
    at = second.index(b"/Contents") - 40
    bad = bytearray(second)
    bad[at] = ord("A") if bad[at] != ord("A") else ord("B")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(bad))
    assert "Signature is Valid." not in signature_blocks(pdfsig(tampered, nss))[0]


@pytest.mark.parametrize("family", ["rsa", "ecdsa"])
def test_pyhanko_validation_all_levels(family: str, services: Services, demo_seals: dict[str, str]) -> None:
    root = _roots(services)[family]
    for level in PadesLevel:
        signed = _sign(services, demo_seals[family], make_pdf(), level)
        r = PdfFileReader(io.BytesIO(signed))
        sig = r.embedded_signatures[0]
        st = validate_pdf_signature(sig, ValidationContext(trust_roots=[root], allow_fetching=False))
        assert st.intact and st.valid and st.trusted and st.bottom_line, (level, st.pretty_print_details())
        assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        if level is PadesLevel.B_B:
            assert st.timestamp_validity is None
            continue
        assert st.timestamp_validity is not None and st.timestamp_validity.trusted, level
        if level in (PadesLevel.B_LT, PadesLevel.B_LTA):
            hard = {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
            # control: with revocation required and no revocation data, validation cannot pass
            ctl = validate_pdf_signature(sig, ValidationContext(**hard, crls=[], ocsps=[]))
            assert not ctl.bottom_line
            dss = DocumentSecurityStore.read_dss(r)
            assert dss.crls and dss.ocsps
            st = validate_pdf_signature(
                sig, dss.as_validation_context(hard), ts_validation_context=dss.as_validation_context(hard)
            )
            assert st.bottom_line and st.trusted and st.timestamp_validity and st.timestamp_validity.trusted
        if level is PadesLevel.B_LTA:
            doc_ts = r.embedded_signatures[-1]
            assert doc_ts.sig_object["/Type"] == "/DocTimeStamp"
            tst = validate_pdf_timestamp(doc_ts, ValidationContext(trust_roots=[root], allow_fetching=False))
            assert tst.valid and tst.trusted


def test_certification_docmdp(services: Services, demo_seals: dict[str, str]) -> None:
    signed = _sign(services, demo_seals["ecdsa"], make_pdf(), PadesLevel.B_T, certify=True)
    r = PdfFileReader(io.BytesIO(signed))
    from pyhanko.sign.validation import read_certification_data

    cert_data = read_certification_data(r)
    assert cert_data is not None and int(cert_data.permission.value) == 2  # form filling + signing
    root = _roots(services)["ecdsa"]
    st = validate_pdf_signature(r.embedded_signatures[0], ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.trusted and st.docmdp_ok
    # A later seal is allowed by P=2, as Acrobat judges it: a new visible signature field after
    # a certification signature (pyHanko's default policy is stricter than Acrobat there and
    # says so in SigFieldCreationRule's documentation, so the check uses the Acrobat-like rule).
    import copy

    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.diff_analysis.rules.form_field_rules import SigFieldCreationRule

    policy = copy.deepcopy(DEFAULT_DIFF_POLICY)
    rules = policy.form_rule.field_rules
    rules[[type(x) for x in rules].index(SigFieldCreationRule)] = SigFieldCreationRule(
        allow_new_visible_after_certify=True
    )
    again = _sign(services, demo_seals["rsa"], signed, PadesLevel.B_B)
    r2 = PdfFileReader(io.BytesIO(again))
    st = validate_pdf_signature(
        r2.embedded_signatures[0], ValidationContext(trust_roots=[root], allow_fetching=False), diff_policy=policy
    )
    assert st.intact and st.valid and st.docmdp_ok, st.pretty_print_details()
    assert st.modification_level.name == "FORM_FILLING"


def test_seal_is_visible_where_placed(services: Services, demo_seals: dict[str, str], tmp_path: Path) -> None:
    box = (380.0, 150.0, 380 + 42 * 72 / 25.4, 150 + 42 * 72 / 25.4)
    f = tmp_path / "visible.pdf"
    f.write_bytes(_sign(services, demo_seals["sm2"], make_pdf(), PadesLevel.B_T))
    img = render_page(f, tmp_path / "page")
    inside = red_fraction(img, box, PAGE_H)
    assert inside > 0.08, inside  # ring, star and characters
    elsewhere = red_fraction(img, (50, 400, 300, 650), PAGE_H)
    assert elsewhere < 0.001
    unsealed = tmp_path / "plain.pdf"
    unsealed.write_bytes(make_pdf())
    assert red_fraction(render_page(unsealed, tmp_path / "plain"), box, PAGE_H) < 0.001


def test_anchor_placement_centres_the_seal(services: Services, demo_seals: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "anchor.pdf"
    f.write_bytes(
        _sign(services, demo_seals["rsa"], make_pdf(3), PadesLevel.B_B, placement=Placement(anchor="（盖章）", page=2))
    )
    r = PdfFileReader(io.BytesIO(f.read_bytes()))
    sig = r.embedded_signatures[0]
    x1, y1, x2, y2 = (float(v) for v in sig.sig_field["/Rect"])
    assert abs((y1 + y2) / 2 - 205) < 10 and 380 < (x1 + x2) / 2 < 460
    page2 = r.root["/Pages"]["/Kids"][1]
    assert any(a.get_object().get("/FT") == "/Sig" or "/Rect" in a.get_object() for a in page2["/Annots"])
    img = render_page(f, tmp_path / "p2", page=2)
    assert red_fraction(img, (x1, y1, x2, y2), PAGE_H) > 0.08


def test_sm2_seal_cms_verified_by_openssl(services: Services, demo_seals: dict[str, str], tmp_path: Path) -> None:
    """GM/T 0010 identifiers in the SignerInfo, messageDigest = SM3 over the ByteRange, and the
    SM2 signature over the DER SET OF signed attributes verified by OpenSSL with the default ID."""
    signed = _sign(services, demo_seals["sm2"], make_pdf(), PadesLevel.B_T)
    r = PdfFileReader(io.BytesIO(signed))
    sig = r.embedded_signatures[0]
    si = sig.signer_info
    assert si["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.301.1"
    br = [int(v) for v in sig.sig_object["/ByteRange"]]
    covered = signed[br[0] : br[0] + br[1]] + signed[br[2] : br[2] + br[3]]
    assert br[2] + br[3] == len(signed)
    md = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
    assert md == hashlib.new("sm3", covered).digest()
    cert = sig.signer_cert
    (tmp_path / "pub.pem").write_bytes(pem.armor("PUBLIC KEY", cert.public_key.dump()))
    (tmp_path / "sattrs.der").write_bytes(si["signed_attrs"].untag().dump())
    (tmp_path / "sig.der").write_bytes(si["signature"].native)

    def openssl_verify(data: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin", "-in", str(data),
             "-sigfile", str(tmp_path / "sig.der"), "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    ok = openssl_verify(tmp_path / "sattrs.der")
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    tampered = bytearray((tmp_path / "sattrs.der").read_bytes())
    tampered[-1] ^= 1
    (tmp_path / "bad.der").write_bytes(bytes(tampered))
    assert openssl_verify(tmp_path / "bad.der").returncode != 0
    # the signer certificate is our SM2 seal certificate, and its chain is embedded
    assert (
        cert.public_key.algorithm == "ec"
        and cert.public_key["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"
    )
    embedded = {c.chosen.subject.human_friendly for c in sig.signed_data["certificates"]}
    assert any("SM2 Seal CA" in n for n in embedded)
    # the signature timestamp came from the SM2 TSA with an SM3 imprint
    ts = next(a for a in si["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")["values"][0]
    tst = ts["content"]["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"


def test_keys_are_not_reloaded_per_request(
    services: Services, demo_seals: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first use, sealing never goes back to the key store (no decrypt, no PEM load)."""
    _sign(services, demo_seals["rsa"], make_pdf(), PadesLevel.B_B)
    calls = []
    backend = services.keys.soft
    original = backend.signer
    monkeypatch.setattr(backend, "signer", lambda rec: calls.append(rec.key_id) or original(rec))
    seal_service: SealService = services.seal
    before = len(seal_service._signers)
    for _ in range(3):
        _sign(services, demo_seals["rsa"], make_pdf(), PadesLevel.B_B)
    assert calls == [] and len(seal_service._signers) == before


def test_cross_page_seal(services: Services, demo_seals: dict[str, str], tmp_path: Path) -> None:
    """骑缝章: one slice of the seal on the right edge of each page, covered by the signature."""
    nss = nss_db(tmp_path, _roots_pem(services))
    with services.db.session() as s:
        out = services.seal.sign_pdf(
            s,
            seal_id=demo_seals["rsa"],
            pdf=make_pdf(3),
            placement=Placement(anchor="（盖章）", page=3),
            level=PadesLevel.B_T,
            actor="test",
            cross_page=True,
        ).pdf
    f = tmp_path / "cross.pdf"
    f.write_bytes(out)
    blocks = signature_blocks(pdfsig(f, nss))
    assert len(blocks) == 1 and "Signature is Valid." in blocks[0] and "Total document signed" in blocks[0]
    seal_w = 42 * 72 / 25.4
    slice_w = seal_w / 3
    mid = PAGE_H / 2
    for page in (1, 2, 3):
        img = render_page(f, tmp_path / f"x{page}", page=page)
        right_edge = (595.28 - slice_w, mid - seal_w / 2, 595.28, mid + seal_w / 2)
        assert red_fraction(img, right_edge, PAGE_H) > 0.04, page
        assert red_fraction(img, (300, 400, 500, 600), PAGE_H) < 0.001
    r = PdfFileReader(io.BytesIO(out))
    stamps = [
        a.get_object()
        for p in r.root["/Pages"]["/Kids"]
        for a in p.get_object().get("/Annots", [])
        if a.get_object().get("/Subtype") == "/Stamp"
    ]
    assert [str(a["/Contents"]) for a in stamps] == ["骑缝章 1/3", "骑缝章 2/3", "骑缝章 3/3"]
    # the slices are part of the signed revision: the signature covers the whole file
    root = _roots(services)["rsa"]
    st = validate_pdf_signature(r.embedded_signatures[0], ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.coverage.name == "ENTIRE_FILE"
    with pytest.raises(Exception, match="at least two pages"), services.db.session() as s:
        services.seal.sign_pdf(
            s,
            seal_id=demo_seals["rsa"],
            pdf=make_pdf(1),
            placement=Placement(page=1, x=100, y=100),
            actor="t",
            cross_page=True,
        )


def test_async_variant_runs_off_the_loop(services: Services, demo_seals: dict[str, str]) -> None:
    import threading

    import anyio

    async def go() -> bytes:
        loop_thread = threading.get_ident()
        with services.db.session() as s:
            with pytest.raises(RuntimeError, match="async_sign_pdf"):
                services.seal.sign_pdf(
                    s, seal_id=demo_seals["ecdsa"], pdf=make_pdf(), placement=Placement(page=1, x=9, y=9), actor="t"
                )
            seen: list[int] = []
            original = services.seal.sign_pdf

            def spy(*a: object, **k: object) -> object:
                seen.append(threading.get_ident())
                return original(*a, **k)  # type: ignore[arg-type]

            services.seal.sign_pdf = spy  # type: ignore[method-assign]
            try:
                out = await services.seal.async_sign_pdf(
                    s,
                    seal_id=demo_seals["ecdsa"],
                    pdf=make_pdf(),
                    placement=Placement(page=1, x=9, y=9),
                    level=PadesLevel.B_T,
                    actor="t",
                )
            finally:
                del services.seal.sign_pdf
        assert seen and seen[0] != loop_thread
        return out.pdf

    signed = anyio.run(go)
    root = _roots(services)["ecdsa"]
    st = validate_pdf_signature(
        PdfFileReader(io.BytesIO(signed)).embedded_signatures[0],
        ValidationContext(trust_roots=[root], allow_fetching=False),
    )
    assert st.bottom_line and st.timestamp_validity is not None
