"""Helpers for the PDF sealing tests: sample documents, independent peers (poppler's pdfsig and
pdftoppm with an NSS database, OpenSSL), pyHanko validation with our roots, the journal."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asn1crypto import x509
from PIL import Image
from sqlmodel import select

from core.audit import AuditEntry

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
USCC = "11120000MB0000019W"
DEPT = "天津市示例行政审批局"


def make_pdf(
    pages: int = 1, *, text: str = "天津市示例行政审批局 准予行政许可决定书", anchor: str | None = "（盖章）"
) -> bytes:
    """An A4 decision with CJK text (embedded TrueType subset, ToUnicode), one anchor per page."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas

    if "WQY" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("WQY", FONT, subfontIndex=0))
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(595.28, 841.89), invariant=1)
    for i in range(pages):
        c.setFont("WQY", 16)
        c.drawString(72, 760, text)
        c.setFont("WQY", 12)
        c.drawString(72, 720, f"第 {i + 1} 页 / 共 {pages} 页  审批编号 SP-2026-{i + 1:04d}")
        if anchor:
            c.drawString(400, 200, anchor)
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, encrypt="user-pw")
    c.drawString(72, 720, "secret")
    c.showPage()
    c.save()
    return buf.getvalue()


def raw_pdf(objs: list[bytes], root: int = 1) -> bytes:
    """A hand-built PDF with a correct cross-reference table (for hostile structures)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def nested_pdf(depth: int = 5000) -> bytes:
    deep = b"[" * depth + b"]" * depth
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots " + deep + b" >>",
        ]
    )


def looping_pdf() -> bytes:
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
        ]
    )


# ------------------------------------------------------------------------------ auth


class TokenBox(dict[str, dict[str, str]]):
    """name -> bearer header, from the ``tokens`` fixture (real client_credentials access tokens)."""

    def __init__(self, issue: Callable[[], dict[str, str]]) -> None:
        super().__init__()
        self._issue = issue
        self.renew()

    def renew(self) -> None:
        self.update({name: {"Authorization": f"Bearer {t}"} for name, t in self._issue().items()})


Tokens = TokenBox


# ------------------------------------------------------------------------------ peers


def nss_db(tmp: Path, roots_pem: list[str]) -> str:
    d = tmp / "nss"
    d.mkdir(exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{d}", "--empty-password"], check=True, capture_output=True)
    for i, pem in enumerate(roots_pem):
        f = tmp / f"root{i}.pem"
        f.write_text(pem)
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{d}", "-n", f"root{i}", "-t", "CT,C,C", "-i", str(f)],
            check=True,
            capture_output=True,
        )
    return f"sql:{d}"


def pdfsig(pdf: Path, nssdir: str) -> str:
    proc = subprocess.run(
        ["pdfsig", "-nssdir", nssdir, "-no-ocsp", str(pdf)], capture_output=True, text=True, check=False
    )
    return proc.stdout + proc.stderr


def signature_blocks(report: str) -> list[str]:
    return report.split("Signature #")[1:]


def render_page(pdf: Path, out_prefix: Path, page: int = 1, dpi: int = 150) -> Image.Image:
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", str(pdf), str(out_prefix)],
        check=True,
        capture_output=True,
    )
    png = next(out_prefix.parent.glob(out_prefix.name + "*.png"))
    return Image.open(png).convert("RGB")


def red_fraction(
    img: Image.Image, box_pt: tuple[float, float, float, float], page_height_pt: float, dpi: int = 150
) -> float:
    """Share of seal-red pixels inside a box given in PDF points (origin bottom-left)."""
    k = dpi / 72
    x1, y1, x2, y2 = box_pt
    left, right = int(x1 * k) + 2, int(x2 * k) - 2
    top, bottom = int((page_height_pt - y2) * k) + 2, int((page_height_pt - y1) * k) - 2
    crop = img.crop((left, top, right, bottom))
    px = list(crop.get_flattened_data()) if hasattr(crop, "get_flattened_data") else list(crop.getdata())
    red = sum(1 for r, g, b in px if r > 180 and g < 110 and b < 110)
    return red / max(1, len(px))


def journal_tail(session: Any, n: int = 5) -> list[AuditEntry]:
    rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n)).all()  # type: ignore[attr-defined]
    return list(rows)


def cert_of(der: bytes) -> x509.Certificate:
    return x509.Certificate.load(der)
