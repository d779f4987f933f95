"""Verification benchmark: PDF verifications/s next to poppler's pdfsig on the same one-page
B-T licence in the same run, and QR verifications/s over HTTP next to a trivial endpoint of
the same app (the framework's ceiling on this machine).

    python bench/verify.py [--seconds 6] [--clients 4]

Traffic goes to 127.0.0.1 only; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import installation, rate, table


def issue_licence(services: Any) -> Any:
    import anyio

    from identity.sources.demo import DEMO_COMPANY, DEMO_DEPARTMENT
    from license.service import Caller

    data = {
        "uscc": DEMO_COMPANY.uscc,
        "name": DEMO_COMPANY.name,
        "company_type": "有限责任公司",
        "legal_representative": DEMO_COMPANY.legal_rep,
        "business_scope": "技术开发、技术咨询、技术服务；软件开发",
        "registered_capital": "500",
        "established_on": "2016-03-18",
        "term_until": "",
        "address": "天津市滨海新区示例路8号",
    }
    caller = Caller(actor="bench", issuer_code=DEMO_DEPARTMENT.uscc)
    view = anyio.run(lambda: services.licenses.issue(caller, "111200000000010116001", data))
    with services.db.session() as s:
        pdf = services.licenses.pdf(s, caller, view.id).pdf
    return view, pdf


def nss_db(services: Any, directory: Path) -> Path:
    db = directory / "nss"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    with services.db.session() as s:
        cas = services.ca.list_cas(s)
    for ca in cas:
        if ca.family.value == "sm2":
            continue
        pem = directory / f"{ca.id}.pem"
        pem.write_text(ca.cert_pem)
        trust = "CT,C,C" if ca.role.value == "root" else ",,"
        subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", ca.id, "-t", trust, "-i", str(pem)], check=True)
    return db


def serve(services: Any) -> tuple[str, Any, threading.Thread]:
    import socket

    import uvicorn

    from api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(services.settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def http_rate(url: str, method: str, clients: int, seconds: float, **kw: Any) -> float:
    import httpx

    stop = time.monotonic() + seconds
    counts = [0] * clients

    def worker(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                r = c.request(method, url, **kw)
                r.raise_for_status()
                counts[i] += 1

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()

    services = installation(demo=True)
    view, pdf = issue_licence(services)
    tmp = Path(tempfile.mkdtemp(prefix="ywt-bench-verify-"))
    path = tmp / "licence.pdf"
    path.write_bytes(pdf)
    db = nss_db(services, tmp)
    verifier = services.verifier

    report = verifier.verify_pdf(pdf)
    assert report.indication.value == "TOTAL-PASSED", report.as_dict()
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{db}", "-no-ocsp", str(path)], capture_output=True, text=True)
    assert "Signature is Valid" in out.stdout and "Total document signed" in out.stdout, out.stdout
    print(f"one-page B-T licence: {len(pdf)} bytes, {len(report.signatures)} signature(s); both verifiers say valid")

    ours = rate(lambda: verifier.verify_pdf(pdf), args.seconds)
    from verify.pdfcore import PdfInputs, analyse

    inputs = verifier._inputs(None)
    core_only = rate(lambda: analyse(pdf, inputs), args.seconds)

    def pdfsig() -> None:
        subprocess.run(["pdfsig", "-nssdir", f"sql:{db}", "-no-ocsp", str(path)], capture_output=True, check=True)

    baseline = rate(pdfsig, args.seconds)
    table(
        "PDF verification (verifications/s, one process, sequential)",
        [
            ("verify.pdf (sandboxed, CRLs, registry, journal)", ours, baseline, "pdfsig process"),
            ("  analysis only, in-process (no sandbox)", core_only, baseline, "pdfsig process"),
        ],
    )
    _ = PdfInputs

    url, server, thread = serve(services)
    try:
        qr = http_rate(f"{url}/verify/v1/qr", "POST", args.clients, args.seconds, json={"payload": view.qr_payload})
        trivial = http_rate(f"{url}/healthz", "GET", args.clients, args.seconds)
        pdf_http = http_rate(
            f"{url}/verify/v1/pdf",
            "POST",
            args.clients,
            args.seconds,
            files={"file": ("l.pdf", pdf, "application/pdf")},
        )
    finally:
        server.should_exit = True
        thread.join(10)
    table(
        f"over HTTP ({args.clients} concurrent clients, one uvicorn worker, loopback)",
        [
            ("POST /verify/v1/qr (signature + live status)", qr, trivial, "GET /healthz"),
            ("POST /verify/v1/pdf", pdf_http, trivial, "GET /healthz"),
        ],
    )
    print(f"\nmachine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    services.close()


if __name__ == "__main__":
    main()
