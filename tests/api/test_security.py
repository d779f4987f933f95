"""HTTP hardening: security headers, request ids and JSON access logs, CORS allow-list, request
timeouts, rate limits (in process and in Redis) and Prometheus metrics.

Bad input tried: a forged/overlong/multi-line X-Request-ID (replaced), a query string carrying a
token (never logged), a disallowed CORS origin (no CORS headers), a route that hangs (504 problem),
too many requests per IP and per client (429 problem + Retry-After, nothing stored), Redis gone
(limits still hold per process), malformed rate and origin settings (refused).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import func, select

from api.app import create_app
from api.auth import CurrentPrincipal, Principal
from api.container import Services, build_services
from api.ratelimit import RateLimit
from api.security import CSP, JsonFormatter
from ca.models import TimestampRecord
from core.audit import AuditEntry
from core.errors import Unauthenticated
from core.ratelimit import LimitSpec, MemoryLimiter, Rate, RedisLimiter
from core.settings import Settings
from tests.conftest import make_settings

REDIS = "redis://127.0.0.1:6379/0"


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:ywt:problem:{code}" and body["status"] == status
    return body


def _tsq() -> bytes:
    from asn1crypto import tsp

    return bytes(tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": hashlib.sha256(uuid.uuid4().bytes).digest()},
        "cert_req": True,
    }).dump())


def _counts(services: Services) -> tuple[int, int]:
    with services.db.session() as s:
        return (s.exec(select(func.count()).select_from(TimestampRecord)).one(),
                s.exec(select(func.count()).select_from(AuditEntry)).one())


def _verifier(token: str) -> Principal:
    if not token.startswith("client:"):
        raise Unauthenticated("bad token")
    cid = token.removeprefix("client:")
    return Principal(subject=cid, kind="client", client_id=cid, scopes=frozenset({"test"}))


RELEASE = threading.Event()


@pytest.fixture
def app_for(services: Services) -> Iterator[Any]:
    """create_app with settings overrides, plus a test route that needs a principal."""
    made: list[TestClient] = []

    def make(limiter: Any = None, **overrides: Any) -> TestClient:
        settings = services.settings.model_copy(update=overrides)
        svc = copy.copy(services)
        svc.settings = settings
        svc.token_verifier = _verifier
        svc.limiter = limiter or MemoryLimiter()
        app = create_app(settings, svc)
        who = RateLimit("whoami", per_client="3/60")

        @app.get("/test/whoami", dependencies=[Depends(who)])
        def whoami(principal: CurrentPrincipal) -> dict[str, str]:
            return {"client": principal.client_id or ""}

        @app.get("/test/sleep-sync")
        def sleep_sync() -> dict[str, str]:
            RELEASE.wait(30)  # far longer than the timeout; the test releases it once answered
            return {"slept": "yes"}

        @app.get("/test/sleep-async")
        async def sleep_async() -> dict[str, str]:
            await asyncio.sleep(30)
            return {"slept": "yes"}

        @app.get("/test/pre-auth", dependencies=[Depends(RateLimit("preauth", per_client="2/60"))])
        def pre_auth() -> dict[str, str]:
            return {"ok": "yes"}

        c = TestClient(app)
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


# --- headers ---------------------------------------------------------------------------------------


def test_security_headers_on_pages_api_and_errors(client: TestClient) -> None:
    for path in ("/", "/pki/cas", "/nowhere", "/static/ywt.css"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert csp == CSP
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp and "script-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in r.headers  # http base URL: no HSTS
    # our pages really have no inline script or style attribute that the CSP would block
    html = client.get("/").text
    assert "<script" not in html and "style=" not in html
    docs = client.get("/docs").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs


def test_no_template_carries_what_the_csp_blocks() -> None:
    """Every page template, not only the home page: no ``style`` attribute or ``<style>`` block
    (style-src 'self'), no inline ``<script>`` or ``on...=`` handler (script-src 'self'). Browsers
    silently drop what the CSP blocks, so a layout rule written inline would just not apply."""
    from api import pages

    bad = []
    for template in sorted(pages.TEMPLATES_DIR.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern in (r"\sstyle\s*=", r"<style[\s>]", r"<script(?![^>]*\ssrc=)[^>]*>", r"\son[a-z]+\s*=\s*[\"']"):
            bad += [f"{template.name}: {m.group(0)!r}" for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not bad, bad


def test_hsts_when_served_over_https(app_for: Any) -> None:
    c = app_for(base_url="https://ywt.example.gov.cn")
    assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=31536000")


# --- request id and access log ---------------------------------------------------------------------


def test_request_id_in_and_out(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123.x:y"})
    assert r.headers["x-request-id"] == "abc-123.x:y"
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    for bad in ("a" * 129, "evil value", "x\ty", "ä".encode()):
        rid = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert rid != bad and re.fullmatch(r"[0-9a-f]{32}", rid)


def test_access_log_fields(app_for: Any) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ywt.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        c = app_for()
        c.get("/pki/cas/rsa-seal/crl?access_token=SECRET-TOKEN-123", headers={"X-Request-ID": "req-1"})
        c.get("/test/whoami", headers={"Authorization": "Bearer client:demo-approval", "X-Request-ID": "req-2"})
        c.get("/no/such/page-1201011990", headers={"X-Request-ID": "req-3"})
        c.get("/v/ABCDEF-payload-1201011990", headers={"X-Request-ID": "req-4"})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    crl = by_id["req-1"]
    assert crl["msg"] == "request" and crl["method"] == "GET" and crl["route"] == "/pki/cas/{ca_id}/crl"
    assert crl["status"] == 200 and isinstance(crl["duration_ms"], float) and "client_id" not in crl
    assert by_id["req-2"]["client_id"] == "demo-approval" and by_id["req-2"]["route"] == "/test/whoami"
    assert by_id["req-3"]["route"] == "<unmatched>" and by_id["req-3"]["status"] == 404
    assert by_id["req-4"]["route"] == "/v/{payload:path}"  # the QR payload itself never reaches the log
    assert "SECRET-TOKEN-123" not in text and "access_token" not in text and "1201011990" not in text
    assert "rsa-seal" not in text and "testclient" not in text  # no concrete path, no client address


# --- CORS --------------------------------------------------------------------------------------------


def test_cors_allow_list(app_for: Any) -> None:
    c = app_for(cors_origins=["https://dept.example.gov.cn"])
    pre = c.options("/pki/cas", headers={"Origin": "https://dept.example.gov.cn",
                                         "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://dept.example.gov.cn"
    r = c.get("/pki/cas", headers={"Origin": "https://dept.example.gov.cn"})
    assert r.headers["access-control-allow-origin"] == "https://dept.example.gov.cn"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    evil = c.get("/pki/cas", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    bad_pre = c.options("/pki/cas", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert bad_pre.status_code == 400 and "access-control-allow-origin" not in bad_pre.headers


def test_no_cors_headers_without_an_allow_list(client: TestClient) -> None:
    r = client.get("/pki/cas", headers={"Origin": "https://dept.example.gov.cn"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("origins", ["*", "https://a.example/path", "ftp://a.example", '["https://ok.example", "*"]'])
def test_cors_settings_refuse_wildcards_and_paths(tmp_path: Any, origins: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, cors_origins=origins)
    assert make_settings(tmp_path, cors_origins="https://a.example, https://b.example:8443/").cors_origins == [
        "https://a.example", "https://b.example:8443"]


# --- timeouts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/test/sleep-sync", "/test/sleep-async"])
def test_a_slow_request_gets_a_504_problem_not_a_hang(app_for: Any, path: str) -> None:
    import httpx
    import uvicorn

    from tests.conftest import free_port

    c = app_for(request_timeout_seconds=0.3)
    # a real server: the TestClient only hands back a response once the whole app call returns
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(c.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    RELEASE.clear()
    start = time.monotonic()
    try:
        r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=60)
        # the handlers would take 30 s: answering well before proves the timeout, not the handler, ended it
        assert time.monotonic() - start < 20
        body = _problem(r, 504, "timeout")
        assert "0.3 s" in body["detail"] and r.headers["retry-after"] == "5"
        assert r.headers["content-security-policy"] == CSP and r.headers["x-request-id"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        RELEASE.set()  # let the uninterruptible sync thread finish
        server.should_exit = True
        thread.join(timeout=40)


# --- rate limits -------------------------------------------------------------------------------------


def test_gcra_allows_a_burst_then_spaces_requests() -> None:
    now = [1000.0]
    lim = MemoryLimiter(clock=lambda: now[0])
    rate = Rate(5, 10.0)  # 5 per 10 s: interval 2 s
    assert [lim.hit("k", rate) for _ in range(5)] == [0.0] * 5
    wait = lim.hit("k", rate)
    assert wait == pytest.approx(2.0)
    now[0] += 1.0
    assert lim.hit("k", rate) == pytest.approx(1.0)
    now[0] += 1.0
    assert lim.hit("k", rate) == 0.0 and lim.hit("k", rate) > 0
    assert lim.hit("other", rate) == 0.0
    # no double burst across a "window boundary": after 10 s idle exactly 5 pass again, not 10
    now[0] += 100.0
    assert sum(lim.hit("k", rate) == 0.0 for _ in range(20)) == 5


def test_rate_and_override_parsing() -> None:
    assert Rate.parse("10/1m") == Rate(10, 60.0) and Rate.parse("60/60") == Rate(60, 60.0)
    assert Rate.parse("5/2h").period == 7200.0
    for bad in ("", "ten/60", "10", "0/60", "10/0", "-1/60"):
        with pytest.raises(ValueError):
            Rate.parse(bad)
    assert LimitSpec.parse("ip=3/60") == LimitSpec(Rate(3, 60.0), None)
    assert LimitSpec.parse("ip=3/60,client=10/1m") == LimitSpec(Rate(3, 60.0), Rate(10, 60.0))
    assert LimitSpec.parse("off") == LimitSpec()
    with pytest.raises(Exception, match="write 'ip="):
        LimitSpec.parse("user=3/60")


def _tsa_until_limited(c: TestClient, services: Services, n: int) -> dict[str, Any]:
    headers = {"Content-Type": "application/timestamp-query"}
    for _ in range(n):
        assert c.post("/pki/tsa", content=_tsq(), headers=headers).status_code == 200
    before = _counts(services)
    r = c.post("/pki/tsa", content=_tsq(), headers=headers)
    body = _problem(r, 429, "rate-limited")
    assert int(r.headers["retry-after"]) >= 1
    assert _counts(services) == before  # nothing stored for a refused request
    return body


def test_tsa_and_ocsp_are_rate_limited_per_ip_in_process(app_for: Any, services: Services) -> None:
    c = app_for(rate_limits={"tsa": "ip=3/60", "ocsp": "ip=2/60"})
    body = _tsa_until_limited(c, services, 3)
    assert body["limit"] == "tsa" and body["scope"] == "ip"
    assert c.get("/pki/ocsp/AAAA").status_code == 200 and c.post("/pki/ocsp", content=b"x").status_code == 200
    r = c.post("/pki/ocsp", content=b"x", headers={"Content-Type": "application/ocsp-request"})
    _problem(r, 429, "rate-limited")
    assert c.get("/pki/cas").status_code == 200  # other endpoints are not limited by these
    off = app_for(rate_limits={"tsa": "off"}, rate_limits_enabled=True)
    for _ in range(5):
        assert off.post("/pki/tsa", content=_tsq()).status_code == 200
    disabled = app_for(rate_limits={"tsa": "ip=1/60"}, rate_limits_enabled=False)
    for _ in range(3):
        assert disabled.post("/pki/tsa", content=_tsq()).status_code == 200


def test_per_client_limits_apply_after_authentication_whatever_the_dependency_order(app_for: Any) -> None:
    c = app_for()
    a = {"Authorization": "Bearer client:client-a"}
    b = {"Authorization": "Bearer client:client-b"}
    for _ in range(3):
        assert c.get("/test/whoami", headers=a).json() == {"client": "client-a"}
    body = _problem(c.get("/test/whoami", headers=a), 429, "rate-limited")
    assert body["scope"] == "client"
    assert c.get("/test/whoami", headers=b).status_code == 200
    # an unauthenticated call is refused by auth, and does not consume client-b's budget
    _problem(c.get("/test/whoami", headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")


def test_per_client_limits_before_authentication_use_basic_credentials(app_for: Any) -> None:
    c = app_for()
    basic = {"Authorization": "Basic " + base64.b64encode(b"demo-approval:secret").decode()}
    assert c.get("/test/pre-auth", headers=basic).status_code == 200
    assert c.get("/test/pre-auth?client_id=demo-approval").status_code == 200
    _problem(c.get("/test/pre-auth", headers=basic), 429, "rate-limited")
    assert c.get("/test/pre-auth?client_id=other").status_code == 200


def _redis_limiter(prefix: str) -> RedisLimiter:
    return RedisLimiter(REDIS, prefix=prefix)


def test_redis_limits_are_shared_by_workers(app_for: Any, services: Services) -> None:
    prefix = f"ywt-test:{uuid.uuid4().hex}:"
    worker1 = app_for(limiter=_redis_limiter(prefix), rate_limits={"tsa": "ip=4/60"})
    worker2 = app_for(limiter=_redis_limiter(prefix), rate_limits={"tsa": "ip=4/60"})
    headers = {"Content-Type": "application/timestamp-query"}
    assert worker1.post("/pki/tsa", content=_tsq(), headers=headers).status_code == 200
    assert worker2.post("/pki/tsa", content=_tsq(), headers=headers).status_code == 200
    assert worker1.post("/pki/tsa", content=_tsq(), headers=headers).status_code == 200
    assert worker2.post("/pki/tsa", content=_tsq(), headers=headers).status_code == 200
    before = _counts(services)
    r = worker1.post("/pki/tsa", content=_tsq(), headers=headers)
    _problem(r, 429, "rate-limited")
    _problem(worker2.post("/pki/tsa", content=_tsq(), headers=headers), 429, "rate-limited")
    assert 1 <= int(r.headers["retry-after"]) <= 16
    assert _counts(services) == before
    import redis

    keys = redis.Redis.from_url(REDIS).keys(prefix + "*")
    assert keys and all(b"testclient" not in k for k in keys)  # the address is hashed


def test_redis_gcra_matches_the_in_process_algorithm() -> None:
    lim = _redis_limiter(f"ywt-test:{uuid.uuid4().hex}:")
    rate = Rate(3, 30.0)
    got = [lim.hit("k", rate) for _ in range(4)]
    assert got[:3] == [0.0, 0.0, 0.0] and 9.0 < got[3] <= 10.0
    lim.close()


def test_when_redis_is_down_limits_still_hold_per_process(app_for: Any) -> None:
    from core import metrics

    before = metrics.RATE_LIMIT_BACKEND_ERRORS._value.get()
    down = RedisLimiter("redis://127.0.0.1:1/0", prefix="x:")
    c = app_for(limiter=down, rate_limits={"tsa": "ip=2/60"})
    assert c.post("/pki/tsa", content=_tsq()).status_code == 200
    assert c.post("/pki/tsa", content=_tsq()).status_code == 200
    _problem(c.post("/pki/tsa", content=_tsq()), 429, "rate-limited")
    assert metrics.RATE_LIMIT_BACKEND_ERRORS._value.get() >= before + 3


def test_the_container_builds_a_redis_limiter_when_configured(settings: Settings) -> None:
    svc = build_services(settings.model_copy(update={"redis_url": REDIS}))
    try:
        assert isinstance(svc.limiter, RedisLimiter)
    finally:
        svc.close()
    svc = build_services(settings)
    try:
        assert isinstance(svc.limiter, MemoryLimiter)
    finally:
        svc.close()


# --- metrics -----------------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_and_pki_operations(client: TestClient, services: Services) -> None:
    from keys import KeyAlgorithm

    text0 = client.get("/metrics").text
    client.get("/pki/cas/rsa-seal/crl")
    client.get("/pki/cas/no-such/crl")
    client.post("/pki/tsa", content=_tsq())
    client.post("/pki/tsa", content=b"garbage")
    client.post("/pki/ocsp", content=b"garbage")
    with services.db.session() as s:
        services.ca.issue_for_new_key(s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256,
                                      {"common_name": "metrics"}, actor="t")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text

    def delta(name: str, **labels: str) -> float:
        return _sample(text, name, **labels) - _sample(text0, name, **labels)

    assert delta("ywt_http_requests_total", method="GET", route="/pki/cas/{ca_id}/crl", status="200") == 1
    assert delta("ywt_http_requests_total", method="GET", route="/pki/cas/{ca_id}/crl", status="404") == 1
    assert delta("ywt_http_request_duration_seconds_count", method="POST", route="/pki/tsa") == 2
    assert delta("ywt_timestamps_total", family="rsa", result="granted") == 1
    assert delta("ywt_timestamps_total", family="rsa", result="rejection") == 1
    assert delta("ywt_ocsp_responses_total", status="malformed_request") == 1
    assert delta("ywt_certificates_issued_total", ca="ecdsa-seal", profile="seal-signing") == 1
    for name in ("ywt_seal_uses_total", "ywt_licences_issued_total", "ywt_verification_verdicts_total",
                 "ywt_base_data_source_failures_total", "ywt_tokens_issued_total"):
        assert f"# TYPE {name} counter" in text
    assert "no-such" not in text  # route templates only


def test_metrics_aggregate_worker_processes_in_multiprocess_mode(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    inc = ("from core import metrics; metrics.TOKENS_ISSUED.labels('client_credentials', 'access').inc({n}); "
           "metrics.HTTP_LATENCY.labels('GET', '/x').observe(0.01)")
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", inc.format(n=n)], check=True, cwd=root, env=env, timeout=60)
    out = subprocess.run([sys.executable, "-c", "from core import metrics; print(metrics.render()[0].decode())"],
                         check=True, cwd=root, env=env, timeout=60, capture_output=True, text=True).stdout
    assert _sample(out, "ywt_tokens_issued_total", grant_type="client_credentials") == 5
    assert _sample(out, "ywt_http_request_duration_seconds_count", route="/x") == 2
