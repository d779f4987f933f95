"""Licence PDF rendering, judged by independent tools (poppler, zbar, pyHanko)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from licence_helpers import ZBARIMG_QR
from license_samples import (
    BUSINESS,
    FOOD,
    LONG_QR_TEXT,
    QUALIFICATION,
    business_data,
    food_data,
    person_data,
    sample_record,
)
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, append_signature_field

from license.errors import InvalidLicenseData, LicenseRenderError
from license.layout import Box, Placement
from license.metadata import LicenseMetadata
from license.render import METADATA_FILENAME, render_license
from license.types import FieldKind, LicenseType, builtin_types

SAMPLES = {BUSINESS: business_data, FOOD: food_data, QUALIFICATION: person_data}
DPI = 150


def _render(code: str, data: dict[str, Any] | None = None, qr: str = LONG_QR_TEXT) -> tuple[bytes, LicenseMetadata]:
    t = builtin_types()[code]
    identifier, values, metadata = sample_record(t, data if data is not None else SAMPLES[code]())
    return render_license(t, values, metadata, identifier, qr), metadata


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[bytes, LicenseMetadata]]:
    return {code: _render(code) for code in SAMPLES}


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def _png(pdf: bytes, tmp_path: Path, name: str = "licence") -> Path:
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    _run("pdftoppm", "-r", str(DPI), "-png", "-singlefile", src, tmp_path / name)
    return tmp_path / f"{name}.png"


def _embedded_metadata(pdf: bytes) -> tuple[bytes, Any, Any]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert len(names) == 2 and names[0] == METADATA_FILENAME
    filespec = names[1]
    return filespec["/EF"]["/F"].data, filespec, reader


@pytest.mark.parametrize("code", list(SAMPLES))
def test_cjk_font_is_embedded(rendered: dict[str, tuple[bytes, LicenseMetadata]], code: str, tmp_path: Path) -> None:
    pdf = tmp_path / "l.pdf"
    pdf.write_bytes(rendered[code][0])
    rows = _run("pdffonts", pdf).splitlines()[2:]
    assert rows, "no fonts listed"
    assert any("WenQuanYi" in row for row in rows)
    for row in rows:  # name type encoding emb sub uni object ID
        cols = row.split()
        assert cols[-5] == "yes", row  # every font embedded (no Helvetica fallback)


@pytest.mark.parametrize("code", list(SAMPLES))
def test_qr_code_decodes_from_a_150_dpi_rendering(
    rendered: dict[str, tuple[bytes, LicenseMetadata]], code: str, tmp_path: Path
) -> None:
    assert len(LONG_QR_TEXT) == 304
    png = _png(rendered[code][0], tmp_path)
    decoded = _run(*ZBARIMG_QR, png)
    assert decoded.rstrip("\n") == LONG_QR_TEXT


@pytest.mark.parametrize("code", list(SAMPLES))
def test_text_is_extractable(rendered: dict[str, tuple[bytes, LicenseMetadata]], code: str, tmp_path: Path) -> None:
    pdf = tmp_path / "l.pdf"
    pdf.write_bytes(rendered[code][0])
    text = "".join(_run("pdftotext", pdf, "-").split())  # title letter-spacing may add spaces
    t = builtin_types()[code]
    metadata = rendered[code][1]
    assert t.name in text
    assert metadata.get("CZZT") in text
    assert metadata.get("ZZBS") in text


@pytest.mark.parametrize("code", list(SAMPLES))
def test_metadata_is_embedded_and_extractable(rendered: dict[str, tuple[bytes, LicenseMetadata]], code: str) -> None:
    pdf, metadata = rendered[code]
    raw, filespec, reader = _embedded_metadata(pdf)
    assert raw == metadata.to_json_bytes()
    assert LicenseMetadata.from_json(raw) == metadata
    assert filespec["/AFRelationship"] == "/Data"
    assert filespec["/EF"]["/F"]["/Subtype"] == "/application/json"
    assert filespec["/EF"]["/F"]["/Params"]["/Size"] == len(raw)
    assert reader.root["/AF"][0] == filespec


def test_pdf_is_one_clean_revision_that_pyhanko_can_extend(
    rendered: dict[str, tuple[bytes, LicenseMetadata]],
) -> None:
    pdf = rendered[BUSINESS][0]
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    assert reader.xrefs.total_revisions == 1
    assert reader.input_version >= (1, 7)
    assert reader.root["/Pages"]["/Count"] == 1
    # What the sealing step will do first: add a signature field over the seal box as an
    # incremental update; the result must read back strictly with both revisions.
    seal = builtin_types()[BUSINESS].layout.seal
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    append_signature_field(writer, SigFieldSpec("Seal", box=(seal.x, seal.y, seal.right, seal.top), on_page=0))
    out = io.BytesIO()
    writer.write(out)
    again = PdfFileReader(io.BytesIO(out.getvalue()), strict=True)
    assert again.xrefs.total_revisions == 2
    assert out.getvalue().startswith(pdf)


def test_output_is_deterministic_within_and_across_processes(
    rendered: dict[str, tuple[bytes, LicenseMetadata]],
) -> None:
    pdf = rendered[FOOD][0]
    assert _render(FOOD)[0] == pdf
    code = (
        "import hashlib, sys\n"
        "sys.path[:0] = ['.', 'tests/license']\n"
        "from test_license_render import _render\n"
        "print(hashlib.sha256(_render(sys.argv[1])[0]).hexdigest())\n"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", code, FOOD], cwd=root, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == hashlib.sha256(pdf).hexdigest()


def test_pdf_is_small(rendered: dict[str, tuple[bytes, LicenseMetadata]]) -> None:
    for pdf, _ in rendered.values():
        assert len(pdf) < 80_000  # subset font: tens of kilobytes, not the 17 MB collection


@pytest.mark.parametrize("code", list(SAMPLES))
def test_seal_box_is_left_blank(rendered: dict[str, tuple[bytes, LicenseMetadata]], code: str, tmp_path: Path) -> None:
    layout = builtin_types()[code].layout
    with Image.open(_png(rendered[code][0], tmp_path)) as img:
        gray = img.convert("L")
        scale = DPI / 72
        box = layout.seal
        crop = gray.crop(
            (
                round(box.x * scale),
                round((layout.page_height - box.top) * scale),
                round(box.right * scale),
                round((layout.page_height - box.y) * scale),
            )
        )
        assert crop.getextrema() == (255, 255)  # nothing drawn where the seal goes
        qr = layout.qr
        qr_crop = gray.crop(
            (
                round(qr.x * scale),
                round((layout.page_height - qr.top) * scale),
                round(qr.right * scale),
                round((layout.page_height - qr.y) * scale),
            )
        )
        assert qr_crop.getextrema() == (0, 255)  # whereas the QR box is not


def _worst_case(t: LicenseType) -> dict[str, Any]:
    data = SAMPLES[t.type_code]()
    for f in t.fields:
        if f.kind is FieldKind.TEXT and f.pattern is None and f.max_length:
            data[f.key] = "鑫" * f.max_length  # a wide glyph at the maximum length
        elif f.kind is FieldKind.ENUM:
            data[f.key] = max(f.options, key=len)
        elif f.kind is FieldKind.MONEY:
            data[f.key] = "999999999999999.99"
    return data


@pytest.mark.parametrize("code", list(SAMPLES))
def test_longest_valid_values_still_fit(code: str, tmp_path: Path) -> None:
    t = builtin_types()[code]
    pdf, _ = _render(code, _worst_case(t))
    png = _png(pdf, tmp_path)
    assert _run(*ZBARIMG_QR, png).rstrip("\n") == LONG_QR_TEXT


def test_qr_text_too_long_for_the_box_is_refused() -> None:
    with pytest.raises(LicenseRenderError, match="too long for the QR box"):
        _render(QUALIFICATION, qr="http://127.0.0.1:8000/v/" + "x" * 900)
    with pytest.raises(LicenseRenderError, match="cannot be encoded"):
        _render(QUALIFICATION, qr="x" * 5000)
    with pytest.raises(LicenseRenderError, match="non-empty"):
        _render(QUALIFICATION, qr="")


def test_characters_missing_from_the_font_are_refused() -> None:
    data = {**person_data(), "name": "王𠀀明"}  # CJK Extension B: not in WenQuanYi Zen Hei
    with pytest.raises(LicenseRenderError) as err:
        _render(QUALIFICATION, data)
    assert err.value.field == "name"
    assert "𠀀" not in str(err.value)


def test_text_that_cannot_fit_is_refused(base_business_dict: dict[str, Any]) -> None:
    for p in base_business_dict["layout"]["placements"]:
        if p.get("field") == "business_scope":
            p["box"] = [60, 230, 390, 50]
    t = LicenseType.from_dict(base_business_dict)
    identifier, values, metadata = sample_record(t, {**business_data(), "business_scope": "经营" * 400})
    with pytest.raises(LicenseRenderError) as err:
        render_license(t, values, metadata, identifier, LONG_QR_TEXT)
    assert err.value.field == "business_scope"


def test_metadata_must_belong_to_the_licence() -> None:
    t = builtin_types()[BUSINESS]
    identifier, values, metadata = sample_record(t, business_data())
    other_identifier, _, _ = sample_record(t, business_data(), serial="2024000002")
    with pytest.raises(InvalidLicenseData) as err:
        render_license(t, values, metadata, other_identifier, LONG_QR_TEXT)
    assert err.value.fields == ("identifier",)
    food = builtin_types()[FOOD]
    with pytest.raises(InvalidLicenseData) as err:
        render_license(food, food_data(), metadata, identifier, LONG_QR_TEXT)
    assert err.value.fields == ("type_code", "holder_name", "holder_code")
    with pytest.raises(InvalidLicenseData) as err:
        render_license(t, {**values, "name": "另一家公司"}, metadata, identifier, LONG_QR_TEXT)
    assert err.value.fields == ("holder_name",)


def test_record_slot_needs_its_metadata_element() -> None:
    t = builtin_types()[BUSINESS]
    identifier, values, metadata = sample_record(t, business_data())
    stripped = LicenseMetadata(tuple((k, v) for k, v in metadata.elements if k != "ZZBFJG"))
    with pytest.raises(LicenseRenderError, match="ZZBFJG"):
        render_license(t, values, stripped, identifier, LONG_QR_TEXT)


def test_missing_font_file(tmp_path: Path) -> None:
    t = builtin_types()[BUSINESS]
    identifier, values, metadata = sample_record(t, business_data())
    with pytest.raises(LicenseRenderError, match="font not found"):
        render_license(t, values, metadata, identifier, LONG_QR_TEXT, font_path=tmp_path / "none.ttf")


def test_validity_slot_prints_open_ended(tmp_path: Path) -> None:
    pdf, _ = _render(QUALIFICATION)
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    text = _run("pdftotext", path, "-")
    assert "2024年06月01日 至 长期" in text


def test_placement_value_box_excludes_label() -> None:
    p = Placement("name", Box(10, 10, 200, 20), label_width=50)
    assert p.value_box == Box(60, 10, 150, 20)
    assert replace(p, label_width=0.0).value_box == Box(10, 10, 200, 20)
