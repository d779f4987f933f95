"""Seal images: generated seals (PNG + vector PDF) and validation of uploaded PNGs."""

from __future__ import annotations

import io
import itertools
import math
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter

from core.errors import InvalidInput, TooLarge
from seal import images
from seal.errors import InvalidSealImage, InvalidSealSpec, MissingGlyphs, SealImageTooLarge
from seal.images import SealImageSpec, SealShape, render_pdf, render_png, validate_uploaded_image

RED = (0xE6, 0x00, 0x12)
ROUND = SealImageSpec(
    SealShape.ROUND, "天津市示例行政审批局", bottom_text="行政审批专用章", code="1201030012345"
)


def _open(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


@pytest.fixture(scope="module")
def round_png() -> bytes:
    return render_png(ROUND, dpi=600)


# ---------------------------------------------------------------------------- generated PNG


def test_round_png_is_rgba_at_requested_dpi(round_png: bytes) -> None:
    im = _open(round_png)
    assert im.format == "PNG"
    assert im.mode == "RGBA"
    assert im.size == (992, 992)  # 42 mm at 600 dpi
    assert im.info["dpi"] == pytest.approx((600, 600), abs=0.1)


def test_round_png_corners_are_transparent_and_ring_is_red(round_png: bytes) -> None:
    im = _open(round_png)
    w, h = im.size
    for corner in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (40, 40), (w - 41, h - 41)]:
        assert im.getpixel(corner)[3] == 0, corner
    ring_px = 1.26 / 25.4 * 600  # ring band is 3% of the diameter
    mid = round(ring_px / 2)
    for x, y in [(w // 2, mid), (w // 2, h - 1 - mid), (mid, h // 2), (w - 1 - mid, h // 2)]:
        r, g, b, a = im.getpixel((x, y))
        assert a == 255, (x, y)
        assert (r, g, b) == RED
    # just inside the ring, between the ring and the text, it is transparent again
    assert im.getpixel((w // 2, round(ring_px) + 6))[3] == 0
    # the star is solid at the centre
    assert im.getpixel((w // 2, h // 2))[3] == 255


def test_round_png_is_anti_aliased_and_mostly_transparent(round_png: bytes) -> None:
    alpha = _open(round_png).getchannel("A")
    hist = alpha.histogram()
    total = sum(hist)
    assert hist[0] / total > 0.45  # background
    assert sum(hist[1:255]) / total > 0.01  # soft edges
    assert hist[255] / total > 0.08  # ink


def test_output_is_deterministic(round_png: bytes) -> None:
    assert render_png(ROUND, dpi=600) == round_png
    assert render_pdf(ROUND) == render_pdf(ROUND)


def test_equal_specs_are_equal_and_hashable() -> None:
    again = SealImageSpec(
        "round", " 天津市示例行政审批局 ", bottom_text="行政审批专用章", code="1201030012345"
    )
    assert again == ROUND
    assert hash(again) == hash(ROUND)
    assert again.size_mm == (42.0, 42.0)
    assert again.star is True


# ---------------------------------------------------------------------------- real glyphs


def test_glyphs_are_real_not_notdef() -> None:
    font = images._font_info(images.DEFAULT_FONT_PATH)

    def mask(ch: str) -> Image.Image:
        return images._glyph_mask(ch, font, 64, 1.0, 0.0)

    # U+20000 and U+2A6D6 (CJK Ext. B) are not in WenQuanYi Zen Hei: both draw the .notdef box
    assert "\U00020000" not in font.advances
    tofu = mask("\U00020000")
    assert tofu.tobytes() == mask("\U0002a6d6").tobytes()
    seen = set()
    for ch in "天津市示例行政审批局专用章合同财务0123456789":
        m = mask(ch)
        assert m.getbbox() is not None, ch  # draws something
        diff = ImageChops.difference(m, tofu)
        assert sum(diff.histogram()[64:]) > 40, f"{ch!r} looks like the .notdef box"
        seen.add(m.tobytes())
    assert len(seen) == len("天津市示例行政审批局专用章合同财务0123456789")  # all distinct shapes


def test_different_names_give_different_pixels() -> None:
    a = _open(render_png(SealImageSpec(SealShape.ROUND, "天天天天天天"), dpi=200)).getchannel("A")
    b = _open(render_png(SealImageSpec(SealShape.ROUND, "津津津津津津"), dpi=200)).getchannel("A")
    changed = sum(ImageChops.difference(a, b).point(lambda v: 255 if v > 128 else 0).histogram()[255:])
    assert changed > 500


def test_missing_glyph_is_refused_with_the_characters() -> None:
    spec = SealImageSpec(SealShape.ROUND, "示例\U00020000局")
    with pytest.raises(MissingGlyphs) as info:
        render_png(spec)
    assert info.value.field == "text"
    assert info.value.chars == "\U00020000"
    assert "U+20000" in str(info.value)
    assert isinstance(info.value, InvalidInput)
    with pytest.raises(MissingGlyphs):
        render_pdf(spec)


def test_name_follows_the_upper_arc_evenly() -> None:
    font = images._font_info(images.DEFAULT_FONT_PATH)
    spec = SealImageSpec(SealShape.ROUND, "天津市示例行政审批局")  # no bottom text: 240 degrees
    layout = images._layout(spec, font)
    name = layout.glyphs[: len(spec.text)]
    rotations = [g.rotation for g in name]
    assert rotations[0] == pytest.approx(120.0)
    assert rotations[-1] == pytest.approx(-120.0)
    steps = [a - b for a, b in itertools.pairwise(rotations)]
    assert all(s == pytest.approx(240 / 9) for s in steps)
    radii = {round(math.hypot(g.x, g.y), 6) for g in name}
    assert len(radii) == 1  # on one circle
    # each character's "up" points away from the centre
    for g in name:
        up = math.radians(g.rotation + 90)
        assert math.cos(up) * g.x + math.sin(up) * g.y > 0


def test_code_runs_left_to_right_along_the_lower_arc() -> None:
    font = images._font_info(images.DEFAULT_FONT_PATH)
    layout = images._layout(ROUND, font)
    code = [g for g in layout.glyphs if g.ch.isdigit()]
    assert "".join(g.ch for g in code) == "1201030012345"
    xs = [g.x for g in code]
    assert xs == sorted(xs)
    assert all(g.y < 0 for g in code)
    assert all(abs(g.rotation) < 60 for g in code)  # upright-ish, facing the centre


def test_oval_and_rectangle_shapes() -> None:
    oval = _open(
        render_png(SealImageSpec(SealShape.OVAL, "天津市示例科技有限公司", bottom_text="合同专用章"), dpi=300)
    )
    assert oval.size == (496, 331)  # 42 x 28 mm
    assert oval.getpixel((0, 0))[3] == 0
    assert oval.getpixel((248, 3))[3] == 255  # top of the elliptical ring
    assert oval.getpixel((3, 165))[3] == 255  # left end

    rect = _open(render_png(SealImageSpec(SealShape.RECTANGLE, "天津市示例行政审批局", width_mm=40), dpi=300))
    assert rect.size == (472, 189)  # 40 x 16 mm
    # double border: opaque, gap, opaque, then the inside, along the middle row from the left
    row = [rect.getpixel((x, 94))[3] for x in range(0, 40)]
    runs = [k for k, _ in itertools.groupby(v > 127 for v in row)]
    assert runs[:4] == [True, False, True, False]


def test_pdf_is_sized_to_the_seal_and_embeds_its_font(tmp_path: Path) -> None:
    pdf = render_pdf(ROUND)
    assert pdf.startswith(b"%PDF-")
    box = re.search(rb"/MediaBox \[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    assert box is not None
    assert float(box.group(1)) == pytest.approx(42 / 25.4 * 72, abs=0.01)
    assert float(box.group(2)) == pytest.approx(42 / 25.4 * 72, abs=0.01)
    path = tmp_path / "seal.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    fonts = listing.splitlines()[2:]
    assert len(fonts) == 1, listing
    assert "WenQuanYiZenHei" in fonts[0]
    assert fonts[0].split()[-5:-2] == ["yes", "yes", "yes"]  # emb, sub, uni


@pytest.mark.parametrize(
    "spec",
    [
        ROUND,
        SealImageSpec(
            SealShape.OVAL, "天津市示例科技有限公司", bottom_text="合同专用章", code="1201030012345"
        ),
        SealImageSpec(SealShape.RECTANGLE, "天津市示例行政审批局", bottom_text="财务专用章", width_mm=40),
    ],
    ids=["round", "oval", "rectangle"],
)
def test_vector_pdf_matches_png_when_rendered_by_poppler(spec: SealImageSpec, tmp_path: Path) -> None:
    """poppler rasterises our vector seal; its ink must coincide with our PNG's alpha."""
    (tmp_path / "s.pdf").write_bytes(render_pdf(spec))
    subprocess.run(
        ["pdftoppm", "-r", "300", "-png", "-singlefile", str(tmp_path / "s.pdf"), str(tmp_path / "p")],
        check=True,
    )
    poppler = (
        Image.open(tmp_path / "p.png").convert("RGB").getchannel("G").point(lambda v: 255 if v < 128 else 0)
    )
    ours = _open(render_png(spec, dpi=300)).getchannel("A").point(lambda v: 255 if v > 127 else 0)
    assert abs(poppler.width - ours.width) <= 1 and abs(poppler.height - ours.height) <= 1
    box = (0, 0, min(poppler.width, ours.width), min(poppler.height, ours.height))
    a, b = poppler.crop(box), ours.crop(box)

    def share_within_one_pixel(x: Image.Image, y: Image.Image) -> float:
        near = ImageChops.multiply(x, y.filter(ImageFilter.MaxFilter(3)))
        return near.histogram()[255] / x.histogram()[255]

    # every ink pixel of one rendering lies within one pixel of ink in the other
    assert share_within_one_pixel(a, b) > 0.99
    assert share_within_one_pixel(b, a) > 0.99


# ---------------------------------------------------------------------------- spec validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shape": "hexagon"}, "shape"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "字" * 31}, "text"),
        ({"text": "示例\n局"}, "text"),
        ({"text": "示例\u200b局"}, "text"),
        ({"text": 42}, "text"),
        ({"bottom_text": "专" * 13}, "bottom_text"),
        ({"bottom_text": ""}, "bottom_text"),
        ({"code": "12-34"}, "code"),
        ({"code": "1" * 21}, "code"),
        ({"code": "１２３"}, "code"),  # full-width digits
        ({"code": 123}, "code"),
        ({"star": "yes"}, "star"),
        ({"width_mm": 19.9}, "width_mm"),
        ({"width_mm": 60.1}, "width_mm"),
        ({"width_mm": float("nan")}, "width_mm"),
        ({"width_mm": "42"}, "width_mm"),
        ({"width_mm": True}, "width_mm"),
        ({"height_mm": 40}, "height_mm"),
        ({"color": "red"}, "color"),
        ({"color": "#E6001"}, "color"),
    ],
)
def test_bad_round_specs_are_refused(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"shape": SealShape.ROUND, "text": "示例局"} | kwargs
    with pytest.raises(InvalidSealSpec) as info:
        SealImageSpec(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert isinstance(info.value, InvalidInput)
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shape": SealShape.OVAL, "height_mm": 45, "width_mm": 45}, "height_mm"),
        ({"shape": SealShape.OVAL, "height_mm": 13}, "height_mm"),
        ({"shape": SealShape.RECTANGLE, "code": "123"}, "code"),
        ({"shape": SealShape.RECTANGLE, "star": True}, "star"),
        ({"shape": SealShape.RECTANGLE, "text": "字" * 21}, "text"),
        ({"shape": SealShape.RECTANGLE, "height_mm": 9}, "height_mm"),
        ({"shape": SealShape.RECTANGLE, "width_mm": 30, "height_mm": 31}, "height_mm"),
    ],
)
def test_bad_oval_and_rectangle_specs_are_refused(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"text": "示例局"} | kwargs
    with pytest.raises(InvalidSealSpec) as info:
        SealImageSpec(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_defaults_per_shape() -> None:
    assert SealImageSpec(SealShape.OVAL, "示例").size_mm == (42.0, 28.0)
    assert SealImageSpec(SealShape.OVAL, "示例", width_mm=20).size_mm == (20.0, 14.0)
    assert SealImageSpec(SealShape.RECTANGLE, "示例", width_mm=20).size_mm == (20.0, 10.0)
    assert SealImageSpec(SealShape.OVAL, "示例").star is False
    assert SealImageSpec(SealShape.ROUND, "示例", color="#e60012").color == "#E60012"


@pytest.mark.parametrize("dpi", [0, 71, 1201, 300.0, True])
def test_bad_dpi_is_refused(dpi: object) -> None:
    with pytest.raises(InvalidSealSpec) as info:
        render_png(ROUND, dpi=dpi)  # type: ignore[arg-type]
    assert info.value.field == "dpi"


def test_unloadable_font_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(InvalidSealSpec) as info:
        render_png(ROUND, font_path=str(bogus))
    assert info.value.field == "font"


# ---------------------------------------------------------------------------- uploads


def _png(size: tuple[int, int] = (200, 120), mode: str = "RGBA", **save: object) -> bytes:
    colour: object = (230, 0, 18, 200) if mode == "RGBA" else 1
    im = Image.new(mode, size, colour)  # type: ignore[arg-type]
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _crafted_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = idat if idat is not None else zlib.compress(b"\x00" * 64)
    return images._PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_valid_upload_is_normalised_to_rgba_without_metadata() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret path C:\\Users\\someone")
    result = validate_uploaded_image(_png((300, 300), pnginfo=info))
    assert (result.width, result.height) == (300, 300)
    im = _open(result.png)
    assert im.mode == "RGBA"
    assert "Comment" not in im.info
    assert im.getpixel((5, 5)) == (230, 0, 18, 200)


def test_palette_png_with_transparency_becomes_rgba() -> None:
    im = Image.new("P", (100, 100), 0)
    im.putpalette([255, 255, 255, 230, 0, 18] + [0] * 762)
    im.paste(1, (20, 20, 80, 80))
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)
    out = _open(validate_uploaded_image(buf.getvalue()).png)
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0
    assert out.getpixel((50, 50)) == (230, 0, 18, 255)


def test_our_generated_seal_passes_upload_validation(round_png: bytes) -> None:
    assert validate_uploaded_image(round_png).width == 992


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (230, 0, 18)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (_jpeg(), "JPEG"),
        (b"GIF89a" + b"\x00" * 100, "GIF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"\x00" * 100, "only PNG"),
        (images._PNG_SIGNATURE + _jpeg(), "IHDR"),  # a JPEG behind a PNG signature
        (images._PNG_SIGNATURE + b"\x00\x00", "truncated"),
        (_crafted_png(0, 100), "empty image"),
        (_crafted_png(100, 0), "empty image"),
        (_crafted_png(10, 10), "at least 64"),
        (_crafted_png(100, 100, idat=b"not zlib at all"), "cannot be decoded"),
    ],
    ids=[
        "empty",
        "jpeg",
        "gif",
        "svg",
        "zeros",
        "png-magic-jpeg",
        "cut-header",
        "zero-w",
        "zero-h",
        "tiny",
        "bad-zlib",
    ],
)
def test_bad_uploads_are_refused(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidSealImage) as info:
        validate_uploaded_image(data)
    assert needle in str(info.value)
    assert isinstance(info.value, InvalidInput)


def test_truncated_png_is_refused() -> None:
    # noise does not compress, so the image data is long and the cut lands inside IDAT
    im = Image.frombytes("L", (256, 256), bytes((i * 7919) % 251 for i in range(256 * 256)))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    validate_uploaded_image(data)  # the whole file is fine
    for cut in (len(data) - 12, len(data) // 2, 60):
        with pytest.raises(InvalidSealImage, match="cannot be decoded"):
            validate_uploaded_image(data[:cut])


def test_corrupted_header_crc_is_refused() -> None:
    data = bytearray(_png())
    data[20] ^= 0x01  # inside IHDR width
    with pytest.raises(InvalidSealImage, match="checksum"):
        validate_uploaded_image(bytes(data))


def test_huge_dimensions_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decompression bomb: 100000 x 100000 px declared; Pillow must never be asked to open it."""
    bomb = _crafted_png(100_000, 100_000, idat=zlib.compress(b"\x00" * 100_000, 9))
    assert len(bomb) < 1000
    before = Image.MAX_IMAGE_PIXELS

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("Image.open called on a bomb")

    monkeypatch.setattr(images.Image, "open", no_open)
    with pytest.raises(SealImageTooLarge) as info:
        validate_uploaded_image(bomb)
    assert info.value.limit == 4096
    assert info.value.size == 100_000
    assert isinstance(info.value, TooLarge)
    assert before == Image.MAX_IMAGE_PIXELS  # no global mutation


def test_dimension_and_byte_limits_are_configurable() -> None:
    with pytest.raises(SealImageTooLarge, match="at most 256 px"):
        validate_uploaded_image(_png((300, 100)), max_side=256)
    data = _png((300, 300))
    with pytest.raises(SealImageTooLarge) as info:
        validate_uploaded_image(data, max_bytes=len(data) - 1)
    assert info.value.size == len(data)


def test_too_many_bytes_is_refused_before_parsing() -> None:
    with pytest.raises(SealImageTooLarge):
        validate_uploaded_image(images._PNG_SIGNATURE + b"\x00" * images.MAX_UPLOAD_BYTES)


def test_animated_png_is_refused() -> None:
    frames = [Image.new("RGBA", (100, 100), (230, 0, 18, a)) for a in (255, 128)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidSealImage, match="animated"):
        validate_uploaded_image(buf.getvalue())


def test_sixteen_bit_greyscale_is_accepted() -> None:
    out = validate_uploaded_image(_png((100, 100), mode="I;16"))
    assert _open(out.png).mode == "RGBA"


def test_draw_seal_places_the_seal_on_an_existing_page(tmp_path: Path) -> None:
    """The stamp helper draws at a given position and leaves the canvas state as it found it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    from seal.images import draw_seal

    path = tmp_path / "page.pdf"
    page = Canvas(str(path), pagesize=A4, invariant=1)
    draw_seal(page, ROUND, 300, 100)  # lower-left corner at (300 pt, 100 pt)
    page.rect(50, 700, 100, 50, stroke=0, fill=1)  # drawn after: must be black, not seal red
    page.showPage()
    page.save()
    subprocess.run(
        ["pdftoppm", "-r", "72", "-png", "-singlefile", str(path), str(tmp_path / "p")], check=True
    )
    im = Image.open(tmp_path / "p.png").convert("RGB")
    size = round(42 / 25.4 * 72)
    top = im.height - 100 - size  # PDF y grows upwards
    red = [(x, y) for x in range(im.width) for y in range(im.height) if im.getpixel((x, y)) == RED]
    assert red
    assert all(300 - 1 <= x <= 300 + size + 1 and top - 1 <= y <= top + size + 1 for x, y in red)
    assert im.getpixel((100, im.height - 725)) == (0, 0, 0)
