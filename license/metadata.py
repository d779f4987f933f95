"""GB/T 36903 style licence metadata (电子证照元数据).

The element names and their order are those seen in government code that implements the
standard (STANDARDS.md, "Electronic licences", confidence [M]); we have not read the standard
text itself. Elements, in the order we emit them:

====================  =====================================  =================================
element               meaning                                value
====================  =====================================  =================================
ZZMC                  licence name                           type name (营业执照)
ZZLXDM                licence type code                      21-character type code
ZZBH                  licence number                         as issued
ZZBS                  licence identifier                     ``1.2.156.3005.2....``
ZZBFJG / ZZBFJGDM     issuing authority / its code           name / USCC
ZZBFRQ                issue date                             ``YYYY-MM-DD``
CZZT / CZZTDM         holder / holder code                   name / citizen ID or USCC
CZZTDMLX / ...DM      holder code type / its code            公民身份号码 111, 统一社会信用代码 001
ZZYXQQSRQ / ZZYXQJZRQ valid from / valid to                  ``YYYY-MM-DD``; "to" left out when
                                                             open-ended (configurable)
ZZQZR / ZZQZSJ        signer / signing time                  name / ``YYYY-MM-DD HH:MM:SS``
                                                             (Beijing time)
ZZQZMC                seal name                              seal name
ZZZT                  status                                 only when given [L]
KZ_*                  type-specific extensions               per the type's ``metadata`` map
====================  =====================================  =================================

Elements without a value are left out rather than emitted empty, as the implementations we
saw do. Dates use ``YYYY-MM-DD`` and times ``YYYY-MM-DD HH:MM:SS`` as they do [M]. ``ZZZT``
(status) appears in one implementation only [L]: a metadata copy embedded in a PDF is a
snapshot, so issuance should leave status out of it and report live status from the registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from license.errors import FieldError, InvalidLicenseData, MalformedIdentifier
from license.identifier import IdentifierParts, parse_identifier
from license.types import FieldValue, HolderKind, LicenseType, validate_data
from license.values import ValueProblem, citizen_id_problem, clean_text, format_datetime_cn, uscc_problem

__all__ = [
    "CORE_ELEMENTS",
    "STATUS_ELEMENT",
    "HolderCodeType",
    "LicenseMetadata",
    "LicenseRecord",
    "build_metadata",
]

#: Core elements in the order they are emitted.
CORE_ELEMENTS: Final = (
    "ZZMC",
    "ZZLXDM",
    "ZZBH",
    "ZZBS",
    "ZZBFJG",
    "ZZBFJGDM",
    "ZZBFRQ",
    "CZZT",
    "CZZTDM",
    "CZZTDMLX",
    "CZZTDMLXDM",
    "ZZYXQQSRQ",
    "ZZYXQJZRQ",
    "ZZQZR",
    "ZZQZSJ",
    "ZZQZMC",
)
#: Licence status element, seen in one implementation only [L].
STATUS_ELEMENT: Final = "ZZZT"
_ELEMENT_RE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_MAX_TEXT = 400


class HolderCodeType(StrEnum):
    """Holder code types (持证主体代码类型代码) [M]: 111 citizen ID number, 001 USCC."""

    CITIZEN_ID = "111"
    USCC = "001"

    @property
    def label_zh(self) -> str:
        """The CZZTDMLX text that goes with the code."""
        return "公民身份号码" if self is HolderCodeType.CITIZEN_ID else "统一社会信用代码"

    @classmethod
    def for_holder(cls, kind: HolderKind) -> HolderCodeType:
        return cls.CITIZEN_ID if kind is HolderKind.PERSON else cls.USCC


@dataclass(frozen=True, slots=True)
class LicenseRecord:
    """The per-licence values that are not part of the type's data.

    Validated at construction; problems are reported together as :class:`InvalidLicenseData`
    with field names of this class. ``signing_time`` naive values are taken to be UTC.
    """

    identifier: str
    number: str
    issuer_name: str
    issuer_code: str
    issue_date: date
    holder_name: str
    holder_code: str
    holder_code_type: HolderCodeType
    valid_from: date
    valid_to: date | None
    seal_name: str | None = None
    signer: str | None = None
    signing_time: datetime | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        errors: list[FieldError] = []

        def text(name: str, value: object, *, optional: bool = False, max_len: int = _MAX_TEXT) -> None:
            if value is None and optional:
                return
            if not isinstance(value, str) or not value.strip():
                errors.append(FieldError(name, "missing", f"{name} is required"))
                return
            try:
                cleaned = clean_text(value)
            except ValueProblem as exc:
                errors.append(FieldError(name, exc.code, f"{name} {exc.reason}"))
                return
            if cleaned != value:
                errors.append(FieldError(name, "bad_format", f"{name} must be trimmed and NFC-normalised"))
            elif len(value) > max_len:
                errors.append(FieldError(name, "too_long", f"{name} must be at most {max_len} characters"))

        try:
            parse_identifier(self.identifier)
        except MalformedIdentifier as exc:
            errors.append(FieldError("identifier", "bad_format", f"identifier: {exc.detail}"))
        text("number", self.number, max_len=64)
        text("issuer_name", self.issuer_name, max_len=60)
        why = uscc_problem(self.issuer_code) if isinstance(self.issuer_code, str) else "must be a string"
        if why is not None:
            errors.append(FieldError("issuer_code", "bad_format", f"issuer_code {why}"))
        text("holder_name", self.holder_name, max_len=100)
        try:
            code_type = HolderCodeType(self.holder_code_type)
            object.__setattr__(self, "holder_code_type", code_type)
        except ValueError:
            errors.append(
                FieldError("holder_code_type", "not_an_option", "holder_code_type must be 111 or 001")
            )
        else:
            check = citizen_id_problem if code_type is HolderCodeType.CITIZEN_ID else uscc_problem
            why = check(self.holder_code) if isinstance(self.holder_code, str) else "must be a string"
            if why is not None:
                errors.append(FieldError("holder_code", "bad_format", f"holder_code {why}"))
        for name in ("issue_date", "valid_from", "valid_to"):
            value = getattr(self, name)
            if value is None and name == "valid_to":
                continue
            if not isinstance(value, date) or isinstance(value, datetime):
                errors.append(FieldError(name, "bad_type", f"{name} must be a date"))
        if (
            isinstance(self.valid_to, date)
            and isinstance(self.valid_from, date)
            and self.valid_to < self.valid_from
        ):
            errors.append(FieldError("valid_to", "date_order", "valid_to must not be before valid_from"))
        text("seal_name", self.seal_name, optional=True, max_len=100)
        text("signer", self.signer, optional=True, max_len=100)
        text("status", self.status, optional=True, max_len=32)
        if self.signing_time is not None and not isinstance(self.signing_time, datetime):
            errors.append(FieldError("signing_time", "bad_type", "signing_time must be a datetime"))
        if errors:
            raise InvalidLicenseData(errors)

    @property
    def identifier_parts(self) -> IdentifierParts:
        return parse_identifier(self.identifier)


@dataclass(frozen=True, slots=True)
class LicenseMetadata:
    """An ordered set of GB/T 36903 elements, all values strings."""

    elements: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name, value in self.elements:
            if not isinstance(name, str) or not _ELEMENT_RE.fullmatch(name):
                raise ValueError(f"bad metadata element name {name!r}")
            if name in seen:
                raise ValueError(f"metadata element {name} twice")
            if not isinstance(value, str):
                raise ValueError(f"metadata element {name} must have a string value")
            seen.add(name)

    def as_dict(self) -> dict[str, str]:
        """Elements as a dict, in emission order."""
        return dict(self.elements)

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.elements if k == name), None)

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text: element order kept (core elements first, then ``KZ_*``), Chinese unescaped."""
        separators = (",", ": ") if indent is not None else (",", ":")
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=indent, separators=separators)

    def to_json_bytes(self) -> bytes:
        """UTF-8 bytes of :meth:`to_json` (no BOM): what is embedded in the PDF as ``metadata.json``."""
        return (self.to_json() + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> LicenseMetadata:
        """Parse metadata JSON (for example extracted from a licence PDF); order is kept."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("licence metadata must be a JSON object")
        return cls(tuple(raw.items()))


def build_metadata(
    license_type: LicenseType,
    data: Mapping[str, object],
    record: LicenseRecord,
    *,
    open_ended_value: str | None = None,
) -> LicenseMetadata:
    """The GB/T 36903 metadata of one licence, from its type, data and record values.

    The data is validated (and normalised) against the type again, and the record must agree
    with it: identifier type code and issuer, holder name / code / code type, licence number
    and validity dates where the type takes them from fields. Disagreements are reported
    together as :class:`InvalidLicenseData`, so contradictory metadata cannot be produced.

    ``open_ended_value`` is what ZZYXQJZRQ holds for an open-ended (长期) licence; ``None``
    (the default) leaves the element out, as the implementations we saw do. Some platforms
    use ``长期`` or ``9999-12-31`` instead [L]: set it here if the exchange partner wants one.
    """
    values = validate_data(license_type, data)
    _check_consistency(license_type, values, record)
    elements: list[tuple[str, str | None]] = [
        ("ZZMC", license_type.name),
        ("ZZLXDM", license_type.type_code),
        ("ZZBH", record.number),
        ("ZZBS", record.identifier),
        ("ZZBFJG", record.issuer_name),
        ("ZZBFJGDM", record.issuer_code),
        ("ZZBFRQ", record.issue_date.isoformat()),
        ("CZZT", record.holder_name),
        ("CZZTDM", record.holder_code),
        ("CZZTDMLX", record.holder_code_type.label_zh),
        ("CZZTDMLXDM", record.holder_code_type.value),
        ("ZZYXQQSRQ", record.valid_from.isoformat()),
        ("ZZYXQJZRQ", record.valid_to.isoformat() if record.valid_to else open_ended_value),
        ("ZZQZR", record.signer),
        ("ZZQZSJ", format_datetime_cn(record.signing_time) if record.signing_time else None),
        ("ZZQZMC", record.seal_name),
        (STATUS_ELEMENT, record.status),
    ]
    for element, key in license_type.metadata:
        value = values.get(key)
        elements.append((element, None if value is None else str(value)))
    return LicenseMetadata(tuple((k, v) for k, v in elements if v is not None and v != ""))


def _check_consistency(
    license_type: LicenseType, values: Mapping[str, FieldValue], record: LicenseRecord
) -> None:
    errors: list[FieldError] = []

    def mismatch(name: str, what: str) -> None:
        errors.append(FieldError(name, "mismatch", what))

    parts = record.identifier_parts
    if parts.type_code != license_type.type_code:
        mismatch("identifier", "the identifier's type code is not this licence type's")
    if parts.issuer_code != record.issuer_code:
        mismatch("identifier", "the identifier's issuer code is not issuer_code")
    if record.holder_code_type is not HolderCodeType.for_holder(license_type.holder_kind):
        mismatch("holder_code_type", f"{license_type.name} is held by a {license_type.holder_kind.value}")
    field_of = license_type.field
    if values.get(license_type.holder_name_field) != record.holder_name:
        mismatch(
            "holder_name", f"holder_name differs from {field_of(license_type.holder_name_field).label_zh}"
        )
    if values.get(license_type.holder_code_field) != record.holder_code:
        mismatch(
            "holder_code", f"holder_code differs from {field_of(license_type.holder_code_field).label_zh}"
        )
    if license_type.number_field is not None and values.get(license_type.number_field) != record.number:
        mismatch("number", f"number differs from {field_of(license_type.number_field).label_zh}")
    rule = license_type.validity
    if rule.from_field is not None and values.get(rule.from_field) != record.valid_from.isoformat():
        mismatch("valid_from", f"valid_from differs from {field_of(rule.from_field).label_zh}")
    if rule.to_field is not None:
        expected = values.get(rule.to_field)
        actual = record.valid_to.isoformat() if record.valid_to else None
        if expected != actual:
            mismatch("valid_to", f"valid_to differs from {field_of(rule.to_field).label_zh}")
    if errors:
        raise InvalidLicenseData(errors)
