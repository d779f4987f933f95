"""The deployment as it runs in production: 2 uvicorn workers behind Debian's nginx on loopback, on
PostgreSQL (a fresh database) and Redis, started by deploy/cluster.py with YWT_ENV=production.

Load: 8 concurrent clients, a mix of OCSP (POST and GET, good and revoked), TSA (RSA and SM2),
/pki/cas, CRLs, and certificate issuance through the CA service against the same database. Then the
same load again while one worker is killed with SIGKILL and restarted by the supervisor.
Judged: zero 5xx and zero wrong answers in the steady run; after the kill every request still ends
in a correct 200 (clients retry like real ones); unique TSA and certificate serials, each present in
the database; Prometheus counters aggregated over both workers; `ywt audit verify` passes.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.container import build_services
from core.settings import Settings
from deploy.cluster import Cluster, free_port, render_nginx, write_config
from deploy.load import LoadResult, call_kind, get_kind, ocsp_kind, run_load, tsa_kind
from keys import KeyAlgorithm
from tests import conftest

pytestmark = pytest.mark.slow

ADMIN_PG = conftest.PG_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LIMITS = '{"ocsp": "ip=1000000/60", "tsa": "ip=1000000/60"}'  # exercise Redis, do not throttle the load


@pytest.fixture
def pg_database() -> Any:
    name = f"ywt_deploy_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN_PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield str(sa.make_url(ADMIN_PG).set(database=name))
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _ocsp_requests(services: Any) -> list[tuple[bytes, str]]:
    from asn1crypto import ocsp, x509

    out = []
    with services.db.session() as s:
        for ca_id, alg, profile in (("rsa-identity", KeyAlgorithm.RSA_2048, "person"),
                                    ("ecdsa-seal", KeyAlgorithm.EC_P256, "seal-signing"),
                                    ("sm2-seal", KeyAlgorithm.SM2, "seal-signing")):
            issuer = x509.Certificate.load(services.ca.get_ca(s, ca_id).cert_der)
            for i, expected in enumerate(("good", "revoked")):
                cert = services.ca.issue_for_new_key(s, ca_id, profile, alg, {"common_name": f"ocsp {ca_id} {i}"},
                                                     actor="test")
                if expected == "revoked":
                    services.ca.revoke(s, cert.serial, "keyCompromise", actor="test")
                leaf = x509.Certificate.load(cert.cert_der)
                req = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": {
                    "hash_algorithm": {"algorithm": "sha1"}, "issuer_name_hash": issuer.subject.sha1,
                    "issuer_key_hash": issuer.public_key.sha1, "serial_number": leaf.serial_number}}]}})
                out.append((req.dump(), expected))
    return out


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_workers_behind_nginx_under_load_and_kill_9(pg_database: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "YWT_ENV": "production",
        "YWT_DEMO": "false",
        "YWT_HOME": str(tmp_path / "home"),
        "YWT_DATABASE_URL": pg_database,
        "YWT_REDIS_URL": "redis://127.0.0.1:6379/0",
        "YWT_MASTER_KEY": secrets.token_hex(32),
        "YWT_BASE_URL": f"http://127.0.0.1:{port}",
        "YWT_RATE_LIMITS": LIMITS,
    }
    cluster = Cluster(workers=2, listen_port=port, state=tmp_path / "cluster", env=env)
    settings = Settings(home=tmp_path / "home", database_url=pg_database, env="production", demo=False,  # type: ignore[arg-type]
                        master_key=env["YWT_MASTER_KEY"], base_url=env["YWT_BASE_URL"])
    with cluster.running():
        services = build_services(settings)
        try:
            requests = _ocsp_requests(services)
            counter = iter(range(10**9))
            lock = threading.Lock()

            def issue() -> str:
                with lock:
                    n = next(counter)
                with services.db.session() as s:
                    return services.ca.issue_for_new_key(
                        s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256, {"common_name": f"load {n}"},
                        actor="load").serial

            kinds = [
                ocsp_kind(requests, weight=4),
                ocsp_kind(requests, name="ocsp-get", weight=2, get=True),
                tsa_kind(family="rsa", weight=3),
                tsa_kind(family="sm2", weight=1),
                get_kind("cas", "/pki/cas", lambda r: len(r.json()) == 12, weight=1),
                get_kind("crl", "/pki/cas/ecdsa-seal/crl", lambda r: r.content[:1] == b"\x30", weight=1),
                call_kind("issue", issue, weight=1),
            ]
            steady = run_load(cluster.url, kinds, clients=8, total=600, seed=7)
            print("steady:\n" + steady.summary())
            assert steady.count_5xx() == 0 and not steady.transient, steady.summary()
            assert not steady.wrong, steady.notes
            assert steady.total == 600

            killed: list[int] = []

            def kill_halfway(n: int) -> None:
                if n == 150 and not killed:
                    killed.append(cluster.kill_worker(0, signal.SIGKILL))

            crash = run_load(cluster.url, kinds, clients=8, total=600, seed=8, during=kill_halfway)
            print("with kill -9:\n" + crash.summary())
            assert killed, "the worker was not killed"
            cluster.wait_worker_ready(0)
            assert cluster.restarts() >= 1
            assert all(c.keys() == {200} for c in crash.statuses.values()), crash.summary()
            assert not crash.wrong and not crash.failed, crash.notes

            metrics = __import__("httpx").get(cluster.url + "/metrics").text
            tsa_values = _all(steady, crash, "tsa-rsa") + _all(steady, crash, "tsa-sm2")
            granted = _metric(metrics, "ywt_timestamps_total", result="granted")
            assert granted >= len(tsa_values) - crash.retried.total(), (granted, len(tsa_values))
            assert _metric(metrics, "ywt_http_requests_total", route="/pki/ocsp", status="200") > 0
        finally:
            services.close()

    # unique serials, each in the database; the journal verifies
    tsa = _all(steady, crash, "tsa-rsa") + _all(steady, crash, "tsa-sm2")
    issued = _all(steady, crash, "issue")
    assert len(tsa) == len(set(tsa)) and len(issued) == len(set(issued)) and len(issued) > 50
    eng = sa.create_engine(pg_database)
    with eng.connect() as c:
        db_tsa = {int(x) for x in c.execute(sa.text("SELECT serial FROM ca_timestamp")).scalars()}
        db_certs = set(c.execute(sa.text("SELECT serial FROM ca_certificate")).scalars())
    eng.dispose()
    assert set(tsa) <= db_tsa and set(issued) <= db_certs
    r = cluster.ywt("audit", "verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    logs = (tmp_path / "cluster" / "logs" / "worker-1.log").read_text()
    assert '"route":"/pki/tsa"' in logs and "hashed_message" not in logs


def _all(a: LoadResult, b: LoadResult, kind: str) -> list[Any]:
    return list(a.values.get(kind, [])) + list(b.values.get(kind, []))


def test_server_config_files(tmp_path: Path) -> None:
    files = write_config(tmp_path / "etc", workers=3, listen="0.0.0.0:80", base_port=8001)
    names = {f.name for f in files}
    assert names == {"nginx.conf", "ywt-worker@.service", "ywt.env", "START"}
    conf = (tmp_path / "etc" / "nginx.conf").read_text()
    assert "server 127.0.0.1:8003 " in conf and "user www-data;" in conf and "{{" not in conf
    assert "location = /metrics" in conf and "deny all" in conf and "access_log off" in conf
    # nginx itself accepts what we render
    state = tmp_path / "state"
    state.mkdir()
    test_conf = tmp_path / "t.conf"
    test_conf.write_text(render_nginx(listen="127.0.0.1:18080", upstreams=["127.0.0.1:18081"], state=state,
                                      run_as="root" if os.geteuid() == 0 else None))
    import subprocess

    r = subprocess.run(["nginx", "-t", "-c", str(test_conf), "-p", str(state), "-e", str(state / "err.log")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
