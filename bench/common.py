"""Shared helpers for benchmarks: timing loops, a throw-away installation, a table printer."""

from __future__ import annotations

import json
import os
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
    settings = Settings(  # type: ignore[arg-type]  # throughput, not the limits: rate limits off
        home=home, env="test", demo=demo, base_url="http://127.0.0.1:8000", rate_limits_enabled=False
    )
    services = build_services(settings)
    initialise(services, demo=demo)
    return services


def table(title: str, rows: list[tuple[str, float, float | None, str]]) -> None:
    """rows: (figure, ours, baseline or None, baseline name).

    Under bench/run.py (``YWT_BENCH_ROWS`` names a file) the rows are also appended there as JSON
    lines, so that one combined table can be printed at the end."""
    sink = os.environ.get("YWT_BENCH_ROWS")
    if sink:
        with open(sink, "a", encoding="utf-8") as fh:
            for name, ours, base, base_name in rows:
                fh.write(json.dumps({"table": title, "figure": name, "ours": ours, "baseline": base,
                                     "baseline_name": base_name}, ensure_ascii=False) + "\n")
    print(f"\n== {title} ==")
    print(f"{'figure':44} {'ours':>12} {'baseline':>12} {'ratio':>7}  baseline is")
    for name, ours, base, base_name in rows:
        ratio = f"{ours / base:6.2f}x" if base else "     -"
        b = f"{base:12.1f}" if base else f"{'-':>12}"
        print(f"{name:44} {ours:12.1f} {b} {ratio}  {base_name}")
