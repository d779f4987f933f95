"""``RateLimit``: a FastAPI dependency that limits a named group of endpoints per IP and per client.

Use it on a route or a router::

    @router.post("/oauth2/token", dependencies=[Depends(RateLimit("token", per_ip="60/60", per_client="600/60"))])

* ``per_ip`` counts by the client address uvicorn reports (behind nginx uvicorn's proxy-header
  support puts the real client there, trusting only ``--forwarded-allow-ips``).
* ``per_client`` counts by OAuth client id. It is known (a) from the authenticated principal —
  whenever ``api.auth.current_principal`` runs for this request, before or after this dependency,
  it calls :func:`enforce_client_limits`, so the order of dependencies does not matter — or
  (b) before authentication, from HTTP Basic client credentials (RFC 6749 §2.3.1) or a
  ``client_id`` query parameter, or (c) from the ``client_key`` callable the route passes.
* Exceeding a limit raises :class:`core.ratelimit.RateLimited`: a 429 problem with ``Retry-After``.
* Limits are overridable per name by settings (``YWT_RATE_LIMITS='{"login": "ip=5/60"}'``, or
  ``"off"``), and all of them by ``YWT_RATE_LIMITS_ENABLED=false``.

Counters live in Redis when ``YWT_REDIS_URL`` is set (shared by all workers), else in process.
Keys hold a hash of the IP address, not the address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Callable
from typing import Any

from fastapi import Request

from core import metrics
from core.ratelimit import LimitSpec, Rate, RateLimited

_PENDING = "ywt_client_limits"


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def client_id_from_request(request: Request) -> str | None:
    """The OAuth client named by the request before authentication (Basic credentials, query)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and getattr(principal, "client_id", None):
        return str(principal.client_id)
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if 0 < len(user) <= 200:
            return user
    q = request.query_params.get("client_id")
    return q if q and len(q) <= 200 else None


class RateLimit:
    """Dependency limiting requests of the named group (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        per_ip: str | Rate | None = None,
        per_client: str | Rate | None = None,
        client_key: Callable[[Request], str | None] | None = None,
    ) -> None:
        self.name = name
        self.default = LimitSpec(
            None if per_ip is None else Rate.parse(per_ip), None if per_client is None else Rate.parse(per_client)
        )
        self.client_key = client_key
        self._parsed: dict[str, LimitSpec] = {}

    def __repr__(self) -> str:
        return f"RateLimit({self.name!r}, per_ip={self.default.per_ip}, per_client={self.default.per_client})"

    def spec(self, settings: Any) -> LimitSpec:
        if not settings.rate_limits_enabled:
            return LimitSpec()
        override = settings.rate_limits.get(self.name)
        if override is None:
            return self.default
        if override not in self._parsed:
            self._parsed[override] = LimitSpec.parse(override)
        return self._parsed[override]

    def _check(self, limiter: Any, scope: str, key: str, rate: Rate) -> None:
        wait = limiter.hit(f"{self.name}:{scope}:{_digest(key)}", rate)
        if wait > 0:
            metrics.RATE_LIMITED.labels(self.name, scope).inc()
            raise RateLimited(
                f"rate limit {self.name!r} per {scope} is {rate.limit} requests per {rate.period:g} s",
                limit=self.name,
                scope=scope,
                retry_after=max(1, math.ceil(wait)),
            )

    def __call__(self, request: Request) -> None:
        services = request.app.state.services
        spec = self.spec(services.settings)
        if spec.per_ip is not None:
            ip = request.client.host if request.client else "unknown"
            self._check(services.limiter, "ip", ip, spec.per_ip)
        if spec.per_client is not None:
            client = (self.client_key(request) if self.client_key else None) or client_id_from_request(request)
            if client:
                self._check(services.limiter, "client", client, spec.per_client)
            else:  # counted once authentication tells who the client is
                pending: list[tuple[RateLimit, Rate]] = getattr(request.state, _PENDING, [])
                pending.append((self, spec.per_client))
                setattr(request.state, _PENDING, pending)


def enforce_client_limits(request: Request, client_id: str | None) -> None:
    """Apply per-client limits that waited for authentication (called by api.auth)."""
    pending: list[tuple[RateLimit, Rate]] = getattr(request.state, _PENDING, [])
    if not pending or not client_id:
        return
    setattr(request.state, _PENDING, [])
    limiter = request.app.state.services.limiter
    for limit, rate in pending:
        limit._check(limiter, "client", client_id, rate)
