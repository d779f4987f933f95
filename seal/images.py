"""Seal images: generated from a frozen spec, or uploaded and validated.

A generated seal is laid out once, in millimetres, as a handful of primitives (ring bands,
a star polygon, glyphs with position / rotation / horizontal scale). Two back ends draw the
same layout: Pillow for a transparent, anti-aliased PNG (the ``picture`` of an ``SES_Seal``,
GB/T 38540 §5.2 ``SES_ESPictrueInfo``) and reportlab for vector output (a one-page PDF with
the font embedded, later a pyHanko stamp appearance). Both use one TrueType font so that
the raster and the vector seal look alike.

Geometry follows the usual look of Chinese official seals (公章): red outer ring, five-pointed
star in the centre, the organisation name along the upper arc with each character rotated to
face outwards, the seal type (e.g. 合同专用章) horizontally under the star and the seal code
in small digits along the lower arc. Proportions are ours; no standard fixes them for
electronic seals.
"""

from __future__ import annotations

import io
import math
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from hashlib import sha256
from typing import Any, Final

from PIL import Image, ImageChops, ImageDraw, ImageFont

from seal.errors import InvalidSealImage, InvalidSealSpec, MissingGlyphs, SealImageTooLarge

__all__ = [
    "DEFAULT_FONT_PATH",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS_PER_SIDE",
    "MIN_UPLOAD_PIXELS_PER_SIDE",
    "SEAL_RED",
    "SealImageSpec",
    "SealShape",
    "ValidatedImage",
    "draw_seal",
    "render_pdf",
    "render_png",
    "validate_uploaded_image",
]

DEFAULT_FONT_PATH: Final = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
"""TrueType-outline CJK font: reportlab can embed it (it cannot embed CFF/OTF outlines)."""

SEAL_RED: Final = "#E60012"

MM_PER_INCH: Final = 25.4
PT_PER_MM: Final = 72.0 / MM_PER_INCH

MIN_SIZE_MM: Final = 20.0
MAX_SIZE_MM: Final = 60.0
MIN_HEIGHT_MM: Final = {"round": 20.0, "oval": 14.0, "rectangle": 10.0}
MAX_NAME_CHARS: Final = 30
MAX_RECT_NAME_CHARS: Final = 20
MAX_BOTTOM_CHARS: Final = 12
MAX_CODE_CHARS: Final = 20
MIN_DPI: Final = 72
MAX_DPI: Final = 1200

MAX_UPLOAD_BYTES: Final = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS_PER_SIDE: Final = 4096
MIN_UPLOAD_PIXELS_PER_SIDE: Final = 64

_COLOR_RE: Final = re.compile(r"^#[0-9A-Fa-f]{6}$")
_CODE_RE: Final = re.compile(r"^[0-9A-Za-z]+$")
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


class SealShape(StrEnum):
    ROUND = "round"
    OVAL = "oval"
    RECTANGLE = "rectangle"


@dataclass(frozen=True)
class SealImageSpec:
    """What a generated seal image shows. Validated at construction: an invalid spec cannot exist.

    ``width_mm`` is the diameter of a round seal and the width of the others. ``height_mm``
    defaults to the width (round, where it must equal it), 2/3 of it (oval) or 2/5 of it
    (rectangle). ``star`` defaults to True for round seals only. ``code`` (the seal code, e.g.
    the 13-digit code printed on physical 公章) is drawn small along the lower arc and is not
    available on rectangles, which have no arc.
    """

    shape: SealShape
    text: str
    bottom_text: str | None = None
    code: str | None = None
    width_mm: float = 42.0
    height_mm: float | None = None
    color: str = SEAL_RED
    star: bool | None = None

    def __post_init__(self) -> None:
        try:
            shape = SealShape(self.shape)
        except ValueError:
            raise InvalidSealSpec("shape", f"must be one of {[s.value for s in SealShape]}") from None
        object.__setattr__(self, "shape", shape)

        text = _clean_text("text", self.text)
        limit = MAX_RECT_NAME_CHARS if shape is SealShape.RECTANGLE else MAX_NAME_CHARS
        if not 1 <= len(text) <= limit:
            raise InvalidSealSpec("text", f"must have 1 to {limit} characters, has {len(text)}")
        object.__setattr__(self, "text", text)

        if self.bottom_text is not None:
            bottom = _clean_text("bottom_text", self.bottom_text)
            if not 1 <= len(bottom) <= MAX_BOTTOM_CHARS:
                raise InvalidSealSpec(
                    "bottom_text", f"must have 1 to {MAX_BOTTOM_CHARS} characters, has {len(bottom)}"
                )
            object.__setattr__(self, "bottom_text", bottom)

        if self.code is not None:
            if shape is SealShape.RECTANGLE:
                raise InvalidSealSpec("code", "a rectangular seal has no arc to carry a seal code")
            if (
                not isinstance(self.code, str)
                or not _CODE_RE.fullmatch(self.code)
                or len(self.code) > MAX_CODE_CHARS
            ):
                raise InvalidSealSpec("code", f"must be 1 to {MAX_CODE_CHARS} ASCII letters or digits")

        width = _finite("width_mm", self.width_mm)
        if not MIN_SIZE_MM <= width <= MAX_SIZE_MM:
            raise InvalidSealSpec("width_mm", f"must be between {MIN_SIZE_MM:g} and {MAX_SIZE_MM:g} mm")
        object.__setattr__(self, "width_mm", width)

        low = MIN_HEIGHT_MM[shape.value]
        if self.height_mm is None:
            if shape is SealShape.ROUND:
                height = width
            else:
                ratio = 2 / 3 if shape is SealShape.OVAL else 0.4
                height = max(round(width * ratio, 2), low)
        else:
            height = _finite("height_mm", self.height_mm)
        if not low <= height <= MAX_SIZE_MM:
            raise InvalidSealSpec("height_mm", f"must be between {low:g} and {MAX_SIZE_MM:g} mm")
        if shape is SealShape.ROUND and height != width:
            raise InvalidSealSpec("height_mm", "a round seal has one diameter: height must equal width")
        if shape is SealShape.OVAL and height >= width:
            raise InvalidSealSpec("height_mm", "an oval seal is wider than high")
        if shape is SealShape.RECTANGLE and height > width:
            raise InvalidSealSpec("height_mm", "a rectangular seal is at least as wide as high")
        object.__setattr__(self, "height_mm", height)

        if not isinstance(self.color, str) or not _COLOR_RE.fullmatch(self.color):
            raise InvalidSealSpec("color", "must be #RRGGBB")
        object.__setattr__(self, "color", self.color.upper())

        if self.star is None:
            object.__setattr__(self, "star", shape is SealShape.ROUND)
        elif not isinstance(self.star, bool):
            raise InvalidSealSpec("star", "must be True, False or None (the shape's default)")
        elif self.star and shape is SealShape.RECTANGLE:
            raise InvalidSealSpec("star", "a rectangular seal has no room for a star")

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) in millimetres, after defaults."""
        assert self.height_mm is not None  # set in __post_init__
        return self.width_mm, self.height_mm


def _clean_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidSealSpec(name, "must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            raise InvalidSealSpec(name, f"contains a control or separator character U+{ord(ch):04X}")
    return text


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSealSpec(name, "must be a finite number")
    return float(value)


# --------------------------------------------------------------------------------------------
# Layout (millimetres, origin at the seal centre, y up, angles in degrees counter-clockwise)


@dataclass(frozen=True)
class _Band:
    """The area between two concentric ellipses (or rectangles) of the same centre."""

    kind: str  # "ellipse" | "rect"
    outer: tuple[float, float]  # half-width, half-height
    inner: tuple[float, float]


@dataclass(frozen=True)
class _Glyph:
    ch: str
    x: float
    y: float
    size: float  # font size (em) in mm
    rotation: float  # degrees CCW; 0 = upright
    hscale: float  # horizontal compression, 0 < hscale <= 1


@dataclass(frozen=True)
class _Layout:
    width: float
    height: float
    bands: tuple[_Band, ...]
    polygons: tuple[tuple[tuple[float, float], ...], ...]
    glyphs: tuple[_Glyph, ...]


@dataclass(frozen=True)
class _FontInfo:
    path: str
    reportlab_name: str
    baseline_offset: float  # em units from the glyph's vertical centre down to the baseline
    advances: dict[str, float] = field(hash=False, compare=False)  # em units


@lru_cache(maxsize=8)
def _font_info(path: str) -> _FontInfo:
    """Parse the font once: glyph coverage, advances and vertical metrics, shared by both back ends."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = "YwtSeal-" + sha256(path.encode()).hexdigest()[:12]
    try:
        font = TTFont(name, path, subfontIndex=0)
    except Exception as exc:  # reportlab raises its own TTFError, IOError, ...
        raise InvalidSealSpec("font", f"cannot load TrueType font {path}: {exc}") from exc
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(font)
    face = font.face
    advances: dict[str, float] = {}
    widths = face.charWidths  # code point -> width in 1/1000 em
    for cp in face.charToGlyph:
        advances[chr(cp)] = widths.get(cp, face.defaultWidth) / 1000.0
    # Centre of the em box between ascent and descent (descent is negative).
    offset = (face.ascent + face.descent) / 2 / 1000.0
    return _FontInfo(path=path, reportlab_name=name, baseline_offset=offset, advances=advances)


def _check_glyphs(spec: SealImageSpec, font: _FontInfo) -> None:
    for field_name in ("text", "bottom_text", "code"):
        value = getattr(spec, field_name)
        if not value:
            continue
        missing = "".join(dict.fromkeys(c for c in value if c != " " and c not in font.advances))
        if missing:
            raise MissingGlyphs(field_name, missing, font.path)


def _star(cx: float, cy: float, r_outer: float) -> tuple[tuple[float, float], ...]:
    """Regular five-pointed star, one point up; inner radius per the pentagram ratio."""
    r_inner = r_outer * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for i in range(10):
        r = r_outer if i % 2 == 0 else r_inner
        a = math.radians(90 + 36 * i)
        points.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return tuple(points)


def _arc_positions(
    a: float, b: float, center_deg: float, span_deg: float, n: int
) -> list[tuple[float, float, float]]:
    """``n`` points equally spaced by arc length on the ellipse (a cos t, b sin t).

    Returns (x, y, outward normal angle in degrees). ``span_deg`` is measured in the ellipse
    parameter t around ``center_deg``; points run in decreasing t (left to right over the top).
    """
    if n == 1:
        t = math.radians(center_deg)
        return [
            (a * math.cos(t), b * math.sin(t), math.degrees(math.atan2(a * math.sin(t), b * math.cos(t))))
        ]
    t0 = math.radians(center_deg + span_deg / 2)
    t1 = math.radians(center_deg - span_deg / 2)
    steps = 2048
    ts = [t0 + (t1 - t0) * i / steps for i in range(steps + 1)]
    cum = [0.0]
    for i in range(1, len(ts)):
        x0, y0 = a * math.cos(ts[i - 1]), b * math.sin(ts[i - 1])
        x1, y1 = a * math.cos(ts[i]), b * math.sin(ts[i])
        cum.append(cum[-1] + math.hypot(x1 - x0, y1 - y0))
    total = cum[-1]
    out = []
    j = 0
    for k in range(n):
        target = total * k / (n - 1)
        while j < steps and cum[j + 1] < target:
            j += 1
        seg = cum[j + 1] - cum[j] if j < steps else 1.0
        frac = 0.0 if seg == 0 else min(1.0, max(0.0, (target - cum[j]) / seg))
        t = ts[j] + (ts[min(j + 1, steps)] - ts[j]) * frac
        normal = math.degrees(math.atan2(a * math.sin(t), b * math.cos(t)))
        out.append((a * math.cos(t), b * math.sin(t), normal))
    return out


def _ellipse_arc_length(a: float, b: float, span_deg: float, center_deg: float = 90.0) -> float:
    pts = _arc_positions(a, b, center_deg, span_deg, 65)
    return sum(math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]) for i in range(1, len(pts)))


def _text_on_arc(
    text: str,
    font: _FontInfo,
    *,
    a: float,
    b: float,
    size: float,
    max_span: float,
    step_span: float,
    center_deg: float,
    facing_out: bool,
) -> list[_Glyph]:
    """Lay ``text`` out along an elliptical arc, characters evenly spaced and rotated to follow it.

    The span grows with the number of characters (``step_span`` degrees each) up to
    ``max_span``; characters too wide for their share of the arc are compressed horizontally.
    Over the top (``facing_out``) characters point outward and run in decreasing angle; along
    the bottom they point inward and run in increasing angle so that both read left to right.
    """
    n = len(text)
    span = min(max_span, step_span * (n - 1)) if n > 1 else 0.0
    arc = _ellipse_arc_length(a, b, span, center_deg) if n > 1 else size
    pitch = arc / (n - 1) if n > 1 else size
    widest = max(font.advances.get(c, 1.0) for c in text) * size
    hscale = min(1.0, 0.92 * pitch / widest) if widest > 0 else 1.0
    positions = _arc_positions(a, b, center_deg, span, n)
    if not facing_out:
        positions.reverse()
    glyphs = []
    for ch, (x, y, normal) in zip(text, positions, strict=True):
        rotation = normal - 90.0 if facing_out else normal + 90.0
        glyphs.append(_Glyph(ch, x, y, size, _norm_angle(rotation), hscale))
    return glyphs


def _norm_angle(deg: float) -> float:
    d = math.fmod(deg, 360.0)
    if d <= -180.0:
        d += 360.0
    elif d > 180.0:
        d -= 360.0
    return round(d, 9)


def _text_line(text: str, font: _FontInfo, *, y: float, size: float, max_width: float) -> list[_Glyph]:
    """A horizontal, centred line; compressed horizontally when wider than ``max_width``."""
    advances = [font.advances.get(c, 1.0) * size for c in text]
    natural = sum(advances)
    hscale = min(1.0, max_width / natural) if natural > 0 else 1.0
    x = -natural * hscale / 2
    glyphs = []
    for ch, adv in zip(text, advances, strict=True):
        w = adv * hscale
        glyphs.append(_Glyph(ch, x + w / 2, y, size, 0.0, hscale))
        x += w
    return glyphs


def _layout(spec: SealImageSpec, font: _FontInfo) -> _Layout:
    width, height = spec.size_mm
    if spec.shape is SealShape.RECTANGLE:
        return _layout_rectangle(spec, font, width, height)
    a, b = width / 2, height / 2
    ring = max(0.6, 0.03 * height)
    gap = 0.02 * height
    bands = (_Band("ellipse", (a, b), (a - ring, b - ring)),)
    glyphs: list[_Glyph] = []

    n = len(spec.text)
    name_size = (0.15 if spec.shape is SealShape.ROUND else 0.17) * height
    if n > 16:
        name_size *= max(0.75, 16 / n)
    inset = ring + gap + name_size / 2
    # ~240 degrees on a round seal; a little less when the seal type sits under the star, so
    # that the first and last characters stay clear of it.
    max_span = 240.0 if spec.shape is SealShape.ROUND else 220.0
    if spec.bottom_text:
        max_span -= 15.0
    glyphs += _text_on_arc(
        spec.text,
        font,
        a=a - inset,
        b=b - inset,
        size=name_size,
        max_span=max_span,
        step_span=40.0,
        center_deg=90.0,
        facing_out=True,
    )

    if spec.code:
        code_size = 0.055 * height
        c_inset = ring + gap + code_size / 2
        glyphs += _text_on_arc(
            spec.code,
            font,
            a=a - c_inset,
            b=b - c_inset,
            size=code_size,
            max_span=100.0,
            step_span=math.degrees(0.62 * code_size / (b - c_inset)),
            center_deg=270.0,
            facing_out=False,
        )

    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    star_r = (0.18 if spec.shape is SealShape.ROUND else 0.2) * height
    if spec.star:
        polygons = (_star(0.0, 0.0, star_r),)

    if spec.bottom_text:
        size = 0.095 * height
        if spec.star:
            y = -0.27 * height
        else:
            y = -0.12 * height if spec.shape is SealShape.ROUND else -0.1 * height
        max_w = (0.56 if spec.shape is SealShape.ROUND else 0.5) * width
        glyphs += _text_line(spec.bottom_text, font, y=y, size=size, max_width=max_w)

    return _Layout(width, height, bands, polygons, tuple(glyphs))


def _layout_rectangle(spec: SealImageSpec, font: _FontInfo, width: float, height: float) -> _Layout:
    outer = max(0.5, 0.05 * height)
    inner = max(0.25, 0.45 * outer)
    between = 0.8 * outer
    a, b = width / 2, height / 2
    ia, ib = a - outer - between, b - outer - between
    bands = (
        _Band("rect", (a, b), (a - outer, b - outer)),
        _Band("rect", (ia, ib), (ia - inner, ib - inner)),
    )
    room_h = 2 * (ib - inner)
    room_w = 2 * (ia - inner) * 0.92
    glyphs: list[_Glyph] = []
    if spec.bottom_text:
        size = room_h * 0.36
        glyphs += _text_line(spec.text, font, y=room_h * 0.22, size=size, max_width=room_w)
        glyphs += _text_line(spec.bottom_text, font, y=-room_h * 0.24, size=size * 0.8, max_width=room_w)
    else:
        glyphs += _text_line(spec.text, font, y=0.0, size=room_h * 0.6, max_width=room_w)
    return _Layout(width, height, bands, (), tuple(glyphs))


def _prepare(spec: SealImageSpec, font_path: str) -> tuple[_Layout, _FontInfo]:
    font = _font_info(font_path)
    _check_glyphs(spec, font)
    return _layout(spec, font), font


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


# --------------------------------------------------------------------------------------------
# Raster back end (Pillow)


@lru_cache(maxsize=64)
def _pil_font(path: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px, index=0)


def _glyph_mask(ch: str, font: _FontInfo, size_px: int, hscale: float, rotation: float) -> Image.Image:
    """One character as an 8-bit coverage mask, centred in a square tile, scaled and rotated."""
    tile = 2 * ((3 * size_px) // 4 + 1)  # even, and > sqrt(2) em: room for any rotation
    img = Image.new("L", (tile, tile), 0)
    draw = ImageDraw.Draw(img)
    baseline = tile / 2 + font.baseline_offset * size_px
    draw.text((tile / 2, baseline), ch, fill=255, font=_pil_font(font.path, size_px), anchor="ms")
    if hscale < 1.0:
        squeezed = img.resize((max(1, round(tile * hscale)), tile), Image.Resampling.LANCZOS)
        img = Image.new("L", (tile, tile), 0)
        img.paste(squeezed, ((tile - squeezed.width) // 2, 0))
    if rotation:
        img = img.rotate(rotation, resample=Image.Resampling.BILINEAR, center=(tile / 2, tile / 2))
    return img


def _supersample(px: int) -> int:
    return 4 if px <= 1500 else 3 if px <= 2200 else 2


def render_png(spec: SealImageSpec, *, dpi: int = 600, font_path: str = DEFAULT_FONT_PATH) -> bytes:
    """The seal as a transparent RGBA PNG at ``dpi`` (a 42 mm seal at 600 dpi is 992 px wide).

    Shapes are drawn at 2-4x resolution and reduced, which anti-aliases edges; the colour is
    uniform and the alpha channel carries the shape. The output is deterministic for a given
    spec, dpi, font and Pillow version (no timestamps are written).
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidSealSpec("dpi", f"must be an integer between {MIN_DPI} and {MAX_DPI}")
    layout, font = _prepare(spec, font_path)
    w_px = max(1, round(layout.width / MM_PER_INCH * dpi))
    h_px = max(1, round(layout.height / MM_PER_INCH * dpi))
    ss = _supersample(max(w_px, h_px))
    scale = dpi / MM_PER_INCH * ss  # pixels per mm on the work canvas
    cw, ch = w_px * ss, h_px * ss

    def to_px(x: float, y: float) -> tuple[float, float]:
        return cw / 2 + x * scale, ch / 2 - y * scale

    mask = Image.new("L", (cw, ch), 0)
    for band in layout.bands:
        layer = Image.new("L", (cw, ch), 0)
        d = ImageDraw.Draw(layer)
        for half, fill in ((band.outer, 255), (band.inner, 0)):
            x0, y0 = to_px(-half[0], half[1])
            x1, y1 = to_px(half[0], -half[1])
            if band.kind == "ellipse":
                d.ellipse((x0, y0, x1, y1), fill=fill)
            else:
                d.rectangle((x0, y0, x1, y1), fill=fill)
        mask = ImageChops.lighter(mask, layer)
    if layout.polygons:
        d = ImageDraw.Draw(mask)
        for poly in layout.polygons:
            d.polygon([to_px(x, y) for x, y in poly], fill=255)
    for g in layout.glyphs:
        if g.ch == " ":
            continue
        size_px = max(4, round(g.size * scale))
        tile = _glyph_mask(g.ch, font, size_px, g.hscale, g.rotation)
        gx, gy = to_px(g.x, g.y)
        left, top = round(gx - tile.width / 2), round(gy - tile.height / 2)
        box = (left, top, left + tile.width, top + tile.height)
        mask.paste(ImageChops.lighter(mask.crop(box), tile), box)

    if ss > 1:
        mask = mask.resize((w_px, h_px), Image.Resampling.BOX)
    rgba = Image.new("RGBA", (w_px, h_px), (*_rgb(spec.color), 0))
    rgba.putalpha(mask)
    out = io.BytesIO()
    rgba.save(out, "PNG", dpi=(dpi, dpi), optimize=False)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Vector back end (reportlab)


def draw_seal(
    canvas: Any, spec: SealImageSpec, x: float = 0.0, y: float = 0.0, *, font_path: str = DEFAULT_FONT_PATH
) -> None:
    """Draw the seal on a reportlab canvas with its lower-left corner at (``x``, ``y``) points.

    The canvas state is saved and restored. Text is real text in the embedded (subset) font,
    so the stamp stays sharp at any zoom; the ring is an even-odd filled path so that its
    geometry matches the PNG exactly.
    """
    from reportlab.lib.colors import HexColor
    from reportlab.pdfgen.canvas import FILL_EVEN_ODD

    layout, font = _prepare(spec, font_path)
    colour = HexColor(spec.color)
    canvas.saveState()
    try:
        canvas.translate(x + layout.width / 2 * PT_PER_MM, y + layout.height / 2 * PT_PER_MM)
        canvas.scale(PT_PER_MM, PT_PER_MM)  # from here on, units are millimetres
        canvas.setFillColor(colour)
        canvas.setStrokeColor(colour)
        for band in layout.bands:
            path = canvas.beginPath()
            for half in (band.outer, band.inner):
                if band.kind == "ellipse":
                    path.ellipse(-half[0], -half[1], 2 * half[0], 2 * half[1])
                else:
                    path.rect(-half[0], -half[1], 2 * half[0], 2 * half[1])
            canvas.drawPath(path, stroke=0, fill=1, fillMode=FILL_EVEN_ODD)
        for poly in layout.polygons:
            path = canvas.beginPath()
            path.moveTo(*poly[0])
            for px, py in poly[1:]:
                path.lineTo(px, py)
            path.close()
            canvas.drawPath(path, stroke=0, fill=1)
        for g in layout.glyphs:
            if g.ch == " ":
                continue
            canvas.saveState()
            canvas.translate(g.x, g.y)
            if g.rotation:
                canvas.rotate(g.rotation)
            if g.hscale != 1.0:
                canvas.scale(g.hscale, 1.0)
            canvas.setFont(font.reportlab_name, g.size)
            canvas.drawCentredString(0, -font.baseline_offset * g.size, g.ch)
            canvas.restoreState()
    finally:
        canvas.restoreState()


def render_pdf(spec: SealImageSpec, *, font_path: str = DEFAULT_FONT_PATH) -> bytes:
    """A one-page PDF exactly the size of the seal, font subset embedded; deterministic bytes."""
    from reportlab.pdfgen.canvas import Canvas

    width, height = spec.size_mm
    font = _font_info(font_path)
    buf = io.BytesIO()
    pdf = Canvas(
        buf,
        pagesize=(width * PT_PER_MM, height * PT_PER_MM),
        invariant=1,
        pageCompression=1,
        initialFontName=font.reportlab_name,  # otherwise an unused, unembedded Helvetica is listed
    )
    pdf.setTitle(spec.text)
    pdf.setCreator("yiwangtong seal")
    draw_seal(pdf, spec, 0, 0, font_path=font_path)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Uploaded images


@dataclass(frozen=True)
class ValidatedImage:
    """A re-encoded RGBA PNG (metadata dropped) and its pixel size."""

    png: bytes
    width: int
    height: int


def _png_header(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, read before any decoding (PNG spec §11.2.2)."""
    if len(data) < 33:
        raise InvalidSealImage("the PNG file is truncated before the end of its header")
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        raise InvalidSealImage("the PNG file does not start with an IHDR chunk")
    ihdr = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        raise InvalidSealImage("the PNG header checksum is wrong")
    width, height = struct.unpack(">II", ihdr[:8])
    return width, height


def _sniff(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return " (it looks like a JPEG)"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return " (it looks like a GIF)"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return " (it looks like a WebP)"
    if data.lstrip()[:1] == b"<":
        return " (it looks like SVG or HTML)"
    return ""


def validate_uploaded_image(
    data: bytes,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_side: int = MAX_UPLOAD_PIXELS_PER_SIDE,
    min_side: int = MIN_UPLOAD_PIXELS_PER_SIDE,
) -> ValidatedImage:
    """Accept an uploaded seal image only if it is a sane, fully decodable PNG; return it normalised.

    Checks, in order, so that nothing expensive runs on hostile input: size in bytes; PNG
    signature; IHDR dimensions (read by hand, so a decompression bomb is refused before Pillow
    allocates anything, and without touching the process-wide ``Image.MAX_IMAGE_PIXELS``);
    Pillow ``verify()`` (chunk CRCs through IEND, catches truncation); a full ``load()``; no
    animation. The result is re-encoded as RGBA PNG without metadata.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidSealImage("the upload must be bytes")
    data = bytes(data)
    if not data:
        raise InvalidSealImage("the upload is empty")
    if len(data) > max_bytes:
        raise SealImageTooLarge(
            f"the upload has {len(data)} bytes, more than {max_bytes}", size=len(data), limit=max_bytes
        )
    if not data.startswith(_PNG_SIGNATURE):
        raise InvalidSealImage("only PNG images are accepted" + _sniff(data))
    width, height = _png_header(data)
    if width == 0 or height == 0:
        raise InvalidSealImage(f"the PNG declares an empty image ({width}x{height} px)")
    if width > max_side or height > max_side:
        raise SealImageTooLarge(
            f"the PNG is {width}x{height} px; at most {max_side} px per side are accepted",
            size=max(width, height),
            limit=max_side,
        )
    if width < min_side or height < min_side:
        raise InvalidSealImage(f"the PNG is {width}x{height} px; at least {min_side} px per side are needed")

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            if im.size != (width, height):
                raise InvalidSealImage("the PNG header and the decoded size disagree")
            if getattr(im, "is_animated", False):
                raise InvalidSealImage("animated PNGs are not accepted")
            im.load()
            rgba = im.convert("RGBA")
    except InvalidSealImage:
        raise
    except Image.DecompressionBombError as exc:  # only if someone lowered the global limit
        raise SealImageTooLarge(str(exc), size=width * height, limit=max_side * max_side) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise InvalidSealImage(f"the PNG cannot be decoded: {exc}") from exc

    out = io.BytesIO()
    rgba.save(out, "PNG")
    return ValidatedImage(png=out.getvalue(), width=width, height=height)
