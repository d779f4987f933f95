"""Timeouts and circuit breakers: a source that is slow or down yields "try later", never a wrong answer."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from core.errors import ConfigurationError, TryLater
from identity.errors import InvalidUscc, SourceUnavailable, UnavailableReason
from identity.numbers import id_number_check_char
from identity.sources import demo
from identity.sources.base import (
    EntityQuery,
    PersonOutcome,
    PersonQuery,
    PopulationResult,
    SourceName,
)
from identity.sources.dataset import SyntheticDataset
from identity.sources.resilience import (
    CircuitState,
    GuardedLegalEntitySource,
    GuardedPopulationSource,
    GuardPolicy,
    SourceGuard,
)
from identity.sources.stub import (
    StubBehaviour,
    StubLegalEntitySource,
    StubPopulationSource,
    entity_outcome,
    population_outcome,
)
from identity.sources.synthetic import generate

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
QUERY = PersonQuery(demo.DEMO_CITIZEN.name, demo.DEMO_CITIZEN.id_number)


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate()


class ScriptedSource:
    """A population source whose next answers are scripted: a result, an exception, or a wait."""

    def __init__(self) -> None:
        self.calls = 0
        self.script: list[Callable[[], Awaitable[PopulationResult]]] = []

    def then(self, step: Callable[[], Awaitable[PopulationResult]]) -> ScriptedSource:
        self.script.append(step)
        return self

    async def check(self, query: PersonQuery) -> PopulationResult:
        self.calls += 1
        step = self.script.pop(0) if self.script else answer
        return await step()


async def answer() -> PopulationResult:
    return PopulationResult(QUERY, PersonOutcome.MATCH)


async def boom() -> PopulationResult:
    raise SourceUnavailable(SourceName.POPULATION, UnavailableReason.ERROR, "HTTP 503")


def guarded(source: ScriptedSource, threshold: int = 3, timeout: float = 1.0) -> GuardedPopulationSource:
    policy = GuardPolicy(timeout=timeout, failure_threshold=threshold, reset_after=timedelta(seconds=30))
    return GuardedPopulationSource(source, SourceGuard(SourceName.POPULATION, policy))


async def reason_of(call: Awaitable[object]) -> UnavailableReason:
    with pytest.raises(SourceUnavailable) as info:
        await call
    assert isinstance(info.value, TryLater)
    assert info.value.source == SourceName.POPULATION
    return info.value.reason


# -- timeouts -------------------------------------------------------------------------------------


async def test_timeout_is_try_later(data: SyntheticDataset) -> None:
    slow = StubPopulationSource(data, StubBehaviour(latency=0.5))
    source = GuardedPopulationSource(slow, SourceGuard(SourceName.POPULATION, GuardPolicy(timeout=0.05)))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await reason_of(source.check(QUERY)) is UnavailableReason.TIMEOUT
    assert loop.time() - start < 0.4  # the caller does not wait for the slow source


async def test_fast_enough_answers_pass(data: SyntheticDataset) -> None:
    stub = StubPopulationSource(data, StubBehaviour(latency=0.01, jitter=0.01))
    source = GuardedPopulationSource(stub, SourceGuard(SourceName.POPULATION, GuardPolicy(timeout=0.5)))
    assert (await source.check(QUERY)).outcome is PersonOutcome.MATCH


# -- never a wrong answer -------------------------------------------------------------------------


def _person_queries(data: SyntheticDataset, rng: random.Random, count: int) -> list[PersonQuery]:
    """A mix of matching, mismatching, deceased and unknown queries."""
    queries = []
    for _ in range(count):
        person = rng.choice(data.persons)
        roll = rng.random()
        if roll < 0.15 and person.name_variant:
            queries.append(PersonQuery(person.name_variant, person.id_number))
        elif roll < 0.3:
            queries.append(PersonQuery(person.name + "某", person.id_number))
        elif roll < 0.4:
            body = f"65010219700101{rng.randrange(1000):03d}"
            queries.append(PersonQuery(person.name, body + id_number_check_char(body)))
        else:
            queries.append(PersonQuery(person.name, person.id_number))
    return queries


@pytest.mark.parametrize("threshold", [1_000, 3], ids=["circuit-stays-closed", "circuit-trips"])
async def test_flaky_population_answers_right_or_try_later(data: SyntheticDataset, threshold: int) -> None:
    stub = StubPopulationSource(data, StubBehaviour(failure_rate=0.3, seed=11))
    guard = SourceGuard(SourceName.POPULATION, GuardPolicy(timeout=1.0, failure_threshold=threshold))
    source = GuardedPopulationSource(stub, guard)
    answered = refused = 0
    outcomes = set()
    with clock.frozen(T0):  # with a frozen clock an open circuit stays open: many refusals
        for query in _person_queries(data, random.Random(5), 600):
            try:
                result = await source.check(query)
            except SourceUnavailable:
                refused += 1
                continue
            assert result.query is query
            assert result.outcome is population_outcome(data, query)
            outcomes.add(result.outcome)
            answered += 1
    assert refused > 0 and answered > 0
    if threshold == 1_000:
        assert outcomes == set(PersonOutcome)  # every kind of answer was given right
        assert 120 <= refused <= 240


async def test_flaky_entity_source_answers_right_or_try_later(data: SyntheticDataset) -> None:
    stub = StubLegalEntitySource(data, StubBehaviour(failure_rate=0.4, seed=3))
    source = GuardedLegalEntitySource(
        stub, SourceGuard(SourceName.LEGAL_ENTITY, GuardPolicy(failure_threshold=1_000))
    )
    refused = 0
    for entity in data.entities[:300]:
        try:
            record = await source.lookup(entity.uscc)
            result = await source.check(EntityQuery(entity.uscc, entity.name, entity.legal_rep))
        except SourceUnavailable:
            refused += 1
            continue
        assert record == entity.record()  # never None ("not found") for a known code
        assert result.outcome is entity_outcome(data, result.query)
    assert refused > 50


# -- circuit breaker ------------------------------------------------------------------------------


async def test_circuit_opens_after_threshold_consecutive_failures() -> None:
    inner = ScriptedSource().then(boom).then(boom).then(boom)
    source = guarded(inner, threshold=3)
    with clock.frozen(T0):
        for _ in range(3):
            assert await reason_of(source.check(QUERY)) is UnavailableReason.ERROR
        assert source.guard.breaker.state is CircuitState.OPEN
        assert await reason_of(source.check(QUERY)) is UnavailableReason.CIRCUIT_OPEN
        assert inner.calls == 3  # the open circuit did not call the source


async def test_a_success_resets_the_failure_count() -> None:
    inner = ScriptedSource().then(boom).then(boom).then(answer).then(boom).then(boom)
    source = guarded(inner, threshold=3)
    for expected in ("fail", "fail", "ok", "fail", "fail"):
        if expected == "ok":
            assert (await source.check(QUERY)).matched
        else:
            await reason_of(source.check(QUERY))
    assert source.guard.breaker.state is CircuitState.CLOSED
    assert source.guard.breaker.consecutive_failures == 2


async def test_circuit_half_opens_after_reset_time_and_closes_on_success() -> None:
    inner = ScriptedSource().then(boom).then(boom)
    source = guarded(inner, threshold=2)
    with clock.frozen(T0):
        await reason_of(source.check(QUERY))
        await reason_of(source.check(QUERY))
    with clock.frozen(T0 + timedelta(seconds=29)):
        assert source.guard.breaker.state is CircuitState.OPEN
        assert await reason_of(source.check(QUERY)) is UnavailableReason.CIRCUIT_OPEN
    with clock.frozen(T0 + timedelta(seconds=30)):
        assert source.guard.breaker.state is CircuitState.HALF_OPEN
        assert (await source.check(QUERY)).matched  # the probe
        assert source.guard.breaker.state is CircuitState.CLOSED
    assert inner.calls == 3


async def test_failed_probe_opens_the_circuit_again() -> None:
    inner = ScriptedSource().then(boom).then(boom)
    source = guarded(inner, threshold=1)
    with clock.frozen(T0):
        await reason_of(source.check(QUERY))
    with clock.frozen(T0 + timedelta(seconds=31)):
        assert await reason_of(source.check(QUERY)) is UnavailableReason.ERROR  # probe fails
        assert source.guard.breaker.state is CircuitState.OPEN
    with clock.frozen(T0 + timedelta(seconds=60)):
        assert await reason_of(source.check(QUERY)) is UnavailableReason.CIRCUIT_OPEN  # reopened at 31 s
    with clock.frozen(T0 + timedelta(seconds=61)):
        assert (await source.check(QUERY)).matched
    assert inner.calls == 3


async def test_only_one_probe_at_a_time() -> None:
    release = asyncio.Event()

    async def slow_answer() -> PopulationResult:
        await release.wait()
        return await answer()

    inner = ScriptedSource().then(boom).then(slow_answer)
    source = guarded(inner, threshold=1)
    with clock.frozen(T0):
        await reason_of(source.check(QUERY))
    with clock.frozen(T0 + timedelta(minutes=1)):
        probe = asyncio.create_task(source.check(QUERY))
        await asyncio.sleep(0)
        assert inner.calls == 2
        assert await reason_of(source.check(QUERY)) is UnavailableReason.CIRCUIT_OPEN
        release.set()
        assert (await probe).matched
        assert (await source.check(QUERY)).matched  # closed again
    assert inner.calls == 3


async def test_cancelled_probe_lets_the_next_call_probe() -> None:
    async def hang() -> PopulationResult:
        await asyncio.sleep(10)
        raise AssertionError("not reached")

    inner = ScriptedSource().then(boom).then(hang)
    source = guarded(inner, threshold=1, timeout=5)
    with clock.frozen(T0):
        await reason_of(source.check(QUERY))
    with clock.frozen(T0 + timedelta(minutes=1)):
        probe = asyncio.create_task(source.check(QUERY))
        await asyncio.sleep(0)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert source.guard.breaker.state is CircuitState.HALF_OPEN
        assert (await source.check(QUERY)).matched


async def test_timeouts_count_as_failures() -> None:
    async def hang() -> PopulationResult:
        await asyncio.sleep(1)
        raise AssertionError("not reached")

    inner = ScriptedSource().then(hang).then(hang)
    source = guarded(inner, threshold=2, timeout=0.02)
    with clock.frozen(T0):
        assert await reason_of(source.check(QUERY)) is UnavailableReason.TIMEOUT
        assert await reason_of(source.check(QUERY)) is UnavailableReason.TIMEOUT
        assert await reason_of(source.check(QUERY)) is UnavailableReason.CIRCUIT_OPEN


async def test_caller_errors_pass_through_and_do_not_trip_the_circuit(data: SyntheticDataset) -> None:
    source = GuardedLegalEntitySource(
        StubLegalEntitySource(data), SourceGuard(SourceName.LEGAL_ENTITY, GuardPolicy(failure_threshold=1))
    )
    for _ in range(3):
        with pytest.raises(InvalidUscc):
            await source.lookup("91110000600037341M")
    assert source.guard.breaker.state is CircuitState.CLOSED
    assert await source.lookup(demo.DEMO_COMPANY.uscc) == demo.DEMO_COMPANY.record()


async def test_unexpected_adapter_errors_become_try_later_without_leaking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = demo.DEMO_CITIZEN.id_number

    async def buggy() -> PopulationResult:
        raise KeyError(secret)  # an adapter bug whose message quotes the request

    source = guarded(ScriptedSource().then(buggy))
    with caplog.at_level(logging.INFO, logger="identity.sources"), pytest.raises(SourceUnavailable) as info:
        await source.check(QUERY)
    assert info.value.reason is UnavailableReason.ERROR
    assert isinstance(info.value.__cause__, KeyError)
    for text in (str(info.value), repr(info.value), repr(info.value.extra), caplog.text):
        assert secret not in text
    assert "population" in caplog.text and "KeyError" in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"timeout": float("inf")}, {"failure_threshold": 0}, {"reset_after": timedelta(0)}],
)
def test_bad_policy_is_a_configuration_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        GuardPolicy(**kwargs)  # type: ignore[arg-type]
