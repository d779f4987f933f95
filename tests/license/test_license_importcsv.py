"""Bulk import of historical licences from CSV: encodings, header checks, per-row results."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from license_samples import BUSINESS, COMPANY_USCC, ISSUER_USCC, PERSON_ID, RESTAURANT_USCC

from core.clock import frozen
from license import importcsv
from license.errors import ImportFileError
from license.identifier import IdentifierParts
from license.importcsv import Column, decode_csv_bytes, open_csv_import
from license.metadata import HolderCodeType
from license.types import LicenseType

HEADER = [
    "证照类型代码",
    "证照编号",
    "名称",
    "统一社会信用代码",
    "颁发日期",
    "成立日期",
    "营业期限至",
    "类型",
    "法定代表人",
    "经营范围",
    "注册资本",
    "住所",
]


def business_row(number: str = "120101000000001", **changes: str) -> list[str]:
    row = {
        "证照类型代码": BUSINESS,
        "证照编号": number,
        "名称": "天津市示例科技有限公司",
        "统一社会信用代码": COMPANY_USCC,
        "颁发日期": "2016/3/1",
        "成立日期": "2015年3月18日",
        "营业期限至": "长期",
        "类型": "有限责任公司",
        "法定代表人": "张三",
        "经营范围": "技术开发；技术咨询",
        "注册资本": "1,000",
        "住所": "天津市和平区示例路1号",
    }
    row.update(changes)
    return [row[h] for h in HEADER]


def to_csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


GOOD_ROWS = [
    business_row("120101000000001"),
    business_row(
        "120101000000002",
        名称="天津市示例贸易有限公司",
        统一社会信用代码=RESTAURANT_USCC,
        营业期限至="2035-03-17",
    ),
    business_row("120101000000003", 注册资本=""),
]


@pytest.mark.parametrize(
    ("encode", "expected_encoding"),
    [
        (lambda s: s.encode("utf-8"), "utf-8"),
        (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), "utf-8-sig"),
        (lambda s: s.encode("gbk"), "gb18030"),
        (lambda s: s.encode("gb18030"), "gb18030"),
    ],
    ids=["utf-8", "utf-8-bom", "gbk", "gb18030"],
)
def test_encodings(business_type: LicenseType, encode: Any, expected_encoding: str) -> None:
    imp = open_csv_import(encode(to_csv(GOOD_ROWS)), business_type)
    assert imp.encoding == expected_encoding
    results = list(imp)
    assert [r.ok for r in results] == [True, True, True], [r.errors for r in results]
    first = results[0].record
    assert first is not None
    assert first.key == f"{BUSINESS}:120101000000001"
    assert first.holder_name == "天津市示例科技有限公司"
    assert first.holder_code == COMPANY_USCC
    assert first.holder_code_type is HolderCodeType.USCC
    assert first.issue_date == date(2016, 3, 1)
    assert (first.valid_from, first.valid_to) == (date(2015, 3, 18), None)
    assert first.data["registered_capital"] == "1000.00"
    assert first.data["name"] == first.holder_name
    assert results[1].record is not None and results[1].record.valid_to == date(2035, 3, 17)
    assert results[2].record is not None and "registered_capital" not in results[2].record.data
    assert [r.row_number for r in results] == [2, 3, 4]


def test_reads_from_a_path(business_type: LicenseType, tmp_path: Path) -> None:
    path = tmp_path / "import.csv"
    path.write_bytes(to_csv(GOOD_ROWS).encode("gbk"))
    assert sum(r.ok for r in open_csv_import(path, business_type)) == 3


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            to_csv(GOOD_ROWS).encode("utf-8")[:-40] + b"\xff" + to_csv(GOOD_ROWS).encode("utf-8")[-40:],
            "neither UTF-8",
        ),
        (to_csv(GOOD_ROWS).encode("utf-8") + "名称".encode("gbk"), "neither UTF-8"),  # mixed encodings
        (b"\xef\xbb\xbf" + to_csv(GOOD_ROWS).encode("gbk"), "byte order mark"),
        (to_csv(GOOD_ROWS).encode("utf-16"), "UTF-16"),
        (b"type_code,number\x00\r\n", "NUL"),
        (b"", "empty"),
        (b" \r\n\r\n", "empty"),
    ],
    ids=["stray-byte", "utf8-then-gbk", "bom-then-gbk", "utf-16", "nul", "empty", "blank"],
)
def test_undecodable_files_are_refused(business_type: LicenseType, data: bytes, match: str) -> None:
    with pytest.raises(ImportFileError, match=match) as err:
        open_csv_import(data, business_type)
    assert err.value.reason in {"encoding", "empty"}


def test_decode_prefers_utf8() -> None:
    assert decode_csv_bytes("名称".encode()) == ("名称", "utf-8")
    assert decode_csv_bytes("名称".encode("gbk")) == ("名称", "gb18030")


def test_missing_columns_are_named_before_any_row(business_type: LicenseType) -> None:
    header = [h for h in HEADER if h not in {"法定代表人", "证照编号", "营业期限至"}]
    rows = [[c for h, c in zip(HEADER, business_row(), strict=True) if h in header]]
    with pytest.raises(ImportFileError) as err:
        open_csv_import(to_csv(rows, header).encode(), business_type)
    assert err.value.reason == "missing_columns"
    assert err.value.columns == (
        "证照编号 (number)",
        "营业期限至 / 有效期截止日期 (valid_to)",
        "法定代表人 (legal_representative)",
    )
    assert "法定代表人" in str(err.value)


def test_optional_field_columns_may_be_absent(business_type: LicenseType) -> None:
    header = [h for h in HEADER if h != "注册资本"]
    rows = [[c for h, c in zip(HEADER, business_row(), strict=True) if h != "注册资本"]]
    [result] = list(open_csv_import(to_csv(rows, header).encode(), business_type))
    assert result.ok


def test_columns_by_key_or_element_name_and_unknown_columns(business_type: LicenseType) -> None:
    header = [
        "ZZLXDM",
        "number",
        "持证主体",
        "CZZTDM",
        "issue_date",
        "ZZYXQQSRQ",
        "valid_to",
        "company_type",
        "LEGAL_REPRESENTATIVE",
        "business_scope",
        "registered_capital",
        "住所",
        "序号",
    ]
    imp = open_csv_import(to_csv([[*business_row(), "1"]], header).encode(), business_type)
    assert imp.unknown_columns == ("序号",)
    assert imp.columns[Column.HOLDER_NAME.value] == "持证主体"
    assert imp.columns["field:legal_representative"] == "LEGAL_REPRESENTATIVE"
    [result] = list(imp)
    assert result.ok, result.errors


def test_one_column_under_two_names_is_refused(business_type: LicenseType) -> None:
    header = [*HEADER, "持证主体"]  # 名称 is already the holder name
    with pytest.raises(ImportFileError) as err:
        open_csv_import(to_csv([[*business_row(), "x"]], header).encode(), business_type)
    assert err.value.reason == "duplicate_columns"
    assert set(err.value.columns) == {"名称", "持证主体"}


def test_ambiguous_type_is_refused(base_business_dict: dict[str, Any]) -> None:
    for f in base_business_dict["fields"]:
        if f["key"] == "address":
            f["label_zh"] = "证照编号"  # clashes with the standard number column
    t = LicenseType.from_dict(base_business_dict)
    with pytest.raises(ImportFileError) as err:
        open_csv_import(to_csv([]).encode(), t)
    assert err.value.reason == "ambiguous_columns"


def test_bad_rows_among_good_rows(business_type: LicenseType) -> None:
    rows = [
        business_row("120101000000001"),
        business_row("120101000000002", 证照类型代码="111200000000010116002"),
        business_row("120101000000003", 统一社会信用代码="91120101MA06A0007X", 类型="公司"),
        business_row(""),
        business_row("120101000000005", 颁发日期="2016-02-30", 成立日期="2015-13-01"),
        business_row("120101000000001"),  # duplicate of row 2
        business_row("120101000000007", 营业期限至="2010-01-01"),
        business_row("120101000000008")[:5],  # short row
        business_row("120101000000009", 颁发日期="2099-01-01"),
        business_row("120101000000010", 名称="", 法定代表人="名" * 31),
        business_row("120101000000011"),
        [*business_row("120101000000012"), "", " "],  # trailing empty cells are fine
        [*business_row("120101000000013"), "", "x"],  # but not extra values
    ]
    with frozen(datetime(2024, 6, 1)):
        results = list(open_csv_import(to_csv(rows).encode(), business_type))
    assert [r.row_number for r in results] == list(range(2, 15))
    assert [r.ok for r in results] == [True] + [False] * 9 + [True, True, False]
    got = {r.row_number: {(e.field, e.code) for e in r.errors} for r in results}
    assert got[3] == {("证照类型代码", "mismatch")}
    assert got[4] == {("统一社会信用代码", "bad_check_digit"), ("类型", "not_an_option")}
    assert got[5] == {("证照编号", "missing")}
    assert got[6] == {("颁发日期", "bad_date"), ("成立日期", "bad_date")}
    assert got[7] == {("证照编号", "duplicate")}
    assert got[8] == {("营业期限至", "date_order")}
    assert ("", "bad_format") in got[9]
    assert got[10] == {("颁发日期", "in_future")}
    assert got[11] == {("名称", "missing"), ("法定代表人", "too_long")}
    assert got[14] == {("", "bad_format")}
    assert results[5].key == f"{BUSINESS}:120101000000001"  # a key even for a bad row
    assert results[3].key is None
    assert "row 2" in results[5].errors[0].message


def test_multiline_cells_and_blank_rows(business_type: LicenseType) -> None:
    text = to_csv(
        [
            business_row("120101000000001", 经营范围="一般项目：\n技术开发；\n技术咨询"),
            [""] * len(HEADER),
            business_row("120101000000002"),
        ]
    )
    text += "\r\n,,,\r\n"
    results = list(open_csv_import(text.encode(), business_type))
    assert [(r.row_number, r.line_number, r.ok) for r in results] == [(2, 2, True), (3, 6, True)]
    assert results[0].record is not None
    assert results[0].record.data["business_scope"] == "一般项目：\n技术开发；\n技术咨询"


def test_open_ended_where_allowed(person_type: LicenseType, food_type: LicenseType) -> None:
    header = [
        "证照类型代码",
        "证照编号",
        "姓名",
        "公民身份号码",
        "颁发日期",
        "有效期起始日期",
        "有效期截止日期",
        "职业（工种）",
        "等级",
    ]
    base = [person_type.type_code, "S000012000001234", "王小明", PERSON_ID, "2020-01-01", "2020-01-01"]
    rows = [
        [*base, "", "电工", "三级/高级工"],
        [*base[:1], "S000012000001235", *base[2:], "长期", "电工", "三级/高级工"],
        [*base[:1], "S000012000001236", *base[2:], "2019-12-31", "电工", "三级/高级工"],
    ]
    results = list(open_csv_import(to_csv(rows, header).encode(), person_type))
    assert [r.ok for r in results] == [True, True, False]
    assert results[0].record is not None and results[0].record.valid_to is None
    assert results[0].record.holder_code_type is HolderCodeType.CITIZEN_ID
    assert {(e.field, e.code) for e in results[2].errors} == {("有效期截止日期", "date_order")}

    header = [
        "证照类型代码",
        "许可证编号",
        "经营者名称",
        "统一社会信用代码",
        "颁发日期",
        "有效期起始日期",
        "有效期至",
        "法定代表人（负责人）",
        "经营场所",
        "主体业态",
        "经营项目",
    ]
    base = [
        food_type.type_code,
        "JY21201030012345",
        "天津市示例餐饮管理有限公司",
        RESTAURANT_USCC,
        "2020-06-01",
        "2020-06-01",
    ]
    tail = ["李四", "天津市河西区示例大街88号", "餐饮服务经营者", "热食类食品制售"]
    second = [base[0], "JY21201030012346", *base[2:]]
    rows = [[*base, "长期", *tail], [*second, "2025-05-31", *tail]]
    results = list(open_csv_import(to_csv(rows, header).encode(), food_type))
    assert [(e.field, e.code) for e in results[0].errors] == [("有效期至", "missing")]
    assert results[1].errors == ()
    assert results[1].record is not None
    assert results[1].record.number == "JY21201030012346"  # the number column is the 许可证编号 field
    assert results[1].record.data["licence_no"] == "JY21201030012346"
    assert results[1].record.valid_to == date(2025, 5, 31)
    assert results[1].key == f"{food_type.type_code}:JY21201030012346"


def test_identifier_and_issuer_columns(business_type: LicenseType) -> None:
    header = [*HEADER, "证照标识", "颁发机构", "颁发机构代码"]
    good = str(IdentifierParts(BUSINESS, ISSUER_USCC, "2016000001"))
    other_type = str(IdentifierParts("111200000000010116002", ISSUER_USCC, "1"))
    broken = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        [*business_row("1"), good, "天津市示例行政审批局", ISSUER_USCC],
        [*business_row("2"), "", "", ""],
        [*business_row("3"), other_type, "", ""],
        [*business_row("4"), broken, "", ""],
        [*business_row("5"), good, "", COMPANY_USCC],
        [*business_row("6"), "", "", "123"],
    ]
    results = list(open_csv_import(to_csv(rows, header).encode(), business_type))
    assert results[0].record is not None
    assert (results[0].record.identifier, results[0].record.issuer_code) == (good, ISSUER_USCC)
    assert results[1].record is not None and results[1].record.identifier is None
    assert [{(e.field, e.code) for e in r.errors} for r in results[2:]] == [
        {("证照标识", "mismatch")},
        {("证照标识", "bad_format")},
        {("证照标识", "mismatch")},
        {("颁发机构代码", "bad_format")},
    ]


def test_resume_from_a_row(business_type: LicenseType) -> None:
    rows = [business_row(f"12010100000000{i}") for i in range(1, 6)]
    rows.append(business_row("120101000000002"))  # duplicate of a row before the resume point
    imp = open_csv_import(to_csv(rows).encode(), business_type)
    assert imp.count_rows() == 6
    resumed = list(imp.rows(start_row=5))
    assert [r.row_number for r in resumed] == [5, 6, 7]
    assert [r.ok for r in resumed] == [True, True, False]
    assert resumed[-1].errors[0].code == "duplicate"


def test_rows_are_streamed(business_type: LicenseType, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 10_000
    text = to_csv([business_row(f"{i:015d}") for i in range(n)])
    calls = 0
    real = importcsv.validate_data

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(importcsv, "validate_data", counting)
    imp = open_csv_import(text.encode("gbk"), business_type)
    rows = iter(imp)
    first = next(rows)
    assert first.ok and calls == 1  # nothing beyond the first row has been parsed
    ok = sum(r.ok for r in rows)
    assert ok == n - 1 and calls == n
