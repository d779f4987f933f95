"""Verification of seals and signatures: reports, tampering, v1 structures."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, core
from seal_testkit import (
    DOCUMENT,
    SIGNED_AT,
    VALID_FROM,
    VALID_TO,
    Sm2Party,
    TrustStub,
    forge_signature,
    make_v1_seal,
    make_v1_signature,
    seal_spec,
    sm2_verify,
)

from core import clock
from core.errors import TryLater
from seal import _ses_asn1 as asn
from seal.ses import (
    CertCheck,
    CertListType,
    CheckName,
    CheckStatus,
    Indication,
    SesVersion,
    TimestampCheck,
    make_seal,
    make_signature,
    parse_seal,
    parse_signature,
    verify_seal,
    verify_signature,
)

NOW = SIGNED_AT + timedelta(days=1)
ALL_SIGNATURE_CHECKS = [
    "header",
    "signature",
    "signer-in-seal",
    "maker-signature",
    "maker-cert",
    "seal-validity",
    "signing-time",
    "signer-cert",
    "timestamp",
    "data-hash",
]


@pytest.fixture(scope="module")
def seal_der(maker: Sm2Party, holder: Sm2Party, seal_png: bytes) -> bytes:
    return make_seal(seal_spec(holder, seal_png), maker.cert, maker.sign)


@pytest.fixture(scope="module")
def sig_der(seal_der: bytes, holder: Sm2Party) -> bytes:
    return make_signature(
        seal_der, DOCUMENT, holder.cert, holder.sign, property_info="/d.pdf", signing_time=SIGNED_AT
    )


def _verify(blob: bytes, trust: TrustStub, document: bytes | None = DOCUMENT, **kw: object):  # type: ignore[no-untyped-def]
    return verify_signature(blob, verify=sm2_verify, check_cert=trust, document=document, at=NOW, **kw)  # type: ignore[arg-type]


def _statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name.value: c.status.value for c in report.checks}


def _flip(blob: bytes, needle: bytes, index: int = -1) -> bytes:
    """Flip one bit of ``needle`` (which must occur once) inside ``blob``."""
    assert blob.count(needle) == 1
    at = blob.index(needle) + (index % len(needle))
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


# ---------------------------------------------------------------------------- happy paths


def test_valid_signature_passes_every_check(
    sig_der: bytes, trust: TrustStub, maker: Sm2Party, holder: Sm2Party
) -> None:
    report = _verify(sig_der, trust)
    assert [c.name.value for c in report.checks] == ALL_SIGNATURE_CHECKS  # GB/T 38540 order
    assert report.indication is Indication.TOTAL_PASSED
    assert report.ok
    assert report.sub_indication is None
    assert report.check(CheckName.TIMESTAMP).status is CheckStatus.SKIPPED
    assert report.signing_time == SIGNED_AT
    assert report.validation_time == NOW
    assert (report.es_id, report.seal_name, report.version) == (
        "12010300000001",
        "天津市示例行政审批局行政审批专用章",
        SesVersion.V4,
    )
    # certificates were checked at the signing time
    assert trust.calls == [(maker.cert, SIGNED_AT), (holder.cert, SIGNED_AT)]
    text = report.text()
    assert text.startswith("TOTAL-PASSED: SES_Signature (v4)")
    assert "[passed] data-hash" in text


def test_parsed_objects_are_accepted_too(sig_der: bytes, seal_der: bytes, trust: TrustStub) -> None:
    assert _verify(parse_signature(sig_der).der, trust).ok
    assert verify_signature(
        parse_signature(sig_der), verify=sm2_verify, check_cert=trust, document=DOCUMENT, at=NOW
    ).ok
    assert verify_seal(parse_seal(seal_der), verify=sm2_verify, check_cert=trust, at=NOW).ok


def test_seal_alone(seal_der: bytes, trust: TrustStub, maker: Sm2Party) -> None:
    report = verify_seal(seal_der, verify=sm2_verify, check_cert=trust, at=NOW)
    assert [c.name.value for c in report.checks] == [
        "header",
        "maker-signature",
        "maker-cert",
        "seal-validity",
    ]
    assert report.ok
    assert trust.calls == [(maker.cert, NOW)]
    with clock.frozen(VALID_TO + timedelta(days=1)):
        late = verify_seal(seal_der, verify=sm2_verify, check_cert=trust)
    assert late.indication is Indication.TOTAL_FAILED
    assert late.sub_indication == "EXPIRED"


def test_digest_cert_list_is_honoured(
    maker: Sm2Party, holder: Sm2Party, stranger: Sm2Party, trust: TrustStub
) -> None:
    seal = make_seal(seal_spec(holder, cert_list_type=CertListType.DIGESTS), maker.cert, maker.sign)
    good = make_signature(seal, DOCUMENT, holder.cert, holder.sign, property_info="p", signing_time=SIGNED_AT)
    assert _verify(good, trust).ok
    bad = forge_signature(seal, DOCUMENT, stranger)
    assert _verify(bad, trust).check(CheckName.SIGNER_IN_SEAL).status is CheckStatus.FAILED


# ---------------------------------------------------------------------------- tampering


def test_flipped_picture_breaks_the_maker_signature(
    sig_der: bytes, seal_der: bytes, seal_png: bytes, trust: TrustStub
) -> None:
    report = _verify(_flip(sig_der, seal_png, len(seal_png) // 2), trust)
    s = _statuses(report)
    assert s["maker-signature"] == "failed"
    assert s["signature"] == "failed"  # the seal is inside TBS_Sign
    assert s["data-hash"] == "passed"
    assert report.sub_indication == "SIG_CRYPTO_FAILURE"
    seal_report = verify_seal(_flip(seal_der, seal_png, 100), verify=sm2_verify, check_cert=trust, at=NOW)
    assert _statuses(seal_report)["maker-signature"] == "failed"
    assert not seal_report.ok


def test_changed_name_breaks_the_maker_signature(sig_der: bytes, seal_der: bytes, trust: TrustStub) -> None:
    forged = sig_der.replace("审批局".encode(), "审批厅".encode())  # same length in UTF-8
    assert forged != sig_der
    sig = parse_signature(forged)
    assert sig.seal.name == "天津市示例行政审批厅行政审批专用章"
    s = _statuses(_verify(forged, trust))
    assert (s["maker-signature"], s["signature"]) == ("failed", "failed")
    forged_seal = seal_der.replace("审批局".encode(), "审批厅".encode())
    assert (
        _statuses(verify_seal(forged_seal, verify=sm2_verify, check_cert=trust, at=NOW))["maker-signature"]
        == "failed"
    )


def test_flipped_data_hash_breaks_signature_and_hash(sig_der: bytes, trust: TrustStub) -> None:
    digest = hashlib.new("sm3", DOCUMENT).digest()
    report = _verify(_flip(sig_der, digest, 3), trust)
    s = _statuses(report)
    assert s["signature"] == "failed"
    assert s["data-hash"] == "failed"
    assert s["maker-signature"] == "passed"
    assert report.indication is Indication.TOTAL_FAILED


def test_altered_document_fails_only_the_hash(sig_der: bytes, trust: TrustStub) -> None:
    report = _verify(sig_der, trust, document=DOCUMENT.replace(b"approved", b"rejected"))
    failed = [c.name.value for c in report.checks if c.status is CheckStatus.FAILED]
    assert failed == ["data-hash"]
    assert report.sub_indication == "HASH_FAILURE"


def test_flipped_signature_fails_only_the_signature(sig_der: bytes, trust: TrustStub) -> None:
    value = parse_signature(sig_der).signature
    report = _verify(_flip(sig_der, value, -2), trust)
    failed = [c.name.value for c in report.checks if c.status is CheckStatus.FAILED]
    assert failed == ["signature"]
    assert report.sub_indication == "SIG_CRYPTO_FAILURE"


def test_flipped_maker_signed_value_fails_only_the_maker_signature(sig_der: bytes, trust: TrustStub) -> None:
    value = parse_signature(sig_der).seal.signed_value
    report = _verify(_flip(sig_der, value, -2), trust)
    failed = [c.name.value for c in report.checks if c.status is CheckStatus.FAILED]
    assert failed == ["signature", "maker-signature"]  # the seal, signed value included, is inside TBS_Sign


def test_signer_not_in_cert_list(seal_der: bytes, stranger: Sm2Party, trust: TrustStub) -> None:
    report = _verify(forge_signature(seal_der, DOCUMENT, stranger), trust)
    s = _statuses(report)
    assert s["signature"] == "passed"  # a genuine signature by someone the seal was not issued to
    assert s["signer-in-seal"] == "failed"
    assert report.sub_indication == "SIG_CONSTRAINTS_FAILURE"
    assert "not issued to it" in report.check("signer-in-seal").message


@pytest.mark.parametrize(
    ("when", "sub"),
    [(VALID_TO + timedelta(days=1), "EXPIRED"), (VALID_FROM - timedelta(days=1), "NOT_YET_VALID")],
)
def test_seal_outside_validity_at_signing_time(
    seal_der: bytes, holder: Sm2Party, trust: TrustStub, when: datetime, sub: str
) -> None:
    blob = forge_signature(seal_der, DOCUMENT, holder, at=when)
    report = verify_signature(
        blob, verify=sm2_verify, check_cert=trust, document=DOCUMENT, at=when + timedelta(days=1)
    )
    check = report.check(CheckName.SEAL_VALIDITY)
    assert check.status is CheckStatus.FAILED
    assert check.sub_indication == sub
    assert report.sub_indication == sub


def test_future_signing_time_fails(seal_der: bytes, holder: Sm2Party, trust: TrustStub) -> None:
    blob = forge_signature(seal_der, DOCUMENT, holder, at=NOW + timedelta(hours=1))
    assert _statuses(_verify(blob, trust))["signing-time"] == "failed"
    near = forge_signature(seal_der, DOCUMENT, holder, at=NOW + timedelta(minutes=2))  # clock skew
    assert _statuses(_verify(near, trust))["signing-time"] == "passed"


def test_revoked_or_untrusted_certificates(
    sig_der: bytes, trust: TrustStub, maker: Sm2Party, holder: Sm2Party
) -> None:
    trust.revoked.add(holder.cert)
    report = _verify(sig_der, trust)
    assert report.check("signer-cert").status is CheckStatus.FAILED
    assert report.sub_indication == "REVOKED"
    trust.revoked.clear()
    trust.trusted.discard(maker.cert)
    report = _verify(sig_der, trust)
    assert report.check("maker-cert").sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_unavailable_status_is_indeterminate(sig_der: bytes) -> None:
    def down(cert: bytes, at: datetime) -> CertCheck:
        raise TryLater("OCSP responder unreachable")

    report = verify_signature(sig_der, verify=sm2_verify, check_cert=down, document=DOCUMENT, at=NOW)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication == "TRY_LATER"


def test_missing_document_is_indeterminate(sig_der: bytes, trust: TrustStub) -> None:
    report = _verify(sig_der, trust, document=None)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication == "SIGNED_DATA_NOT_FOUND"
    assert not report.ok


def test_wrong_algorithm_and_version(seal_der: bytes, holder: Sm2Party, trust: TrustStub) -> None:
    rsa_sm3 = forge_signature(seal_der, DOCUMENT, holder, signature_alg="1.2.156.10197.1.504")
    assert "unsupported algorithm 1.2.156.10197.1.504" in _verify(rsa_sm3, trust).check("signature").message
    v3 = forge_signature(seal_der, DOCUMENT, holder, version=3)
    header = _verify(v3, trust).check("header")
    assert header.status is CheckStatus.FAILED
    assert "TBS_Sign version 3" in header.message
    assert header.sub_indication == "FORMAT_FAILURE"


def test_raw_r_s_signature_is_understood(seal_der: bytes, holder: Sm2Party, trust: TrustStub) -> None:
    """Some producers put 64 raw bytes r||s in the BIT STRING instead of DER: same (r, s)."""
    der = forge_signature(seal_der, DOCUMENT, holder)
    sig = parse_signature(der)
    raw = algos.DSASignature.load(sig.signature).to_p1363()
    obj = asn.SesSignatureV4.load(der)
    rebuilt = asn.SesSignatureV4(
        {
            "to_sign": asn.TbsSignV4.load(sig.signed_data),
            "cert": obj["cert"].native,
            "signature_alg_id": obj["signature_alg_id"].native,
            "signature": raw,
        }
    ).dump()
    check = _verify(rebuilt, trust).check("signature")
    assert check.status is CheckStatus.PASSED
    assert "raw r||s" in check.message


# ---------------------------------------------------------------------------- timestamps


def test_timestamp_without_checker_is_indeterminate(
    seal_der: bytes, holder: Sm2Party, trust: TrustStub
) -> None:
    blob = forge_signature(seal_der, DOCUMENT, holder, time_stamp=b"token")
    report = _verify(blob, trust)
    assert report.check("timestamp").status is CheckStatus.INDETERMINATE
    assert report.indication is Indication.INDETERMINATE


def test_vouched_timestamp_time_is_used_for_certificates(
    seal_der: bytes, holder: Sm2Party, maker: Sm2Party, trust: TrustStub
) -> None:
    ts_time = SIGNED_AT + timedelta(seconds=3)
    seen: list[tuple[bytes, bytes]] = []

    def check_ts(token: bytes, value: bytes) -> TimestampCheck:
        seen.append((token, value))
        return TimestampCheck(CheckStatus.PASSED, "TSA token valid", ts_time)

    blob = forge_signature(seal_der, DOCUMENT, holder, time_stamp=b"token")
    report = _verify(blob, trust, check_timestamp=check_ts)
    assert report.ok
    assert seen == [(b"token", parse_signature(blob).signature)]
    assert trust.calls == [(maker.cert, ts_time), (holder.cert, ts_time)]
    assert "timestamp time" in report.check("signer-cert").message


# ---------------------------------------------------------------------------- received bytes


def test_explicit_critical_false_is_verified_as_received(
    maker: Sm2Party, holder: Sm2Party, trust: TrustStub
) -> None:
    """Real seals (e.g. GOMAIN tax seals) encode ``critical FALSE`` explicitly. Re-encoding to
    DER would drop it and break the maker's signature; we must use the bytes as received."""
    base = asn.SealInfoV4.load(parse_seal(make_seal(seal_spec(holder), maker.cert, maker.sign)).signed_data)
    oid = bytes.fromhex("060a2a811ccf550607020201")  # 1.2.156.10197.6.7.2.2.1, as in GOMAIN seals
    ext_body = oid + bytes.fromhex("010100") + bytes.fromhex("0403322e31")  # critical FALSE, "2.1"
    ext = b"\x30" + bytes([len(ext_body)]) + ext_body
    exts = b"\x30" + bytes([len(ext)]) + ext
    body = b"".join(base[name].dump() for name in ("header", "es_id", "property", "picture")) + exts
    seal_info = b"\x30\x82" + len(body).to_bytes(2, "big") + body
    assert asn.SealInfoV4.load(seal_info)["ext_datas"][0]["critical"].native is False
    assert asn.SealInfoV4.load(seal_info).dump(force=True) != seal_info  # a re-encoding differs
    seal = asn.SesSealV4(
        {
            "e_seal_info": asn.SealInfoV4.load(seal_info),
            "cert": maker.cert,
            "sign_alg_id": "1.2.156.10197.1.501",
            "signed_value": maker.sign(seal_info),
        }
    ).dump()
    assert seal_info in seal
    parsed = parse_seal(seal)
    assert parsed.signed_data == seal_info
    assert verify_seal(seal, verify=sm2_verify, check_cert=trust, at=NOW).ok
    blob = forge_signature(seal, DOCUMENT, holder)
    assert seal_info in blob
    assert _verify(blob, trust).ok


# ---------------------------------------------------------------------------- v1


def test_v1_seal_and_signature_verify(maker: Sm2Party, holder: Sm2Party, trust: TrustStub) -> None:
    seal = make_v1_seal(maker, holder)
    parsed = parse_seal(seal)
    assert parsed.version is SesVersion.V1
    assert parsed.header.version == 1
    assert parsed.certs == (holder.cert,)
    assert parsed.valid_end == VALID_TO
    assert parsed.signed_data.startswith(b"\x30")
    assert parsed.signed_data.endswith(bytes.fromhex("06082a811ccf55018375"))  # ... cert, algorithm
    assert verify_seal(seal, verify=sm2_verify, check_cert=trust, at=NOW).ok

    utc_time_tlv = core.UTCTime(SIGNED_AT).dump()  # what ofdrw's generator puts in the BIT STRING
    blob = make_v1_signature(seal, DOCUMENT, holder, time_info=utc_time_tlv)
    sig = parse_signature(blob)
    assert sig.version is SesVersion.V1
    assert sig.time_info == SIGNED_AT
    assert sig.signer_cert == holder.cert
    report = _verify(blob, trust)
    assert report.ok, report.text()
    assert "GM/T 0031-2014" in report.check("header").message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"2020-01-25T07:31:56.377Z",
            datetime(2020, 1, 25, 7, 31, 56, 377000, tzinfo=UTC),
        ),  # dms360.cn style
        (b"250131000000Z", datetime(2025, 1, 31, tzinfo=UTC)),
        (b"20250131000000Z", datetime(2025, 1, 31, tzinfo=UTC)),
        (b"2025-01-31 08:00:00", datetime(2025, 1, 31, 8, tzinfo=UTC)),
        (core.GeneralizedTime(datetime(2025, 1, 31, tzinfo=UTC)).dump(), datetime(2025, 1, 31, tzinfo=UTC)),
        (b"\x30\x03\x02\x01\x00", None),  # e.g. a timestamp token: not guessed at
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_v1_time_info_variants(
    raw: bytes, expected: datetime | None, maker: Sm2Party, holder: Sm2Party
) -> None:
    seal = make_v1_seal(maker, holder)
    sig = parse_signature(make_v1_signature(seal, DOCUMENT, holder, time_info=raw))
    assert sig.time_info == expected
    assert sig.time_info_raw == raw


def test_v1_unreadable_time_is_indeterminate(maker: Sm2Party, holder: Sm2Party, trust: TrustStub) -> None:
    seal = make_v1_seal(maker, holder)
    report = _verify(make_v1_signature(seal, DOCUMENT, holder, time_info=b"\x30\x00"), trust)
    s = _statuses(report)
    assert s["seal-validity"] == s["signing-time"] == "indeterminate"
    assert s["signature"] == s["maker-signature"] == "passed"
    assert report.indication is Indication.INDETERMINATE
    assert "validation time" in report.check("signer-cert").message


def test_v1_tampering_is_detected(maker: Sm2Party, holder: Sm2Party, trust: TrustStub) -> None:
    seal = make_v1_seal(maker, holder)
    blob = make_v1_signature(seal, DOCUMENT, holder, time_info=b"250131000000Z")
    forged = blob.replace("示例一版印章".encode(), "示例二版印章".encode())
    s = _statuses(_verify(forged, trust))
    assert (s["signature"], s["maker-signature"]) == ("failed", "failed")


def test_v1_header_versions(maker: Sm2Party, holder: Sm2Party, trust: TrustStub) -> None:
    assert verify_seal(
        make_v1_seal(maker, holder, header_version=2), verify=sm2_verify, check_cert=trust, at=NOW
    ).ok
    bad = verify_seal(
        make_v1_seal(maker, holder, header_version=4), verify=sm2_verify, check_cert=trust, at=NOW
    )
    assert bad.check("header").status is CheckStatus.FAILED


# ---------------------------------------------------------------------------- callbacks


def test_verify_callback_errors_become_failures(sig_der: bytes, trust: TrustStub) -> None:
    def broken(cert: bytes, data: bytes, sig: bytes) -> bool:
        raise ValueError("unsupported key")

    report = verify_signature(sig_der, verify=broken, check_cert=trust, document=DOCUMENT, at=NOW)
    assert report.check("signature").status is CheckStatus.FAILED
    assert "ValueError: unsupported key" in report.check("signature").message


def test_truthy_non_bool_from_verify_is_not_a_pass(sig_der: bytes, trust: TrustStub) -> None:
    report = verify_signature(
        sig_der,
        verify=lambda c, d, s: 1,
        check_cert=trust,
        document=DOCUMENT,
        at=NOW,  # type: ignore[arg-type,return-value]
    )
    assert report.check("signature").status is CheckStatus.FAILED


def test_naive_validation_time_is_refused(sig_der: bytes, trust: TrustStub) -> None:
    from seal.errors import InvalidSealSpec

    with pytest.raises(InvalidSealSpec):
        verify_signature(sig_der, verify=sm2_verify, check_cert=trust, at=datetime(2025, 1, 1))
