"""Building the sources from configuration: stubs, HTTP, guards, refused contradictions."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core import clock
from core.errors import ConfigurationError
from identity.errors import SourceUnavailable, UnavailableReason
from identity.sources import (
    AdapterKind,
    BankCard4Query,
    CircuitState,
    ElementOutcome,
    EntityOutcome,
    EntityQuery,
    FaceOutcome,
    FaceQuery,
    PersonOutcome,
    PersonQuery,
    SourceConfig,
    SourceName,
    SourcesConfig,
    SyntheticDataset,
    Telecom3Query,
    build_sources,
    demo,
    generate,
    reference_face,
)
from identity.sources.http import HttpLegalEntitySource, HttpPopulationSource
from identity.sources.resilience import GuardedLegalEntitySource, GuardedPopulationSource
from identity.sources.stub_server import create_stub_app

pytestmark = pytest.mark.anyio

CITIZEN = demo.DEMO_CITIZEN


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate()


async def test_default_configuration_builds_six_guarded_stubs() -> None:
    sources = build_sources()
    assert set(sources.guards) == set(SourceName)
    card = CITIZEN.card_number
    assert card is not None
    assert (
        await sources.population.check(PersonQuery("张三", CITIZEN.id_number))
    ).outcome is PersonOutcome.MATCH
    department = demo.DEMO_DEPARTMENT
    entity = await sources.legal_entity.check(
        EntityQuery(department.uscc, department.name, department.legal_rep)
    )
    assert entity.outcome is EntityOutcome.MATCH
    assert await sources.business_licence.fetch(demo.DEMO_COMPANY.uscc) == demo.DEMO_COMPANY.licence()
    bank = await sources.bank_card4.check(BankCard4Query("张三", CITIZEN.id_number, card, CITIZEN.phone))
    assert bank.outcome is ElementOutcome.MATCH
    telecom = await sources.telecom3.check(Telecom3Query("张三", CITIZEN.id_number, CITIZEN.phone))
    assert telecom.outcome is ElementOutcome.MATCH
    face = await sources.face_match.match(FaceQuery(CITIZEN.id_number, reference_face(CITIZEN.id_number)))
    assert face.outcome is FaceOutcome.PASSED and face.threshold == 0.8
    await sources.aclose()


async def test_per_source_failures_and_circuits(data: SyntheticDataset) -> None:
    config = SourcesConfig(telecom3=SourceConfig(failure_rate=1.0, failure_threshold=2))
    sources = build_sources(config, dataset=data)
    query = Telecom3Query("张三", CITIZEN.id_number, CITIZEN.phone)
    with clock.frozen(datetime(2026, 1, 1, tzinfo=UTC)):
        reasons = []
        for _ in range(3):
            with pytest.raises(SourceUnavailable) as info:
                await sources.telecom3.check(query)
            reasons.append(info.value.reason)
        assert sources.guards[SourceName.TELECOM3].breaker.state is CircuitState.OPEN
        assert sources.guards[SourceName.POPULATION].breaker.state is CircuitState.CLOSED
        assert (await sources.population.check(PersonQuery("张三", CITIZEN.id_number))).matched
    assert reasons == [UnavailableReason.ERROR, UnavailableReason.ERROR, UnavailableReason.CIRCUIT_OPEN]


async def test_http_sources_reach_a_register(data: SyntheticDataset) -> None:
    register = SourceConfig(kind=AdapterKind.HTTP, url="http://register.test", timeout=1.0)
    config = SourcesConfig(population=register, legal_entity=register)
    sources = build_sources(config, dataset=data, transport=httpx.ASGITransport(app=create_stub_app(data)))
    assert isinstance(sources.population, GuardedPopulationSource)
    assert isinstance(sources.population.inner, HttpPopulationSource)
    assert isinstance(sources.legal_entity, GuardedLegalEntitySource)
    assert isinstance(sources.legal_entity.inner, HttpLegalEntitySource)
    assert len(sources.clients) == 2
    outcome = (await sources.population.check(PersonQuery("李四", demo.DEMO_DECEASED.id_number))).outcome
    assert outcome is PersonOutcome.DECEASED
    assert (
        await sources.legal_entity.lookup(demo.DEMO_REVOKED_ENTITY.uscc) == demo.DEMO_REVOKED_ENTITY.record()
    )
    await sources.aclose()
    assert all(client.is_closed for client in sources.clients)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: SourceConfig(kind=AdapterKind.HTTP), id="http-without-url"),
        pytest.param(lambda: SourceConfig(kind=AdapterKind.HTTP, url="ftp://x"), id="http-bad-scheme"),
        pytest.param(lambda: SourceConfig(url="http://x"), id="stub-with-url"),
        pytest.param(
            lambda: SourceConfig(kind=AdapterKind.HTTP, url="http://x", failure_rate=0.5),
            id="http-with-failure-rate",
        ),
        pytest.param(lambda: SourceConfig(timeout=0), id="timeout-0"),
        pytest.param(lambda: SourceConfig(failure_threshold=0), id="threshold-0"),
        pytest.param(lambda: SourceConfig(reset_after=0), id="reset-0"),
        pytest.param(lambda: SourceConfig(latency=-1), id="negative-latency"),
        pytest.param(lambda: SourceConfig(failure_rate=2), id="failure-rate-2"),
        pytest.param(
            lambda: SourcesConfig(bank_card4=SourceConfig(kind=AdapterKind.HTTP, url="http://x")),
            id="no-http-adapter",
        ),
        pytest.param(lambda: SourcesConfig(persons=5), id="fewer-persons-than-demo"),
        pytest.param(lambda: SourcesConfig(face_threshold=0), id="face-threshold-0"),
    ],
)
def test_contradictory_configuration_cannot_be_built(make: object) -> None:
    with pytest.raises(ConfigurationError):
        make()  # type: ignore[operator]
