"""OCSP, TSA, PDF sealing and licence-QR verification throughput with 1 and 2 uvicorn workers
behind nginx, on PostgreSQL + Redis.

Run: .venv/bin/python bench/cluster.py   (requests per second; ~3 minutes)

Sealing: ``POST /seal/v1/sign`` of a one-page PDF (B-T, timestamp from our TSA in-process) by the
demo approval system with its access token, an Idempotency-Key per request, cycling through the
three demo seals (RSA, SM2, ECDSA); judged by the PDF header and ``Repr-Digest``. QR verification:
``POST /verify/v1/qr`` with the payload of a licence issued at set-up (signature offline against
the trust list, then live status from the database), judged TOTAL-PASSED.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import cluster_setup, table
from deploy.cluster import Cluster
from deploy.load import Kind, Outcome, run_load, seal_kind

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


def _token(url: str) -> str:
    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET

    r = httpx.post(url + "/oauth2/token", data={"grant_type": "client_credentials"},
                   auth=(APPROVAL_CLIENT, APPROVAL_SECRET), timeout=60)
    r.raise_for_status()
    return str(r.json()["access_token"])


def _seal_ids(url: str, token: str) -> list[str]:
    seals = httpx.get(url + "/seal/v1/seals", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    return [s["id"] for s in seals if s["status"] == "active"]


def _issue_licence(url: str, token: str) -> str:
    """One food business licence of the demo department; its QR payload."""
    from identity.sources.demo import DEMO_COMPANY

    data = {
        "operator_name": DEMO_COMPANY.name, "uscc": DEMO_COMPANY.uscc, "legal_representative": DEMO_COMPANY.legal_rep,
        "premises": "天津市滨海新区示例路8号", "main_format": "餐饮服务经营者",
        "business_items": "热食类食品制售", "licence_no": f"JY2{secrets.randbelow(10**13):013d}",
        "valid_until": "2030-12-31",
    }
    r = httpx.post(url + "/license/v1/licenses", json={"type_code": "111200000000010116002", "data": data},
                   headers={"Authorization": f"Bearer {token}"}, timeout=120)
    r.raise_for_status()
    return str(r.json()["qr"]["payload"])


def _qr_kind(payload: str) -> Kind:
    def run(http: httpx.Client) -> Outcome:
        r = http.post("/verify/v1/qr", json={"payload": payload})
        return Outcome(r.status_code, r.status_code == 200 and b'"TOTAL-PASSED"' in r.content)

    return Kind("qr", 1.0, run)


def _pdf() -> bytes:
    """A one-page A4 decision (reportlab, Helvetica: the bench measures signing, not fonts)."""
    import io

    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(595.28, 841.89), invariant=1)
    c.drawString(72, 760, "Decision SP-2026-0001 (bench)")
    c.showPage()
    c.save()
    return buf.getvalue()


PDF = _pdf()


def measure(cluster: Cluster, kind: Kind) -> float:
    run_load(cluster.url, [kind], clients=CLIENTS, total=50)  # warm up connections and caches
    res = run_load(cluster.url, [kind], clients=CLIENTS, total=None, seconds=SECONDS)
    bad = res.count_5xx() + sum(res.wrong.values())
    if bad:
        print(f"  warning: {kind.name}: {bad} failed or wrong answers\n{res.summary()}")
    return res.throughput()


def main() -> None:
    figures: dict[tuple[str, int], float] = {}
    qr_payload = ""
    limits = {name: "ip=100000000/60,client=100000000/60" for name in ("ocsp", "tsa", "seal", "verify", "token")}
    with cluster_setup(ADMIN_PG, "cluster", limits) as setup:
        for workers in (1, 2):
            cluster = Cluster(workers=workers, listen_port=setup.port, state=setup.work / f"cluster{workers}",
                              env=setup.env)
            with cluster.running(init=workers == 1, demo=True):
                ocsp_req = _ocsp_request(cluster.url)
                token = _token(cluster.url)
                if workers == 1:
                    qr_payload = _issue_licence(cluster.url, token)
                kinds = {
                    "healthz": Kind("healthz", 1.0, lambda h: Outcome((r := h.get("/healthz")).status_code,
                                                                       r.status_code == 200)),
                    "ocsp": _post_kind("ocsp", "/pki/ocsp", ocsp_req, "application/ocsp-request",
                                       "application/ocsp-response"),
                    "tsa": _tsa_kind(),
                    "seal": seal_kind(lambda t=token: t, PDF, _seal_ids(cluster.url, token)),
                    "qr": _qr_kind(qr_payload),
                }
                for key, kind in kinds.items():
                    figures[(key, workers)] = measure(cluster, kind)
                    print(f"  {workers} worker(s): {key} {figures[(key, workers)]:.1f}/s", flush=True)
    rows: list[tuple[str, float, float | None, str]] = [
        ("OCSP responses/s, 1 worker + nginx", figures[("ocsp", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("OCSP responses/s, 2 workers + nginx", figures[("ocsp", 2)], figures[("ocsp", 1)], "1 worker"),
        ("TSA tokens/s (RSA), 1 worker + nginx", figures[("tsa", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("TSA tokens/s (RSA), 2 workers + nginx", figures[("tsa", 2)], figures[("tsa", 1)], "1 worker"),
        ("GET /healthz/s, 2 workers + nginx", figures[("healthz", 2)], figures[("healthz", 1)], "1 worker"),
        ("PDFs sealed/s (B-T, 3 algs), 1 worker + nginx", figures[("seal", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("PDFs sealed/s (B-T, 3 algs), 2 workers + nginx", figures[("seal", 2)], figures[("seal", 1)], "1 worker"),
        ("QR verifications/s, 1 worker + nginx", figures[("qr", 1)], figures[("healthz", 1)],
         "GET /healthz, same stack"),
        ("QR verifications/s, 2 workers + nginx", figures[("qr", 2)], figures[("qr", 1)], "1 worker"),
    ]
    table(f"OCSP / TSA / sealing / QR verification behind nginx (PostgreSQL + Redis, {CLIENTS} clients, 2 cores)",
          rows)


if __name__ == "__main__":
    main()
