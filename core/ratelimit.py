"""Rate limiting with the generic cell rate algorithm (GCRA), in process or shared through Redis.

GCRA (ITU-T I.371 §4.4.2, as used for ATM policing) keeps one number per key, the *theoretical
arrival time* (TAT). A rate of ``limit`` requests per ``period`` seconds has emission interval
``T = period / limit``; a request at time ``now`` is allowed if ``max(TAT, now) + T - period <= now``
(so up to ``limit`` requests may arrive in a burst), and then ``TAT = max(TAT, now) + T``. A
refused request learns exactly when the next one would pass (``Retry-After``). Unlike fixed
windows it never lets ``2 * limit`` through across a window boundary.

With several worker processes the state must be shared: :class:`RedisLimiter` runs the same step
as one Lua script (atomic in Redis, clocked by Redis ``TIME`` so workers' clocks do not matter).
If Redis fails, the limiter falls back to the in-process state and says so in the log and in
``ywt_rate_limit_backend_errors_total``: limits keep holding per process rather than vanishing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import InvalidInput, TooManyRequests

log = logging.getLogger("ywt.ratelimit")

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period`` seconds."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period <= 0:
            raise ValueError("a rate needs a positive limit and period")

    @property
    def interval(self) -> float:
        return self.period / self.limit

    @staticmethod
    def parse(text: str | Rate) -> Rate:
        """``"60/60"`` (per 60 s), ``"10/1m"``, ``"1000/1h"``."""
        if isinstance(text, Rate):
            return text
        m = _RATE.match(text)
        if not m:
            raise ValueError(f"not a rate: {text!r} (write e.g. '60/60', '10/1m')")
        return Rate(int(m.group(1)), float(m.group(2)) * _UNITS[m.group(3)])

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


class RateLimited(TooManyRequests):
    code = "rate-limited"
    title = "Too many requests; slow down"


class LimiterBackend(Protocol):
    name: str

    def hit(self, key: str, rate: Rate) -> float:
        """Count one request; 0 if allowed, else the seconds until one would be."""
        ...


class MemoryLimiter:
    """GCRA state in this process (one worker, or a fallback). Keys expire when their TAT passes."""

    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._max_keys = max_keys

    def hit(self, key: str, rate: Rate) -> float:
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, now), now)
            allow_at = tat + rate.interval - rate.period
            if allow_at > now:
                return allow_at - now
            self._tat[key] = tat + rate.interval
            if len(self._tat) > self._max_keys:
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            return 0.0

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()


# KEYS[1] = key; ARGV = interval, period (seconds, float). Returns "0" or the wait in seconds.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - period
if allow_at > now then
  return tostring(allow_at - now)
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return "0"
"""


class RedisLimiter:
    """GCRA state shared by every worker through Redis (``YWT_REDIS_URL``)."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "ywt:rl:", fallback: MemoryLimiter | None = None) -> None:
        import redis

        self.prefix = prefix
        self._client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script: Any = self._client.register_script(_GCRA_LUA)
        self.fallback = fallback or MemoryLimiter()
        self._errors = 0

    def hit(self, key: str, rate: Rate) -> float:
        import redis

        try:
            out = self._script(keys=[self.prefix + key], args=[repr(rate.interval), repr(rate.period)])
        except redis.RedisError as exc:
            from core import metrics

            metrics.RATE_LIMIT_BACKEND_ERRORS.inc()
            self._errors += 1
            if self._errors == 1 or self._errors % 100 == 0:
                log.warning("rate limiter: Redis unavailable (%s); limiting per process", type(exc).__name__)
            return self.fallback.hit(key, rate)
        return float(out)

    def close(self) -> None:
        self._client.close()


def build_limiter(redis_url: str | None) -> LimiterBackend:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()


@dataclass(frozen=True)
class LimitSpec:
    """The limits of one named endpoint group: per client IP and per OAuth client."""

    per_ip: Rate | None = None
    per_client: Rate | None = None

    @staticmethod
    def parse(text: str) -> LimitSpec:
        """``"ip=10/60,client=100/60"`` (either part may be missing; ``off`` disables both)."""
        if text.strip().lower() == "off":
            return LimitSpec()
        parts: dict[str, Rate] = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in ("ip", "client"):
                raise InvalidInput(f"rate limit override {text!r}: write 'ip=10/60,client=100/60' or 'off'")
            parts[name] = Rate.parse(value)
        return LimitSpec(parts.get("ip"), parts.get("client"))
