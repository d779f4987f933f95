"""Find anchor text in an untrusted PDF, isolated in a child process.

Text extraction (pdfminer.six) parses fonts, CMaps and content streams that pyHanko never
touches when signing, and pdfminer has no decode limits; so it runs in a separate process with
an address-space and CPU limit (set by the child itself, first thing) and a wall-clock
timeout. A hostile file can at worst make that
child fail, which becomes a clear :class:`~seal.errors.DamagedPdf`, never a stuck or bloated
service process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from seal.errors import DamagedPdf, InvalidSealRequest

__all__ = ["find_anchor"]

_WORKER: Final = Path(__file__).with_name("_anchor_worker.py")
MEMORY_LIMIT: Final = 1024 * 1024 * 1024
CPU_SECONDS: Final = 20
TIMEOUT_SECONDS: Final = 30


def find_anchor(
    pdf: bytes,
    anchor: str,
    pages: Sequence[int],
    media_origins: Sequence[tuple[float, float]],
    rotations: Sequence[int],
) -> tuple[int, tuple[float, float, float, float]] | None:
    """First occurrence of ``anchor`` on ``pages`` (0-based), as (page index, absolute box)."""
    order = sorted(set(pages))
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-I",
                str(_WORKER),
                anchor,
                ",".join(str(p) for p in order),
                str(MEMORY_LIMIT),
                str(CPU_SECONDS),
            ],
            input=pdf,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DamagedPdf("searching the anchor text took too long; give coordinates instead") from None
    try:
        result = json.loads(proc.stdout or b"{}")
    except ValueError:
        result = {}
    if proc.returncode != 0 or not isinstance(result, dict) or "error" in result or "page" not in result:
        why = str(result.get("error", "")) if isinstance(result, dict) else ""
        raise DamagedPdf(f"the text of the PDF cannot be read for the anchor search{': ' + why if why else ''}")
    page = result["page"]
    if page is None:
        return None
    index = int(page)
    if rotations[index] % 360:
        raise InvalidSealRequest("anchor", "anchor search on rotated pages is not supported; give x and y instead")
    x1, y1, x2, y2 = (float(v) for v in result["box"])
    ox, oy = media_origins[index]
    return index, (x1 + ox, y1 + oy, x2 + ox, y2 + oy)
