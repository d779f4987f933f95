"""Shared helpers for benchmarks: timing loops, a throw-away installation, a table printer."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.container import Services, build_services, initialise
from core.settings import Settings


def rate(fn: Callable[[], Any], seconds: float = 2.0, min_ops: int = 5) -> float:
    """Operations per second of ``fn`` over about ``seconds`` (best of three slices)."""
    fn()  # warm up
    results = []
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3 and n >= min_ops:
                break
        results.append(n / elapsed)
    return max(results)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def installation(demo: bool = False) -> Services:
    home = Path(tempfile.mkdtemp(prefix="ywt-bench-"))
    settings = Settings(home=home, env="test", demo=demo, base_url="http://127.0.0.1:8000")  # type: ignore[arg-type]
    services = build_services(settings)
    initialise(services, demo=demo)
    return services


def table(title: str, rows: list[tuple[str, float, float | None, str]]) -> None:
    """rows: (figure, ours, baseline or None, baseline name)."""
    print(f"\n== {title} ==")
    print(f"{'figure':44} {'ours':>12} {'baseline':>12} {'ratio':>7}  baseline is")
    for name, ours, base, base_name in rows:
        ratio = f"{ours / base:6.2f}x" if base else "     -"
        b = f"{base:12.1f}" if base else f"{'-':>12}"
        print(f"{name:44} {ours:12.1f} {b} {ratio}  {base_name}")
