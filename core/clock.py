"""Time source that tests can freeze.

Everything that needs "now" (certificate validity, CRL nextUpdate, token expiry, audit
timestamps) calls :func:`now`, never ``datetime.now`` directly, so tests can pin time with
:func:`frozen` and validity-dependent behaviour is reproducible.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_override: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("ywt_clock", default=None)
_global_override: datetime | None = None
_lock = threading.Lock()


def now() -> datetime:
    """Current time, timezone-aware UTC, truncated to microseconds."""
    local = _override.get()
    if local is not None:
        return local
    if _global_override is not None:
        return _global_override
    return datetime.now(UTC)


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive values are taken to be UTC, as stored by SQLite)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze time for the current context (thread / task)."""
    token = _override.set(utc(at))
    try:
        yield
    finally:
        _override.reset(token)


def set_global(at: datetime | None) -> None:
    """Freeze (or unfreeze with ``None``) time for every thread: for tests that run a server."""
    global _global_override  # noqa: PLW0603 - one process-wide override by design
    with _lock:
        _global_override = utc(at) if at is not None else None


def advance(delta: timedelta) -> None:
    """Move a globally frozen clock forward."""
    global _global_override  # noqa: PLW0603
    with _lock:
        if _global_override is None:
            raise RuntimeError("the clock is not frozen")
        _global_override = _global_override + delta
