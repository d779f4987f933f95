"""OCSP and TSA throughput with 1 and 2 uvicorn workers behind nginx, on PostgreSQL + Redis.

Run: .venv/bin/python bench/cluster.py   (requests per second; ~2 minutes)

The deployment of deploy/cluster.py on loopback, a fresh PostgreSQL database, Redis-backed rate
limits switched to limits the load never reaches (so the Redis round trip is in the figures).
Load: deploy/load.py with 8 client threads in one process, keep-alive connections, answers checked
only for status and media type (parsing them would make the generator the bottleneck). The
machine has 2 cores shared by nginx, the workers, PostgreSQL and the generator, so "2 workers"
shows how far the stack scales here, not on a server. Baselines measured in the same run:
GET /healthz through the same nginx + 1 worker (the floor of the stack), and each 1-worker figure
for its 2-worker counterpart.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa

from bench.common import table
from deploy.cluster import Cluster, free_port
from deploy.load import Kind, Outcome, run_load

ADMIN_PG = os.environ.get("YWT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECONDS = float(os.environ.get("YWT_BENCH_SECONDS", "8"))
CLIENTS = 8


def _post_kind(name: str, path: str, body: bytes, ctype: str, expect: str) -> Kind:
    def run(http: httpx.Client) -> Outcome:
        r = http.post(path, content=body, headers={"Content-Type": ctype})
        return Outcome(r.status_code, r.status_code == 200 and r.headers.get("content-type") == expect)

    return Kind(name, 1.0, run)


def _tsa_kind() -> Kind:
    from asn1crypto import tsp

    def run(http: httpx.Client) -> Outcome:
        q = tsp.TimeStampReq({"version": 1, "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(os.urandom(8)).digest()}})
        r = http.post("/pki/tsa", content=q.dump(), headers={"Content-Type": "application/timestamp-query"})
        ok = r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
        return Outcome(r.status_code, ok)

    return Kind("tsa", 1.0, run)


def _ocsp_request(url: str) -> bytes:
    """An OCSP request for one certificate the cluster issued (the TSA's, found via /pki/cas)."""
    from asn1crypto import ocsp, pem, x509

    cas = httpx.get(url + "/pki/cas", timeout=30).json()
    ca = next(c for c in cas if c["id"] == "ecdsa-service")
    issuer = x509.Certificate.load(pem.unarmor(ca["certificate_pem"].encode())[2])
    # any serial works for throughput; an unknown serial still gets a signed "unknown" answer
    return ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
        "hash_algorithm": {"algorithm": "sha1"}, "issuer_name_hash": issuer.subject.sha1,
        "issuer_key_hash": issuer.public_key.sha1, "serial_number": secrets.randbits(120)}}]}}).dump()


def measure(cluster: Cluster, kind: Kind) -> float:
    run_load(cluster.url, [kind], clients=CLIENTS, total=50)  # warm up connections and caches
    res = run_load(cluster.url, [kind], clients=CLIENTS, total=None, seconds=SECONDS)
    bad = res.count_5xx() + sum(res.wrong.values())
    if bad:
        print(f"  warning: {kind.name}: {bad} failed or wrong answers\n{res.summary()}")
    return res.throughput()


def main() -> None:
    name = f"ywt_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db_url = str(sa.make_url(ADMIN_PG).set(database=name))
    work = Path(tempfile.mkdtemp(prefix="ywt-bench-cluster-"))
    port = free_port()
    env = {
        "YWT_ENV": "production", "YWT_DEMO": "false", "YWT_HOME": str(work / "home"), "YWT_DATABASE_URL": db_url,
        "YWT_REDIS_URL": "redis://127.0.0.1:6379/0", "YWT_MASTER_KEY": secrets.token_hex(32),
        "YWT_BASE_URL": f"http://127.0.0.1:{port}",
        "YWT_RATE_LIMITS": '{"ocsp": "ip=100000000/60", "tsa": "ip=100000000/60"}',
    }
    figures: dict[tuple[str, int], float] = {}
    try:
        for workers in (1, 2):
            cluster = Cluster(workers=workers, listen_port=port, state=work / f"cluster{workers}", env=env)
            with cluster.running(init=workers == 1):
                ocsp_req = _ocsp_request(cluster.url)
                kinds = {
                    "healthz": Kind("healthz", 1.0, lambda h: Outcome((r := h.get("/healthz")).status_code,
                                                                       r.status_code == 200)),
                    "ocsp": _post_kind("ocsp", "/pki/ocsp", ocsp_req, "application/ocsp-request",
                                       "application/ocsp-response"),
                    "tsa": _tsa_kind(),
                }
                for key, kind in kinds.items():
                    figures[(key, workers)] = measure(cluster, kind)
                    print(f"  {workers} worker(s): {key} {figures[(key, workers)]:.1f}/s", flush=True)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    rows: list[tuple[str, float, float | None, str]] = [
        ("OCSP responses/s, 1 worker + nginx", figures[("ocsp", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("OCSP responses/s, 2 workers + nginx", figures[("ocsp", 2)], figures[("ocsp", 1)], "1 worker"),
        ("TSA tokens/s (RSA), 1 worker + nginx", figures[("tsa", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("TSA tokens/s (RSA), 2 workers + nginx", figures[("tsa", 2)], figures[("tsa", 1)], "1 worker"),
        ("GET /healthz/s, 2 workers + nginx", figures[("healthz", 2)], figures[("healthz", 1)], "1 worker"),
    ]
    table(f"OCSP / TSA behind nginx (PostgreSQL + Redis, {CLIENTS} clients, 2 cores shared)", rows)


if __name__ == "__main__":
    main()
