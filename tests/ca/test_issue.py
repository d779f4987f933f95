"""Issuance rules and bad input. Each bad input: a clear domain error and nothing stored
(no certificate row, no key, no journal entry).

Bad inputs tried: empty / garbage / truncated / PEM-with-bad-base64 CSR, CSR whose signature
does not verify (tampered subject), CSR signed with a key of another family than its SPKI,
RSA-1024 CSR, unknown profile, profile the CA does not issue, CSR asking for CA rights
(basicConstraints cA and keyCertSign), duplicate subject where the profile forbids it, subject
with an unsupported attribute / bad country, unknown CA, revoking an unknown or malformed serial,
revoking twice, unknown revocation reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from api.container import Services
from ca.errors import (
    AlreadyRevoked,
    BadCsr,
    BadName,
    CaRightsRequested,
    DuplicateSubject,
    ProfileNotAllowed,
    UnknownCa,
    UnknownCertificate,
    UnknownProfile,
)
from core.errors import InvalidInput
from keys import KeyAlgorithm
from tests.ca.helpers import make_csr, openssl


def _counts(services: Services) -> tuple[int, int, int]:
    with services.db.engine.connect() as c:
        return tuple(  # type: ignore[return-value]
            c.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("ca_certificate", "key_record", "audit_entry")
        )


def _issue_csr(services: Services, csr: bytes, profile: str = "person", ca: str = "rsa-identity") -> None:
    with services.db.session() as s:
        services.ca.issue_from_csr(s, ca, profile, csr, actor="t")


@pytest.fixture
def rsa_csr(tmp_path: Path) -> bytes:
    return make_csr(tmp_path, "rsa", "/C=CN/CN=Zhang San").read_bytes()


def test_issue_from_csr_each_family(services: Services, tmp_path: Path) -> None:
    for fam in ("rsa", "ecdsa", "sm2"):
        csr = make_csr(tmp_path, fam, f"/C=CN/CN=Holder {fam}", fam)
        with services.db.session() as s:
            cert = services.ca.issue_from_csr(s, f"{fam}-identity", "person", csr.read_bytes(), actor="t")
        assert cert.profile == "person" and "Holder" in cert.subject


def test_issue_for_key_in_store_and_journal(services: Services) -> None:
    with services.db.session() as s:
        key = services.keys.generate(s, KeyAlgorithm.SM2, "seal key")
        cert = services.ca.issue_for_key(
            s,
            "sm2-seal",
            "seal-signing",
            key.key_id,
            {"common_name": "天津市示例行政审批局行政审批专用章", "country_name": "CN"},
            actor="tester",
        )
        assert services.ca.certificate_for_key(s, key.key_id) == cert
    with services.db.engine.connect() as c:
        row = c.execute(sa.text("SELECT actor, action FROM audit_entry WHERE target = :t"), {"t": cert.serial}).one()
    assert tuple(row) == ("tester", "ca.issue")


@pytest.mark.parametrize(
    "csr",
    [
        b"",
        b"garbage",
        b"\x30\x82\xff\xff",
        b"-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        b"\x30" * 70000,
    ],
    ids=["empty", "garbage", "truncated", "bad-base64", "not-a-csr-pem", "oversized"],
)
def test_malformed_csr(services: Services, csr: bytes) -> None:
    before = _counts(services)
    with pytest.raises(BadCsr):
        _issue_csr(services, csr)
    assert _counts(services) == before


def test_csr_with_wrong_signature(services: Services, rsa_csr: bytes, tmp_path: Path) -> None:
    from asn1crypto import csr as asn1csr
    from asn1crypto import pem, x509

    der = pem.unarmor(rsa_csr)[2]
    req = asn1csr.CertificationRequest.load(der)
    info = req["certification_request_info"]
    tampered = asn1csr.CertificationRequest(
        {
            "certification_request_info": asn1csr.CertificationRequestInfo(
                {
                    "version": info["version"].native,
                    "subject": x509.Name.build({"common_name": "Mallory", "country_name": "CN"}),
                    "subject_pk_info": info["subject_pk_info"],
                    "attributes": info["attributes"],
                }
            ),
            "signature_algorithm": req["signature_algorithm"],
            "signature": req["signature"].native,
        }
    )
    before = _counts(services)
    with pytest.raises(BadCsr, match="does not verify"):
        _issue_csr(services, tampered.dump())
    assert _counts(services) == before


def test_rsa_1024_csr_refused(services: Services, tmp_path: Path) -> None:
    openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        "k",
        "-subj",
        "/CN=weak",
        "-out",
        "w.csr",
        cwd=tmp_path,
    )
    with pytest.raises(BadCsr, match="2048"):
        _issue_csr(services, (tmp_path / "w.csr").read_bytes())


@pytest.mark.parametrize("ext", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"])
def test_csr_asking_for_ca_rights(services: Services, tmp_path: Path, ext: str) -> None:
    openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "k",
        "-subj",
        "/CN=wannabe CA",
        "-addext",
        ext,
        "-out",
        "ca.csr",
        cwd=tmp_path,
    )
    before = _counts(services)
    with pytest.raises(CaRightsRequested):
        _issue_csr(services, (tmp_path / "ca.csr").read_bytes())
    assert _counts(services) == before


def test_unknown_profile_and_profile_not_allowed(services: Services, rsa_csr: bytes) -> None:
    before = _counts(services)
    with pytest.raises(UnknownProfile):
        _issue_csr(services, rsa_csr, profile="super-admin")
    with pytest.raises(ProfileNotAllowed):
        _issue_csr(services, rsa_csr, profile="seal-signing", ca="rsa-identity")
    with pytest.raises(ProfileNotAllowed):
        _issue_csr(services, rsa_csr, profile="issuing-ca", ca="rsa-root")
    with pytest.raises(ProfileNotAllowed, match="issues sm2 keys only"):
        _issue_csr(services, rsa_csr, profile="person", ca="sm2-identity")
    with pytest.raises(UnknownCa):
        _issue_csr(services, rsa_csr, ca="nope-identity")
    assert _counts(services) == before


def test_duplicate_subject_forbidden_by_profile(services: Services, tmp_path: Path) -> None:
    a = make_csr(tmp_path, "ecdsa", "/C=CN/CN=Only Once", "a").read_bytes()
    b = make_csr(tmp_path, "ecdsa", "/C=CN/CN=Only Once", "b").read_bytes()
    _issue_csr(services, a, ca="ecdsa-identity")
    before = _counts(services)
    with pytest.raises(DuplicateSubject):
        _issue_csr(services, b, ca="ecdsa-identity")
    assert _counts(services) == before
    # seal-signing allows several certificates per subject (key rollover)
    with services.db.session() as s:
        for _ in range(2):
            services.ca.issue_for_new_key(
                s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256, {"common_name": "Same Seal"}, actor="t"
            )


@pytest.mark.parametrize(
    "subject",
    [{"common_name": "x", "country_name": "China"}, {"email": "a@b"}, {"common_name": ""}, {"common_name": "x" * 65}],
)
def test_bad_subject_names(services: Services, subject: dict[str, str]) -> None:
    before = _counts(services)
    with services.db.session() as s, pytest.raises(BadName):
        services.ca.issue_for_new_key(s, "rsa-identity", "person", KeyAlgorithm.RSA_2048, subject, actor="t")
    assert _counts(services) == before


def test_revoke_rules(services: Services) -> None:
    before = _counts(services)
    with services.db.session() as s, pytest.raises(UnknownCertificate):
        services.ca.revoke(s, "abcdef0123", actor="t")
    with services.db.session() as s, pytest.raises(InvalidInput):
        services.ca.revoke(s, "not-hex", actor="t")
    assert _counts(services) == before
    with services.db.session() as s:
        cert = services.ca.issue_for_new_key(
            s, "ecdsa-identity", "person", KeyAlgorithm.EC_P256, {"common_name": "Revocable"}, actor="t"
        )
        with pytest.raises(InvalidInput, match="reason"):
            services.ca.revoke(s, cert.serial, "because", actor="t")
    with services.db.session() as s:
        services.ca.revoke(s, cert.serial, "certificateHold", actor="t")
        services.ca.resume(s, cert.serial, actor="t")
        services.ca.revoke(s, cert.serial, "superseded", actor="t")
    with services.db.session() as s, pytest.raises(AlreadyRevoked):
        services.ca.revoke(s, cert.serial, actor="t")
    with services.db.session() as s, pytest.raises(AlreadyRevoked):
        services.ca.resume(s, cert.serial, actor="t")


def test_crl_reissued_before_it_lapses(services: Services) -> None:
    from datetime import timedelta

    from asn1crypto import crl as asn1crl

    from core import clock

    with services.db.session() as s:
        first = asn1crl.CertificateList.load(services.ca.current_crl(s, "rsa-seal"))
        assert services.ca.current_crl(s, "rsa-seal") == first.dump()  # fresh: served as is
    later = clock.now() + timedelta(hours=services.settings.crl_validity_hours - 1)
    with clock.frozen(later), services.db.session() as s:
        second = asn1crl.CertificateList.load(services.ca.current_crl(s, "rsa-seal"))
        assert services.ca.refresh_crls(s) == [c.id for c in services.ca.list_cas(s) if c.id != "rsa-seal"]
    n1 = first["tbs_cert_list"]["crl_extensions"][1]["extn_value"].native
    n2 = second["tbs_cert_list"]["crl_extensions"][1]["extn_value"].native
    assert n2 > n1
    assert second["tbs_cert_list"]["next_update"].native > first["tbs_cert_list"]["next_update"].native


def test_revoke_resume_and_crl_are_journaled(services: Services) -> None:
    """Every CA operation is in the journal: issue, key generation, hold, resume, revoke, and
    each CRL they cause (with its number), in that order and with the acting operator."""
    import json

    with services.db.engine.connect() as c:
        start = c.execute(sa.text("SELECT MAX(seq) FROM audit_entry")).scalar_one()
    with services.db.session() as s:
        cert = services.ca.issue_for_new_key(
            s, "sm2-identity", "person", KeyAlgorithm.SM2, {"common_name": "Journaled"}, actor="op1"
        )
    with services.db.session() as s:
        services.ca.revoke(s, cert.serial, "certificateHold", actor="op2")
    with services.db.session() as s:
        services.ca.resume(s, cert.serial, actor="op3")
    with services.db.session() as s:
        services.ca.revoke(s, cert.serial, "keyCompromise", actor="op4")
    with services.db.engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT actor, action, target, data FROM audit_entry WHERE seq > :s ORDER BY seq"), {"s": start}
        ).all()
    got = [(r[0], r[1]) for r in rows]
    assert got == [
        ("op1", "key.generate"),
        ("op1", "ca.issue"),
        ("op2", "ca.revoke"),
        ("op2", "ca.crl"),
        ("op3", "ca.resume"),
        ("op3", "ca.crl"),
        ("op4", "ca.revoke"),
        ("op4", "ca.crl"),
    ], got
    revokes = [json.loads(r[3]) for r in rows if r[1] == "ca.revoke"]
    assert [d["reason"] for d in revokes] == ["certificate_hold", "key_compromise"]
    crls = [json.loads(r[3]) for r in rows if r[1] == "ca.crl"]
    assert all(r[2] == "sm2-identity" for r in rows if r[1] == "ca.crl")
    assert [d["revoked"] for d in crls] == [1, 0, 1]
    assert crls[0]["number"] < crls[1]["number"] < crls[2]["number"]
