"""Hostile input: every defect becomes MalformedSes with a precise message, never another exception."""

from __future__ import annotations

import contextlib
import random

import pytest
from seal_testkit import (
    DOCUMENT,
    SIGNED_AT,
    Sm2Party,
    TrustStub,
    make_v1_seal,
    make_v1_signature,
    seal_spec,
    sm2_verify,
)

from core.errors import InvalidInput
from seal.errors import MalformedSes, SealError, SesTooLarge
from seal.ses import MAX_SES_BYTES, make_seal, make_signature, parse_seal, parse_signature, verify_signature


@pytest.fixture(scope="module")
def seal_der(maker: Sm2Party, holder: Sm2Party) -> bytes:
    return make_seal(seal_spec(holder), maker.cert, maker.sign)


@pytest.fixture(scope="module")
def sig_der(seal_der: bytes, holder: Sm2Party) -> bytes:
    return make_signature(
        seal_der, DOCUMENT, holder.cert, holder.sign, property_info="/d", signing_time=SIGNED_AT
    )


@pytest.fixture(scope="module")
def v1_sig_der(maker: Sm2Party, holder: Sm2Party) -> bytes:
    return make_v1_signature(make_v1_seal(maker, holder), DOCUMENT, holder, time_info=b"250131000000Z")


def _seq(body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")
    return b"\x30" + head + body


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty input"),
        (b"\x30", "truncated"),
        (b"\x04\x00", "expected a SEQUENCE"),
        (b"\x31\x00", "expected a SEQUENCE"),
        (b"\x30\x80\x02\x01\x04\x00\x00", "indefinite length"),
        (b"\x30\x84\xff\xff\xff\xff\x02\x01\x04", "declares 4294967295 bytes"),
        (b"\x30\x89" + b"\x01" * 9, "absurd"),
        (b"\x30\x03\x02\x01\x04\x00", "trailing data"),
        (b"\x30\x00", "has 0 elements"),
        (_seq(b"\x02\x01\x04" * 3), "has 3 elements"),
        (b"\x1f\x81\x00\x00", "high tag"),
        (_seq(b"\x02\x01\x01\x02\x01\x02"), "bare signature SEQUENCE{r, s}"),
        (_seq(b"\x06\x03\x2a\x03\x04\xa0\x00"), "CMS/PKCS #7 ContentInfo"),
        ("not bytes", "expected bytes"),
    ],
)
def test_structural_garbage(data: bytes, needle: str) -> None:
    with pytest.raises(MalformedSes) as info:
        parse_signature(data)
    assert needle in str(info.value)
    assert info.value.where.startswith("SES_Signature")
    assert isinstance(info.value, InvalidInput)
    assert isinstance(info.value, SealError)


def test_wrong_tags_inside_name_the_field(sig_der: bytes, seal_der: bytes) -> None:
    # the GeneralizedTime timeInfo becomes a UTCTime
    at = sig_der.index(b"\x18\x0f20250131000000Z")
    bad = sig_der[:at] + b"\x17" + sig_der[at + 1 :]
    with pytest.raises(MalformedSes) as info:
        parse_signature(bad)
    assert info.value.where == "SES_Signature.to_sign.time_info"
    # the seal's esID IA5String becomes a UTF8String
    at = seal_der.index(b"\x16\x0e12010300000001")
    bad = seal_der[:at] + b"\x0c" + seal_der[at + 1 :]
    with pytest.raises(MalformedSes) as info:
        parse_seal(bad)
    assert info.value.where == "SES_Seal.e_seal_info.es_id"


def test_cert_list_type_out_of_range(seal_der: bytes) -> None:
    at = seal_der.index(
        b"\x02\x01\x01\x30", seal_der.index("专用章".encode())
    )  # certListType 1, then the list
    bad = seal_der[: at + 2] + b"\x07" + seal_der[at + 3 :]
    with pytest.raises(MalformedSes, match="must be 1 or 2, is 7") as info:
        parse_seal(bad)
    assert info.value.where.endswith("property.cert_list_type")


def test_too_large_is_refused_before_parsing() -> None:
    with pytest.raises(SesTooLarge) as info:
        parse_seal(b"\x30" + b"\x00" * MAX_SES_BYTES)
    assert info.value.limit == MAX_SES_BYTES
    assert info.value.size == MAX_SES_BYTES + 1


def test_a_seal_is_not_a_signature_and_vice_versa(seal_der: bytes, sig_der: bytes) -> None:
    with pytest.raises(MalformedSes):
        parse_signature(seal_der)
    with pytest.raises(MalformedSes):
        parse_seal(sig_der)


def test_every_truncation(sig_der: bytes, v1_sig_der: bytes, seal_der: bytes) -> None:
    for blob, parse in [(sig_der, parse_signature), (v1_sig_der, parse_signature), (seal_der, parse_seal)]:
        for cut in range(len(blob)):
            with pytest.raises(MalformedSes):
                parse(blob[:cut])  # type: ignore[operator]


def test_random_bytes_never_escape() -> None:
    rng = random.Random(20250101)
    for _ in range(2000):
        data = rng.randbytes(rng.randint(0, 300))
        if rng.random() < 0.5:
            data = b"\x30" + bytes([len(data) & 0x7F]) + data
        for parse in (parse_seal, parse_signature):
            with contextlib.suppress(MalformedSes):
                parse(data)


def test_nested_garbage_never_escapes() -> None:
    """Deeply nested SEQUENCEs and context tags where structures are expected."""
    deep = b"\x02\x01\x00"
    for _ in range(200):
        deep = _seq(deep) if len(deep) < 60000 else deep
    for blob in (
        _seq(deep + deep + deep + deep),
        _seq(_seq(deep) + b"\x04\x00\x06\x01\x2a\x03\x01\x00"),
        _seq(b"\xa0\x03\x02\x01\x04" * 4),
        _seq(_seq(b"\x02\x01\x04" + _seq(b"")) + b"\x03\x01\x00"),
    ):
        for parse in (parse_seal, parse_signature):
            with pytest.raises(MalformedSes):
                parse(blob)


def test_random_mutations_parse_or_fail_cleanly(sig_der: bytes, v1_sig_der: bytes, trust: TrustStub) -> None:
    """Byte flips anywhere: either MalformedSes, or a report; never another exception."""
    rng = random.Random(38540)
    parsed_and_verified = 0
    for blob in (sig_der, v1_sig_der):
        for _ in range(400):
            data = bytearray(blob)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                sig = parse_signature(bytes(data))
            except MalformedSes:
                continue
            report = verify_signature(
                sig, verify=sm2_verify, check_cert=trust, document=DOCUMENT, at=SIGNED_AT
            )
            parsed_and_verified += 1
            if bytes(data) != blob:
                assert not report.ok or report.check("signature").status.value == "passed"
    assert parsed_and_verified > 50  # most flips land in contents and still parse


def test_verify_raises_only_malformed_for_garbage(trust: TrustStub) -> None:
    with pytest.raises(MalformedSes):
        verify_signature(b"\x30\x03\x02\x01", verify=sm2_verify, check_cert=trust)
