"""Worker functions that misbehave on purpose (sandbox tests): picklable, importable."""

from __future__ import annotations

import time


def hog_memory(megabytes: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    return len(blocks)


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def recurse(n: int) -> int:
    return recurse(n + 1) + 1
