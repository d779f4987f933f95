"""GB/T 36903 metadata: element names, order, consistency with type and data, JSON export."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from license_samples import (
    COMPANY_USCC,
    ISSUER_USCC,
    PERSON_ID,
    RESTAURANT_USCC,
    business_data,
    food_data,
    person_data,
)

from license.errors import InvalidLicenseData
from license.identifier import IdentifierParts
from license.metadata import (
    CORE_ELEMENTS,
    HolderCodeType,
    LicenseMetadata,
    LicenseRecord,
    build_metadata,
)
from license.types import LicenseType, compute_validity, validate_data


def business_record(t: LicenseType, **changes: Any) -> LicenseRecord:
    ident = str(IdentifierParts(t.type_code, ISSUER_USCC, "2024000001"))
    record = LicenseRecord(
        identifier=ident,
        number="120101000012345",
        issuer_name="天津市示例行政审批局",
        issuer_code=ISSUER_USCC,
        issue_date=date(2024, 5, 20),
        holder_name="天津市示例科技有限公司",
        holder_code=COMPANY_USCC,
        holder_code_type=HolderCodeType.USCC,
        valid_from=date(2015, 3, 18),
        valid_to=None,
        seal_name="天津市示例行政审批局电子证照专用章",
        signer="天津市示例行政审批局",
        signing_time=datetime(2024, 5, 20, 2, 3, 4, tzinfo=UTC),
    )
    return replace(record, **changes)


def test_business_licence_metadata_elements_and_order(business_type: LicenseType) -> None:
    record = business_record(business_type)
    meta = build_metadata(business_type, business_data(), record)
    d = meta.as_dict()
    assert d["ZZMC"] == "营业执照"
    assert d["ZZLXDM"] == business_type.type_code
    assert d["ZZBS"] == record.identifier
    assert d["ZZBFJGDM"] == ISSUER_USCC
    assert d["ZZBFRQ"] == "2024-05-20"
    assert d["CZZT"] == "天津市示例科技有限公司"
    assert d["CZZTDM"] == COMPANY_USCC
    assert (d["CZZTDMLX"], d["CZZTDMLXDM"]) == ("统一社会信用代码", "001")
    assert d["ZZYXQQSRQ"] == "2015-03-18"
    assert "ZZYXQJZRQ" not in d  # open-ended: left out by default
    assert d["ZZQZSJ"] == "2024-05-20 10:03:04"  # Beijing time
    assert d["ZZQZMC"] == "天津市示例行政审批局电子证照专用章"
    assert d["KZ_ZCZB"] == "100.00"
    assert d["KZ_LX"] == "有限责任公司（自然人投资或控股）"
    assert "ZZZT" not in d
    names = list(d)
    core = [n for n in names if not n.startswith("KZ_")]
    assert core == [n for n in CORE_ELEMENTS if n in d]
    assert names[len(core) :] == [e for e, _ in business_type.metadata]


def test_open_ended_value_is_configurable(business_type: LicenseType) -> None:
    meta = build_metadata(business_type, business_data(), business_record(business_type), open_ended_value="长期")
    assert meta.get("ZZYXQJZRQ") == "长期"


def test_optional_elements_left_out_when_absent(business_type: LicenseType) -> None:
    record = business_record(business_type, seal_name=None, signer=None, signing_time=None)
    data = {**business_data(), "registered_capital": ""}
    d = build_metadata(business_type, data, record).as_dict()
    for name in ("ZZQZR", "ZZQZSJ", "ZZQZMC", "KZ_ZCZB"):
        assert name not in d


def test_status_only_when_given(business_type: LicenseType) -> None:
    record = business_record(business_type, status="有效")
    assert build_metadata(business_type, business_data(), record).get("ZZZT") == "有效"


def test_person_licence_metadata(person_type: LicenseType) -> None:
    data = validate_data(person_type, person_data())
    validity = compute_validity(person_type, data, date(2024, 6, 1))
    record = LicenseRecord(
        identifier=str(IdentifierParts(person_type.type_code, ISSUER_USCC, "7")),
        number="S000012000001234",
        issuer_name="天津市示例职业技能鉴定中心",
        issuer_code=ISSUER_USCC,
        issue_date=date(2024, 6, 1),
        holder_name="王小明",
        holder_code=PERSON_ID,
        holder_code_type=HolderCodeType.CITIZEN_ID,
        valid_from=validity.valid_from,
        valid_to=validity.valid_to,
    )
    d = build_metadata(person_type, data, record).as_dict()
    assert (d["CZZTDMLX"], d["CZZTDMLXDM"]) == ("公民身份号码", "111")
    assert d["KZ_ZY"] == "电工"
    assert d["KZ_DJ"] == "三级/高级工"


def test_record_must_agree_with_type_and_data(food_type: LicenseType, business_type: LicenseType) -> None:
    data = food_data()
    good = LicenseRecord(
        identifier=str(IdentifierParts(food_type.type_code, ISSUER_USCC, "1")),
        number="JY21201030012345",
        issuer_name="天津市示例行政审批局",
        issuer_code=ISSUER_USCC,
        issue_date=date(2024, 6, 1),
        holder_name="天津市示例餐饮管理有限公司",
        holder_code=RESTAURANT_USCC,
        holder_code_type=HolderCodeType.USCC,
        valid_from=date(2024, 6, 1),
        valid_to=date(2029, 5, 31),
    )
    assert build_metadata(food_type, data, good).get("ZZBH") == "JY21201030012345"
    bad = replace(
        good,
        identifier=str(IdentifierParts(business_type.type_code, COMPANY_USCC, "1")),
        number="JY21201030099999",
        holder_name="别的公司",
        holder_code=COMPANY_USCC,
        valid_to=date(2030, 1, 1),
    )
    with pytest.raises(InvalidLicenseData) as err:
        build_metadata(food_type, data, bad)
    assert [e.field for e in err.value.errors] == [
        "identifier",
        "identifier",
        "holder_name",
        "holder_code",
        "number",
        "valid_to",
    ]
    assert all(e.code == "mismatch" for e in err.value.errors)
    with pytest.raises(InvalidLicenseData) as err:
        build_metadata(food_type, data, replace(good, holder_code_type=HolderCodeType.CITIZEN_ID))
    assert err.value.fields == ("holder_code",)  # the record itself: a USCC is not a citizen ID
    with pytest.raises(InvalidLicenseData) as err:
        build_metadata(
            food_type, data, replace(good, holder_code_type=HolderCodeType.CITIZEN_ID, holder_code=PERSON_ID)
        )
    assert err.value.fields == ("holder_code_type", "holder_code")


def test_record_is_validated_at_construction(business_type: LicenseType) -> None:
    with pytest.raises(InvalidLicenseData) as err:
        business_record(
            business_type,
            identifier="1.2.156.3005.2.x",
            number=" ",
            issuer_code="123",
            holder_code="91120101MA06A0007X",
            valid_from=date(2030, 1, 1),
            valid_to=date(2029, 1, 1),
            signer=" 前后空格 ",
        )
    assert err.value.fields == (
        "identifier",
        "number",
        "issuer_code",
        "holder_code",
        "valid_to",
        "signer",
    )


def test_data_is_validated_too(business_type: LicenseType) -> None:
    with pytest.raises(InvalidLicenseData) as err:
        build_metadata(business_type, {**business_data(), "uscc": "bad"}, business_record(business_type))
    assert "uscc" in err.value.fields


def test_json_export_is_stable_utf8_and_round_trips(business_type: LicenseType) -> None:
    meta = build_metadata(business_type, business_data(), business_record(business_type))
    raw = meta.to_json_bytes()
    assert raw.startswith(b"{") and raw.endswith(b"}\n")
    assert "营业执照".encode() in raw  # UTF-8, not \u escapes
    assert list(json.loads(raw)) == [k for k, _ in meta.elements]
    assert LicenseMetadata.from_json(raw) == meta
    again = build_metadata(business_type, business_data(), business_record(business_type))
    assert again.to_json_bytes() == raw
    assert json.loads(meta.to_json(indent=None)) == meta.as_dict()


def test_metadata_object_refuses_bad_elements() -> None:
    with pytest.raises(ValueError, match="twice"):
        LicenseMetadata((("ZZMC", "a"), ("ZZMC", "b")))
    with pytest.raises(ValueError, match="name"):
        LicenseMetadata((("zzmc", "a"),))
    with pytest.raises(ValueError, match="string"):
        LicenseMetadata((("ZZMC", 1),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="object"):
        LicenseMetadata.from_json("[]")
