"""Prometheus metrics: one registry module, imported by the code that counts.

Metric objects are module-level, as Prometheus client libraries expect: a counter is a named
time series of the process, not a service. Label values are always from small fixed sets
(route templates, statuses, CA ids, verdicts) — never identifiers, names or numbers of people.

Several uvicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, the same for all
workers, *before* the processes start (prometheus_client picks its value storage at import);
``/metrics`` then aggregates every worker's files (:func:`render`). The deploy script does this.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

# --- HTTP (counted by api.security.RequestContextMiddleware) ------------------------------------
HTTP_REQUESTS = Counter(
    "ywt_http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "ywt_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REQUEST_TIMEOUTS = Counter("ywt_http_request_timeouts_total", "Requests cut off by the request timeout", ["route"])
RATE_LIMITED = Counter("ywt_rate_limited_total", "Requests refused by a rate limit", ["limit", "scope"])
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "ywt_rate_limit_backend_errors_total", "Rate-limit checks that fell back to in-process state (Redis down)"
)

# --- PKI (ca/) -----------------------------------------------------------------------------------
CERTIFICATES_ISSUED = Counter("ywt_certificates_issued_total", "Certificates issued", ["ca", "profile"])
CERTIFICATES_REVOKED = Counter("ywt_certificates_revoked_total", "Certificates revoked", ["ca", "reason"])
CRLS_ISSUED = Counter("ywt_crls_issued_total", "CRLs issued", ["ca"])
OCSP_RESPONSES = Counter(
    "ywt_ocsp_responses_total",
    "OCSP responses: per certificate status (good/revoked/unknown) or error status",
    ["status"],
)
TIMESTAMPS = Counter("ywt_timestamps_total", "RFC 3161 responses", ["family", "result"])  # result: granted|rejection

# --- domains that plug in (identity, seal, license, verify) --------------------------------------
SEAL_USES = Counter("ywt_seal_uses_total", "Seal uses (PDF signatures)", ["algorithm", "result"])  # ok|denied|error
LICENCES_ISSUED = Counter("ywt_licences_issued_total", "Licences issued", ["license_type"])
VERIFICATION_VERDICTS = Counter(
    "ywt_verification_verdicts_total", "Verification results", ["kind", "indication"]
)  # kind: pdf|qr|token|certificate|ses; indication: TOTAL-PASSED|INDETERMINATE|TOTAL-FAILED|REJECTED
SOURCE_FAILURES = Counter(
    "ywt_base_data_source_failures_total", "Base-data source calls that failed", ["source", "reason"]
)  # reason: timeout|error|circuit-open
TOKENS_ISSUED = Counter("ywt_tokens_issued_total", "OAuth/OIDC tokens issued", ["grant_type", "token_type"])


def multiprocess_dir() -> str | None:
    """The shared directory of the multi-process mode, if the environment set one (see module doc)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of every worker in multi-process mode."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (counters and histograms keep their totals)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
