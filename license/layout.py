"""Page layout of a licence type: where the title, each value, the QR code and the seal go.

Coordinates are PDF points (1/72 inch) with the origin at the bottom-left corner of the page,
as in PDF itself (ISO 32000-1 §8.3.2.3), so the sealing step (``seal/``) can use the seal box
as the visible signature rectangle without conversion. A layout is validated when built: every
box inside the page content area, no two boxes overlapping, a square QR box large enough to
decode at 150 dpi, a seal box large enough for a seal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from license._spec import Obj, build, check_label, is_number, num_out, problem
from license.errors import InvalidLicenseType

__all__ = [
    "MM",
    "PAGE_SIZES",
    "QR_MIN_SIDE",
    "RECORD_SLOT_LABELS",
    "SEAL_MIN_SIDE",
    "Align",
    "Border",
    "Box",
    "Layout",
    "Placement",
    "RecordSlot",
    "StaticText",
]

#: One millimetre in PDF points.
MM: Final = 72 / 25.4

#: Page sizes in points (ISO 216), portrait; ``-landscape`` variants swap width and height.
_ISO_SIZES: Final = {
    "A3": (841.8898, 1190.5512),
    "A4": (595.2756, 841.8898),
    "A5": (419.5276, 595.2756),
    "B5": (498.8976, 708.6614),
}
PAGE_SIZES: Final[Mapping[str, tuple[float, float]]] = {
    **_ISO_SIZES,
    **{f"{k}-landscape": (h, w) for k, (w, h) in _ISO_SIZES.items()},
}

#: The QR code must stay large enough to decode from a 150-dpi rendering (DESIGN.md, QR code).
QR_MIN_SIDE: Final = 25 * MM
#: Visible seals are 38-45 mm in practice; a smaller box cannot hold a legible seal image.
SEAL_MIN_SIDE: Final = 20 * MM
MIN_FONT_SIZE: Final = 5.0
MAX_FONT_SIZE: Final = 72.0
#: Room between the page edge and the content for the border ornament.
MIN_MARGIN_WITH_BORDER: Final = 24.0
_EPS: Final = 1e-6

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COLOR_RE = re.compile(r"#[0-9A-Fa-f]{6}")


class RecordSlot(StrEnum):
    """Values of the licence record (not of the type's data) that a layout can print."""

    NUMBER = "number"
    IDENTIFIER = "identifier"
    ISSUER_NAME = "issuer_name"
    ISSUE_DATE = "issue_date"
    VALIDITY = "validity"


RECORD_SLOT_LABELS: Final[Mapping[RecordSlot, str]] = {
    RecordSlot.NUMBER: "编号",
    RecordSlot.IDENTIFIER: "证照标识",
    RecordSlot.ISSUER_NAME: "发证机关",
    RecordSlot.ISSUE_DATE: "发证日期",
    RecordSlot.VALIDITY: "有效期限",
}


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class Border(StrEnum):
    NONE = "none"
    SINGLE = "single"
    DOUBLE = "double"


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in PDF points: lower-left corner (``x``, ``y``), ``width``, ``height``."""

    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            v = getattr(self, name)
            if not is_number(v):
                raise problem(name, "must be a finite number")
            object.__setattr__(self, name, float(v))
        if self.width <= 0 or self.height <= 0:
            raise problem("width", "a box must have a positive width and height")

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def top(self) -> float:
        return self.y + self.height

    def inside(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return (
            self.x >= x0 - _EPS and self.y >= y0 - _EPS and self.right <= x1 + _EPS and self.top <= y1 + _EPS
        )

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share an area (touching edges do not count)."""
        return (
            self.x < other.right - _EPS
            and other.x < self.right - _EPS
            and self.y < other.top - _EPS
            and other.y < self.top - _EPS
        )

    def to_list(self) -> list[float]:
        return [num_out(self.x), num_out(self.y), num_out(self.width), num_out(self.height)]

    @classmethod
    def from_value(cls, value: object, path: str) -> Box:
        if not isinstance(value, list) or len(value) != 4 or not all(is_number(v) for v in value):
            raise problem(path, "must be [x, y, width, height] in points")
        try:
            return cls(*value)
        except InvalidLicenseType as exc:
            raise problem(path, exc.reason) from None


def _check_font_size(path: str, size: float) -> None:
    if not is_number(size) or not MIN_FONT_SIZE <= size <= MAX_FONT_SIZE:
        raise problem(path, f"must be between {MIN_FONT_SIZE} and {MAX_FONT_SIZE} points")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one value is printed: a type field (``field``) or a record value (``record``).

    The label (the field's Chinese label unless overridden; ``""`` for none) is drawn in the
    left ``label_width`` points of the box, the value in the rest; multi-line text wraps and,
    if needed, shrinks to fit the box.
    """

    ref: str
    box: Box
    is_record: bool = False
    label: str | None = None
    label_width: float | None = None
    font_size: float = 12.0
    align: Align = Align.LEFT

    def __post_init__(self) -> None:
        if self.is_record:
            try:
                RecordSlot(self.ref)
            except ValueError:
                raise problem("record", f"must be one of {', '.join(s.value for s in RecordSlot)}") from None
        elif not isinstance(self.ref, str) or not _KEY_RE.fullmatch(self.ref):
            raise problem("field", "must be a field key")
        if self.label is not None and self.label != "":
            check_label("label", self.label)
        _check_font_size("font_size", self.font_size)
        object.__setattr__(self, "align", Align(self.align))
        width = self.label_width
        if width is None:
            width = 0.0 if self.label == "" else 96.0
        if isinstance(width, bool) or not isinstance(width, int | float) or width < 0:
            raise problem("label_width", "must be a non-negative number of points")
        if self.label == "" and width != 0:
            raise problem("label_width", "a placement without label has no label width")
        if width >= self.box.width - self.font_size:
            raise problem("label_width", "leaves no room for the value in the box")
        object.__setattr__(self, "label_width", float(width))

    @property
    def value_box(self) -> Box:
        """The part of the box where the value goes."""
        lw = self.label_width or 0.0
        return Box(self.box.x + lw, self.box.y, self.box.width - lw, self.box.height)

    @property
    def where(self) -> str:
        return f"{'record' if self.is_record else 'field'} {self.ref}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record" if self.is_record else "field": self.ref, "box": self.box.to_list()}
        if self.label is not None:
            out["label"] = self.label
        out["label_width"] = num_out(self.label_width or 0.0)
        out["font_size"] = num_out(self.font_size)
        if self.align is not Align.LEFT:
            out["align"] = self.align.value
        return out

    @classmethod
    def from_obj(cls, obj: Obj) -> Placement:
        field_ref = obj.opt_str("field")
        record_ref = obj.opt_str("record")
        if (field_ref is None) == (record_ref is None):
            raise problem(obj.path, "needs exactly one of 'field' or 'record'")
        kwargs: dict[str, Any] = dict(
            ref=field_ref if field_ref is not None else str(record_ref),
            box=_box(obj, "box"),
            is_record=record_ref is not None,
            label=obj.opt_str("label"),
            label_width=obj.opt_num("label_width"),
            font_size=obj.num("font_size", 12.0),
            align=Align(obj.enum("align", [a.value for a in Align], "left")),
        )
        obj.done()
        return build(obj.path, lambda: cls(**kwargs))


@dataclass(frozen=True, slots=True)
class StaticText:
    """Fixed text printed on every licence of the type (subtitle, footer notes)."""

    text: str
    box: Box
    font_size: float = 10.0
    align: Align = Align.LEFT

    def __post_init__(self) -> None:
        check_label("text", self.text, 200)
        _check_font_size("font_size", self.font_size)
        object.__setattr__(self, "align", Align(self.align))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "box": self.box.to_list()}
        out["font_size"] = num_out(self.font_size)
        if self.align is not Align.LEFT:
            out["align"] = self.align.value
        return out

    @classmethod
    def from_obj(cls, obj: Obj) -> StaticText:
        kwargs: dict[str, Any] = dict(
            text=obj.req_str("text"),
            box=_box(obj, "box"),
            font_size=obj.num("font_size", 10.0),
            align=Align(obj.enum("align", [a.value for a in Align], "left")),
        )
        obj.done()
        return build(obj.path, lambda: cls(**kwargs))


@dataclass(frozen=True, slots=True)
class Layout:
    """Page geometry of a licence type.

    Every box lies inside the page minus ``margin`` (the border ornament lives in the margin);
    no two boxes overlap, so the QR code has its quiet zone and the seal box stays blank for the
    visible seal that the sealing step (seal/) stamps later at exactly ``seal``.
    """

    page_size: str
    title: str
    title_box: Box
    qr: Box
    seal: Box
    placements: tuple[Placement, ...]
    texts: tuple[StaticText, ...] = ()
    title_font_size: float = 36.0
    margin: float = 36.0
    border: Border = Border.DOUBLE
    accent_color: str = "#8B1A1A"

    def __post_init__(self) -> None:
        if self.page_size not in PAGE_SIZES:
            raise problem("page_size", f"must be one of {', '.join(PAGE_SIZES)}")
        check_label("title", self.title)
        _check_font_size("title_font_size", self.title_font_size)
        object.__setattr__(self, "border", Border(self.border))
        if not isinstance(self.accent_color, str) or not _COLOR_RE.fullmatch(self.accent_color):
            raise problem("accent_color", "must be a colour like #8B1A1A")
        width, height = self.page_width, self.page_height
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or self.margin < 0:
            raise problem("margin", "must be a non-negative number of points")
        if self.border is not Border.NONE and self.margin < MIN_MARGIN_WITH_BORDER:
            raise problem("margin", f"must be at least {MIN_MARGIN_WITH_BORDER} points to hold the border")
        if 2 * self.margin >= min(width, height):
            raise problem("margin", "leaves no room on the page")
        if abs(self.qr.width - self.qr.height) > 0.01:
            raise problem("qr", "the QR code box must be square")
        if self.qr.width < QR_MIN_SIDE - _EPS:
            raise problem("qr", f"must be at least 25 mm ({QR_MIN_SIDE:.1f} pt) wide to decode at 150 dpi")
        if min(self.seal.width, self.seal.height) < SEAL_MIN_SIDE - _EPS:
            raise problem("seal", f"must be at least 20 mm ({SEAL_MIN_SIDE:.1f} points) on each side")
        if not self.placements:
            raise problem("placements", "a licence prints at least one field")
        seen: set[tuple[bool, str]] = set()
        for i, p in enumerate(self.placements):
            if (p.is_record, p.ref) in seen:
                raise problem(f"placements[{i}]", f"{p.where} is placed twice")
            seen.add((p.is_record, p.ref))
        named = self.named_boxes()
        m = self.margin
        for name, box in named:
            if not box.inside(m, m, width - m, height - m):
                raise problem(name, "lies outside the page content area (page minus margin)")
        for i, (name_a, a) in enumerate(named):
            for name_b, b in named[i + 1 :]:
                if a.overlaps(b):
                    raise problem(name_a, f"overlaps {name_b}")

    @property
    def page_width(self) -> float:
        return PAGE_SIZES[self.page_size][0]

    @property
    def page_height(self) -> float:
        return PAGE_SIZES[self.page_size][1]

    def named_boxes(self) -> list[tuple[str, Box]]:
        """Every box of the layout with a path naming it (for messages and overlap checks)."""
        out: list[tuple[str, Box]] = [("title_box", self.title_box), ("qr", self.qr), ("seal", self.seal)]
        out += [(f"placements[{i}] ({p.where})", p.box) for i, p in enumerate(self.placements)]
        out += [(f"texts[{i}]", t.box) for i, t in enumerate(self.texts)]
        return out

    def placement_for_field(self, key: str) -> Placement | None:
        for p in self.placements:
            if not p.is_record and p.ref == key:
                return p
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "page_size": self.page_size,
            "margin": num_out(self.margin),
            "border": self.border.value,
            "accent_color": self.accent_color,
            "title": self.title,
            "title_box": self.title_box.to_list(),
            "title_font_size": num_out(self.title_font_size),
            "qr": self.qr.to_list(),
            "seal": self.seal.to_list(),
            "placements": [p.to_dict() for p in self.placements],
            "texts": [t.to_dict() for t in self.texts],
        }

    @classmethod
    def from_obj(cls, obj: Obj) -> Layout:
        kwargs: dict[str, Any] = dict(
            page_size=obj.enum("page_size", list(PAGE_SIZES), "A4"),
            margin=obj.num("margin", 36.0),
            border=Border(obj.enum("border", [b.value for b in Border], "double")),
            accent_color=obj.str_("accent_color", "#8B1A1A"),
            title=obj.req_str("title"),
            title_box=_box(obj, "title_box"),
            title_font_size=obj.num("title_font_size", 36.0),
            qr=_box(obj, "qr"),
            seal=_box(obj, "seal"),
            placements=tuple(Placement.from_obj(o) for o in obj.obj_list("placements")),
            texts=tuple(StaticText.from_obj(o) for o in obj.obj_list("texts", required=False)),
        )
        obj.done()
        return build(obj.path, lambda: cls(**kwargs))


def _box(obj: Obj, key: str) -> Box:
    return Box.from_value(obj.raw(key), obj.path_of(key))
