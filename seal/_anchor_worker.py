"""Anchor-text search, run as a child process by :mod:`seal.anchor` (never imported by the service).

Reads the PDF from stdin; argv[1] is the anchor (whitespace already removed), argv[2] a comma
list of 0-based page indexes, argv[3] and argv[4] the memory (bytes) and CPU (seconds) limits,
which the process sets on itself first. Prints one JSON object:
``{"page": i, "box": [x1, y1, x2, y2]}`` with coordinates relative to the lower-left corner of
the page's MediaBox (pdfminer's frame),
``{"page": null}`` when the text does not occur, or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any


def _lines(obj: Any) -> Any:
    from pdfminer.layout import LTTextLine

    if isinstance(obj, LTTextLine):
        yield obj
        return
    try:
        children = list(obj)
    except TypeError:
        return
    for child in children:
        yield from _lines(child)


def search(data: bytes, anchor: str, pages: list[int]) -> dict[str, Any]:
    import io

    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar

    for page_index, layout in zip(
        pages, extract_pages(io.BytesIO(data), page_numbers=pages, laparams=LAParams()), strict=False
    ):
        for line in _lines(layout):
            chars = []
            for ch in line:
                if isinstance(ch, LTChar):
                    text = "".join(unicodedata.normalize("NFKC", ch.get_text()).split())
                    for c in text:
                        chars.append((c, ch.bbox))
            joined = "".join(c for c, _ in chars)
            at = joined.find(anchor)
            if at >= 0:
                boxes = [b for _, b in chars[at : at + len(anchor)]]
                return {
                    "page": page_index,
                    "box": [
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    ],
                }
    return {"page": None}


def main() -> None:
    import resource

    memory, cpu = int(sys.argv[3]), int(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    data = sys.stdin.buffer.read()
    anchor = sys.argv[1]
    pages = [int(p) for p in sys.argv[2].split(",") if p]
    try:
        result = search(data, anchor, pages)
    except RecursionError:
        result = {"error": "the PDF nests objects too deeply"}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
