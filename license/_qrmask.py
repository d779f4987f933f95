"""Fast QR data-mask selection (ISO/IEC 18004:2015 §7.8.2-7.8.3) for segno.

segno evaluates the eight data masks module by module in pure Python; for the version-15 symbol
of a licence URL that is about 70 ms of the ~190 ms it takes to render a licence. This module
does the same evaluation on rows held as integers and strings, where the work happens in C
(XOR, ``int.bit_count``, ``str.find``, ``re``), about 20 times faster.

It must choose exactly the mask segno would choose and produce exactly the same matrix, so it
mirrors segno's scoring, including its reading of the N3 rule (a 1:1:3:1:1 pattern at the
symbol edge counts, as the quiet zone is light). ``tests/license/test_license_qrmask.py``
checks it against segno's own function on hundreds of payloads of every length we produce.
Micro QR codes and proposed masks are passed to segno's function unchanged.

:func:`install` replaces ``segno.encoder.find_and_apply_best_mask`` once per process.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any, Final

from segno import encoder as _segno_encoder

__all__ = ["find_and_apply_best_mask", "install"]

_enc: Any = _segno_encoder  # untyped internals of segno: kept inside this module

_ORIGINAL: Final[Callable[..., Any]] = _enc.find_and_apply_best_mask
_RUNS: Final = re.compile(r"0{5,}|1{5,}")
_N3: Final = "1011101"
_TO_01: Final = bytes.maketrans(b"\x00\x01", b"01")
_FROM_01: Final = bytes.maketrans(b"01", b"\x00\x01")
_lock = threading.Lock()
_installed = False


@functools.lru_cache(maxsize=64)
def _mask_rows(width: int) -> tuple[tuple[int, ...], ...]:
    """Per mask pattern, per row: an integer with the bits to flip (pattern AND data region)."""
    function_matrix = _enc.make_matrix(width, width)
    _enc.add_finder_patterns(function_matrix, width, width)
    _enc.add_alignment_patterns(function_matrix, width, width)
    function_matrix[-8][8] = 0x1
    out = []
    for pattern in _enc.get_data_mask_functions(False):
        rows = []
        for i in range(width):
            bits = 0
            frow = function_matrix[i]
            for j in range(width):
                bits <<= 1
                if frow[j] > 0x1 and pattern(i, j):
                    bits |= 1
            rows.append(bits)
        out.append(tuple(rows))
    return tuple(out)


def _n3(s: str, size: int) -> int:
    count = 0
    idx = s.find(_N3)
    while idx != -1:
        offset = idx + 7
        if idx in (0, size - 7) or "1" not in s[max(idx - 4, 0) : idx] or "1" not in s[offset : offset + 4]:
            count += 40
        else:
            offset = idx + 4
        idx = s.find(_N3, offset)
    return count


def _score(rows: list[int], width: int) -> int:
    fmt = f"0{width}b"
    strings = [format(r, fmt) for r in rows]
    columns = ["".join(c) for c in zip(*strings, strict=True)]
    n1 = 0
    n3 = 0
    for s in (*strings, *columns):
        for m in _RUNS.finditer(s):
            n1 += m.end() - m.start() - 2
        n3 += _n3(s, width)
    full = (1 << width) - 1
    pairs = (1 << (width - 1)) - 1
    n2 = 0
    for a, b in itertools.pairwise(rows):
        v = ~(a ^ b) & full
        h = ~(b ^ (b >> 1)) & full
        n2 += (v & (v >> 1) & h & pairs).bit_count()
    dark = sum(r.bit_count() for r in rows)
    percent = float(dark) / (width**2)
    n4 = 10 * int(abs(percent * 100 - 50) / 5)
    return n1 + 3 * n2 + n3 + n4


def find_and_apply_best_mask(matrix: Any, width: int, height: int, proposed_mask: int | None = None) -> Any:
    """Drop-in replacement for ``segno.encoder.find_and_apply_best_mask`` (same arguments and result)."""
    if width != height or width < 21 or proposed_mask is not None:
        return _ORIGINAL(matrix, width, height, proposed_mask)
    try:
        base = [int(bytes(row).translate(_TO_01), 2) for row in matrix]
    except ValueError:  # a module that is neither 0 nor 1: leave it to segno
        return _ORIGINAL(matrix, width, height, proposed_mask)
    best_score = None
    best: tuple[int, list[int]] | None = None
    for number, flips in enumerate(_mask_rows(width)):
        masked = [r ^ f for r, f in zip(base, flips, strict=True)]
        score = _score(masked, width)
        if best_score is None or score < best_score:
            best_score, best = score, (number, masked)
    assert best is not None
    fmt = f"0{width}b"
    return best[0], tuple(bytearray(format(r, fmt).encode().translate(_FROM_01)) for r in best[1])


def install() -> None:
    """Make segno use :func:`find_and_apply_best_mask` (idempotent, process-wide)."""
    global _installed  # noqa: PLW0603 - one-time process patch
    with _lock:
        if not _installed:
            _enc.find_and_apply_best_mask = find_and_apply_best_mask
            _installed = True
