"""A load generator with a parameterised request mix, for the deployment test and bench/.

A :class:`Kind` is one sort of request: a name, a weight in the mix and a function that performs
one request and judges the answer (``Outcome``: HTTP status, whether the answer was right, and a
value to collect — a TSA serial, a certificate serial). Adding seal or licence traffic later is
one more ``Kind``; :func:`run_load` does the rest: N concurrent clients (threads, each with its own
keep-alive connection), a fixed number of requests or a time limit, retries like a real client
(connection errors, 502/503 — the request is repeated, which the kinds must make safe, e.g. with
an ``Idempotency-Key``), per-kind counts and latency percentiles.

Everything runs against loopback addresses only and stops by itself (bounded count and time).
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Outcome:
    status: int
    ok: bool
    value: Any = None
    note: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    #: ``run(http)``, or ``run(http, request)`` when ``new_request`` is set
    run: Callable[..., Outcome]
    #: may this request be sent again after a connection error / 502 / 503? (OCSP, TSA, GETs: yes)
    retry_safe: bool = True
    #: makes one logical request (e.g. with its Idempotency-Key) that every retry of it sends again
    new_request: Callable[[], Any] | None = None


@dataclass
class LoadResult:
    seconds: float = 0.0
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    wrong: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: list[str] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    retried: Counter[str] = field(default_factory=Counter)
    transient: Counter[str] = field(default_factory=Counter)  # 502/503/connection errors seen and retried
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # gave up after retries

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    def count_5xx(self) -> int:
        return sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500)

    def throughput(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def percentile(self, kind: str, q: float) -> float:
        xs = sorted(self.latencies.get(kind, []))
        if not xs:
            return 0.0
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def summary(self) -> str:
        lines = [f"{self.total} requests in {self.seconds:.1f}s = {self.throughput():.1f}/s"]
        for name, c in sorted(self.statuses.items()):
            lat = self.latencies[name]
            med = statistics.median(lat) * 1000 if lat else 0.0
            lines.append(
                f"  {name:14} {dict(sorted(c.items()))} wrong={self.wrong.get(name, 0)} "
                f"retried={self.retried.get(name, 0)} failed={self.failed.get(name, 0)} "
                f"p50={med:.1f}ms p95={self.percentile(name, 0.95) * 1000:.1f}ms"
            )
        return "\n".join(lines)


TRANSIENT = {502, 503}


def run_load(
    base_url: str,
    kinds: list[Kind],
    *,
    clients: int = 8,
    total: int | None = 2000,
    seconds: float | None = None,
    retries: int = 5,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    seed: int = 1,
    timeout: float = 60.0,
    max_seconds: float = 900.0,
    during: Callable[[int], None] | None = None,
) -> LoadResult:
    """Send ``total`` requests (or run for ``seconds``) from ``clients`` threads.

    ``during(n)`` is called from the client threads after the n-th request completes (n counts
    across all clients), e.g. to kill a worker halfway through. A transient failure is retried up
    to ``retries`` times, waiting ``backoff`` seconds doubled each time up to ``max_backoff``.
    """
    if total is None and seconds is None:
        raise ValueError("give total or seconds")
    rng = random.Random(seed)
    weights = [k.weight for k in kinds]
    plan = rng.choices(kinds, weights, k=total) if total is not None else None
    result = LoadResult()
    lock = threading.Lock()
    next_index = [0]
    done = [0]
    start = time.perf_counter()
    hard_stop = start + max_seconds
    stop_at = start + seconds if seconds is not None else hard_stop

    def take(local_rng: random.Random) -> Kind | None:
        with lock:
            if time.perf_counter() > min(stop_at, hard_stop):
                return None
            if plan is not None:
                if next_index[0] >= len(plan):
                    return None
                kind = plan[next_index[0]]
                next_index[0] += 1
                return kind
        return local_rng.choices(kinds, weights)[0]

    def client_loop(n: int) -> None:
        local_rng = random.Random(seed * 1000 + n)
        with httpx.Client(base_url=base_url, timeout=timeout) as http:
            while (kind := take(local_rng)) is not None:
                attempt = 0
                request = kind.new_request() if kind.new_request is not None else None
                while True:
                    t0 = time.perf_counter()
                    try:
                        out = kind.run(http) if kind.new_request is None else kind.run(http, request)
                    except httpx.TransportError as exc:
                        out = Outcome(599, False, note=f"{type(exc).__name__}")
                    elapsed = time.perf_counter() - t0
                    transient = out.status in TRANSIENT or out.status == 599
                    if transient and kind.retry_safe and attempt < retries:
                        attempt += 1
                        with lock:
                            result.transient[kind.name] += 1
                            result.retried[kind.name] += 1
                        time.sleep(min(backoff * 2 ** (attempt - 1), max_backoff))
                        continue
                    break
                with lock:
                    result.statuses[kind.name][out.status] += 1
                    result.latencies[kind.name].append(elapsed)
                    if not out.ok:
                        result.wrong[kind.name] += 1
                        if out.note and len(result.notes) < 50:
                            result.notes.append(f"{kind.name}: {out.note}")
                        if transient:
                            result.failed[kind.name] += 1
                    elif out.value is not None:
                        result.values[kind.name].append(out.value)
                    done[0] += 1
                    n_done = done[0]
                if during is not None:
                    during(n_done)

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max_seconds + 60)
    result.seconds = time.perf_counter() - start
    return result


# --- the request kinds the PKI offers today ---------------------------------------------------------


def ocsp_kind(requests: list[tuple[bytes, str]], *, name: str = "ocsp", weight: float = 1.0, get: bool = False) -> Kind:
    """OCSP for prepared (request DER, expected status "good"/"revoked") pairs."""
    import base64

    from asn1crypto import ocsp

    counter = [0]

    def run(http: httpx.Client) -> Outcome:
        counter[0] += 1
        der, expected = requests[counter[0] % len(requests)]
        if get:
            r = http.get("/pki/ocsp/" + base64.b64encode(der).decode())
        else:
            r = http.post("/pki/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"})
        if r.status_code != 200:
            return Outcome(r.status_code, False, note=r.text[:200])
        resp = ocsp.OCSPResponse.load(r.content)
        if resp["response_status"].native != "successful":
            return Outcome(r.status_code, False, note=f"OCSP {resp['response_status'].native}")
        status = resp.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_status"].name
        return Outcome(r.status_code, status == expected, status, note=f"expected {expected}, got {status}")

    return Kind(name, weight, run)


def tsa_kind(*, family: str = "rsa", weight: float = 1.0) -> Kind:
    """RFC 3161 query for a fresh random imprint; the value collected is the token's serial."""
    from asn1crypto import tsp

    def run(http: httpx.Client) -> Outcome:
        digest = hashlib.sha256(os.urandom(16)).digest()
        q = tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                                 "hashed_message": digest}, "cert_req": False})
        r = http.post(f"/pki/tsa?family={family}", content=q.dump(),
                      headers={"Content-Type": "application/timestamp-query"})
        if r.status_code != 200:
            return Outcome(r.status_code, False, note=r.text[:200])
        resp = tsp.TimeStampResp.load(r.content)
        if resp["status"]["status"].native != "granted":
            return Outcome(r.status_code, False, note=str(resp["status"].native))
        info = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
        ok = info["message_imprint"]["hashed_message"].native == digest
        return Outcome(r.status_code, ok, int(info["serial_number"].native), note="imprint mismatch")

    return Kind(f"tsa-{family}", weight, run)


def get_kind(name: str, path: str, check: Callable[[httpx.Response], bool], *, weight: float = 1.0) -> Kind:
    def run(http: httpx.Client) -> Outcome:
        r = http.get(path)
        return Outcome(r.status_code, r.status_code == 200 and check(r), note=r.text[:200])

    return Kind(name, weight, run)


def call_kind(name: str, fn: Callable[[], Any], *, weight: float = 1.0) -> Kind:
    """Work done through a service call rather than HTTP (e.g. certificate issuance, which has no
    public endpoint): it runs in the client thread against the same database."""

    def run(_: httpx.Client) -> Outcome:
        try:
            return Outcome(200, True, fn())
        except Exception as exc:  # the load records it; the test decides
            return Outcome(500, False, note=f"{type(exc).__name__}: {exc}"[:200])

    return Kind(name, weight, run, retry_safe=False)


# --- licence issuance and sealing (retried with their Idempotency-Key) --------------------------------


def licence_kind(
    token: Callable[[], str], data: Callable[[int], dict[str, Any]], type_code: str, *, weight: float = 1.0
) -> Kind:
    """``POST /license/v1/licenses`` with fresh data (``data(n)``: a new licence number each time)
    and an Idempotency-Key per logical request; the value is (key, licence id, number, identifier)."""
    import uuid

    counter = [0]
    lock = threading.Lock()

    def new() -> tuple[str, dict[str, Any]]:
        with lock:
            counter[0] += 1
            n = counter[0]
        return uuid.uuid4().hex, {"type_code": type_code, "data": data(n)}

    def run(http: httpx.Client, request: tuple[str, dict[str, Any]]) -> Outcome:
        key, body = request
        r = http.post(
            "/license/v1/licenses",
            json=body,
            headers={"Authorization": f"Bearer {token()}", "Idempotency-Key": key},
        )
        if r.status_code != 201:
            return Outcome(r.status_code, False, note=r.text[:200])
        got = r.json()
        ok = got["status"] == "valid" and got["pdf"]["size"] > 0 and got["type_code"] == type_code
        return Outcome(r.status_code, ok, (key, got["id"], got["number"], got["identifier"]), note=r.text[:200])

    return Kind("licence", weight, run, retry_safe=True, new_request=new)


def seal_kind(token: Callable[[], str], pdf: bytes, seal_ids: list[str], *, weight: float = 1.0) -> Kind:
    """``POST /seal/v1/sign`` of ``pdf`` with one of ``seal_ids`` and an Idempotency-Key per logical
    request; judged by the PDF header and ``Repr-Digest``; the value is (key, seal use id, sha256)."""
    import base64
    import uuid

    counter = [0]
    lock = threading.Lock()

    def new() -> tuple[str, str]:
        with lock:
            counter[0] += 1
            n = counter[0]
        return uuid.uuid4().hex, seal_ids[n % len(seal_ids)]

    def run(http: httpx.Client, request: tuple[str, str]) -> Outcome:
        key, seal_id = request
        r = http.post(
            "/seal/v1/sign",
            files={"file": ("d.pdf", pdf, "application/pdf")},
            data={"seal_id": seal_id, "page": "1", "x": "350", "y": "150", "reason": "load"},
            headers={"Authorization": f"Bearer {token()}", "Idempotency-Key": key},
        )
        if r.status_code != 200:
            return Outcome(r.status_code, False, note=r.text[:200])
        digest = hashlib.sha256(r.content).digest()
        ok = r.content.startswith(b"%PDF") and r.headers.get("repr-digest") == (
            f"sha-256=:{base64.b64encode(digest).decode()}:"
        )
        return Outcome(r.status_code, ok, (key, r.headers.get("x-seal-use-id"), digest.hex()), note="bad digest")

    return Kind("seal", weight, run, retry_safe=True, new_request=new)
