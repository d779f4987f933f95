"""Licence types as data: built-ins, JSON round trip, contradictions refused, data validation."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from license_samples import (
    BUSINESS,
    COMPANY_USCC,
    FOOD,
    PERSON_ID,
    QUALIFICATION,
    business_data,
    food_data,
    person_data,
)

from core.clock import frozen
from license.errors import InvalidLicenseData, InvalidLicenseType, UnknownLicenseType
from license.identifier import type_code_problem
from license.layout import QR_MIN_SIDE, Box, Layout, Placement
from license.types import (
    FieldKind,
    FieldSpec,
    HolderKind,
    LicenseType,
    Validity,
    ValidityKind,
    ValidityRule,
    builtin_types,
    compute_validity,
    get_builtin_type,
    validate_data,
)

# ------------------------------------------------------------------------------------ built-ins


def test_three_builtin_types_with_valid_demo_type_codes() -> None:
    types = builtin_types()
    assert set(types) == {BUSINESS, FOOD, QUALIFICATION}
    assert types[BUSINESS].name == "营业执照"
    assert types[FOOD].name == "食品经营许可证"
    assert types[QUALIFICATION].name == "职业资格证书"
    assert types[BUSINESS].holder_kind is HolderKind.ENTITY
    assert types[FOOD].holder_kind is HolderKind.ENTITY
    assert types[QUALIFICATION].holder_kind is HolderKind.PERSON
    for code in types:
        assert type_code_problem(code) is None


def test_builtin_business_licence_has_the_expected_fields() -> None:
    labels = [f.label_zh for f in get_builtin_type(BUSINESS).fields]
    for label in (
        "名称",
        "统一社会信用代码",
        "类型",
        "法定代表人",
        "经营范围",
        "注册资本",
        "成立日期",
        "住所",
    ):
        assert label in labels
    labels = [f.label_zh for f in get_builtin_type(FOOD).fields]
    for label in (
        "经营者名称",
        "统一社会信用代码",
        "经营场所",
        "主体业态",
        "经营项目",
        "许可证编号",
        "有效期至",
    ):
        assert label in labels


def test_unknown_type_code() -> None:
    with pytest.raises(UnknownLicenseType) as err:
        get_builtin_type("111200000000010116999")
    assert err.value.type_code == "111200000000010116999"


@pytest.mark.parametrize("code", [BUSINESS, FOOD, QUALIFICATION])
def test_json_round_trip(code: str) -> None:
    t = get_builtin_type(code)
    again = LicenseType.from_json(t.to_json())
    assert again == t
    assert again.to_json() == t.to_json()
    assert LicenseType.from_dict(json.loads(t.to_json())) == t
    assert "营业执照" in get_builtin_type(BUSINESS).to_json()  # UTF-8 kept, not \\u escapes


def test_types_are_immutable(business_type: LicenseType) -> None:
    with pytest.raises(AttributeError):
        business_type.name = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        business_type.fields[0].required = False  # type: ignore[misc]


# --------------------------------------------------------------------------- contradictions

Mutator = Callable[[dict[str, Any]], None]


def _field(d: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in d["fields"] if f["key"] == key)


def _placement(d: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in d["layout"]["placements"] if p.get("field") == key)


def _set(path: list[str | int], value: Any) -> Mutator:
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value

    return mutate


CONTRADICTIONS: list[tuple[str, Mutator, str]] = [
    ("duplicate key", lambda d: d["fields"].append(copy.deepcopy(d["fields"][0])), "fields[9].key"),
    ("duplicate label", lambda d: _field(d, "address").update(label_zh="名称"), "fields"),
    ("layout names unknown field", lambda d: _placement(d, "name").update(field="nom"), "layout.placements"),
    (
        "field not placed",
        lambda d: d["layout"]["placements"].remove(_placement(d, "address")),
        "layout.placements",
    ),
    (
        "field placed twice",
        lambda d: d["layout"]["placements"].append(copy.deepcopy(_placement(d, "name"))),
        "layout.placements[13]",
    ),
    ("seal box off the page", _set(["layout", "seal"], [780, 100, 120, 120]), "layout.seal"),
    ("seal box in the margin", _set(["layout", "seal"], [10, 100, 120, 120]), "layout.seal"),
    ("seal box over a field", _set(["layout", "seal"], [470, 300, 120, 120]), "layout.seal"),
    ("seal box over the QR code", _set(["layout", "seal"], [600, 400, 120, 120]), "layout.qr"),
    ("seal box too small", _set(["layout", "seal"], [680, 100, 40, 40]), "layout.seal"),
    ("QR code too small", _set(["layout", "qr"], [684, 424, 60, 60]), "layout.qr"),
    ("QR code not square", _set(["layout", "qr"], [684, 424, 120, 100]), "layout.qr"),
    ("box with negative size", _set(["layout", "qr"], [684, 424, -120, 120]), "layout.qr"),
    ("box not four numbers", _set(["layout", "qr"], [684, 424, 120]), "layout.qr"),
    ("unknown page size", _set(["layout", "page_size"], "Letter"), "layout.page_size"),
    ("bad colour", _set(["layout", "accent_color"], "red"), "layout.accent_color"),
    ("margin too small for the border", _set(["layout", "margin"], 10), "layout.margin"),
    ("label leaves no room", lambda d: _placement(d, "name").update(label_width=400), "layout.placements[2]"),
    (
        "no label but label width",
        lambda d: _placement(d, "name").update(label="", label_width=20),
        "layout.placements[2].label_width",
    ),
    (
        "placement with field and record",
        lambda d: _placement(d, "name").update(record="number"),
        "layout.placements[2]",
    ),
    (
        "unknown record slot",
        lambda d: d["layout"]["placements"][0].update(record="holder"),
        "layout.placements[0]",
    ),
    (
        "font too large",
        lambda d: _placement(d, "name").update(font_size=100),
        "layout.placements[2].font_size",
    ),
    (
        "entity holder code is an ID number",
        lambda d: _field(d, "uscc").update(kind="id_number"),
        "holder_code_field",
    ),
    ("person holder on an entity type", _set(["holder_kind"], "person"), "holder_code_field"),
    ("holder name field missing", _set(["holder_name_field"], "company"), "holder_name_field"),
    ("holder name optional", lambda d: _field(d, "name").update(required=False), "holder_name_field"),
    ("number field is a date", _set(["number_field"], "established_on"), "number_field"),
    ("validity end is not a date", _set(["validity", "to_field"], "name"), "validity.to_field"),
    ("validity end missing", _set(["validity"], {"kind": "from_fields"}), "validity.to_field"),
    ("years without fixed_years", _set(["validity", "years"], 5), "validity.years"),
    ("fixed_years without years", _set(["validity"], {"kind": "fixed_years"}), "validity.years"),
    (
        "open_ended with fields",
        _set(["validity"], {"kind": "open_ended", "to_field": "term_until"}),
        "validity.from_field",
    ),
    ("same start and end", _set(["validity", "from_field"], "term_until"), "validity.from_field"),
    ("date order on text", _set(["date_order"], [["name", "established_on"]]), "date_order[0]"),
    (
        "date order cycle",
        lambda d: d.update(date_order=[["established_on", "term_until"], ["term_until", "established_on"]]),
        "date_order",
    ),
    ("metadata unknown field", lambda d: d["metadata"].update(KZ_X="nope"), "metadata.KZ_X"),
    ("metadata bad element name", lambda d: d["metadata"].update(ZZX="address"), "metadata[6]"),
    ("metadata field twice", lambda d: d["metadata"].update(KZ_DZ="address"), "metadata.KZ_DZ"),
    ("field without metadata", lambda d: d["metadata"].pop("KZ_ZS"), "metadata"),
    ("text without max_length", lambda d: _field(d, "name").pop("max_length"), "fields[1].max_length"),
    ("pattern on a date", lambda d: _field(d, "established_on").update(pattern="x"), "fields[6].pattern"),
    ("broken regex", lambda d: _field(d, "name").update(pattern="(["), "fields[1].pattern"),
    ("enum without options", lambda d: _field(d, "company_type").update(options=[]), "fields[2].options"),
    (
        "enum options twice",
        lambda d: _field(d, "company_type").update(options=["a", "a"]),
        "fields[2].options",
    ),
    ("unit on text", lambda d: _field(d, "name").update(unit="元"), "fields[1].unit"),
    (
        "money below zero",
        lambda d: _field(d, "registered_capital").update(min_value=-1),
        "fields[5].min_value",
    ),
    (
        "min above max",
        lambda d: _field(d, "registered_capital").update(min_value=10, max_value=1),
        "fields[5].min_value",
    ),
    ("bad field key", lambda d: _field(d, "name").update(key="Name"), "fields[1].key"),
    ("unknown kind", lambda d: _field(d, "name").update(kind="string"), "fields[1].kind"),
    ("typo in a key", lambda d: _field(d, "name").update(requird=True), "fields[1]"),
    ("wrong value type", lambda d: _field(d, "name").update(required="yes"), "fields[1].required"),
    ("unknown top-level key", _set(["colour"], "red"), ""),
    ("type code check character", _set(["type_code"], "111200000000010117001"), "type_code"),
    ("type code too short", _set(["type_code"], "11120000000001011600"), "type_code"),
    ("future format", _set(["format"], 2), "format"),
    ("empty seal reference", _set(["seal_ref"], " "), "seal_ref"),
    ("no fields", lambda d: d.update(fields=[], metadata={}), "fields"),
]


@pytest.mark.parametrize(
    ("mutate", "path"), [(m, p) for _, m, p in CONTRADICTIONS], ids=[name for name, _, _ in CONTRADICTIONS]
)
def test_contradictory_types_cannot_be_built(base_business_dict: dict[str, Any], mutate: Mutator, path: str) -> None:
    LicenseType.from_dict(base_business_dict)  # the base is fine
    mutate(base_business_dict)
    with pytest.raises(InvalidLicenseType) as err:
        LicenseType.from_dict(base_business_dict)
    assert err.value.path.startswith(path), (err.value.path, err.value.reason)
    assert err.value.reason


def test_not_json() -> None:
    with pytest.raises(InvalidLicenseType, match="not valid JSON"):
        LicenseType.from_json("{")
    with pytest.raises(InvalidLicenseType, match="JSON object"):
        LicenseType.from_json("[]")


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidLicenseType, match="pattern"):
        FieldSpec("x", "甲", "x", FieldKind.DATE, pattern="a")
    with pytest.raises(InvalidLicenseType, match="years"):
        ValidityRule(ValidityKind.FIXED_YEARS, years=0)
    with pytest.raises(InvalidLicenseType):
        Box(0, 0, 0, 10)
    with pytest.raises(InvalidLicenseType, match="square"):
        Layout(
            "A4",
            "证",
            Box(100, 700, 200, 50),
            Box(100, 100, QR_MIN_SIDE, QR_MIN_SIDE + 5),
            Box(300, 100, 100, 100),
            (Placement("a", Box(100, 400, 300, 30)),),
        )


# ------------------------------------------------------------------------------- validate_data


def test_valid_business_data_is_normalised(business_type: LicenseType) -> None:
    data = business_data()
    data.update(
        uscc=" ９１１２０１０１ma06a0007u ",  # full-width digits, lower case, spaces
        registered_capital="1,000.5",
        established_on="2015年3月18日",
        name="  天津市示例科技有限公司\u3000",
    )
    out = validate_data(business_type, data)
    assert out["uscc"] == COMPANY_USCC
    assert out["registered_capital"] == "1000.50"
    assert out["established_on"] == "2015-03-18"
    assert out["name"] == "天津市示例科技有限公司"
    assert "term_until" not in out  # empty optional end date: open-ended
    assert list(out) == [f.key for f in business_type.fields if f.key in out]


@pytest.mark.parametrize(
    "spelling", ["2015-03-18", "2015/3/18", "2015.03.18", "20150318", "2015年03月18日", "２０１５-０３-１８"]
)
def test_date_spellings(business_type: LicenseType, spelling: str) -> None:
    out = validate_data(business_type, {**business_data(), "established_on": spelling})
    assert out["established_on"] == "2015-03-18"


def test_date_objects_accepted_datetimes_refused(business_type: LicenseType) -> None:
    out = validate_data(business_type, {**business_data(), "established_on": date(2015, 3, 18)})
    assert out["established_on"] == "2015-03-18"
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(business_type, {**business_data(), "established_on": datetime(2015, 3, 18)})
    assert err.value.errors[0].code == "bad_type"


def test_all_field_errors_are_collected_at_once(business_type: LicenseType) -> None:
    data = business_data()
    data.update(
        uscc="91120101MA06A0007X",  # wrong check character
        name="名" * 61,  # too long
        company_type="有限公司",  # not an option
        legal_representative=None,  # missing
        registered_capital="-5",  # bad format
        established_on="2015-02-30",  # not a date
        address="天津\u202e市",  # bidi override
        colour="red",  # unknown field
    )
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(business_type, data)
    got = {(e.field, e.code) for e in err.value.errors}
    assert got == {
        ("uscc", "bad_check_digit"),
        ("name", "too_long"),
        ("company_type", "not_an_option"),
        ("legal_representative", "missing"),
        ("registered_capital", "bad_format"),
        ("established_on", "bad_date"),
        ("address", "bad_format"),
        ("colour", "unknown_field"),
    }
    assert err.value.extra["errors"][0].keys() == {"field", "code", "message"}
    assert "91120101MA06A0007X" not in str(err.value)  # values are not echoed


def test_dates_out_of_order(business_type: LicenseType) -> None:
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(business_type, {**business_data(), "term_until": "2010-01-01"})
    assert [(e.field, e.code) for e in err.value.errors] == [("term_until", "date_order")]


def test_declared_date_order_constraint(base_business_dict: dict[str, Any]) -> None:
    base_business_dict["fields"].append(
        {
            "key": "approved_on",
            "label_zh": "核准日期",
            "label_en": "Approved on",
            "kind": "date",
            "required": False,
        }
    )
    base_business_dict["metadata"]["KZ_HZRQ"] = "approved_on"
    base_business_dict["layout"]["placements"].append({"field": "approved_on", "box": [470, 200, 200, 24]})
    base_business_dict["date_order"] = [["established_on", "approved_on"]]
    t = LicenseType.from_dict(base_business_dict)
    assert validate_data(t, {**business_data(), "approved_on": "2016-01-01"})["approved_on"] == "2016-01-01"
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(t, {**business_data(), "approved_on": "2014-01-01"})
    assert [(e.field, e.code) for e in err.value.errors] == [("approved_on", "date_order")]


def test_not_in_future_uses_the_clock(business_type: LicenseType) -> None:
    data = {**business_data(), "established_on": "2030-01-02"}
    with frozen(datetime(2030, 1, 1, 16, 30)):  # 2030-01-02 00:30 in Beijing
        assert validate_data(business_type, data)["established_on"] == "2030-01-02"
    with frozen(datetime(2030, 1, 1, 15, 30)), pytest.raises(InvalidLicenseData) as err:  # 23:30 in Beijing
        validate_data(business_type, data)
    assert err.value.errors[0].code == "in_future"


def test_open_ended_word_only_where_allowed(business_type: LicenseType, food_type: LicenseType) -> None:
    assert "term_until" not in validate_data(business_type, {**business_data(), "term_until": "长期"})
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(food_type, {**food_data(), "valid_until": "长期"})
    assert [(e.field, e.code) for e in err.value.errors] == [("valid_until", "missing")]
    assert "长期" in err.value.errors[0].message


def test_pattern_and_enum_in_food_licence(food_type: LicenseType) -> None:
    assert validate_data(food_type, food_data())["licence_no"] == "JY21201030012345"
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(food_type, {**food_data(), "licence_no": "JY4120103001234", "main_format": "小吃"})
    assert {(e.field, e.code) for e in err.value.errors} == {
        ("licence_no", "bad_format"),
        ("main_format", "not_an_option"),
    }


def test_person_licence_checks_the_citizen_id(person_type: LicenseType) -> None:
    out = validate_data(person_type, {**person_data(), "id_number": PERSON_ID.lower()})
    assert out["id_number"] == PERSON_ID
    bad = PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(person_type, {**person_data(), "id_number": bad})
    assert err.value.errors[0].code == "bad_check_digit"
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(person_type, {**person_data(), "id_number": "120101199002301234"})
    assert err.value.errors[0].code == "bad_format"  # 30 February


def test_multiline_only_where_declared(business_type: LicenseType) -> None:
    out = validate_data(business_type, {**business_data(), "business_scope": "一般项目：\r\n软件开发"})
    assert out["business_scope"] == "一般项目：\n软件开发"
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(business_type, {**business_data(), "name": "天津\n公司"})
    assert err.value.errors[0].field == "name"


def test_integer_and_money_values(base_business_dict: dict[str, Any]) -> None:
    base_business_dict["fields"].append(
        {
            "key": "staff",
            "label_zh": "从业人数",
            "label_en": "Staff",
            "kind": "integer",
            "required": False,
            "min_value": 1,
            "max_value": 100000,
        }
    )
    base_business_dict["metadata"]["KZ_CYRS"] = "staff"
    base_business_dict["layout"]["placements"].append({"field": "staff", "box": [470, 200, 200, 24]})
    t = LicenseType.from_dict(base_business_dict)
    out = validate_data(t, {**business_data(), "staff": "１２", "registered_capital": 3})
    assert out["staff"] == 12
    assert out["registered_capital"] == "3.00"
    cases: list[tuple[Any, Any, set[tuple[str, str]]]] = [
        (0, "1.234", {("staff", "out_of_range"), ("registered_capital", "bad_format")}),
        (True, 1.5, {("staff", "bad_type")}),
        ("3.5", [1], {("staff", "bad_format"), ("registered_capital", "bad_type")}),
    ]
    for staff, capital, expected in cases:
        with pytest.raises(InvalidLicenseData) as err:
            validate_data(t, {**business_data(), "staff": staff, "registered_capital": capital})
        assert {(e.field, e.code) for e in err.value.errors} == expected


def test_non_string_text_is_refused(business_type: LicenseType) -> None:
    with pytest.raises(InvalidLicenseData) as err:
        validate_data(business_type, {**business_data(), "name": 42})
    assert err.value.errors[0].code == "bad_type"


# ------------------------------------------------------------------------------------ validity


def test_validity_from_fields(business_type: LicenseType, food_type: LicenseType) -> None:
    data = validate_data(business_type, business_data())
    v = compute_validity(business_type, data, date(2024, 5, 1))
    assert v == Validity(date(2015, 3, 18), None)
    assert v.open_ended
    assert v.display_zh() == "2015年03月18日 至 长期"
    data = validate_data(business_type, {**business_data(), "term_until": "2045-03-17"})
    assert compute_validity(business_type, data, date(2024, 5, 1)).valid_to == date(2045, 3, 17)

    food = validate_data(food_type, food_data())
    v = compute_validity(food_type, food, date(2024, 6, 1))
    assert (v.valid_from, v.valid_to) == (date(2024, 6, 1), date(2029, 5, 31))
    with pytest.raises(InvalidLicenseData) as err:
        compute_validity(food_type, food, date(2030, 1, 1))  # expires before it is issued
    assert err.value.errors[0].code == "date_order"


def test_validity_open_ended_person(person_type: LicenseType) -> None:
    data = validate_data(person_type, person_data())
    assert compute_validity(person_type, data, date(2024, 1, 2)) == Validity(date(2024, 1, 2), None)


@pytest.mark.parametrize(
    ("issued", "years", "until"),
    [
        (date(2024, 5, 1), 5, date(2029, 4, 30)),
        (date(2024, 1, 1), 1, date(2024, 12, 31)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 28)),
        (date(2023, 3, 1), 1, date(2024, 2, 29)),
    ],
)
def test_validity_fixed_years(base_business_dict: dict[str, Any], issued: date, years: int, until: date) -> None:
    base_business_dict["validity"] = {"kind": "fixed_years", "years": years}
    base_business_dict["metadata"]["KZ_YYQX"] = "term_until"
    t = LicenseType.from_dict(base_business_dict)
    assert t.validity.kind is ValidityKind.FIXED_YEARS
    assert not t.open_ended_allowed
    data = validate_data(t, business_data())
    assert compute_validity(t, data, issued) == Validity(issued, until)
