"""Run every benchmark in bench/ and print one combined table.

Run: .venv/bin/python bench/run.py [NAME ...]   (or bench/run; `make bench`)

Each script (every bench/*.py except this runner and common.py) runs as its own process and
prints its own tables as before; the rows it passes to ``bench.common.table`` are collected
through ``YWT_BENCH_ROWS`` and printed once more at the end in one table: figure, our value, the
baseline measured in the same run, ratio. A script that fails is reported and the others still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run.py", "common.py", "__init__.py"}


def scripts(only: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))
    if only:
        found = [p for p in found if p.stem in only]
    return found


def main(argv: list[str]) -> int:
    fd, rows_file = tempfile.mkstemp(prefix="ywt-bench-", suffix=".jsonl")
    os.close(fd)
    env = os.environ | {"YWT_BENCH_ROWS": rows_file}
    failed: list[str] = []
    timings: list[tuple[str, float]] = []
    for script in scripts(argv):
        print(f"\n##### bench/{script.name}", flush=True)
        start = time.monotonic()
        r = subprocess.run([sys.executable, str(script)], env=env, cwd=HERE.parent)
        timings.append((script.stem, time.monotonic() - start))
        if r.returncode != 0:
            failed.append(f"{script.name} (exit {r.returncode})")
    rows = [json.loads(line) for line in Path(rows_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    Path(rows_file).unlink(missing_ok=True)
    print("\n\n################ all benchmarks ################")
    print(f"{'figure':58} {'ours':>12} {'baseline':>12} {'ratio':>8}  baseline is")
    table = None
    for row in rows:
        if row["table"] != table:
            table = row["table"]
            print(f"-- {table}")
        base = row["baseline"]
        ratio = f"{row['ours'] / base:7.2f}x" if base else f"{'-':>8}"
        b = f"{base:12.1f}" if base else f"{'-':>12}"
        print(f"{row['figure'][:58]:58} {row['ours']:12.1f} {b} {ratio}  {row['baseline_name']}")
    print("\n" + ", ".join(f"{name} {sec:.0f}s" for name, sec in timings))
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
