"""Synthetic base-data set generation time (10,000 persons, 1,000 entities).

Run: .venv/bin/python bench/identity_data.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from identity.sources.synthetic import generate


def main() -> None:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        generate.__wrapped__()  # bypass the cache
        samples.append(time.perf_counter() - start)
    print(f"synthetic data set (10,000 persons, 1,000 entities): best {min(samples) * 1000:.0f} ms, "
          f"median {sorted(samples)[2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
