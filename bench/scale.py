"""The full scale and crash run of the deployment: 2,000 requests (licence issuance and PDF sealing,
8 clients) through nginx to 2 uvicorn workers on PostgreSQL + Redis, then 1,000 more while each
worker is killed with SIGKILL in turn and restarted.

Run: .venv/bin/python bench/scale.py   (~4 minutes on 2 cores; YWT_SCALE_REQUESTS to change 2,000)

The same function as tests/ops/test_deploy.py (which runs a smaller count in CI) judges the run:
zero 5xx in the steady part; every client, retrying with its Idempotency-Key, ends with exactly one
result; unique licence numbers, identifiers and serials; every licence has its sealed blob, every
seal use its journal entry; ``ywt audit verify`` passes. Figures: requests per second of the mix,
steady and under the kills, against GET /healthz through the same stack measured in the same run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import cluster_setup, table
from deploy.cluster import Cluster
from deploy.load import Kind, Outcome, run_load

ADMIN_PG = os.environ.get("YWT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOTAL = int(os.environ.get("YWT_SCALE_REQUESTS", "2000"))


def main() -> None:
    from tests.ops.test_deploy import scale_run

    limits = {"seal": "ip=100000000/60,client=100000000/60", "token": "off"}
    with cluster_setup(ADMIN_PG, "scale", limits) as setup:
        cluster = Cluster(workers=2, listen_port=setup.port, state=setup.work / "cluster", env=setup.env)
        with cluster.running(demo=True):
            healthz = Kind("healthz", 1.0,
                           lambda h: Outcome((r := h.get("/healthz")).status_code, r.status_code == 200))
            base = run_load(cluster.url, [healthz], clients=8, total=None, seconds=4).throughput()
            out = scale_run(cluster, setup.db_url, setup.work / "home", total=TOTAL)
        r = cluster.ywt("audit", "verify", check=False)
        if r.returncode != 0:
            raise SystemExit(f"audit verify failed:\n{r.stdout}{r.stderr}")
        print(r.stdout.strip())
    steady, crash = out["steady"], out["crash"]
    print(f"steady: {steady.total} requests in {steady.seconds:.0f}s; with kills: {crash.total} in "
          f"{crash.seconds:.0f}s, {sum(crash.retried.values())} retries; {out['licences']} licences, "
          f"{out['uses']} seal uses, all checks passed")
    table(f"scale: licences + seals, 8 clients, 2 workers + nginx, PostgreSQL + Redis ({TOTAL} requests)", [
        ("licence+seal requests/s, steady", steady.throughput(), base, "GET /healthz, same stack"),
        ("licence+seal requests/s, workers killed -9", crash.throughput(), steady.throughput(), "steady"),
    ])


if __name__ == "__main__":
    main()
