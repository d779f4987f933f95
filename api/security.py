"""HTTP hardening around every request: request ids and JSON access logs with metrics, security
headers, CORS allow-list and a time budget per request.

Order, outermost first (``install``): request context (id, log line, metrics — it must see the
final status of everything inside, timeouts and 429s included) -> security headers -> CORS ->
timeout -> body limit -> routes. All are pure ASGI middlewares (no response buffering, so
streamed PDFs stay streamed).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

import anyio
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics
from core.settings import Settings

access_log = logging.getLogger("ywt.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

#: Our pages are server-rendered with stylesheets and no scripts at all, so everything is 'self'
#: and nothing inline (CSP Level 3). frame-ancestors 'none' forbids framing (clickjacking on the
#: consent and login forms); form-action 'self' keeps forms from posting credentials elsewhere.
#: Images may be data: URIs (QR codes, seal previews).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline bootstrap
#: script; they get a policy that allows exactly that, and still cannot be framed.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

#: Path prefixes whose requests may legitimately take longer than YWT_REQUEST_TIMEOUT_SECONDS
#: (bulk imports, large PDF verification). Domains add their entries here: {"/license/v1/imports": 600}.
TIMEOUT_OVERRIDES: dict[str, float] = {}


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/pki/cas/{ca_id}/crl``), never the concrete path:
    concrete paths carry identifiers and would explode metric label sets."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "<unmatched>"
    if getattr(route, "routes", None) is not None or type(route).__name__ == "Mount":
        return f"{path}/{{path}}"
    return str(path)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def configure_logging(settings: Settings) -> None:
    """JSON lines on stderr for every ``ywt`` logger (access log included)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("ywt")
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    root.propagate = False


class RequestContextMiddleware:
    """X-Request-ID in and out, one access-log line and the HTTP metrics per request.

    The log line holds method, route template, status, duration, request id and the OAuth client
    id when a principal was authenticated — never the query string (tokens, codes), never the
    concrete path (payloads, identifiers), never the client address.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                rid = text if _REQUEST_ID_OK.match(text) else ""
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = str(scope.get("method", ""))
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
            principal = scope.get("state", {}).get("principal")
            fields: dict[str, Any] = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "request_id": rid,
            }
            client_id = getattr(principal, "client_id", None)
            if client_id:
                fields["client_id"] = client_id
            access_log.info("request", extra={"fields": fields})


class SecurityHeadersMiddleware:
    """Security headers on every response (a route may set its own CSP, which is kept)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.base: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            # licence QR URLs (/v/<payload>) and share links must not leak to other sites through
            # Referer. "same-origin", not "no-referrer": under no-referrer browsers send
            # ``Origin: null`` on our own form POSTs, which the CSRF origin check must refuse
            # (found by the Chromium test, tests/portal/test_browser.py).
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"geolocation=(), microphone=(), payment=(), usb=()"),
        ]
        if hsts:  # RFC 6797: only meaningful (and only sent) when we are served over https
            self.base.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.base if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _problem_bytes(status: int, code: str, title: str, detail: str) -> bytes:
    return json.dumps(
        {"type": f"urn:ywt:problem:{code}", "title": title, "status": status, "detail": detail}
    ).encode()


class TimeoutMiddleware:
    """A time budget per request: past it the client gets a 504 problem instead of a hang.

    Work already handed to a thread (a sync route, a signature) cannot be interrupted and runs to
    its end — its transaction still commits or rolls back as one unit, so nothing is left half
    written; clients retry with their ``Idempotency-Key``. A response that has started streaming
    is not cut (its status is already on the wire). ``overrides`` maps path prefixes to budgets
    (bulk imports need longer).
    """

    def __init__(self, app: ASGIApp, *, seconds: float, overrides: Iterable[tuple[str, float]] = ()) -> None:
        self.app = app
        self.seconds = seconds
        self.overrides = sorted(overrides, key=lambda o: -len(o[0]))

    def budget(self, path: str) -> float:
        for prefix, seconds in self.overrides:
            if path.startswith(prefix):
                return seconds
        return self.seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        budget = self.budget(str(scope.get("path", "")))
        started = timed_out = False
        done = anyio.Event()

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the client already has its 504; late output of the route is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def run() -> None:
            try:
                await self.app(scope, receive, guarded_send)
            finally:
                done.set()

        # The route runs in its own task so that the 504 can go out while a thread is still busy
        # (anyio does not abandon a running thread on cancellation; it only stops waiting later).
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.move_on_after(budget):
                await done.wait()
            if done.is_set() or started:
                return
            timed_out = True
            metrics.REQUEST_TIMEOUTS.labels(route_template(scope)).inc()
            body = _problem_bytes(
                504, "timeout", "The request took too long", f"the request was not answered within {budget:g} s"
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 504,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"5"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            tg.cancel_scope.cancel()


def install(app: Any, settings: Settings, *, timeout_overrides: Iterable[tuple[str, float]] = ()) -> None:
    """Add the middlewares (call after every other ``add_middleware``: the last added is outermost)."""
    overrides = [*TIMEOUT_OVERRIDES.items(), *timeout_overrides]
    app.add_middleware(TimeoutMiddleware, seconds=settings.request_timeout_seconds, overrides=overrides)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.base_url.startswith("https://"))
    app.add_middleware(RequestContextMiddleware)
