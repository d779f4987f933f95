"""Shared helpers for benchmarks: timing loops, a throw-away installation, a table printer."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ClusterSetup:
    """What a benchmark behind nginx runs on: a throw-away PostgreSQL database, a work directory,
    the listening port and the workers' environment (demo world, Redis, a fresh master key)."""

    db_url: str
    work: Path
    port: int
    env: dict[str, str]


@contextmanager
def cluster_setup(admin_pg: str, prefix: str, rate_limits: dict[str, str]) -> Iterator[ClusterSetup]:
    """A :class:`ClusterSetup` whose database is dropped afterwards, also when the run fails.
    ``YWT_ENV=test``: the demo world (department, seals, approval client) is refused in production."""
    import sqlalchemy as sa

    from deploy.cluster import free_port

    name = f"ywt_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db_url = str(sa.make_url(admin_pg).set(database=name))
    work = Path(tempfile.mkdtemp(prefix=f"ywt-bench-{prefix}-"))
    port = free_port()
    env = {
        "YWT_ENV": "test", "YWT_DEMO": "true", "YWT_HOME": str(work / "home"), "YWT_DATABASE_URL": db_url,
        "YWT_REDIS_URL": "redis://127.0.0.1:6379/0", "YWT_MASTER_KEY": secrets.token_hex(32),
        "YWT_BASE_URL": f"http://127.0.0.1:{port}", "YWT_RATE_LIMITS": json.dumps(rate_limits),
    }
    try:
        yield ClusterSetup(db_url, work, port, env)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
