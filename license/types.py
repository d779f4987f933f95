"""Licence types (templates) as data, and validation of licence data against them.

A licence type is a tree of frozen dataclasses validated when built, so a contradictory type
(a layout naming a field that does not exist, a seal box off the page, an entity licence whose
holder code is a citizen ID ...) cannot exist. Types load from and serialise to JSON; the three
built-in demo types live in ``license/builtin_types/*.json``.

Element names for the GB/T 36903 metadata (``KZ_*`` extensions) are declared per type; the core
elements (ZZMC, CZZT, ...) are filled by :mod:`license.metadata`.

Page geometry (boxes in PDF points, the seal box, the QR box) is in :mod:`license.layout`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Any, Final

from license._spec import Obj, build, check_label, problem
from license.errors import FieldError, InvalidLicenseData, InvalidLicenseType, UnknownLicenseType
from license.identifier import type_code_problem
from license.layout import Layout
from license.values import (
    OPEN_ENDED_WORDS,
    ValueProblem,
    add_years_minus_one_day,
    citizen_id_problem,
    clean_code,
    clean_text,
    format_date_zh,
    parse_date,
    parse_integer,
    parse_money,
    today_in_china,
    uscc_problem,
)

__all__ = [
    "FieldKind",
    "FieldSpec",
    "FieldValue",
    "HolderKind",
    "LicenseType",
    "Validity",
    "ValidityKind",
    "ValidityRule",
    "builtin_types",
    "compute_validity",
    "get_builtin_type",
    "validate_data",
]


_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KZ_RE = re.compile(r"KZ_[A-Z0-9]+(?:_[A-Z0-9]+)*")
TEXT_MAX_LENGTH_LIMIT: Final = 4000
FORMAT_VERSION: Final = 1


class HolderKind(StrEnum):
    """Who holds the licence: a natural person (citizen ID) or a legal entity (USCC)."""

    PERSON = "person"
    ENTITY = "entity"


class FieldKind(StrEnum):
    TEXT = "text"
    DATE = "date"
    USCC = "uscc"
    ID_NUMBER = "id_number"
    ENUM = "enum"
    INTEGER = "integer"
    MONEY = "money"


class ValidityKind(StrEnum):
    """How a licence's validity period (ZZYXQQSRQ .. ZZYXQJZRQ) is determined."""

    FIXED_YEARS = "fixed_years"  # from the issue date, N years (inclusive)
    OPEN_ENDED = "open_ended"  # from the issue date, no end (长期)
    FROM_FIELDS = "from_fields"  # start and end taken from date fields of the data


# --------------------------------------------------------------------------------------- fields


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One typed field of a licence type.

    ``pattern`` (a regular expression the whole value must match) only applies to text;
    ``options`` only to enums; ``min_value`` / ``max_value`` / ``unit`` to integers and money;
    ``multiline`` to text; ``not_in_future`` to dates. Text fields must declare ``max_length``
    so that no value is unbounded (it also bounds what the layout has to fit).
    """

    key: str
    label_zh: str
    label_en: str
    kind: FieldKind
    required: bool = True
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    unit: str | None = None
    multiline: bool = False
    not_in_future: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY_RE.fullmatch(self.key):
            raise problem("key", "must be lower-case ASCII: a letter, then letters, digits or _ (max 40)")
        check_label("label_zh", self.label_zh)
        check_label("label_en", self.label_en, 64)
        try:
            object.__setattr__(self, "kind", FieldKind(self.kind))
        except ValueError:
            raise problem("kind", f"must be one of {', '.join(k.value for k in FieldKind)}") from None
        kind = self.kind
        if self.pattern is not None and kind is not FieldKind.TEXT:
            raise problem("pattern", "only text fields may have a pattern")
        if self.options and kind is not FieldKind.ENUM:
            raise problem("options", "only enum fields may have options")
        if (self.min_value is not None or self.max_value is not None) and kind not in (
            FieldKind.INTEGER,
            FieldKind.MONEY,
        ):
            raise problem("min_value", "only integer and money fields may have bounds")
        if self.unit is not None and kind not in (FieldKind.INTEGER, FieldKind.MONEY):
            raise problem("unit", "only integer and money fields may have a unit")
        if self.multiline and kind is not FieldKind.TEXT:
            raise problem("multiline", "only text fields may be multi-line")
        if self.not_in_future and kind is not FieldKind.DATE:
            raise problem("not_in_future", "only date fields may forbid future dates")
        if self.max_length is not None and kind not in (FieldKind.TEXT, FieldKind.ENUM):
            raise problem("max_length", "only text and enum fields have a maximum length")
        if kind is FieldKind.TEXT:
            if self.max_length is None:
                raise problem("max_length", "text fields must declare a maximum length")
            if self.pattern is not None:
                try:
                    re.compile(self.pattern)
                except re.error as exc:
                    raise problem("pattern", f"is not a valid regular expression: {exc}") from None
        if self.max_length is not None and (
            isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or not 1 <= self.max_length <= TEXT_MAX_LENGTH_LIMIT
        ):
            raise problem("max_length", f"must be an integer from 1 to {TEXT_MAX_LENGTH_LIMIT}")
        if kind is FieldKind.ENUM:
            if not self.options:
                raise problem("options", "enum fields need at least one option")
            if len(set(self.options)) != len(self.options):
                raise problem("options", "options must be unique")
            for i, opt in enumerate(self.options):
                check_label(f"options[{i}]", opt, self.max_length or 200)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise problem("min_value", "must not exceed max_value")
        if kind is FieldKind.MONEY and self.min_value is not None and self.min_value < 0:
            raise problem("min_value", "money amounts are never negative")
        if self.unit is not None:
            check_label("unit", self.unit, 16)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "kind": self.kind.value,
            "required": self.required,
        }
        optional: dict[str, Any] = {
            "max_length": self.max_length,
            "pattern": self.pattern,
            "options": list(self.options) if self.options else None,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "unit": self.unit,
            "multiline": self.multiline or None,
            "not_in_future": self.not_in_future or None,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_obj(cls, obj: Obj) -> FieldSpec:
        kwargs: dict[str, Any] = dict(
            key=obj.req_str("key"),
            label_zh=obj.req_str("label_zh"),
            label_en=obj.req_str("label_en"),
            kind=FieldKind(obj.enum("kind", [k.value for k in FieldKind])),
            required=obj.bool_("required", True),
            max_length=obj.opt_int("max_length"),
            pattern=obj.opt_str("pattern"),
            options=tuple(obj.str_list("options")),
            min_value=obj.opt_int("min_value"),
            max_value=obj.opt_int("max_value"),
            unit=obj.opt_str("unit"),
            multiline=obj.bool_("multiline", False),
            not_in_future=obj.bool_("not_in_future", False),
        )
        obj.done()
        return build(obj.path, lambda: cls(**kwargs))


# ------------------------------------------------------------------------------------- validity


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """How the validity period of a licence of this type is determined.

    - ``fixed_years``: from the issue date for ``years`` years, both ends inclusive;
    - ``open_ended``: from the issue date, no end date (长期);
    - ``from_fields``: start from the date field ``from_field`` (or the issue date when unset),
      end from the date field ``to_field``; when that field is optional and left empty (or
      holds 长期), the licence is open-ended.
    """

    kind: ValidityKind
    years: int | None = None
    from_field: str | None = None
    to_field: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ValidityKind(self.kind))
        except ValueError:
            raise problem("kind", f"must be one of {', '.join(k.value for k in ValidityKind)}") from None
        if self.kind is ValidityKind.FIXED_YEARS:
            if isinstance(self.years, bool) or not isinstance(self.years, int) or not 1 <= self.years <= 100:
                raise problem("years", "fixed_years needs years between 1 and 100")
        elif self.years is not None:
            raise problem("years", f"only fixed_years takes years, not {self.kind.value}")
        if self.kind is ValidityKind.FROM_FIELDS:
            if self.to_field is None:
                raise problem("to_field", "from_fields needs the field that holds the end date")
            if self.from_field is not None and self.from_field == self.to_field:
                raise problem("from_field", "start and end must be different fields")
        elif self.from_field is not None or self.to_field is not None:
            raise problem("from_field", f"only from_fields takes field references, not {self.kind.value}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.years is not None:
            out["years"] = self.years
        if self.from_field is not None:
            out["from_field"] = self.from_field
        if self.to_field is not None:
            out["to_field"] = self.to_field
        return out

    @classmethod
    def from_obj(cls, obj: Obj) -> ValidityRule:
        kwargs: dict[str, Any] = dict(
            kind=ValidityKind(obj.enum("kind", [k.value for k in ValidityKind])),
            years=obj.opt_int("years"),
            from_field=obj.opt_str("from_field"),
            to_field=obj.opt_str("to_field"),
        )
        obj.done()
        return build(obj.path, lambda: cls(**kwargs))


@dataclass(frozen=True, slots=True)
class Validity:
    """A concrete validity period; ``valid_to`` ``None`` means open-ended (长期)."""

    valid_from: date
    valid_to: date | None

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to before valid_from")

    @property
    def open_ended(self) -> bool:
        return self.valid_to is None

    def display_zh(self) -> str:
        end = "长期" if self.valid_to is None else format_date_zh(self.valid_to)
        return f"{format_date_zh(self.valid_from)} 至 {end}"


# ------------------------------------------------------------------------------- licence types


@dataclass(frozen=True, slots=True)
class LicenseType:
    """A licence type (template): what a licence of this kind holds and how it looks.

    ``type_code`` is the 21-character type code of the e-licence identifier (the defining
    authority's USCC + 3 digits, STANDARDS.md); it is also GB/T 36903 element ZZLXDM.
    ``holder_name_field`` / ``holder_code_field`` name the fields that become CZZT / CZZTDM;
    ``number_field``, when set, is the field that is the licence number (ZZBH).
    ``metadata`` maps GB/T 36903 extension element names (``KZ_*``) to field keys; every field
    that is not already a core element must be mapped, so no data is left out of the metadata.
    ``date_order`` pairs (earlier, later) of date fields that must not be out of order.
    ``seal_ref`` names the seal (role) that signs licences of this type; ``seal/`` resolves it.
    """

    type_code: str
    name: str
    name_en: str
    holder_kind: HolderKind
    holder_name_field: str
    holder_code_field: str
    fields: tuple[FieldSpec, ...]
    validity: ValidityRule
    layout: Layout
    seal_ref: str
    metadata: tuple[tuple[str, str], ...] = ()
    date_order: tuple[tuple[str, str], ...] = ()
    number_field: str | None = None
    template_version: int = 1
    _by_key: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        why = type_code_problem(self.type_code) if isinstance(self.type_code, str) else "must be a string"
        if why is not None:
            raise problem("type_code", why)
        check_label("name", self.name, 64)
        check_label("name_en", self.name_en, 128)
        try:
            object.__setattr__(self, "holder_kind", HolderKind(self.holder_kind))
        except ValueError:
            raise problem("holder_kind", "must be person or entity") from None
        version = self.template_version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise problem("template_version", "must be a positive integer")
        check_label("seal_ref", self.seal_ref, 64)
        if not self.fields:
            raise problem("fields", "a licence type needs at least one field")
        by_key: dict[str, FieldSpec] = {}
        for i, f in enumerate(self.fields):
            if f.key in by_key:
                raise problem(f"fields[{i}].key", f"duplicate field key {f.key!r}")
            by_key[f.key] = f
        labels = [f.label_zh for f in self.fields]
        if len(set(labels)) != len(labels):
            raise problem("fields", "Chinese labels must be unique (imports find columns by label)")
        object.__setattr__(self, "_by_key", by_key)

        def need(
            path: str, key: str | None, kinds: Iterable[FieldKind], *, required: bool | None = None
        ) -> FieldSpec:
            spec = by_key.get(key) if key is not None else None
            if spec is None:
                raise problem(path, f"refers to unknown field {key!r}")
            allowed = tuple(kinds)
            if spec.kind not in allowed:
                raise problem(path, f"field {key!r} must be of kind {' or '.join(k.value for k in allowed)}")
            if required is not None and spec.required != required:
                raise problem(path, f"field {key!r} must be {'required' if required else 'optional'}")
            return spec

        need("holder_name_field", self.holder_name_field, [FieldKind.TEXT], required=True)
        code_kind = FieldKind.USCC if self.holder_kind is HolderKind.ENTITY else FieldKind.ID_NUMBER
        need("holder_code_field", self.holder_code_field, [code_kind], required=True)
        if self.number_field is not None:
            need("number_field", self.number_field, [FieldKind.TEXT], required=True)
        if self.validity.kind is ValidityKind.FROM_FIELDS:
            if self.validity.from_field is not None:
                need("validity.from_field", self.validity.from_field, [FieldKind.DATE], required=True)
            need("validity.to_field", self.validity.to_field, [FieldKind.DATE])

        seen_pairs: set[tuple[str, str]] = set()
        for i, pair in enumerate(self.date_order):
            if len(pair) != 2 or pair[0] == pair[1]:
                raise problem(f"date_order[{i}]", "must name two different date fields")
            need(f"date_order[{i}]", pair[0], [FieldKind.DATE])
            need(f"date_order[{i}]", pair[1], [FieldKind.DATE])
            if pair in seen_pairs:
                raise problem(f"date_order[{i}]", "duplicate constraint")
            seen_pairs.add(pair)
        if _has_cycle(self.date_order):
            raise problem("date_order", "constraints form a cycle")

        mapped: dict[str, str] = {}
        names: set[str] = set()
        for i, (element, key) in enumerate(self.metadata):
            if not _KZ_RE.fullmatch(element):
                raise problem(f"metadata[{i}]", "extension element names look like KZ_ABC (GB/T 36903 style)")
            if element in names:
                raise problem(f"metadata[{i}]", f"element {element} is mapped twice")
            names.add(element)
            if key not in by_key:
                raise problem(f"metadata.{element}", f"refers to unknown field {key!r}")
            if key in mapped:
                raise problem(f"metadata.{element}", f"field {key!r} is already mapped to {mapped[key]}")
            mapped[key] = element
        core = self.core_element_fields()
        unmapped = [f.key for f in self.fields if f.key not in mapped and f.key not in core]
        if unmapped:
            raise problem("metadata", f"fields without a metadata element: {', '.join(unmapped)}")

        placed = [p.ref for p in self.layout.placements if not p.is_record]
        for i, p in enumerate(self.layout.placements):
            if not p.is_record and p.ref not in by_key:
                raise problem(f"layout.placements[{i}]", f"refers to unknown field {p.ref!r}")
        missing = [f.key for f in self.fields if f.key not in placed]
        if missing:
            raise problem("layout.placements", f"fields not placed on the page: {', '.join(missing)}")

    # ------------------------------------------------------------------ helpers
    def field(self, key: str) -> FieldSpec:
        """The field with this key; ``KeyError`` if there is none."""
        return self._by_key[key]

    def has_field(self, key: str) -> bool:
        return key in self._by_key

    def core_element_fields(self) -> dict[str, str]:
        """Fields that fill core GB/T 36903 elements: field key -> element name."""
        out = {self.holder_name_field: "CZZT", self.holder_code_field: "CZZTDM"}
        if self.number_field is not None:
            out[self.number_field] = "ZZBH"
        if self.validity.from_field is not None:
            out[self.validity.from_field] = "ZZYXQQSRQ"
        if self.validity.to_field is not None:
            out[self.validity.to_field] = "ZZYXQJZRQ"
        return out

    @property
    def open_ended_allowed(self) -> bool:
        """Whether a licence of this type may have no end date (长期)."""
        if self.validity.kind is ValidityKind.OPEN_ENDED:
            return True
        if self.validity.kind is ValidityKind.FROM_FIELDS and self.validity.to_field is not None:
            return not self._by_key[self.validity.to_field].required
        return False

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "type_code": self.type_code,
            "template_version": self.template_version,
            "name": self.name,
            "name_en": self.name_en,
            "holder_kind": self.holder_kind.value,
            "holder_name_field": self.holder_name_field,
            "holder_code_field": self.holder_code_field,
            "number_field": self.number_field,
            "seal_ref": self.seal_ref,
            "fields": [f.to_dict() for f in self.fields],
            "validity": self.validity.to_dict(),
            "date_order": [list(p) for p in self.date_order],
            "metadata": dict(self.metadata),
            "layout": self.layout.to_dict(),
        }

    def to_json(self) -> str:
        """Stable, human-readable JSON (UTF-8 text, Chinese kept as is)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: object) -> LicenseType:
        """Build a type from parsed JSON; unknown keys and wrong value types are errors."""
        obj = Obj(data, "")
        fmt = obj.int_("format", FORMAT_VERSION)
        if fmt != FORMAT_VERSION:
            raise problem("format", f"unsupported format version {fmt}; this code reads {FORMAT_VERSION}")
        metadata: tuple[tuple[str, str], ...] = ()
        metadata_obj = obj.obj("metadata", required=False)
        if metadata_obj is not None:
            metadata = tuple((k, metadata_obj.req_str(k)) for k in metadata_obj.keys_in_order())
            metadata_obj.done()
        date_order: list[tuple[str, str]] = []
        for i, pair in enumerate(obj.list_("date_order", required=False)):
            if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
                raise problem(f"date_order[{i}]", "must be [earlier_field, later_field]")
            date_order.append((pair[0], pair[1]))
        validity_obj = obj.obj("validity")
        layout_obj = obj.obj("layout")
        assert validity_obj is not None and layout_obj is not None  # required=True
        kwargs: dict[str, Any] = dict(
            type_code=obj.req_str("type_code"),
            template_version=obj.int_("template_version", 1),
            name=obj.req_str("name"),
            name_en=obj.req_str("name_en"),
            holder_kind=HolderKind(obj.enum("holder_kind", [h.value for h in HolderKind])),
            holder_name_field=obj.req_str("holder_name_field"),
            holder_code_field=obj.req_str("holder_code_field"),
            number_field=obj.opt_str("number_field"),
            seal_ref=obj.req_str("seal_ref"),
            fields=tuple(FieldSpec.from_obj(o) for o in obj.obj_list("fields")),
            validity=ValidityRule.from_obj(validity_obj),
            date_order=tuple(date_order),
            metadata=metadata,
            layout=Layout.from_obj(layout_obj),
        )
        obj.done()
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> LicenseType:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise problem("", f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _has_cycle(pairs: Iterable[tuple[str, str]]) -> bool:
    graph: dict[str, list[str]] = {}
    for a, b in pairs:
        graph.setdefault(a, []).append(b)
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in graph.get(node, []):
            s = state.get(nxt, 0)
            if s == 1 or (s == 0 and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(state.get(n, 0) == 0 and visit(n) for n in list(graph))


# ----------------------------------------------------------------------------- data validation

#: A normalised field value: text, ISO date string, canonical code, integer, or money string.
FieldValue = str | int


def validate_data(
    license_type: LicenseType, data: Mapping[str, object], *, today: date | None = None
) -> dict[str, FieldValue]:
    """Check licence data against its type and return it normalised.

    Every problem is collected and raised together as :class:`InvalidLicenseData` (one
    :class:`FieldError` per problem: unknown field, missing required value, too long, bad
    format, bad date, failed check digit, date order). Normalised forms: text NFC-trimmed,
    dates ``YYYY-MM-DD``, codes upper-case ASCII, integers ``int``, money ``"1234.50"``.
    Empty optional values are left out. ``today`` (default: today in Beijing from
    :func:`core.clock.now`) is what ``not_in_future`` compares with.
    """
    if not isinstance(data, Mapping):
        raise InvalidLicenseData([FieldError("", "bad_type", "licence data must be an object")])
    errors: list[FieldError] = []
    for key in data:
        if not isinstance(key, str) or not license_type.has_field(key):
            errors.append(FieldError(str(key), "unknown_field", f"{license_type.name} has no such field"))
    today = today or today_in_china()
    out: dict[str, FieldValue] = {}
    dates: dict[str, date] = {}
    to_field = license_type.validity.to_field
    for spec in license_type.fields:
        raw = data.get(spec.key)
        said_open_ended = spec.key == to_field and isinstance(raw, str) and raw.strip() in OPEN_ENDED_WORDS
        if said_open_ended:
            raw = None  # 长期: no end date, which only an optional end-date field allows
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                what = "is required"
                if said_open_ended:
                    what = "has no end date (长期), which this licence type does not allow"
                errors.append(FieldError(spec.key, "missing", f"{spec.label_zh}: {what}"))
            continue
        try:
            value = _normalise(spec, raw, today)
        except ValueProblem as exc:
            errors.append(FieldError(spec.key, exc.code, f"{spec.label_zh}: {exc.reason}"))
            continue
        out[spec.key] = value
        if spec.kind is FieldKind.DATE:
            dates[spec.key] = date.fromisoformat(str(value))
    order = list(license_type.date_order)
    rule = license_type.validity
    if rule.kind is ValidityKind.FROM_FIELDS and rule.from_field and rule.to_field:
        order.append((rule.from_field, rule.to_field))
    for earlier, later in order:
        if earlier in dates and later in dates and dates[later] < dates[earlier]:
            errors.append(
                FieldError(
                    later,
                    "date_order",
                    f"{license_type.field(later).label_zh} must not be before "
                    f"{license_type.field(earlier).label_zh}",
                )
            )
    if errors:
        raise InvalidLicenseData(errors)
    return out


def _normalise(spec: FieldSpec, raw: object, today: date) -> FieldValue:
    kind = spec.kind
    if kind is FieldKind.DATE:
        d = parse_date(raw)
        if spec.not_in_future and d > today:
            raise ValueProblem("in_future", "must not be in the future")
        return d.isoformat()
    if kind is FieldKind.INTEGER:
        n = parse_integer(raw)
        _check_bounds(spec, n)
        return n
    if kind is FieldKind.MONEY:
        amount = parse_money(raw)
        _check_bounds(spec, amount)
        return f"{amount:.2f}"
    if not isinstance(raw, str):
        raise ValueProblem("bad_type", "must be a string")
    if kind is FieldKind.USCC:
        code = clean_code(raw)
        why = uscc_problem(code)
        if why is not None:
            raise ValueProblem("bad_check_digit" if "check" in why else "bad_format", why)
        return code
    if kind is FieldKind.ID_NUMBER:
        code = clean_code(raw)
        why = citizen_id_problem(code)
        if why is not None:
            raise ValueProblem("bad_check_digit" if "check" in why else "bad_format", why)
        return code
    text = clean_text(raw, multiline=spec.multiline)
    if spec.max_length is not None and len(text) > spec.max_length:
        raise ValueProblem("too_long", f"must be at most {spec.max_length} characters")
    if kind is FieldKind.ENUM:
        if text not in spec.options:
            shown = "、".join(spec.options[:12]) + ("…" if len(spec.options) > 12 else "")
            raise ValueProblem("not_an_option", f"must be one of: {shown}")
        return text
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise ValueProblem("bad_format", "does not have the required format")
    return text


def _check_bounds(spec: FieldSpec, value: int | Decimal) -> None:
    if spec.min_value is not None and value < spec.min_value:
        raise ValueProblem("out_of_range", f"must be at least {spec.min_value}")
    if spec.max_value is not None and value > spec.max_value:
        raise ValueProblem("out_of_range", f"must be at most {spec.max_value}")


def compute_validity(license_type: LicenseType, data: Mapping[str, FieldValue], issue_date: date) -> Validity:
    """The validity period of a licence from its type's rule, its (normalised) data and issue date.

    Raises :class:`InvalidLicenseData` when the end would fall before the start (for example a
    food licence whose 有效期至 precedes its issue date).
    """
    rule = license_type.validity
    if rule.kind is ValidityKind.FIXED_YEARS:
        assert rule.years is not None
        return Validity(issue_date, add_years_minus_one_day(issue_date, rule.years))
    if rule.kind is ValidityKind.OPEN_ENDED:
        return Validity(issue_date, None)
    start = issue_date
    if rule.from_field is not None:
        start = date.fromisoformat(str(data[rule.from_field]))
    assert rule.to_field is not None
    end_value = data.get(rule.to_field)
    if end_value is None:
        if not license_type.open_ended_allowed:
            label = license_type.field(rule.to_field).label_zh
            raise InvalidLicenseData([FieldError(rule.to_field, "missing", f"{label}: is required")])
        return Validity(start, None)
    end = date.fromisoformat(str(end_value))
    if end < start:
        what = license_type.field(rule.from_field).label_zh if rule.from_field else "the issue date"
        raise InvalidLicenseData(
            [
                FieldError(
                    rule.to_field,
                    "date_order",
                    f"{license_type.field(rule.to_field).label_zh} must not be before {what}",
                )
            ]
        )
    return Validity(start, end)


# ------------------------------------------------------------------------------ built-in types

_builtin_lock = threading.Lock()
_builtin_cache: dict[str, LicenseType] | None = None


def builtin_types() -> Mapping[str, LicenseType]:
    """The demo licence types shipped in ``license/builtin_types/``, by type code.

    Their type codes are demo codes (see ``builtin_types/README.md``), not official ones.
    """
    global _builtin_cache  # noqa: PLW0603 - loaded once, immutable afterwards
    with _builtin_lock:
        if _builtin_cache is None:
            loaded: dict[str, LicenseType] = {}
            folder = resources.files("license") / "builtin_types"
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if not entry.name.endswith(".json"):
                    continue
                try:
                    t = LicenseType.from_json(entry.read_bytes())
                except InvalidLicenseType as exc:
                    raise InvalidLicenseType(f"{entry.name}: {exc.path}", exc.reason) from None
                if t.type_code in loaded:
                    raise InvalidLicenseType(entry.name, f"type code {t.type_code} defined twice")
                loaded[t.type_code] = t
            _builtin_cache = loaded
        return dict(_builtin_cache)


def get_builtin_type(type_code: str) -> LicenseType:
    """A built-in type by its type code; :class:`UnknownLicenseType` if there is none."""
    found = builtin_types().get(type_code)
    if found is None:
        raise UnknownLicenseType(type_code)
    return found
