"""Bulk import of historical licences from CSV (存量证照导入).

One file holds licences of one type. The file is decoded whole (UTF-8 with or without BOM,
else GB18030, which includes GBK: what spreadsheet software in China saves), its header is
checked before any row is read (:class:`ImportFileError` naming every missing column), then
rows are parsed and validated one at a time as the caller iterates, so a 10,000-row file never
has all its parsed rows in memory. Each row yields a :class:`RowResult`: a normalised
:class:`ImportedLicense`, or the list of what is wrong with the row. Every row has a stable
key (type code + licence number) so that an interrupted import can resume and a re-run does
not import a licence twice.

Columns are found by name: the standard record columns by their Chinese name, English key or
GB/T 36903 element name (``证照编号`` / ``number`` / ``ZZBH``), the type's fields by their
Chinese label or key. Where a type field *is* a record value (the holder name field is CZZT,
the number field is ZZBH, validity dates), one column serves both, under either name.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import Final

from license.errors import FieldError, ImportFileError, InvalidLicenseData, MalformedIdentifier
from license.identifier import parse_identifier
from license.metadata import HolderCodeType
from license.types import FieldValue, LicenseType, validate_data
from license.values import (
    OPEN_ENDED_WORDS,
    ValueProblem,
    clean_text,
    parse_date,
    today_in_china,
    uscc_problem,
)

__all__ = [
    "Column",
    "CsvImport",
    "ImportedLicense",
    "RowResult",
    "decode_csv_bytes",
    "open_csv_import",
]


class Column(StrEnum):
    """Record columns of an import file (besides the type's own fields)."""

    TYPE_CODE = "type_code"
    NUMBER = "number"
    HOLDER_NAME = "holder_name"
    HOLDER_CODE = "holder_code"
    ISSUE_DATE = "issue_date"
    VALID_FROM = "valid_from"
    VALID_TO = "valid_to"
    IDENTIFIER = "identifier"
    ISSUER_NAME = "issuer_name"
    ISSUER_CODE = "issuer_code"


#: Accepted header names per record column: Chinese name first (used in messages).
STANDARD_HEADERS: Final[Mapping[Column, tuple[str, ...]]] = {
    Column.TYPE_CODE: ("证照类型代码", "type_code", "ZZLXDM"),
    Column.NUMBER: ("证照编号", "number", "ZZBH"),
    Column.HOLDER_NAME: ("持证主体", "holder_name", "CZZT"),
    Column.HOLDER_CODE: ("持证主体代码", "holder_code", "CZZTDM"),
    Column.ISSUE_DATE: ("颁发日期", "发证日期", "issue_date", "ZZBFRQ"),
    Column.VALID_FROM: ("有效期起始日期", "valid_from", "ZZYXQQSRQ"),
    Column.VALID_TO: ("有效期截止日期", "valid_to", "ZZYXQJZRQ"),
    Column.IDENTIFIER: ("证照标识", "identifier", "ZZBS"),
    Column.ISSUER_NAME: ("颁发机构", "issuer_name", "ZZBFJG"),
    Column.ISSUER_CODE: ("颁发机构代码", "issuer_code", "ZZBFJGDM"),
}
OPTIONAL_COLUMNS: Final = frozenset({Column.IDENTIFIER, Column.ISSUER_NAME, Column.ISSUER_CODE})
MAX_NUMBER_LENGTH: Final = 64

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Decode an import file: strict UTF-8 (BOM allowed), else strict GB18030; ``(text, encoding)``.

    GB18030 is a superset of GBK and GB2312, so GBK files decode too. A short GBK file can
    happen to be valid UTF-8 as well; UTF-8 wins then (there is no way to tell them apart).
    """
    if not data.strip():
        raise ImportFileError("empty", "the file is empty")
    if data.startswith(_UTF16_BOMS):
        raise ImportFileError("encoding", "the file is UTF-16 encoded; save it as CSV in UTF-8 or GBK")
    if data.startswith(_UTF8_BOM):
        try:
            return _no_nul(data[len(_UTF8_BOM) :].decode("utf-8")), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                "encoding",
                f"the file starts with a UTF-8 byte order mark but byte {exc.start + 3} is not UTF-8",
            ) from None
    try:
        return _no_nul(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return _no_nul(data.decode("gb18030")), "gb18030"
        except UnicodeDecodeError as gb_error:
            raise ImportFileError(
                "encoding",
                "the file is neither UTF-8 (first bad byte at offset "
                f"{utf8_error.start}) nor GBK/GB18030 (first bad byte at offset {gb_error.start})",
            ) from None


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ImportFileError("encoding", "the file contains NUL characters: it is not a text CSV file")
    return text


def _norm(header: str) -> str:
    """Header comparison key: NFKC (full-width to ASCII), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", header).strip().casefold()


@dataclass(frozen=True, slots=True)
class ImportedLicense:
    """One historical licence read from a row, normalised and checked against its type."""

    key: str
    type_code: str
    number: str
    holder_name: str
    holder_code: str
    holder_code_type: HolderCodeType
    issue_date: date
    valid_from: date
    valid_to: date | None
    data: Mapping[str, FieldValue]
    identifier: str | None = None
    issuer_name: str | None = None
    issuer_code: str | None = None


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome for one data row.

    ``row_number`` counts records as a spreadsheet shows them (the header is row 1);
    ``line_number`` is the file line where the record starts (they differ when a quoted cell
    holds line breaks). ``key`` is ``type_code:number`` whenever the row has a number, even if
    the row has other errors, so reports and resumption can name it.
    """

    row_number: int
    line_number: int
    key: str | None
    record: ImportedLicense | None
    errors: tuple[FieldError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.record is not None


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where each logical column is in the file and under which header."""

    index: Mapping[str, int]  # logical name (Column value or "field:<key>") -> position
    header: Mapping[str, str]  # logical name -> header text as written in the file
    unknown: tuple[str, ...]


def _field_logical(key: str) -> str:
    return f"field:{key}"


def _linked_fields(license_type: LicenseType) -> dict[str, Column]:
    """Type fields that are also record columns: field key -> record column."""
    linked = {
        license_type.holder_name_field: Column.HOLDER_NAME,
        license_type.holder_code_field: Column.HOLDER_CODE,
    }
    if license_type.number_field is not None:
        linked[license_type.number_field] = Column.NUMBER
    if license_type.validity.from_field is not None:
        linked[license_type.validity.from_field] = Column.VALID_FROM
    if license_type.validity.to_field is not None:
        linked[license_type.validity.to_field] = Column.VALID_TO
    return linked


def _aliases(license_type: LicenseType) -> tuple[dict[str, str], dict[str, str]]:
    """(normalised header -> logical column, logical column -> name shown in messages)."""
    linked = _linked_fields(license_type)
    names: dict[str, list[str]] = {c.value: list(h) for c, h in STANDARD_HEADERS.items()}
    display = {c.value: f"{h[0]} ({c.value})" for c, h in STANDARD_HEADERS.items()}
    for spec in license_type.fields:
        if spec.key in linked:
            names[linked[spec.key].value] += [spec.label_zh, spec.key]
            column = linked[spec.key]
            display[column.value] = f"{spec.label_zh} / {STANDARD_HEADERS[column][0]} ({column.value})"
        else:
            names[_field_logical(spec.key)] = [spec.label_zh, spec.key]
            display[_field_logical(spec.key)] = f"{spec.label_zh} ({spec.key})"
    alias: dict[str, str] = {}
    for logical, headers in names.items():
        for h in headers:
            n = _norm(h)
            if alias.get(n, logical) != logical:
                raise ImportFileError(
                    "ambiguous_columns",
                    f"the header name {h!r} would mean both {display[alias[n]]} and {display[logical]} "
                    f"for {license_type.name}",
                    columns=[h],
                )
            alias[n] = logical
    return alias, display


def _required(license_type: LicenseType) -> list[str]:
    linked = _linked_fields(license_type)
    out = [c.value for c in Column if c not in OPTIONAL_COLUMNS]
    out += [_field_logical(f.key) for f in license_type.fields if f.required and f.key not in linked]
    return out


def _resolve_header(license_type: LicenseType, header: list[str]) -> _Columns:
    alias, display = _aliases(license_type)
    index: dict[str, int] = {}
    shown: dict[str, str] = {}
    unknown: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip()
        if not name:
            continue
        logical = alias.get(_norm(name))
        if logical is None:
            unknown.append(name)
            continue
        if logical in index:
            raise ImportFileError(
                "duplicate_columns",
                f"columns {shown[logical]!r} and {name!r} both give {display[logical]}",
                columns=[shown[logical], name],
            )
        index[logical] = i
        shown[logical] = name
    missing = [display[c] for c in _required(license_type) if c not in index]
    if missing:
        raise ImportFileError(
            "missing_columns",
            f"the file lacks required columns for {license_type.name}: {', '.join(missing)}",
            columns=missing,
        )
    return _Columns(index, shown, tuple(unknown))


class CsvImport:
    """An opened import file: header checked, rows parsed as you iterate.

    ``encoding`` is what the file was decoded as; ``unknown_columns`` lists headers that match
    nothing (ignored; worth showing to the operator, they may be misspelt optional fields).
    Made by :func:`open_csv_import`.
    """

    def __init__(self, license_type: LicenseType, encoding: str, text: str, header: list[str]) -> None:
        self.license_type = license_type
        self.encoding = encoding
        self._text = text
        self._columns = _resolve_header(license_type, header)
        self._width = len(header)
        self.unknown_columns = self._columns.unknown

    def __repr__(self) -> str:
        return f"CsvImport({self.license_type.type_code}, encoding={self.encoding!r})"

    @property
    def columns(self) -> Mapping[str, str]:
        """Logical column (``number``, ``field:address``, ...) -> header as written in the file."""
        return dict(self._columns.header)

    def count_rows(self) -> int:
        """Number of non-blank data rows (one quick pass over the text; for progress bars)."""
        return sum(1 for _, row in self._records() if any(cell.strip() for cell in row)) - 1

    def __iter__(self) -> Iterator[RowResult]:
        return self.rows()

    def rows(self, *, start_row: int = 2) -> Iterator[RowResult]:
        """Results for data rows from ``start_row`` on (the header is row 1), lazily.

        Rows before ``start_row`` are not validated, but their keys still count for the
        duplicate check, so a resumed import reports the same duplicates as a full one.
        """
        seen: dict[str, int] = {}
        row_number = 0
        records = self._records()
        try:
            for line_number, row in records:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines, trailing rows of empty cells from spreadsheets
                row_number += 1
                if row_number == 1:
                    continue  # the header
                if row_number < start_row:
                    key = self._quick_key(row)
                    if key is not None:
                        seen.setdefault(key, row_number)
                    continue
                yield self._row(row_number, line_number, row, seen)
        except csv.Error as exc:
            yield RowResult(
                row_number + 1,
                0,
                None,
                None,
                (FieldError("", "bad_format", f"the CSV structure is broken here ({exc}); import stopped"),),
            )

    # --------------------------------------------------------------------------- internals
    def _records(self) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(self._text, newline=""))
        line = 1
        for row in reader:
            yield line, row
            line = reader.line_num + 1

    def _cell(self, row: list[str], logical: str) -> str | None:
        i = self._columns.index.get(logical)
        if i is None or i >= len(row):
            return None
        return row[i].strip()

    def _quick_key(self, row: list[str]) -> str | None:
        number = self._cell(row, Column.NUMBER.value)
        if not number:
            return None
        return f"{self.license_type.type_code}:{unicodedata.normalize('NFC', number)}"

    def _row(self, row_number: int, line_number: int, row: list[str], seen: dict[str, int]) -> RowResult:
        t = self.license_type
        header = self._columns.header
        errors: list[FieldError] = []

        def err(logical: str, code: str, message: str) -> None:
            errors.append(FieldError(header.get(logical, logical), code, message))

        if len(row) < self._width or any(c.strip() for c in row[self._width :]):
            # Extra empty cells are harmless (spreadsheets add them); a short row usually means
            # an unquoted line break split a record, so it is not guessed at.
            errors.append(
                FieldError("", "bad_format", f"the row has {len(row)} cells but the header has {self._width}")
            )
        cell = self._cell

        type_code = cell(row, Column.TYPE_CODE.value) or ""
        if type_code != t.type_code:
            err(Column.TYPE_CODE.value, "mismatch", f"must be {t.type_code} ({t.name}) in this file")

        number = ""
        try:
            number = clean_text(cell(row, Column.NUMBER.value) or "")
        except ValueProblem as exc:
            err(Column.NUMBER.value, exc.code, f"licence number {exc.reason}")
        if not number:
            err(Column.NUMBER.value, "missing", "the licence number is required")
        elif len(number) > MAX_NUMBER_LENGTH:
            err(
                Column.NUMBER.value,
                "too_long",
                f"the licence number must be at most {MAX_NUMBER_LENGTH} characters",
            )
        key = f"{t.type_code}:{number}" if number else None
        if key is not None:
            first = seen.setdefault(key, row_number)
            if first != row_number:
                err(Column.NUMBER.value, "duplicate", f"the same licence number is already in row {first}")

        issue_date = self._date(row, Column.ISSUE_DATE, err, required=True)
        if issue_date is not None and issue_date > today_in_china():
            err(Column.ISSUE_DATE.value, "in_future", "the issue date must not be in the future")

        # The type's data, with linked columns feeding their fields.
        linked = _linked_fields(t)
        data: dict[str, object] = {}
        for spec in t.fields:
            logical = linked[spec.key].value if spec.key in linked else _field_logical(spec.key)
            value = cell(row, logical)
            if value is not None:
                data[spec.key] = value
        values: dict[str, FieldValue] = {}
        try:
            values = validate_data(t, data)
        except InvalidLicenseData as exc:
            for e in exc.errors:
                logical = linked[e.field].value if e.field in linked else _field_logical(e.field)
                errors.append(FieldError(header.get(logical, e.field), e.code, e.message))

        rule = t.validity
        if rule.from_field is not None:
            valid_from = _iso(values.get(rule.from_field))
        else:
            valid_from = self._date(row, Column.VALID_FROM, err, required=True)
        if rule.to_field is not None:
            valid_to = _iso(values.get(rule.to_field))
        else:
            valid_to = self._date(row, Column.VALID_TO, err, required=not t.open_ended_allowed)
        if (
            (rule.from_field is None or rule.to_field is None)
            and valid_from is not None
            and valid_to is not None
            and valid_to < valid_from
        ):
            err(Column.VALID_TO.value, "date_order", "the validity must not end before it starts")

        issuer_code = cell(row, Column.ISSUER_CODE.value) or None
        if issuer_code is not None:
            issuer_code = unicodedata.normalize("NFKC", issuer_code).upper()
            why = uscc_problem(issuer_code)
            if why is not None:
                err(Column.ISSUER_CODE.value, "bad_format", f"issuer code {why}")
        identifier = cell(row, Column.IDENTIFIER.value) or None
        if identifier is not None:
            try:
                parts = parse_identifier(identifier)
            except MalformedIdentifier as exc:
                err(Column.IDENTIFIER.value, "bad_format", f"identifier: {exc.detail}")
            else:
                if parts.type_code != t.type_code:
                    err(Column.IDENTIFIER.value, "mismatch", "the identifier is for another licence type")
                if issuer_code is not None and parts.issuer_code != issuer_code:
                    err(Column.IDENTIFIER.value, "mismatch", "the identifier names another issuer")
        issuer_name: str | None = None
        try:
            issuer_name = clean_text(cell(row, Column.ISSUER_NAME.value) or "") or None
        except ValueProblem as exc:
            err(Column.ISSUER_NAME.value, exc.code, f"issuer name {exc.reason}")

        if errors or issue_date is None or valid_from is None:
            return RowResult(row_number, line_number, key, None, tuple(errors))
        assert key is not None
        record = ImportedLicense(
            key=key,
            type_code=t.type_code,
            number=number,
            holder_name=str(values[t.holder_name_field]),
            holder_code=str(values[t.holder_code_field]),
            holder_code_type=HolderCodeType.for_holder(t.holder_kind),
            issue_date=issue_date,
            valid_from=valid_from,
            valid_to=valid_to,
            data=values,
            identifier=identifier,
            issuer_name=issuer_name,
            issuer_code=issuer_code,
        )
        return RowResult(row_number, line_number, key, record)

    def _date(self, row: list[str], column: Column, err: _ErrorSink, *, required: bool) -> date | None:
        raw = self._cell(row, column.value)
        if not raw or raw in OPEN_ENDED_WORDS:
            if required:
                what = (
                    "has no end date (长期), which this licence type does not allow" if raw else "is required"
                )
                err(column.value, "missing", f"{STANDARD_HEADERS[column][0]} {what}")
            return None
        try:
            return parse_date(raw)
        except ValueProblem as exc:
            err(column.value, exc.code, f"{STANDARD_HEADERS[column][0]} {exc.reason}")
            return None


#: Records an error for a logical column: (logical column, code, message).
_ErrorSink = Callable[[str, str, str], None]


def _iso(value: FieldValue | None) -> date | None:
    return date.fromisoformat(str(value)) if value is not None else None


def open_csv_import(source: bytes | str | PathLike[str], license_type: LicenseType) -> CsvImport:
    """Open an import file (bytes, or a path) for licences of ``license_type``.

    Decodes the file and checks its header; raises :class:`ImportFileError` (encoding, empty
    file, missing / duplicate / ambiguous columns) before any row is processed.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    text, encoding = decode_csv_bytes(data)
    header: list[str] | None = None
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if any(cell.strip() for cell in row):
                header = row
                break
    except csv.Error as exc:
        raise ImportFileError("empty", f"the header row cannot be read: {exc}") from None
    if header is None:
        raise ImportFileError("empty", "the file has no header row")
    return CsvImport(license_type, encoding, text, header)
