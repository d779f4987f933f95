"""Server-side decoding of QR codes in photos (PNG/JPEG), with zbar (``zbarimg``).

The image is first checked and normalised with Pillow — format must be PNG or JPEG, the pixel
count is bounded before decoding (decompression bombs), EXIF orientation applied, large photos
scaled down to at most 2000 px (zbar finds codes faster and as reliably) — then written as PNG
to a private temporary file that zbarimg reads under a timeout. Nothing is kept.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from verify.errors import BadImage, NoQrCode

MAX_PIXELS = 40_000_000
MAX_SIDE = 2000
ZBAR_TIMEOUT = 15.0


def decode(image: bytes) -> list[str]:
    """Every QR code's text in the image (raw); raises BadImage or NoQrCode."""
    if not image:
        raise BadImage("the image is empty")
    try:
        with Image.open(io.BytesIO(image)) as probe:
            fmt = probe.format
            width, height = probe.size
        if fmt not in ("PNG", "JPEG"):
            raise BadImage(f"{fmt or 'unknown'} images are not accepted; send a PNG or JPEG photo", format=str(fmt))
        if width * height > MAX_PIXELS:
            raise BadImage(f"the image has {width}x{height} pixels; at most {MAX_PIXELS} are accepted")
        with Image.open(io.BytesIO(image)) as opened:
            upright = ImageOps.exif_transpose(opened)
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            gray = upright.convert("L")
            out = io.BytesIO()
            gray.save(out, "PNG")
    except BadImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage("the file is not a readable PNG or JPEG image") from exc
    with tempfile.TemporaryDirectory(prefix="ywt-qr-") as tmp:
        path = Path(tmp) / "photo.png"
        path.write_bytes(out.getvalue())
        try:
            proc = subprocess.run(
                ["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
                capture_output=True,
                timeout=ZBAR_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise NoQrCode("the image could not be decoded in time") from exc
    texts = [line.strip() for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    if proc.returncode not in (0, 4) or not texts:  # zbarimg: 4 = no symbol found
        raise NoQrCode("no QR code was found in the image; photograph the code straight on, in focus")
    return texts
