"""The deployment as it runs in production: 2 uvicorn workers behind Debian's nginx on loopback, on
PostgreSQL (a fresh database) and Redis, started by deploy/cluster.py with YWT_ENV=production.

Load: 8 concurrent clients, a mix of OCSP (POST and GET, good and revoked), TSA (RSA and SM2),
/pki/cas, CRLs, and certificate issuance through the CA service against the same database. Then the
same load again while one worker is killed with SIGKILL and restarted by the supervisor.
Judged: zero 5xx and zero wrong answers in the steady run; after the kill every request still ends
in a correct 200 (clients retry like real ones); unique TSA and certificate serials, each present in
the database; Prometheus counters aggregated over both workers; `ywt audit verify` passes.

A second test does the same with licence issuance and PDF sealing (``scale_run``, shared with
``bench/scale.py`` which runs the full 2,000 requests): see its docstring.
"""

from __future__ import annotations

import hashlib
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


# --- licences and seals under load, then kill -9 ------------------------------------------------------

#: Requests of the steady run (the crash run sends half as many). The full run of the issue is
#: 2,000 (``bench/scale`` runs it and prints the figures); CI sends fewer to stay within minutes on
#: 2 shared cores. Set ``YWT_SCALE_REQUESTS=2000`` to run the full count here.
SCALE_REQUESTS = int(os.environ.get("YWT_SCALE_REQUESTS", "240"))


def scale_run(cluster: Cluster, database_url: str, home: Path, *, total: int, kill: bool = True) -> dict[str, Any]:
    """8 clients issuing licences and sealing PDFs through nginx; then the same while both workers
    are killed with SIGKILL in turn (each restarted by the supervisor). Returns the load results and
    what the database and the blob store hold; raises AssertionError on any broken promise."""
    import time

    import httpx

    from api.demo import APPROVAL_CLIENT, APPROVAL_SECRET
    from core.blobs import BlobStore
    from deploy.load import licence_kind, seal_kind
    from tests.identity.oauth_helpers import basic
    from tests.license.licence_helpers import FOOD, food_data
    from tests.seal.pdfkit import make_pdf

    got: dict[str, Any] = {"at": 0.0, "token": ""}
    token_lock = threading.Lock()

    def token() -> str:
        with token_lock:
            if time.monotonic() - got["at"] > 240:
                r = httpx.post(cluster.url + "/oauth2/token", data={"grant_type": "client_credentials"},
                               headers=basic(APPROVAL_CLIENT, APPROVAL_SECRET), timeout=60)
                assert r.status_code == 200, r.text
                got["token"], got["at"] = r.json()["access_token"], time.monotonic()
            return str(got["token"])

    seals = httpx.get(cluster.url + "/seal/v1/seals", headers={"Authorization": f"Bearer {token()}"}).json()
    seal_ids = [s["id"] for s in seals if s["status"] == "active"]
    assert len(seal_ids) == 3, seals
    run_id = secrets.randbelow(1000)

    def data(n: int) -> dict[str, Any]:
        return food_data(f"JY2{run_id:03d}{n:010d}")  # a fresh licence number (JY[1-3] + 13 digits)

    pdf = make_pdf()
    kinds = [licence_kind(token, data, FOOD, weight=1), seal_kind(token, pdf, seal_ids, weight=2)]
    out: dict[str, Any] = {}
    steady = run_load(cluster.url, kinds, clients=8, total=total, seed=11)
    print("licences + seals, steady:\n" + steady.summary())
    out["steady"] = steady
    assert steady.total == total
    assert steady.count_5xx() == 0 and not steady.transient, steady.summary()
    assert not steady.wrong, steady.notes
    runs = [steady]
    if kill:
        killed: list[int] = []
        half = max(20, total // 2)

        def kill_twice(n: int) -> None:
            if n == half // 3 and len(killed) == 0:
                killed.append(cluster.kill_worker(0, signal.SIGKILL))
            elif n == 2 * half // 3 and len(killed) == 1:
                killed.append(cluster.kill_worker(1, signal.SIGKILL))

        # clients retry like real ones: backing off up to 2 s, for up to ~30 s while both restart
        crash = run_load(cluster.url, kinds, clients=8, total=half, seed=12, during=kill_twice, retries=20,
                         backoff=0.1, max_backoff=2.0)
        print("licences + seals, with kill -9 of each worker:\n" + crash.summary())
        out["crash"] = crash
        assert len(killed) == 2, "the workers were not killed"
        cluster.wait_worker_ready(0)
        cluster.wait_worker_ready(1)
        assert cluster.restarts() >= 2
        # every client, retrying with its Idempotency-Key, ends with its one result
        assert crash.total == half and not crash.failed, crash.summary()
        assert set(crash.statuses["licence"]) <= {201} and set(crash.statuses["seal"]) <= {200}, crash.summary()
        assert not crash.wrong, crash.notes
        runs.append(crash)

    licences = [v for r in runs for v in r.values["licence"]]
    uses = [v for r in runs for v in r.values["seal"]]
    assert len(licences) + len(uses) == sum(r.total for r in runs)
    # one result per logical request: distinct keys, licence ids, numbers, identifiers, seal uses
    for values in (licences, uses):
        assert len({v[0] for v in values}) == len(values)
        assert len({v[1] for v in values}) == len(values)
    assert len({v[2] for v in licences}) == len(licences) and len({v[3] for v in licences}) == len(licences)

    eng = sa.create_engine(database_url)
    try:
        with eng.connect() as c:
            def rows(sql: str) -> list[Any]:
                return list(c.execute(sa.text(sql)).all())

            db_licences = {r[0]: r for r in rows("SELECT id, number, identifier, pdf_sha256, pdf_size, serial"
                                                  " FROM license_licence WHERE created_by = 'client:demo-approval'")}
            idem = rows("SELECT idempotency_key, licence_id FROM license_idempotency")
            db_uses = {r[0]: r for r in rows("SELECT id, idempotency_key, output_sha256 FROM seal_use"
                                              " WHERE idempotency_key IS NOT NULL")}
            journaled_uses = {r[0] for r in rows("SELECT data FROM audit_entry WHERE action = 'seal.use'")}
            issue_entries = rows("SELECT target FROM audit_entry WHERE action = 'license.issue'")
            all_uses = rows("SELECT id, output_sha256 FROM seal_use")
            lineages = rows("SELECT type_code, issuer_code, serial, number FROM license_lineage")
            ts = rows("SELECT serial FROM ca_timestamp")
    finally:
        eng.dispose()
    # exactly the licences the clients were given, one per key, no licence issued twice
    assert {v[1] for v in licences} == set(db_licences), "licences in the DB differ from those the clients got"
    assert sorted((k, lid) for k, lid in idem if lid in db_licences) == sorted((v[0], v[1]) for v in licences)
    assert len({r[1] for r in db_licences.values()}) == len(db_licences)  # licence numbers
    assert len({(r[0], r[1], r[2]) for r in lineages}) == len(lineages)  # licence serials per type/issuer
    assert len({r[0] for r in ts}) == len(ts)  # TSA serials
    # no licence recorded as issued without its sealed blob; each journaled once
    blobs = BlobStore(home / "blobs")
    for _lid, _number, ident, sha, size, _serial in db_licences.values():
        assert blobs.exists(sha), f"licence {ident} has no sealed PDF"
        body = blobs.get(sha)
        assert len(body) == size and hashlib.sha256(body).hexdigest() == sha and b"/ByteRange" in body
    assert len({t for (t,) in issue_entries}) == len(issue_entries)
    assert {r[2] for r in db_licences.values()} <= {t for (t,) in issue_entries}
    # every seal use (the clients' and the licences') journaled and its output stored
    import json as _json

    journaled = {_json.loads(d)["use"] for d in journaled_uses}
    assert {u for u, _ in all_uses} == journaled, "a seal use without its journal entry (or the reverse)"
    assert all(sha and blobs.exists(sha) for _, sha in all_uses)
    assert {v[1] for v in uses} == set(db_uses) and len({r[1] for r in db_uses.values()}) == len(db_uses)
    out["licences"], out["uses"] = len(licences), len(uses)
    return out


def test_licences_and_seals_under_load_and_kill_9(pg_database: str, tmp_path: Path) -> None:
    """2 workers behind nginx on PostgreSQL and Redis; 8 clients issue licences and seal PDFs:
    zero 5xx, unique serials and numbers, journal verifies; then each worker is killed with SIGKILL
    mid-load and restarted: clients retrying with their Idempotency-Key end with exactly one result
    each, no licence without its sealed blob, no seal use without its journal entry."""
    port = free_port()
    home = tmp_path / "home"
    env = {
        "YWT_ENV": "test",  # the demo department, seals and approval client (refused in production)
        "YWT_DEMO": "true",
        "YWT_HOME": str(home),
        "YWT_DATABASE_URL": pg_database,
        "YWT_REDIS_URL": "redis://127.0.0.1:6379/0",
        "YWT_MASTER_KEY": secrets.token_hex(32),
        "YWT_BASE_URL": f"http://127.0.0.1:{port}",
        "YWT_RATE_LIMITS": '{"seal": "ip=1000000/60,client=1000000/60", "token": "off"}',
    }
    cluster = Cluster(workers=2, listen_port=port, state=tmp_path / "cluster", env=env)
    with cluster.running(demo=True):
        out = scale_run(cluster, pg_database, home, total=SCALE_REQUESTS)
        assert out["licences"] > 0 and out["uses"] > 0
    r = cluster.ywt("audit", "verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
