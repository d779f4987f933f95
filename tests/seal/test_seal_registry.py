"""Seal registry and lifecycle through the operator API: apply -> approve -> activate ->
suspend / resume / revoke / expire; CRL and OCSP reflect the seal certificate at once (checked
by OpenSSL); every transition journaled; four-eyes for sensitive seals; uploaded images; the
SES_Seal made by the seal-making authority, and SES verification against our PKI."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1crl
from asn1crypto import ocsp, x509
from fastapi.testclient import TestClient
from pdfkit import DEPT, USCC, Tokens, make_pdf
from sqlmodel import select

from api.container import Services
from core import clock
from core.audit import AuditEntry
from keys import Family
from seal.domain import SealApplication, SealType
from seal.ses import CheckName, CheckStatus, Indication, make_signature, parse_seal
from seal.trust import verify_ses_blob


def _apply(client: TestClient, tokens: Tokens, **over: Any) -> dict[str, Any]:
    body = {"owner_uscc": USCC, "owner_name": DEPT, "seal_type": "contract", "family": "sm2", **over}
    resp = client.post("/seal/v1/seals", json=body, headers=tokens["admin"])
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _actions_for(services: Services, target: str) -> list[str]:
    with services.db.session() as s:
        return [
            e.action
            for e in s.exec(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.seq)).all()
        ]  # type: ignore[arg-type]


def _crl_reasons(client: TestClient, ca_id: str) -> dict[int, str | None]:
    c = asn1crl.CertificateList.load(client.get(f"/pki/cas/{ca_id}/crl").content)
    out: dict[int, str | None] = {}
    for e in c["tbs_cert_list"]["revoked_certificates"]:
        out[e["user_certificate"].native] = e.crl_reason_value.native if e.crl_reason_value is not None else None
    return out


def _ocsp_status(client: TestClient, cert_der: bytes, issuer_der: bytes) -> tuple[str, str | None]:
    import hashlib

    cert, issuer = x509.Certificate.load(cert_der), x509.Certificate.load(issuer_der)
    req = ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    {
                        "req_cert": {
                            "hash_algorithm": {"algorithm": "sha1"},
                            "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),  # noqa: S324
                            "issuer_key_hash": hashlib.sha1(issuer.public_key["public_key"].contents[1:]).digest(),  # noqa: S324
                            "serial_number": cert.serial_number,
                        }
                    }
                ]
            }
        }
    )
    resp = ocsp.OCSPResponse.load(
        client.post("/pki/ocsp", content=req.dump(), headers={"Content-Type": "application/ocsp-request"}).content
    )
    single = resp["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
    status = single["cert_status"]
    reason = status.chosen["revocation_reason"].native if status.name == "revoked" else None
    return status.name, reason


def test_lifecycle_with_crl_and_ocsp(client: TestClient, services: Services, tokens: Tokens, tmp_path: Path) -> None:
    seal = _apply(client, tokens, family="rsa", department="综合科")
    sid = seal["id"]
    assert seal["status"] == "applied" and seal["cert_serial"] is None and seal["name"] == DEPT + "合同专用章"
    assert seal["es_id"].startswith("120000" + "02")
    # nothing usable before approval
    r = client.post("/seal/v1/grants", json={"seal_id": sid, "client_id": "demo-approval"}, headers=tokens["admin"])
    assert r.status_code == 201
    body = client.post(f"/seal/v1/seals/{sid}/activate", headers=tokens["admin"]).json()
    assert body["type"] == "urn:ywt:problem:seal-state-conflict" and body["seal_status"] == "applied"
    sign = client.post(
        "/seal/v1/sign",
        files={"file": ("d.pdf", make_pdf())},
        data={"seal_id": sid, "page": "1", "x": "100", "y": "100", "level": "B-B"},
        headers=tokens["demo"],
    )
    assert sign.status_code == 409 and sign.json()["type"] == "urn:ywt:problem:seal-not-active"

    approved = client.post(f"/seal/v1/seals/{sid}/approve", headers=tokens["admin"]).json()
    assert approved["status"] == "approved" and approved["key_algorithm"] == "rsa-3072" and approved["has_ses_seal"]
    serial = int(approved["cert_serial"], 16)
    assert client.post(f"/seal/v1/seals/{sid}/activate", headers=tokens["admin"]).json()["status"] == "active"
    with services.db.session() as s:
        cert_der, chain = services.seal.certificate(s, sid)
    cert = x509.Certificate.load(cert_der)
    assert cert.subject.native["common_name"] == DEPT + "合同专用章"
    assert cert.subject.native["organizational_unit_name"] == "综合科"
    assert _ocsp_status(client, cert_der, chain[0]) == ("good", None)
    # OpenSSL checks the chain of the seal certificate
    (tmp_path / "leaf.pem").write_bytes(_pem(cert_der))
    (tmp_path / "chain.pem").write_bytes(_pem(chain[0]))
    (tmp_path / "root.pem").write_bytes(_pem(chain[-1]))
    v = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            tmp_path / "root.pem",
            "-untrusted",
            tmp_path / "chain.pem",
            tmp_path / "leaf.pem",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert v.returncode == 0, v.stdout + v.stderr

    # suspend: certificateHold, visible at once in CRL and OCSP
    assert (
        client.post(f"/seal/v1/seals/{sid}/suspend", json={"reason": "保管人变更"}, headers=tokens["admin"]).json()[
            "status"
        ]
        == "suspended"
    )
    assert _crl_reasons(client, "rsa-seal")[serial] == "certificate_hold"
    assert _ocsp_status(client, cert_der, chain[0]) == ("revoked", "certificate_hold")
    # resume lifts it
    assert client.post(f"/seal/v1/seals/{sid}/resume", headers=tokens["admin"]).json()["status"] == "active"
    assert serial not in _crl_reasons(client, "rsa-seal")
    assert _ocsp_status(client, cert_der, chain[0]) == ("good", None)
    # revoke is final
    out = client.post(f"/seal/v1/seals/{sid}/revoke", json={"reason": "key_compromise"}, headers=tokens["admin"]).json()
    assert out["status"] == "revoked" and out["status_reason"] == "key_compromise"
    assert _crl_reasons(client, "rsa-seal")[serial] == "key_compromise"
    assert _ocsp_status(client, cert_der, chain[0]) == ("revoked", "key_compromise")
    for op in ("resume", "suspend", "revoke", "approve", "activate"):
        r = client.post(f"/seal/v1/seals/{sid}/{op}", headers=tokens["admin"])
        assert r.status_code == 409, (op, r.text)
    assert _actions_for(services, sid) == [
        "seal.apply", "seal.use.denied", "seal.approve", "seal.activate", "seal.suspend", "seal.resume", "seal.revoke",
    ]  # fmt: skip


def _pem(der: bytes) -> bytes:
    from asn1crypto import pem

    return bytes(pem.armor("CERTIFICATE", der))


def test_expiry_is_journaled(services: Services) -> None:
    with services.db.session() as s:
        info = services.seal.apply(
            s, SealApplication(USCC, DEPT, SealType.FINANCE, Family.ECDSA, valid_days=10), actor="op"
        )
        services.seal.approve(s, info.id, actor="op")
        services.seal.activate(s, info.id, actor="op")
    clock.set_global(clock.now() + timedelta(days=11))
    try:
        with services.db.session() as s:
            assert services.seal.get(s, info.id).status.value == "expired"
            assert info.id in services.seal.expire_due(s, actor="op")
            assert services.seal.expire_due(s, actor="op") == []
    finally:
        clock.set_global(None)
    assert _actions_for(services, info.id)[-1] == "seal.expire"


def test_sensitive_seal_needs_a_second_operator(client: TestClient, services: Services, tokens: Tokens) -> None:
    seal = _apply(client, tokens, seal_type="official", family="ecdsa", sensitive=True, owner_name="天津市示例科技局")
    sid = seal["id"]
    body = client.post(f"/seal/v1/seals/{sid}/approve", headers=tokens["admin"]).json()
    assert body["type"] == "urn:ywt:problem:seal-second-approval-required" and body["status"] == 403
    assert client.post(f"/seal/v1/seals/{sid}/approve", headers=tokens["manager2"]).json()["status"] == "approved"
    client.post(f"/seal/v1/seals/{sid}/activate", headers=tokens["admin"])
    grant = client.post(
        "/seal/v1/grants", json={"seal_id": sid, "client_id": "demo-approval"}, headers=tokens["admin"]
    ).json()
    assert grant["status"] == "pending"
    pdf = make_pdf()
    form = {"seal_id": sid, "page": "1", "x": "100", "y": "100", "level": "B-B"}
    client_h = tokens["demo"]
    r = client.post("/seal/v1/sign", files={"file": ("d.pdf", pdf)}, data=form, headers=client_h)
    assert r.status_code == 403 and r.json()["type"] == "urn:ywt:problem:seal-not-granted"
    same = client.post(f"/seal/v1/grants/{grant['id']}/approve", headers=tokens["admin"])
    assert same.status_code == 403
    assert (
        client.post(f"/seal/v1/grants/{grant['id']}/approve", headers=tokens["manager2"]).json()["status"] == "active"
    )
    assert client.post("/seal/v1/sign", files={"file": ("d.pdf", pdf)}, data=form, headers=client_h).status_code == 200
    with services.db.session() as s:
        e = s.exec(select(AuditEntry).where(AuditEntry.action == "seal.grant.approve")).all()
    assert [x.actor for x in e] == ["client:test-manager2"]


def test_operator_endpoints_need_the_role(client: TestClient, tokens: Tokens, demo_seals: dict[str, str]) -> None:
    for name in ("demo", "auditor"):
        r = client.post(f"/seal/v1/seals/{demo_seals['rsa']}/revoke", headers=tokens[name])
        assert r.status_code == 403 and r.json()["type"] == "urn:ywt:problem:forbidden"
    r = client.post("/seal/v1/seals", json={"owner_uscc": USCC}, headers=tokens["auditor"])
    assert r.status_code == 403
    assert client.get(f"/seal/v1/seals/{demo_seals['rsa']}").status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("owner_uscc", "11120000MB0000019X"),  # wrong check character
        ("owner_uscc", "120101199001011239"),  # a citizen ID number, not a USCC
        ("owner_name", ""),
        ("owner_name", "名" * 61),
        ("valid_days", 0),
        ("valid_days", 5000),
        ("width_mm", 10),
    ],
)
def test_bad_applications(client: TestClient, services: Services, tokens: Tokens, field: str, value: Any) -> None:
    with services.db.session() as s:
        before = len(services.seal.list_seals(s))
    r = client.post(
        "/seal/v1/seals",
        json={"owner_uscc": USCC, "owner_name": DEPT, "seal_type": "contract", field: value},
        headers=tokens["admin"],
    )
    assert r.status_code == 400, r.text
    assert r.json()["type"] in ("urn:ywt:problem:invalid-seal-request", "urn:ywt:problem:invalid-seal-spec")
    if field == "owner_uscc":
        assert value not in r.text  # a mistyped ID number is not echoed back
    with services.db.session() as s:
        assert len(services.seal.list_seals(s)) == before


def test_uploaded_image(client: TestClient, services: Services, tokens: Tokens, tmp_path: Path) -> None:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((10, 10, 390, 190), outline=(230, 0, 18, 255), width=12)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    sid = _apply(client, tokens, seal_type="finance", family="ecdsa")["id"]
    r = client.put(
        f"/seal/v1/seals/{sid}/image",
        files={"file": ("s.png", buf.getvalue())},
        data={"width_mm": "40"},
        headers=tokens["admin"],
    )
    assert r.status_code == 200 and r.json()["image_source"] == "uploaded" and r.json()["height_mm"] == 20
    # bad uploads
    bad = client.put(
        f"/seal/v1/seals/{sid}/image", files={"file": ("s.png", b"\xff\xd8\xff\xe0 JPEG")}, headers=tokens["admin"]
    )
    assert bad.status_code == 400 and bad.json()["type"] == "urn:ywt:problem:invalid-seal-image"
    big = client.put(
        f"/seal/v1/seals/{sid}/image",
        files={"file": ("s.png", b"\x89PNG\r\n\x1a\n" + b"0" * (3 * 1024 * 1024))},
        headers=tokens["admin"],
    )
    assert big.status_code == 413 and big.json()["type"] == "urn:ywt:problem:seal-image-too-large"
    client.post(f"/seal/v1/seals/{sid}/approve", headers=tokens["admin"])
    client.post(f"/seal/v1/seals/{sid}/activate", headers=tokens["admin"])
    late = client.put(f"/seal/v1/seals/{sid}/image", files={"file": ("s.png", buf.getvalue())}, headers=tokens["admin"])
    assert late.status_code == 409
    # the uploaded PNG is the stamp: sealing works and the SES_Seal carries it
    with services.db.session() as s:
        ses = parse_seal(services.seal.ses_seal(s, sid))
        assert ses.picture.type == "png" and (ses.picture.width_mm, ses.picture.height_mm) == (40, 20)
        services.seal.grant(s, sid, "t", actor="op")
    from pdfkit import red_fraction, render_page

    from seal.pdf import PadesLevel, Placement

    out = services.seal.seal_document(
        seal_id=sid,
        pdf=make_pdf(),
        placement=Placement(page=1, x=100, y=300),
        level=PadesLevel.B_B,
        actor="t",
        client_id="t",
    )
    f = tmp_path / "png.pdf"
    f.write_bytes(out.pdf)
    frac = red_fraction(render_page(f, tmp_path / "p"), (100, 300, 100 + 40 * 72 / 25.4, 300 + 20 * 72 / 25.4), 841.89)
    assert frac > 0.05


def test_ses_seal_made_by_the_seal_maker_verifies(
    client: TestClient, services: Services, tokens: Tokens, demo_seals: dict[str, str]
) -> None:
    for family, seal_id in demo_seals.items():
        blob = client.get(f"/seal/v1/seals/{seal_id}/ses-seal", headers=tokens["demo"]).content
        seal = parse_seal(blob)
        assert seal.version == 4 and seal.header.vendor_id == "YWT" and seal.picture.type == "png"
        with services.db.session() as s:
            cert_der, _ = services.seal.certificate(s, seal_id)
        assert seal.certs == (cert_der,)
        assert x509.Certificate.load(seal.maker_cert).subject.native["common_name"] == "天津市电子印章制作中心"
        report = client.post("/seal/v1/ses/verify", files={"file": ("s.ses", blob)}).json()
        assert report["indication"] == "TOTAL-PASSED", (family, report["text"])
        # one flipped byte in the picture breaks the maker's signature
        bad = bytearray(blob)
        at = blob.index(seal.picture.data[100:120]) + 5
        bad[at] ^= 0x01
        report = client.post("/seal/v1/ses/verify", files={"file": ("s.ses", bytes(bad))}).json()
        assert report["indication"] == "TOTAL-FAILED" and report["sub_indication"] == "SIG_CRYPTO_FAILURE"
    garbage = client.post("/seal/v1/ses/verify", files={"file": ("s.ses", b"\x30\x03\x02\x01\x01")})
    assert garbage.status_code == 400 and garbage.json()["type"] == "urn:ywt:problem:malformed-ses"


def _ses_signature(services: Services, seal_id: str, document: bytes) -> bytes:
    """A GB/T 38540 e-signature made with the demo SM2 seal's key (through keys/) and timestamped
    by our SM2 TSA, as a GB/T 38540 signing client would."""
    import hashlib

    from asn1crypto import algos, tsp

    with services.db.session() as s:
        rec_seal = services.seal.ses_seal(s, seal_id)
        cert_der, _ = services.seal.certificate(s, seal_id)
        info = services.seal.get(s, seal_id)
        from seal.models import SealRecord

        rec = s.get(SealRecord, seal_id)
        assert rec is not None and rec.key_id is not None
        signer = services.keys.signer(s, rec.key_id)

        def timestamper(value: bytes) -> bytes:
            q = tsp.TimeStampReq(
                {
                    "version": 1,
                    "message_imprint": {
                        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sm3"}),
                        "hashed_message": hashlib.new("sm3", value).digest(),
                    },
                    "cert_req": True,
                }
            )
            resp = tsp.TimeStampResp.load(services.ca.timestamp(s, q.dump(), Family.SM2))
            return bytes(resp["time_stamp_token"].dump())

        assert info.family is Family.SM2
        return make_signature(
            rec_seal, document, cert_der, signer.sign, property_info="decision.pdf", timestamper=timestamper
        )


def test_ses_signature_verification_against_our_pki(services: Services, demo_seals: dict[str, str]) -> None:
    clock.set_global(clock.now())
    try:
        doc = make_pdf()
        blob = _ses_signature(services, demo_seals["sm2"], doc)
        report = verify_ses_blob(services, blob, doc)
        assert report.indication is Indication.TOTAL_PASSED, report.text()
        assert report.check(CheckName.TIMESTAMP).status is CheckStatus.PASSED
        assert verify_ses_blob(services, blob, make_pdf(2)).sub_indication == "HASH_FAILURE"
        assert verify_ses_blob(services, blob).indication is Indication.INDETERMINATE  # no document
        # a suspension or revocation *after* the timestamped signing time does not touch it
        # (ETSI EN 319 102-1: proof of existence before the revocation), one before it does
        clock.advance(timedelta(minutes=10))
        with services.db.session() as s:
            services.seal.suspend(s, demo_seals["sm2"], actor="op")
        assert verify_ses_blob(services, blob, doc).indication is Indication.TOTAL_PASSED
        clock.advance(timedelta(minutes=10))
        during_hold = _ses_signature(services, demo_seals["sm2"], doc)
        r = verify_ses_blob(services, during_hold, doc)
        assert r.indication is Indication.INDETERMINATE and r.check(CheckName.SIGNER_CERT).sub_indication == "TRY_LATER"
        clock.advance(timedelta(minutes=10))
        with services.db.session() as s:
            services.seal.revoke(s, demo_seals["sm2"], actor="op", reason="key_compromise")
        clock.advance(timedelta(minutes=10))
        after = _ses_signature(services, demo_seals["sm2"], doc)
        r = verify_ses_blob(services, after, doc)
        assert r.indication is Indication.TOTAL_FAILED and r.check(CheckName.SIGNER_CERT).sub_indication == "REVOKED"
        assert verify_ses_blob(services, blob, doc).indication is Indication.TOTAL_PASSED
    finally:
        clock.set_global(None)


def test_ses_from_a_foreign_maker_has_no_chain(services: Services, maker: Any, holder: Any, seal_png: bytes) -> None:
    """A seal whose maker is not in our PKI: the maker certificate has no chain here."""
    from seal_testkit import T0

    from seal.ses import SealInfoSpec, SealPicture, make_seal

    spec = SealInfoSpec(
        es_id="1200000100001",
        name="外地印章",
        seal_type=1,
        signer_certs=(holder.cert,),
        valid_start=T0,
        valid_end=T0 + timedelta(days=365),
        picture=SealPicture("png", seal_png, 40, 40),
        created=T0,
    )
    blob = make_seal(spec, maker.cert, maker.sign)
    r = verify_ses_blob(services, blob, at=T0 + timedelta(days=1))
    assert r.check(CheckName.MAKER_SIGNATURE).status is CheckStatus.PASSED
    assert r.check(CheckName.MAKER_CERT).sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert r.indication is Indication.TOTAL_FAILED
