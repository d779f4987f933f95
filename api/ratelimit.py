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
import json
import math
import urllib.parse
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
        self.check(request, self.client_key(request) if self.client_key else None)

    def check(self, request: Request, client: str | None) -> None:
        """Count this request per IP and per client (``client``, else what the request names)."""
        services = request.app.state.services
        spec = self.spec(services.settings)
        if spec.per_ip is not None:
            ip = request.client.host if request.client else "unknown"
            self._check(services.limiter, "ip", ip, spec.per_ip)
        if spec.per_client is not None:
            client = client or client_id_from_request(request)
            if client:
                self._check(services.limiter, "client", client, spec.per_client)
            else:  # counted once authentication tells who the client is
                pending: list[tuple[RateLimit, Rate]] = getattr(request.state, _PENDING, [])
                pending.append((self, spec.per_client))
                setattr(request.state, _PENDING, pending)


class FormRateLimit(RateLimit):
    """A :class:`RateLimit` whose client is named in a form body: the OAuth token endpoint's
    ``client_id`` / ``client_assertion`` issuer (RFC 6749 §2.3.1, RFC 7523 §3), or, on login pages,
    ``form_client_key(request, form)`` (the relying party the login continues an authorization for).
    The body is read once and cached by Starlette for the route."""

    def __init__(
        self,
        name: str,
        *,
        per_ip: str | Rate | None = None,
        per_client: str | Rate | None = None,
        form_client_key: Callable[[Request, dict[str, str]], str | None] | None = None,
    ) -> None:
        super().__init__(name, per_ip=per_ip, per_client=per_client)
        self.form_client_key = form_client_key

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        client = client_id_from_request(request)
        if client is None and request.method == "POST" and _is_form(request):
            body = await request.body()  # cached: the route reads the same bytes
            form = _form_fields(body)
            client = _oauth_client(form)
            if client is None and self.form_client_key is not None:
                client = self.form_client_key(request, form)
        self.check(request, client)


def _is_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/x-www-form-urlencoded"


def _form_fields(body: bytes) -> dict[str, str]:
    if len(body) > 64 * 1024:
        return {}
    try:
        return dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}


def _oauth_client(form: dict[str, str]) -> str | None:
    """The client a token request names: ``client_id``, else the ``iss`` of a client assertion
    (not verified here: the key only decides which budget the request counts against)."""
    cid = form.get("client_id")
    if cid and len(cid) <= 200:
        return cid
    assertion = form.get("client_assertion", "")
    parts = assertion.split(".")
    if len(parts) == 3 and len(parts[1]) <= 8000:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        iss = claims.get("iss") if isinstance(claims, dict) else None
        if isinstance(iss, str) and 0 < len(iss) <= 200:
            return iss
    return None


def enforce_client_limits(request: Request, client_id: str | None) -> None:
    """Apply per-client limits that waited for authentication (called by api.auth)."""
    pending: list[tuple[RateLimit, Rate]] = getattr(request.state, _PENDING, [])
    if not pending or not client_id:
        return
    setattr(request.state, _PENDING, [])
    limiter = request.app.state.services.limiter
    for limit, rate in pending:
        limit._check(limiter, "client", client_id, rate)


# --- the limits of the service's endpoints (defaults; YWT_RATE_LIMITS overrides per name) ----------


def _login_client(request: Request, form: dict[str, str]) -> str | None:
    """The relying party a login page continues an authorization for: its ``next`` is
    ``/oauth2/authorize/resume?req=TICKET``, and the sealed ticket names the client."""
    ticket = form.get("req", "")  # step-up pages carry the ticket itself
    target = form.get("next") or request.query_params.get("next") or ""
    if not ticket and target.startswith("/oauth2/authorize/resume?"):
        ticket = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("req", [""])[0]
    identity = getattr(request.app.state.services, "identity", None)
    if not ticket or identity is None:
        return None
    try:
        return str(identity.oidc.from_ticket(ticket).client_id)
    except Exception:  # an expired or forged ticket: the login page itself says so; count per IP only
        return None


#: Login pages that check a password or a code (submissions, not the GET forms), including step-up.
LOGIN_LIMIT = FormRateLimit("login", per_ip="60/60", per_client="3000/60", form_client_key=_login_client)
#: The OAuth token endpoint: per client id (Basic, client_id, client_assertion iss) and per IP.
TOKEN_LIMIT = FormRateLimit("token", per_ip="600/60", per_client="600/60")
#: Sealing: per approval-system client (from its access token) and per IP.
SEAL_LIMIT = RateLimit("seal", per_ip="6000/60", per_client="3000/60")
#: Verification (anonymous; PDF parsing is sandboxed but costly): per IP, per client when named.
VERIFY_LIMIT = RateLimit("verify", per_ip="600/60", per_client="6000/60")
