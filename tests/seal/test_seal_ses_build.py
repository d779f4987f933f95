"""Building GB/T 38540 v4 SES_Seal / SES_Signature and parsing them back."""

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
    make_v1_seal,
    seal_spec,
    sm2_verify,
    tiny_png,
)

from core import clock
from core.errors import InvalidInput
from seal import _ses_asn1 as asn
from seal.errors import (
    InvalidSealSpec,
    SealError,
    SealNotValidAt,
    SignerNotInSeal,
    SignerOutputInvalid,
    UnsupportedSesVersion,
)
from seal.ses import (
    OID_SM2_WITH_SM3,
    CertDigest,
    CertListType,
    ExtData,
    SealPicture,
    SesVersion,
    _top_level,
    make_seal,
    make_signature,
    parse_seal,
    parse_signature,
)


@pytest.fixture(scope="module")
def seal_der(maker: Sm2Party, holder: Sm2Party, seal_png: bytes) -> bytes:
    return make_seal(seal_spec(holder, seal_png), maker.cert, maker.sign)


@pytest.fixture(scope="module")
def signature_der(seal_der: bytes, holder: Sm2Party) -> bytes:
    return make_signature(
        seal_der,
        DOCUMENT,
        holder.cert,
        holder.sign,
        property_info="/decisions/2025-001.pdf",
        signing_time=SIGNED_AT,
    )


def test_seal_round_trip(seal_der: bytes, maker: Sm2Party, holder: Sm2Party, seal_png: bytes) -> None:
    seal = parse_seal(seal_der)
    assert seal.version is SesVersion.V4
    assert (seal.header.id, seal.header.version, seal.header.vendor_id) == ("ES", 4, "YWT")
    assert seal.es_id == "12010300000001"
    assert seal.name == "天津市示例行政审批局行政审批专用章"
    assert seal.seal_type == 1
    assert seal.cert_list_type is CertListType.CERTS
    assert seal.certs == (holder.cert,)
    assert (seal.created, seal.valid_start, seal.valid_end) == (VALID_FROM, VALID_FROM, VALID_TO)
    assert seal.picture == SealPicture("png", seal_png, 42, 42)
    assert seal.maker_cert == maker.cert
    assert seal.sign_alg_oid == OID_SM2_WITH_SM3
    assert seal.der == seal_der
    # the maker signed exactly the SES_SealInfo element (the first element of SES_Seal)
    assert seal_der[4 : 4 + len(seal.signed_data)] == seal.signed_data
    assert asn.SealInfoV4.load(seal.signed_data)["es_id"].native == seal.es_id
    assert sm2_verify(maker.cert, seal.signed_data, seal.signed_value)


def test_seal_wire_format_per_standards(seal_der: bytes) -> None:
    """signAlgID is a bare OID and signedValue a BIT STRING holding DER SEQ{r, s} (STANDARDS.md)."""
    outer = core.Sequence.load(seal_der)
    children = [outer[i] for i in range(4)]
    assert isinstance(children[2], core.ObjectIdentifier)
    assert children[2].dotted == OID_SM2_WITH_SM3
    assert children[2].dump() == bytes.fromhex("06082a811ccf55018375")  # a bare OID, no AlgorithmIdentifier
    bit_string = children[3]
    assert bit_string.tag == 3
    assert bit_string.contents[0] == 0  # no unused bits
    algos.DSASignature.load(bit_string.contents[1:], strict=True)
    prop = asn.SealInfoV4.load(children[0].dump())["property"]
    assert prop["create_date"].dump()[0] == 0x18  # GeneralizedTime
    assert prop["create_date"].dump() == b"\x18\x0f20250101000000Z"


def test_signature_round_trip(signature_der: bytes, seal_der: bytes, holder: Sm2Party) -> None:
    sig = parse_signature(signature_der)
    assert sig.version is SesVersion.V4
    assert sig.tbs_version == 4
    assert sig.seal.der == seal_der  # the seal is embedded exactly as given
    assert sig.time_info == SIGNED_AT
    assert sig.time_info_raw == b"20250131000000Z"
    assert sig.data_hash == hashlib.new("sm3", DOCUMENT).digest()
    assert sig.property_info == "/decisions/2025-001.pdf"
    assert sig.signer_cert == holder.cert
    assert sig.signature_alg_oid == OID_SM2_WITH_SM3
    assert sig.timestamp is None
    assert sig.ext_datas == ()
    assert signature_der[4 : 4 + len(sig.signed_data)] == sig.signed_data
    assert sm2_verify(holder.cert, sig.signed_data, sig.signature)


def test_signing_time_defaults_to_the_clock_in_whole_seconds(seal_der: bytes, holder: Sm2Party) -> None:
    with clock.frozen(datetime(2025, 3, 1, 8, 30, 15, 987654, tzinfo=UTC)):
        der = make_signature(seal_der, b"x", holder.cert, holder.sign, property_info="p")
    assert parse_signature(der).time_info == datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC)


def test_extensions_and_timestamp_slot(seal_der: bytes, holder: Sm2Party) -> None:
    seen: list[bytes] = []

    def timestamper(value: bytes) -> bytes:
        seen.append(value)
        return b"\x30\x03\x02\x01\x07"  # stands in for an RFC 3161 token

    der = make_signature(
        seal_der,
        DOCUMENT,
        holder.cert,
        holder.sign,
        property_info="p",
        signing_time=SIGNED_AT,
        ext_datas=[ExtData("1.2.156.112562.1", b"\x01", critical=True), ExtData("1.2.3.4", b"")],
        timestamper=timestamper,
    )
    sig = parse_signature(der)
    assert sig.ext_datas == (ExtData("1.2.156.112562.1", b"\x01", True), ExtData("1.2.3.4", b"", False))
    assert sig.timestamp == b"\x30\x03\x02\x01\x07"
    assert seen == [sig.signature]  # the timestamp is over the signature value
    # timeStamp [0] EXPLICIT BIT STRING; TBS_Sign extDatas [0] EXPLICIT
    assert [tag for tag, _, _ in _top_level(der, "t")] == [0x30, 0x04, 0x06, 0x03, 0xA0]
    assert [tag for tag, _, _ in _top_level(sig.signed_data, "t")] == [0x02, 0x30, 0x18, 0x03, 0x16, 0xA0]


def test_seal_with_cert_digests(maker: Sm2Party, holder: Sm2Party) -> None:
    der = make_seal(seal_spec(holder, cert_list_type=CertListType.DIGESTS), maker.cert, maker.sign)
    seal = parse_seal(der)
    assert seal.cert_list_type is CertListType.DIGESTS
    assert seal.certs == ()
    assert seal.cert_digests == (CertDigest("sm3", hashlib.new("sm3", holder.cert).digest()),)
    # and it can sign: the holder's digest is found
    make_signature(der, b"doc", holder.cert, holder.sign, property_info="p", signing_time=SIGNED_AT)


def test_seal_extension_and_default_creation_time(maker: Sm2Party, holder: Sm2Party) -> None:
    spec = seal_spec(holder, created=None, ext_datas=(ExtData("1.2.156.10197.6.7.2.2.1", b"2.1"),))
    with clock.frozen(VALID_FROM + timedelta(days=1, microseconds=5)):
        seal = parse_seal(make_seal(spec, maker.cert, maker.sign))
    assert seal.created == VALID_FROM + timedelta(days=1)
    assert seal.ext_datas == (ExtData("1.2.156.10197.6.7.2.2.1", b"2.1", False),)
    # DER: a FALSE default is omitted when we build
    assert b"\x01\x01\x00" not in seal.signed_data


def test_expired_when_made_is_refused(maker: Sm2Party, holder: Sm2Party) -> None:
    with clock.frozen(VALID_TO + timedelta(days=1)), pytest.raises(InvalidSealSpec) as info:
        make_seal(seal_spec(holder, created=None), maker.cert, maker.sign)
    assert info.value.field == "valid_end"


# ---------------------------------------------------------------------------- refusals


def test_signing_with_a_foreign_certificate_is_refused(seal_der: bytes, stranger: Sm2Party) -> None:
    with pytest.raises(SignerNotInSeal) as info:
        make_signature(
            seal_der, b"d", stranger.cert, stranger.sign, property_info="p", signing_time=SIGNED_AT
        )
    assert info.value.es_id == "12010300000001"
    assert isinstance(info.value, SealError)


@pytest.mark.parametrize("when", [VALID_FROM - timedelta(seconds=1), VALID_TO + timedelta(seconds=1)])
def test_signing_outside_the_seal_validity_is_refused(
    seal_der: bytes, holder: Sm2Party, when: datetime
) -> None:
    with pytest.raises(SealNotValidAt) as info:
        make_signature(seal_der, b"d", holder.cert, holder.sign, property_info="p", signing_time=when)
    assert info.value.valid_end == VALID_TO
    assert info.value.at == when


def test_v1_seals_are_read_but_never_used_to_sign(maker: Sm2Party, holder: Sm2Party) -> None:
    v1 = make_v1_seal(maker, holder)
    assert parse_seal(v1).version is SesVersion.V1
    with pytest.raises(UnsupportedSesVersion) as info:
        make_signature(v1, b"d", holder.cert, holder.sign, property_info="p", signing_time=SIGNED_AT)
    assert info.value.version == 1


@pytest.mark.parametrize(
    "output",
    [
        b"",
        b"\x00" * 64,  # raw r||s is not what we promise to embed
        bytes.fromhex("3006020100020101"),  # r = 0
        bytes.fromhex("300702020001020101"),  # non-minimal INTEGER
        "3045",
    ],
)
def test_bad_signer_output_is_refused(maker: Sm2Party, holder: Sm2Party, output: object) -> None:
    with pytest.raises(SignerOutputInvalid):
        make_seal(seal_spec(holder), maker.cert, lambda data: output)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"es_id": ""}, "es_id"),
        ({"es_id": "编码"}, "es_id"),
        ({"es_id": "x" * 129}, "es_id"),
        ({"vendor_id": ""}, "vendor_id"),
        ({"name": ""}, "name"),
        ({"name": "名\x00称"}, "name"),
        ({"name": "名" * 101}, "name"),
        ({"seal_type": 0}, "seal_type"),
        ({"seal_type": True}, "seal_type"),
        ({"signer_certs": ()}, "signer_certs"),
        ({"signer_certs": (b"not a cert",)}, "signer_certs[0]"),
        ({"valid_end": VALID_FROM}, "valid_end"),
        ({"valid_start": datetime(2025, 1, 1)}, "valid_start"),
        ({"created": VALID_TO + timedelta(days=1)}, "created"),
        ({"cert_list_type": 3}, "cert_list_type"),
        ({"picture": b"png"}, "picture"),
        ({"picture": SealPicture("png", b"GIF89a...", 42, 42)}, "picture.data"),
        ({"picture": SealPicture("png", b"", 42, 42)}, "picture.data"),
        ({"picture": SealPicture("png", tiny_png(), 0, 42)}, "picture.width_mm"),
        ({"picture": SealPicture("png", tiny_png(), 42, 42.5)}, "picture.height_mm"),
        ({"picture": SealPicture("", tiny_png(), 42, 42)}, "picture.type"),
        ({"ext_datas": (ExtData("not.an.oid", b""),)}, "ext_datas"),
        ({"ext_datas": ("1.2.3",)}, "ext_datas"),
    ],
)
def test_bad_seal_specs_are_refused(holder: Sm2Party, overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSealSpec) as info:
        seal_spec(holder, **overrides)
    assert info.value.field == field
    assert isinstance(info.value, InvalidInput)


def test_a_non_sm2_or_non_signing_certificate_is_refused(holder: Sm2Party) -> None:
    from seal_testkit import make_cert

    no_sign = make_cert("加密证书", holder.key, key_usage={"key_encipherment"})
    with pytest.raises(InvalidSealSpec, match="allows no signatures"):
        seal_spec(holder, signer_certs=(no_sign,))


def test_bad_signature_arguments_are_refused(seal_der: bytes, holder: Sm2Party) -> None:
    with pytest.raises(InvalidSealSpec) as info:
        make_signature(seal_der, b"d", holder.cert, holder.sign, property_info="路径", signing_time=SIGNED_AT)
    assert info.value.field == "property_info"
    with pytest.raises(InvalidSealSpec) as info:
        make_signature(
            seal_der,
            b"d",
            holder.cert,
            holder.sign,
            property_info="p",
            signing_time=SIGNED_AT.replace(tzinfo=None),
        )
    assert info.value.field == "signing_time"
