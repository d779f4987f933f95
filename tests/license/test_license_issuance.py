"""Issuance end to end: validate, render, QR, seal through seal/, store, journal — judged by peers.

Peers: poppler (pdfsig with our roots in an NSS database, pdftoppm, pdffonts), zbar (zbarimg),
pyHanko's validator (certification + time-stamp), python-jose for the QR token (test_license_qr).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from licence_helpers import (
    BUSINESS,
    DEPT,
    FOOD,
    ISSUER,
    OPERATOR,
    QUALIFICATION,
    business_data,
    decode_qr_from_pdf,
    embedded_metadata,
    food_data,
    issue,
    journal_actions,
    nss_db,
    person_data,
    run,
    stored_state,
    trust_certs,
)

from identity.sources.demo import DEMO_CANCELLED_ENTITY, DEMO_CITIZEN, DEMO_COMPANY, DEMO_MISMATCH, DEMO_NO_CARD
from license.errors import (
    DuplicateLicenseNumber,
    HolderNotEligible,
    InvalidLicenseData,
    IssuerNotAllowed,
    UnknownLicenseType,
)
from license.qr import LicenseStatus, lookup_status, payload_from_text, verify_payload
from license.service import SALT_ELEMENT, Caller, LicenseService

SAMPLES = {QUALIFICATION: person_data, BUSINESS: business_data, FOOD: food_data}


@pytest.mark.parametrize("type_code", [QUALIFICATION, BUSINESS, FOOD])
def test_issued_licence_verifies_with_every_peer(
    licensing: LicenseService, services: Any, tmp_path: Path, type_code: str
) -> None:
    before = stored_state(services)
    view = issue(licensing, type_code, SAMPLES[type_code]())
    with services.db.session() as s:
        pdf = licensing.pdf(s, ISSUER, view.id).pdf
    assert hashlib.sha256(pdf).hexdigest() == view.pdf_sha256

    # poppler: valid, covers the whole file, chains to our root
    (tmp_path / "l.pdf").write_bytes(pdf)
    out = run("pdfsig", "-nssdir", f"sql:{nss_db(services, tmp_path)}", "-no-ocsp", tmp_path / "l.pdf").stdout
    assert "Signature is Valid." in out
    assert "Total document signed" in out
    assert "Certificate is Trusted." in out
    assert out.count("Signature #") == 1

    # CJK font embedded
    fonts = run("pdffonts", tmp_path / "l.pdf").stdout.splitlines()[2:]
    assert any("WenQuanYi" in row and " yes " in row for row in fonts)

    # QR read from a 150 dpi rendering verifies offline against the trust certificates
    scanned = decode_qr_from_pdf(pdf, tmp_path)
    assert scanned == view.qr_url
    assert scanned.startswith(services.settings.base_url + "/v/")
    assert len(payload_from_text(scanned)) <= 400
    claims = verify_payload(scanned, trust_certs(services))
    assert claims.identifier == view.identifier
    assert claims.type_code == type_code and claims.issuer_code == DEPT

    # the embedded GB/T 36903 metadata is what the QR hash covers; it carries the salt
    meta_bytes = embedded_metadata(pdf)
    assert hashlib.sha256(meta_bytes).hexdigest() == claims.data_hash == view.data_hash
    meta = json.loads(meta_bytes)
    assert meta["ZZBS"] == view.identifier and meta["ZZLXDM"] == type_code and meta["ZZBFJGDM"] == DEPT
    assert meta["ZZQZMC"] == view.seal_name and SALT_ELEMENT in meta

    # live status, as the verify helper will read it
    with services.db.session() as s:
        live = lookup_status(s, claims.identifier)
    assert live.status is LicenseStatus.VALID and live.matches(claims)

    after = stored_state(services)
    assert after["license_licence"] == before["license_licence"] + 1
    assert after["license_lineage"] == before["license_lineage"] + 1
    assert after["seal_use"] == before["seal_use"] + 1
    assert [a for a, _, _ in journal_actions(services)][-1:] == ["license.issue"]


def test_certified_b_t_signature_by_the_licence_seal(licensing: LicenseService, services: Any) -> None:
    """pyHanko's validator: certification signature (DocMDP), intact, trusted, with a time-stamp."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleTrustManager

    view = issue(licensing, QUALIFICATION, person_data())
    with services.db.session() as s:
        pdf = licensing.pdf(s, ISSUER, view.id).pdf
        roots = [c.cert_der for c in services.ca.roots(s)]
        seal = services.seal.get(s, view.seal_id)
    from asn1crypto import x509

    vc = ValidationContext(
        trust_manager=SimpleTrustManager.build(trust_roots=[x509.Certificate.load(r) for r in roots]),
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    reader = PdfFileReader(io.BytesIO(pdf))
    assert reader.root["/Perms"]["/DocMDP"] is not None  # a certification signature
    sig = reader.embedded_signatures[0]
    status = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc)
    assert status.intact and status.valid and status.trusted
    assert status.docmdp_ok is not False
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert seal.seal_type.value == "licence" and seal.family.value == "ecdsa"
    assert seal.owner_uscc == DEPT


def test_views_mask_id_numbers_and_data_is_encrypted_at_rest(licensing: LicenseService, services: Any) -> None:
    view = issue(licensing, QUALIFICATION, person_data())
    body = json.dumps(view.as_dict(), ensure_ascii=False)
    assert DEMO_CITIZEN.id_number not in body
    assert view.holder_code_masked == "1201**********1239"
    import sqlalchemy as sa

    with services.db.session() as s:
        rows = s.connection().execute(sa.text("SELECT * FROM license_licence")).mappings().all()
        journal = s.connection().execute(sa.text("SELECT data FROM audit_entry")).all()
    for row in rows:
        for value in row.values():
            raw = value if isinstance(value, bytes) else str(value).encode()
            assert DEMO_CITIZEN.id_number.encode() not in raw
    assert all(DEMO_CITIZEN.id_number not in str(j[0]) for j in journal)


# ---------------------------------------------------------------------------- bad input


def _bad(
    licensing: LicenseService, services: Any, type_code: str, data: dict[str, Any], exc: type[Exception]
) -> Exception:
    before = stored_state(services)
    with pytest.raises(exc) as info:
        issue(licensing, type_code, data)
    assert stored_state(services) == before, "a refused licence must leave nothing stored"
    return info.value


def test_invalid_id_number_check_digit(licensing: LicenseService, services: Any) -> None:
    bad = DEMO_CITIZEN.id_number[:-1] + ("0" if DEMO_CITIZEN.id_number[-1] != "0" else "1")
    err = _bad(licensing, services, QUALIFICATION, person_data(id_number=bad), InvalidLicenseData)
    assert isinstance(err, InvalidLicenseData)
    assert [(e.field, e.code) for e in err.errors] == [("id_number", "bad_check_digit")]
    assert bad not in str(err) and bad not in json.dumps(err.extra, ensure_ascii=False)


def test_invalid_uscc_check_digit(licensing: LicenseService, services: Any) -> None:
    bad = DEMO_COMPANY.uscc[:-1] + ("X" if DEMO_COMPANY.uscc[-1] != "X" else "Y")
    err = _bad(licensing, services, BUSINESS, business_data(uscc=bad), InvalidLicenseData)
    assert isinstance(err, InvalidLicenseData)
    assert ("uscc", "bad_check_digit") in [(e.field, e.code) for e in err.errors]


def test_holder_not_registered(licensing: LicenseService, services: Any) -> None:
    data = person_data(name=DEMO_NO_CARD.name, id_number=DEMO_NO_CARD.id_number)
    err = _bad(licensing, services, QUALIFICATION, data, HolderNotEligible)
    assert err.extra["reason"] == "person_not_registered"  # type: ignore[attr-defined]
    assert err.extra["masked"] == "1201**********3328"  # type: ignore[attr-defined]


def test_holder_below_level_two(licensing: LicenseService, services: Any) -> None:
    data = person_data(name=DEMO_MISMATCH.name, id_number=DEMO_MISMATCH.id_number)
    err = _bad(licensing, services, QUALIFICATION, data, HolderNotEligible)
    assert err.extra == {  # type: ignore[attr-defined]
        "reason": "level_too_low",
        "masked": "1201**********3453",
        "required_level": 2,
        "level": 1,
    }


def test_holder_name_must_be_the_registered_name(licensing: LicenseService, services: Any) -> None:
    err = _bad(licensing, services, QUALIFICATION, person_data(name="张三丰"), HolderNotEligible)
    assert err.extra["reason"] == "name_mismatch"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("uscc", "reason"),
    [(DEMO_CANCELLED_ENTITY.uscc, "entity_inactive"), ("91120101MA06A0007U", "entity_not_found")],
)
def test_entity_holder_must_be_active_in_the_legal_entity_db(
    licensing: LicenseService, services: Any, uscc: str, reason: str
) -> None:
    err = _bad(licensing, services, BUSINESS, business_data(uscc=uscc), HolderNotEligible)
    assert err.extra["reason"] == reason  # type: ignore[attr-defined]


def test_missing_required_field(licensing: LicenseService, services: Any) -> None:
    data = person_data()
    del data["occupation"]
    err = _bad(licensing, services, QUALIFICATION, data, InvalidLicenseData)
    assert [(e.field, e.code) for e in err.errors] == [("occupation", "missing")]  # type: ignore[attr-defined]


def test_unknown_type(licensing: LicenseService, services: Any) -> None:
    _bad(licensing, services, "111200000000010116999", person_data(), UnknownLicenseType)


def test_field_too_long(licensing: LicenseService, services: Any) -> None:
    err = _bad(licensing, services, QUALIFICATION, person_data(occupation="电" * 41), InvalidLicenseData)
    assert [(e.field, e.code) for e in err.errors] == [("occupation", "too_long")]  # type: ignore[attr-defined]


def test_dates_out_of_order(licensing: LicenseService, services: Any) -> None:
    data = business_data(established_on="2016-03-18", term_until="2010-01-01")
    err = _bad(licensing, services, BUSINESS, data, InvalidLicenseData)
    assert [(e.field, e.code) for e in err.errors] == [("term_until", "date_order")]  # type: ignore[attr-defined]
    # a food licence that would end before it is issued
    err = _bad(licensing, services, FOOD, food_data(valid_until="2001-01-01"), InvalidLicenseData)
    assert [(e.field, e.code) for e in err.errors] == [("valid_until", "date_order")]  # type: ignore[attr-defined]


def test_duplicate_licence_number(licensing: LicenseService, services: Any) -> None:
    issue(licensing, FOOD, food_data("JY21201160099999"))
    err = _bad(licensing, services, FOOD, food_data("JY21201160099999"), DuplicateLicenseNumber)
    assert err.extra == {"type_code": FOOD, "number": "JY21201160099999"}  # type: ignore[attr-defined]


def test_issuer_must_be_an_active_entity_and_clients_act_for_their_own(
    licensing: LicenseService, services: Any
) -> None:
    before = stored_state(services)
    with pytest.raises(IssuerNotAllowed):
        issue(licensing, FOOD, food_data(), caller=Caller("client:x", issuer_code=DEMO_CANCELLED_ENTITY.uscc))
    with pytest.raises(IssuerNotAllowed):
        issue(licensing, FOOD, food_data(), issuer_code=DEMO_COMPANY.uscc)  # the department's client, another issuer
    with pytest.raises(IssuerNotAllowed):
        issue(licensing, FOOD, food_data(), caller=Caller("user:someone"))
    assert stored_state(services) == before


def test_operator_names_the_issuer(licensing: LicenseService, services: Any) -> None:
    with pytest.raises(InvalidLicenseData):
        issue(licensing, FOOD, food_data(), caller=OPERATOR)
    view = issue(licensing, FOOD, food_data(), caller=OPERATOR, issuer_code=DEPT)
    assert view.issuer_code == DEPT and view.issuer_name == "天津市示例行政审批局"
