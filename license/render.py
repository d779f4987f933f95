"""Render an e-licence as PDF (before sealing).

What the PDF holds, and why:

- one page of the type's size with border, title, every field where the layout puts it, in a
  CJK TrueType font embedded as a subset (readers without the font still show the licence;
  ``pdffonts`` lists it ``emb yes``);
- the QR code drawn as vector rectangles from segno's module matrix, error correction level M,
  4-module quiet zone (ISO/IEC 18004 §9.1 [M]), sized to the layout's QR box; rendering refuses
  a text so long that a module would be smaller than 0.4 mm, below which a 150-dpi scan stops
  decoding reliably (measured: 0.36 mm still decodes with zbar, 0.32 mm does not);
- the GB/T 36903 metadata as an embedded file ``metadata.json`` (ISO 32000-1 §7.11.4, in the
  ``/EmbeddedFiles`` name tree) with ``/AFRelationship /Data`` and a catalog ``/AF`` entry
  (ISO 32000-2 §14.13, as PDF/A-3 uses it), so machines read the licence data without OCR;
- nothing in the layout's seal box: the sealing step stamps the visible seal there.

Output is deterministic for fixed inputs (reportlab ``invariant=1``: fixed dates and file ID),
a single revision with a classic cross-reference table, so the sealing step can append its
signatures as incremental updates.
"""

from __future__ import annotations

import hashlib
import io
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import segno
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from license import _qrmask
from license.errors import FieldError, InvalidLicenseData, LicenseRenderError
from license.identifier import parse_identifier
from license.layout import MM, RECORD_SLOT_LABELS, Align, Border, Box, Layout, Placement, RecordSlot
from license.metadata import LicenseMetadata
from license.types import FieldKind, FieldValue, LicenseType, validate_data
from license.values import format_date_zh

__all__ = [
    "DEFAULT_FONT_PATH",
    "METADATA_FILENAME",
    "QR_MIN_MODULE_MM",
    "extract_metadata",
    "render_license",
]

#: WenQuanYi Zen Hei (TrueType outlines, which reportlab can subset and embed; the CFF-based
#: Noto CJK collections it cannot).
DEFAULT_FONT_PATH: Final = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
METADATA_FILENAME: Final = "metadata.json"
QR_MIN_MODULE_MM: Final = 0.4
QR_QUIET_ZONE: Final = 4
QR_ERROR_LEVEL: Final = "m"
MIN_TEXT_SIZE: Final = 6.0
LEADING: Final = 1.3
OPEN_ENDED_TEXT: Final = "长期"

# Characters that must not start a line in Chinese typesetting (a small subset of the
# line-breaking rules of W3C "Requirements for Chinese Text Layout" §3.1.7).
_NO_LINE_START: Final = frozenset("，。、；：？！）》」』】〕…—,.;:?!)]}%")

_qrmask.install()  # ISO/IEC 18004 mask selection, same result as segno's, ~20x faster

_font_lock = threading.Lock()
_fonts: dict[tuple[str, int], _Font] = {}


@dataclass(frozen=True, slots=True)
class _Font:
    name: str
    glyphs: frozenset[int]

    def covers(self, text: str) -> int:
        """How many characters of ``text`` the font has no glyph for (spaces and breaks excepted)."""
        return sum(1 for ch in text if not ch.isspace() and ord(ch) not in self.glyphs)


def _font(path: Path, subfont_index: int) -> _Font:
    """Register the TrueType font once per process (reportlab's registry is global)."""
    key = (str(path), subfont_index)
    with _font_lock:
        found = _fonts.get(key)
        if found is not None:
            return found
        if not path.is_file():
            raise LicenseRenderError(f"CJK font not found at {path}")
        name = f"YwtCJK{len(_fonts)}"
        try:
            ttf = TTFont(name, str(path), subfontIndex=subfont_index)
        except Exception as exc:  # reportlab raises TTFError and plain errors alike
            raise LicenseRenderError(f"cannot use the font at {path}: {exc}") from None
        pdfmetrics.registerFont(ttf)
        found = _Font(name, frozenset(ttf.face.charToGlyph))
        _fonts[key] = found
        return found


class _Raw(pdfdoc.PDFObject):
    """Bytes written into the PDF as they are (reportlab's PDFName does not escape '/')."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: Any) -> bytes:
        return self.data


def render_license(
    license_type: LicenseType,
    data: Mapping[str, object],
    metadata: LicenseMetadata,
    identifier: str,
    qr_text: str,
    *,
    font_path: Path | str | None = None,
    font_index: int = 0,
) -> bytes:
    """Render one licence to PDF bytes.

    ``data`` is validated against the type again; ``metadata`` (from
    :func:`license.metadata.build_metadata`) supplies the record values the layout prints
    (number, issuer, issue date, validity) and is embedded as ``metadata.json`` byte for byte
    as :meth:`LicenseMetadata.to_json_bytes` gives it. ``metadata`` must name this identifier
    and type. Raises :class:`LicenseRenderError` when something cannot be drawn (text that does
    not fit its box even at 6 pt, characters the font lacks, a QR text too long for the box).
    """
    values = validate_data(license_type, data)
    parse_identifier(identifier)
    _check_metadata(license_type, values, metadata, identifier)
    if not isinstance(qr_text, str) or not qr_text:
        raise LicenseRenderError("the QR code text must be a non-empty string")
    font = _font(Path(font_path) if font_path is not None else DEFAULT_FONT_PATH, font_index)
    layout = license_type.layout

    buf = io.BytesIO()
    canvas = Canvas(
        buf,
        pagesize=(layout.page_width, layout.page_height),
        invariant=1,
        pageCompression=1,
        initialFontName=font.name,
        initialFontSize=12,
        pdfVersion=(1, 7),
        lang="zh-CN",
    )
    canvas.setTitle(license_type.name)
    canvas.setSubject(f"{license_type.name} {identifier}")
    canvas.setAuthor(metadata.get("ZZBFJG") or "")
    canvas.setCreator("yiwangtong")

    painter = _Painter(canvas, font)
    _draw_border(canvas, layout)
    title_style = _Style(align=Align.CENTER, color=layout.accent_color, spacing=0.12)
    painter.text(layout.title, layout.title_box, layout.title_font_size, "title", title_style)
    for i, st in enumerate(layout.texts):
        painter.text(st.text, st.box, st.font_size, f"texts[{i}]", _Style(align=st.align))
    for placement in layout.placements:
        text, label, where = _placement_text(license_type, values, metadata, identifier, placement)
        painter.placement(placement, text, label, where)
    _draw_qr(canvas, qr_text, layout.qr)
    canvas.showPage()
    _embed_metadata(canvas, metadata.to_json_bytes())
    canvas.save()
    return buf.getvalue()


def _check_metadata(
    license_type: LicenseType, values: Mapping[str, FieldValue], metadata: LicenseMetadata, identifier: str
) -> None:
    """The embedded metadata must describe what is printed: same licence, type and holder."""
    errors: list[FieldError] = []
    if metadata.get("ZZBS") != identifier:
        errors.append(FieldError("identifier", "mismatch", "metadata ZZBS is not this identifier"))
    if metadata.get("ZZLXDM") != license_type.type_code:
        errors.append(FieldError("type_code", "mismatch", "metadata ZZLXDM is not this licence type"))
    if metadata.get("CZZT") != values.get(license_type.holder_name_field):
        errors.append(FieldError("holder_name", "mismatch", "metadata CZZT is not the printed holder"))
    if metadata.get("CZZTDM") != values.get(license_type.holder_code_field):
        errors.append(FieldError("holder_code", "mismatch", "metadata CZZTDM is not the printed holder code"))
    if errors:
        raise InvalidLicenseData(errors)


# ------------------------------------------------------------------------------------- drawing


def _hex_rgb(color: str) -> tuple[float, float, float]:
    return (int(color[1:3], 16) / 255, int(color[3:5], 16) / 255, int(color[5:7], 16) / 255)


def _draw_border(canvas: Canvas, layout: Layout) -> None:
    if layout.border is Border.NONE:
        return
    width, height = layout.page_width, layout.page_height
    canvas.saveState()
    canvas.setStrokeColorRGB(*_hex_rgb(layout.accent_color))
    canvas.setFillColorRGB(*_hex_rgb(layout.accent_color))
    outer = layout.margin * 0.4
    canvas.setLineWidth(2.4)
    canvas.rect(outer, outer, width - 2 * outer, height - 2 * outer, stroke=1, fill=0)
    if layout.border is Border.DOUBLE:
        inner = outer + 5
        canvas.setLineWidth(0.8)
        canvas.rect(inner, inner, width - 2 * inner, height - 2 * inner, stroke=1, fill=0)
        # Corner ornaments: a small diamond at each inner corner.
        size = 4.5
        for cx, cy in (
            (inner, inner),
            (width - inner, inner),
            (inner, height - inner),
            (width - inner, height - inner),
        ):
            path = canvas.beginPath()
            path.moveTo(cx, cy - size)
            path.lineTo(cx + size, cy)
            path.lineTo(cx, cy + size)
            path.lineTo(cx - size, cy)
            path.close()
            canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _display_value(license_type: LicenseType, key: str, value: FieldValue | None) -> str:
    spec = license_type.field(key)
    if value is None:
        if key == license_type.validity.to_field and license_type.open_ended_allowed:
            return OPEN_ENDED_TEXT
        return ""
    if spec.kind is FieldKind.DATE:
        return format_date_zh(date.fromisoformat(str(value)))
    if spec.kind in (FieldKind.MONEY, FieldKind.INTEGER) and spec.unit:
        return f"{value}{spec.unit}"
    return str(value)


def _record_value(slot: RecordSlot, metadata: LicenseMetadata, identifier: str) -> str:
    if slot is RecordSlot.IDENTIFIER:
        return identifier
    element = {
        RecordSlot.NUMBER: "ZZBH",
        RecordSlot.ISSUER_NAME: "ZZBFJG",
        RecordSlot.ISSUE_DATE: "ZZBFRQ",
        RecordSlot.VALIDITY: "ZZYXQQSRQ",
    }[slot]
    value = metadata.get(element)
    if value is None:
        raise LicenseRenderError(f"the layout prints {slot.value} but the metadata has no {element}")
    if slot is RecordSlot.ISSUE_DATE:
        return format_date_zh(date.fromisoformat(value))
    if slot is RecordSlot.VALIDITY:
        end = metadata.get("ZZYXQJZRQ")
        try:
            end_text = format_date_zh(date.fromisoformat(end)) if end else OPEN_ENDED_TEXT
        except ValueError:
            end_text = end or OPEN_ENDED_TEXT  # a configured open-ended word such as 长期
        return f"{format_date_zh(date.fromisoformat(value))} 至 {end_text}"
    return value


def _placement_text(
    license_type: LicenseType,
    values: Mapping[str, FieldValue],
    metadata: LicenseMetadata,
    identifier: str,
    placement: Placement,
) -> tuple[str, str, str]:
    """(value text, label, name for error messages) of one placement."""
    if placement.is_record:
        slot = RecordSlot(placement.ref)
        label = RECORD_SLOT_LABELS[slot] if placement.label is None else placement.label
        return _record_value(slot, metadata, identifier), label, f"record {slot.value}"
    text = _display_value(license_type, placement.ref, values.get(placement.ref))
    label = license_type.field(placement.ref).label_zh if placement.label is None else placement.label
    return text, label, placement.ref


@dataclass(frozen=True, slots=True)
class _Style:
    align: Align = Align.LEFT
    color: str = "#000000"
    spacing: float = 0.0  # extra space between characters, as a fraction of the font size


_LABEL_STYLE: Final = _Style(color="#4A4A4A")


@dataclass(frozen=True, slots=True)
class _Painter:
    """Draws fitted text on one canvas with one font."""

    canvas: Canvas
    font: _Font

    def placement(self, placement: Placement, text: str, label: str, where: str) -> None:
        nominal = placement.font_size
        value_box = placement.value_box
        size, lines = _fit(self.font, text, value_box, nominal, where)
        first_baseline = _first_baseline(value_box, size, len(lines), nominal)
        if label:
            label_box = Box(
                placement.box.x, placement.box.y, placement.label_width or 1.0, placement.box.height
            )
            lsize, llines = _fit(self.font, label, label_box, nominal, f"{where} label")
            baseline = _first_baseline(label_box, lsize, len(llines), nominal)
            if len(lines) == 1 and len(llines) == 1:
                baseline = first_baseline  # label and value on one baseline even if the value shrank
            self.lines(llines, label_box, lsize, baseline, _LABEL_STYLE)
        self.lines(lines, value_box, size, first_baseline, _Style(align=placement.align))

    def text(self, text: str, box: Box, font_size: float, where: str, style: _Style) -> None:
        size, lines = _fit(self.font, text, box, font_size, where, spacing=style.spacing)
        self.lines(lines, box, size, _first_baseline(box, size, len(lines), font_size), style)

    def lines(self, lines: list[str], box: Box, size: float, first_baseline: float, style: _Style) -> None:
        canvas = self.canvas
        canvas.saveState()
        canvas.setFillColorRGB(*_hex_rgb(style.color))
        y = first_baseline
        for line in lines:
            w = _width(self.font, line, size, style.spacing)
            if style.align is Align.CENTER:
                x = box.x + (box.width - w) / 2
            elif style.align is Align.RIGHT:
                x = box.right - w
            else:
                x = box.x
            text = canvas.beginText(x, y)
            text.setFont(self.font.name, size)
            if style.spacing:
                text.setCharSpace(size * style.spacing)
            text.textOut(line)
            canvas.drawText(text)
            y -= size * LEADING
        canvas.restoreState()


def _first_baseline(box: Box, size: float, n_lines: int, nominal: float) -> float:
    """Baseline of the first line.

    A box made for one line (less than two lines high at the nominal size) centres its text
    block vertically; a taller box puts the text at its top, so multi-line fields read from
    the same height as their label.
    """
    ascent, descent = 0.86 * size, 0.14 * size
    block = ascent + descent + size * LEADING * max(n_lines - 1, 0)
    if box.height < nominal * (1 + LEADING):
        return box.y + (box.height + block) / 2 - ascent
    return box.top - ascent - min(0.3 * size, max(box.height - block, 0.0))


def _width(font: _Font, text: str, size: float, spacing: float = 0.0) -> float:
    w: float = pdfmetrics.stringWidth(text, font.name, size)
    if spacing and len(text) > 1:
        w += size * spacing * (len(text) - 1)
    return w


def _tokens(paragraph: str) -> Iterator[str]:
    """Break opportunities: every CJK character alone; Latin words and numbers kept whole."""
    word = ""
    for ch in paragraph:
        if ch.isascii() and (ch.isalnum() or ch in "-_./@#&+%"):
            word += ch
            continue
        if word:
            yield word
            word = ""
        yield ch
    if word:
        yield word


def _wrap(font: _Font, text: str, size: float, width: float, spacing: float) -> list[str] | None:
    """Greedy line breaking; a word wider than the line is broken between characters.

    ``None`` if a single character is wider than the box.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in _tokens(paragraph):
            pieces = [word] if _width(font, word, size, spacing) <= width else list(word)
            for token in pieces:
                candidate = line + token
                if _width(font, candidate, size, spacing) <= width:
                    line = candidate
                elif not line:
                    return None  # one character wider than the box
                elif token in _NO_LINE_START and _width(font, candidate, size, spacing) <= width * 1.04:
                    line = candidate  # hang closing punctuation rather than start a line with it
                else:
                    lines.append(line.rstrip())
                    line = token.lstrip()
        lines.append(line.rstrip())
    return lines


def _fit(
    font: _Font, text: str, box: Box, max_size: float, where: str, *, spacing: float = 0.0
) -> tuple[float, list[str]]:
    """Largest font size (down to 6 pt, in 0.5 pt steps) at which ``text`` fits ``box``."""
    text = unicodedata.normalize("NFC", text)
    missing = font.covers(text)
    if missing:
        raise LicenseRenderError(f"{missing} character(s) have no glyph in the CJK font", field=where)
    if not text:
        return max_size, []
    size = max_size
    while size >= min(MIN_TEXT_SIZE, max_size) - 1e-9:
        lines = _wrap(font, text, size, box.width, spacing)
        if lines is not None:
            height = size * (1 + LEADING * (len(lines) - 1))
            if height <= box.height + 1e-6:
                return size, lines
        size -= 0.5
    raise LicenseRenderError("the text does not fit its box even at 6 pt", field=where)


def _draw_qr(canvas: Canvas, text: str, box: Box) -> None:
    """Vector QR code: one filled path of horizontal runs of dark modules (no seams when rasterised).

    The path is written in module units under a ``cm`` scaling (ISO 32000-1 §8.4.4), so each run
    is four small integers: a version-15 code is ~1,500 runs, and formatting them as integers
    instead of reportlab's decimal coordinates is what keeps drawing it cheap.
    """
    try:
        qr = segno.make(text, error=QR_ERROR_LEVEL, boost_error=False, micro=False)
    except Exception as exc:  # segno raises DataOverflowError for too much data
        raise LicenseRenderError(f"the QR text cannot be encoded: {exc}") from None
    matrix = qr.matrix
    n = len(matrix) + 2 * QR_QUIET_ZONE
    module = box.width / n
    if module / MM < QR_MIN_MODULE_MM - 1e-9:
        raise LicenseRenderError(
            f"the QR text is too long for the QR box: version {qr.version} needs modules of "
            f"{module / MM:.2f} mm, below {QR_MIN_MODULE_MM} mm"
        )
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(box.x, box.y, box.width, box.height, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    rows = len(matrix)
    ops: list[str] = [f"{module:.6f} 0 0 {module:.6f} {box.x:.4f} {box.y:.4f} cm"]
    for r, row in enumerate(matrix):
        y = rows - 1 - r + QR_QUIET_ZONE  # module rows counted from the bottom of the box
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                ops.append(f"{start + QR_QUIET_ZONE} {y} {c - start} 1 re")
            else:
                c += 1
    ops.append("f")
    canvas._code.append("\n".join(ops))
    canvas.restoreState()


def _embed_metadata(canvas: Canvas, payload: bytes) -> None:
    """Attach ``metadata.json`` as an associated file (ISO 32000-2 §14.13, PDF/A-3 style)."""
    doc = canvas._doc
    params = pdfdoc.PDFDictionary(
        {
            "Size": len(payload),
            "CheckSum": _Raw(b"<" + hashlib.md5(payload, usedforsecurity=False).hexdigest().encode() + b">"),
        }
    )
    stream = pdfdoc.PDFStream(
        pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("EmbeddedFile"),
                "Subtype": _Raw(b"/application#2Fjson"),
                "Params": params,
            }
        ),
        payload,
        filters=[pdfdoc.PDFZCompress],
    )
    stream_ref = doc.Reference(stream)
    filespec = pdfdoc.PDFDictionary(
        {
            "Type": pdfdoc.PDFName("Filespec"),
            "F": pdfdoc.PDFString(METADATA_FILENAME),
            "UF": pdfdoc.PDFString(METADATA_FILENAME),
            "Desc": pdfdoc.PDFString("GB/T 36903 licence metadata"),
            "AFRelationship": pdfdoc.PDFName("Data"),
            "EF": pdfdoc.PDFDictionary({"F": stream_ref, "UF": stream_ref}),
        }
    )
    filespec_ref = doc.Reference(filespec)
    catalog = doc.Catalog
    catalog.Names = pdfdoc.PDFDictionary(
        {
            "EmbeddedFiles": pdfdoc.PDFDictionary(
                {"Names": pdfdoc.PDFArray([pdfdoc.PDFString(METADATA_FILENAME), filespec_ref])}
            )
        }
    )
    # reportlab's catalog writes only the keys it knows; /AF is added to this instance's list.
    catalog.AF = pdfdoc.PDFArray([filespec_ref])
    catalog.__NoDefault__ = [*type(catalog).__NoDefault__, "AF"]


def extract_metadata(pdf: bytes) -> bytes:
    """The ``metadata.json`` embedded by :func:`render_license`, read back from a (sealed) licence PDF.

    Looked up by name in the catalog's ``/EmbeddedFiles`` name tree (ISO 32000-1 §7.11.4), which
    incremental updates (the seal's signatures) leave in place. Raises :class:`LicenseRenderError`
    when the PDF carries no such file.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        root = PdfFileReader(io.BytesIO(pdf), strict=False).root
        names = root["/Names"]["/EmbeddedFiles"]["/Names"]
        for i in range(0, len(names) - 1, 2):
            if str(names[i]) == METADATA_FILENAME:
                return bytes(names[i + 1]["/EF"]["/F"].data)
    except (KeyError, TypeError, ValueError) as exc:
        raise LicenseRenderError(f"the PDF carries no readable {METADATA_FILENAME}: {exc}") from None
    raise LicenseRenderError(f"the PDF carries no {METADATA_FILENAME}")
