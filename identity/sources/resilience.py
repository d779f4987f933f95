"""Per-call timeouts and circuit breakers around base-data sources.

A base-data source that is slow or down must cost the caller a clear "try later", quickly, and
never a wrong answer: a timeout, a transport error, an unparseable answer or an open circuit all
become :class:`~identity.errors.SourceUnavailable` (a ``TryLater``), never "not found" or
"mismatch". Errors that are the caller's (an invalid USCC, say) pass through unchanged and do
not count against the source.

The circuit breaker is the classic three-state one: *closed* (calls pass; ``failure_threshold``
consecutive failures open it), *open* (calls fail at once with reason ``circuit_open`` until
``reset_after`` has passed by :func:`core.clock.now`, so tests drive it with a frozen clock),
*half-open* (one probe call passes; its success closes the circuit, its failure opens it again;
other calls meanwhile fail at once). A breaker belongs to one event loop and is not thread-safe;
there is one per source and process, so with several workers each worker trips on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from core import clock, metrics
from core.errors import ConfigurationError, YwtError
from identity.errors import SourceUnavailable, UnavailableReason
from identity.sources.base import (
    BankCard4Query,
    BankCard4Result,
    BankCard4Source,
    BusinessLicence,
    BusinessLicenceSource,
    EntityCheckResult,
    EntityQuery,
    EntityRecord,
    FaceMatchResult,
    FaceMatchSource,
    FaceQuery,
    LegalEntitySource,
    PersonQuery,
    PopulationResult,
    PopulationSource,
    SourceName,
    Telecom3Query,
    Telecom3Result,
    Telecom3Source,
)

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "GuardPolicy",
    "GuardedBankCard4Source",
    "GuardedBusinessLicenceSource",
    "GuardedFaceMatchSource",
    "GuardedLegalEntitySource",
    "GuardedPopulationSource",
    "GuardedTelecom3Source",
    "SourceGuard",
]

logger = logging.getLogger("identity.sources")

T = TypeVar("T")


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """``timeout``: seconds a call may take; ``failure_threshold``: consecutive failures that open
    the circuit; ``reset_after``: how long it stays open before one probe call is let through."""

    timeout: float = 2.0
    failure_threshold: int = 5
    reset_after: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigurationError("source timeout must be a positive number of seconds")
        if self.failure_threshold < 1:
            raise ConfigurationError("circuit failure_threshold must be at least 1")
        if self.reset_after <= timedelta(0):
            raise ConfigurationError("circuit reset_after must be positive")


class CircuitBreaker:
    """Three-state circuit breaker for one source (see the module docstring)."""

    def __init__(self, source: SourceName, failure_threshold: int, reset_after: timedelta) -> None:
        self.source = source
        self._threshold = failure_threshold
        self._reset_after = reset_after
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at: datetime | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """The state a call arriving now would meet."""
        if self._state is CircuitState.OPEN and self._reset_due():
            return CircuitState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _reset_due(self) -> bool:
        return self._opened_at is None or clock.now() - self._opened_at >= self._reset_after

    def admit(self) -> bool:
        """Let a call through or raise ``SourceUnavailable(circuit_open)``.

        Returns whether the call is the half-open probe; the caller reports its end with exactly
        one of :meth:`succeeded`, :meth:`failed` or :meth:`abandoned`.
        """
        if self._state is CircuitState.OPEN and self._reset_due():
            self._state = CircuitState.HALF_OPEN
            logger.info("circuit of base-data source %s is half-open: probing", self.source)
        if self._state is CircuitState.CLOSED:
            return False
        if self._state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        raise SourceUnavailable(self.source, UnavailableReason.CIRCUIT_OPEN)

    def succeeded(self, probe: bool) -> None:
        """The source answered: whatever the state, it works, so the circuit closes."""
        if probe:
            self._probing = False
        if self._state is not CircuitState.CLOSED:
            logger.info("circuit of base-data source %s is closed again", self.source)
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = None

    def failed(self, probe: bool) -> None:
        if probe:
            self._probing = False
        if self._state is CircuitState.HALF_OPEN and probe:
            self._open()
        elif self._state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def abandoned(self, probe: bool) -> None:
        """The call ended without a verdict on the source (cancelled, or the caller's error)."""
        if probe:
            self._probing = False

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = clock.now()
        logger.warning(
            "circuit of base-data source %s is open: calls fail at once for %s",
            self.source,
            self._reset_after,
        )


class SourceGuard:
    """Runs calls to one source under a timeout and its circuit breaker."""

    def __init__(self, source: SourceName, policy: GuardPolicy | None = None) -> None:
        self.source = source
        self.policy = policy or GuardPolicy()
        self.breaker = CircuitBreaker(source, self.policy.failure_threshold, self.policy.reset_after)

    async def call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()``; turn every way of not getting an answer into ``SourceUnavailable``."""
        try:
            probe = self.breaker.admit()
        except SourceUnavailable as exc:
            metrics.SOURCE_FAILURES.labels(str(self.source), exc.reason.value).inc()
            raise
        try:
            async with asyncio.timeout(self.policy.timeout):
                result = await call()
        except TimeoutError as exc:
            raise self._failure(operation, probe, UnavailableReason.TIMEOUT) from exc
        except SourceUnavailable as exc:
            self._failure(operation, probe, exc.reason)
            raise
        except YwtError:
            self.breaker.abandoned(probe)  # the caller's error (invalid input), not the source's
            raise
        except asyncio.CancelledError:
            self.breaker.abandoned(probe)
            raise
        except Exception as exc:
            # An adapter bug or an unmapped transport error: still no answer, never a wrong one.
            # Only the type is logged: exception texts may quote the request.
            raise self._failure(operation, probe, UnavailableReason.ERROR, type(exc).__name__) from exc
        self.breaker.succeeded(probe)
        return result

    def _failure(
        self, operation: str, probe: bool, reason: UnavailableReason, detail: str | None = None
    ) -> SourceUnavailable:
        self.breaker.failed(probe)
        metrics.SOURCE_FAILURES.labels(str(self.source), reason.value).inc()
        logger.warning(
            "base-data source %s: %s gave no answer (%s%s)",
            self.source,
            operation,
            reason.value,
            f": {detail}" if detail else "",
        )
        return SourceUnavailable(self.source, reason, detail)


# -- guarded implementations of the protocols ------------------------------------------------------


class GuardedPopulationSource:
    def __init__(self, inner: PopulationSource, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def check(self, query: PersonQuery) -> PopulationResult:
        return await self.guard.call("check", lambda: self.inner.check(query))


class GuardedLegalEntitySource:
    def __init__(self, inner: LegalEntitySource, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def lookup(self, uscc: str) -> EntityRecord | None:
        return await self.guard.call("lookup", lambda: self.inner.lookup(uscc))

    async def check(self, query: EntityQuery) -> EntityCheckResult:
        return await self.guard.call("check", lambda: self.inner.check(query))


class GuardedBusinessLicenceSource:
    def __init__(self, inner: BusinessLicenceSource, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def fetch(self, uscc: str) -> BusinessLicence | None:
        return await self.guard.call("fetch", lambda: self.inner.fetch(uscc))


class GuardedBankCard4Source:
    def __init__(self, inner: BankCard4Source, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def check(self, query: BankCard4Query) -> BankCard4Result:
        return await self.guard.call("check", lambda: self.inner.check(query))


class GuardedTelecom3Source:
    def __init__(self, inner: Telecom3Source, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def check(self, query: Telecom3Query) -> Telecom3Result:
        return await self.guard.call("check", lambda: self.inner.check(query))


class GuardedFaceMatchSource:
    def __init__(self, inner: FaceMatchSource, guard: SourceGuard) -> None:
        self.inner, self.guard = inner, guard

    async def match(self, query: FaceQuery) -> FaceMatchResult:
        return await self.guard.call("match", lambda: self.inner.match(query))
