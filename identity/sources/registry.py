"""Build the set of base-data sources from a small frozen configuration.

Settings wiring (``YWT_*`` variables, pydantic-settings) belongs to ``core``; it will turn its
values into a :class:`SourcesConfig` and call :func:`build_sources` once at start-up. Every source
comes back wrapped in its :class:`~identity.sources.resilience.SourceGuard` (timeout and circuit
breaker), whatever its adapter.

A configuration that contradicts itself cannot be built (STYLE.md, "specs are frozen dataclasses
validated at construction"): an ``http`` source needs a URL and takes no simulated latency, a
``stub`` takes no URL, and only the population and legal-entity DBs have an HTTP adapter so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import httpx

from core.errors import ConfigurationError
from identity.sources.base import (
    BankCard4Source,
    BusinessLicenceSource,
    FaceMatchSource,
    LegalEntitySource,
    PopulationSource,
    SourceName,
    Telecom3Source,
)
from identity.sources.dataset import SyntheticDataset
from identity.sources.demo import DEMO_ENTITIES, DEMO_PERSONS
from identity.sources.http import HttpLegalEntitySource, HttpPopulationSource
from identity.sources.resilience import (
    GuardedBankCard4Source,
    GuardedBusinessLicenceSource,
    GuardedFaceMatchSource,
    GuardedLegalEntitySource,
    GuardedPopulationSource,
    GuardedTelecom3Source,
    GuardPolicy,
    SourceGuard,
)
from identity.sources.stub import (
    DEFAULT_FACE_THRESHOLD,
    StubBankCard4Source,
    StubBehaviour,
    StubBusinessLicenceSource,
    StubFaceMatchSource,
    StubLegalEntitySource,
    StubPopulationSource,
    StubTelecom3Source,
)
from identity.sources.synthetic import DEFAULT_ENTITIES, DEFAULT_PERSONS, DEFAULT_SEED, generate

__all__ = ["AdapterKind", "SourceConfig", "Sources", "SourcesConfig", "build_sources"]


class AdapterKind(StrEnum):
    STUB = "stub"
    HTTP = "http"


#: Sources that have an HTTP adapter.
HTTP_CAPABLE: Final = frozenset({SourceName.POPULATION, SourceName.LEGAL_ENTITY})


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One source: its adapter, and how it is guarded (``timeout``, ``failure_threshold``,
    ``reset_after`` in seconds) and, for a stub, how it misbehaves (``latency``, ``jitter``,
    ``failure_rate``, ``seed``)."""

    kind: AdapterKind = AdapterKind.STUB
    url: str | None = None
    timeout: float = 2.0
    latency: float = 0.0
    jitter: float = 0.0
    failure_rate: float = 0.0
    seed: int = 0
    failure_threshold: int = 5
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if self.kind is AdapterKind.HTTP:
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ConfigurationError("an http source needs an http:// or https:// url")
            if (self.latency, self.jitter, self.failure_rate) != (0.0, 0.0, 0.0):
                raise ConfigurationError("latency, jitter and failure_rate only apply to stub sources")
        elif self.url is not None:
            raise ConfigurationError("a stub source takes no url")
        self.policy()  # validates timeout, threshold and reset time
        self.behaviour()  # validates latency, jitter and failure rate

    def policy(self) -> GuardPolicy:
        return GuardPolicy(
            timeout=self.timeout,
            failure_threshold=self.failure_threshold,
            reset_after=timedelta(seconds=self.reset_after),
        )

    def behaviour(self) -> StubBehaviour:
        return StubBehaviour(
            latency=self.latency, jitter=self.jitter, failure_rate=self.failure_rate, seed=self.seed
        )


@dataclass(frozen=True, slots=True)
class SourcesConfig:
    """All six sources (field names are the :class:`SourceName` values) and the synthetic data set
    the stubs answer from."""

    population: SourceConfig = SourceConfig()
    legal_entity: SourceConfig = SourceConfig()
    business_licence: SourceConfig = SourceConfig()
    bank_card4: SourceConfig = SourceConfig()
    telecom3: SourceConfig = SourceConfig()
    face_match: SourceConfig = SourceConfig()
    dataset_seed: int = DEFAULT_SEED
    persons: int = DEFAULT_PERSONS
    entities: int = DEFAULT_ENTITIES
    face_threshold: float = DEFAULT_FACE_THRESHOLD

    def __post_init__(self) -> None:
        for name in SourceName:
            if self.source(name).kind is AdapterKind.HTTP and name not in HTTP_CAPABLE:
                raise ConfigurationError(f"source {name.value} has no http adapter yet; use a stub")
        if self.persons < len(DEMO_PERSONS) or self.entities < len(DEMO_ENTITIES):
            raise ConfigurationError("the synthetic data set must hold at least the demo records")
        if not 0.0 < self.face_threshold <= 1.0:
            raise ConfigurationError("face_threshold must be in (0, 1]")

    def source(self, name: SourceName) -> SourceConfig:
        config: SourceConfig = getattr(self, name.value)
        return config


@dataclass(frozen=True, slots=True)
class Sources:
    """The guarded sources the identity service uses, their guards (circuit states for health and
    metrics) and the HTTP clients to close at shutdown (:meth:`aclose`)."""

    population: PopulationSource
    legal_entity: LegalEntitySource
    business_licence: BusinessLicenceSource
    bank_card4: BankCard4Source
    telecom3: Telecom3Source
    face_match: FaceMatchSource
    guards: Mapping[SourceName, SourceGuard]
    clients: tuple[httpx.AsyncClient, ...] = field(default=(), repr=False)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def build_sources(
    config: SourcesConfig | None = None,
    *,
    dataset: SyntheticDataset | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Sources:
    """Build every source of ``config``, each behind its own guard.

    ``dataset`` replaces the generated synthetic data set of the stubs; ``transport`` is handed to
    the HTTP clients (tests pass an ASGI transport to reach a stub register without a socket).
    """
    config = config or SourcesConfig()
    guards = {name: SourceGuard(name, config.source(name).policy()) for name in SourceName}
    clients: list[httpx.AsyncClient] = []

    def http_client(name: SourceName) -> httpx.AsyncClient:
        source = config.source(name)
        assert source.url is not None  # SourceConfig refuses an http source without url
        client = httpx.AsyncClient(base_url=source.url, timeout=source.timeout, transport=transport)
        clients.append(client)
        return client

    def is_http(name: SourceName) -> bool:
        return config.source(name).kind is AdapterKind.HTTP

    # Four sources are stubs in every valid configuration, so the data set is always needed.
    data = dataset or generate(config.dataset_seed, persons=config.persons, entities=config.entities)

    def behaviour(name: SourceName) -> StubBehaviour:
        return config.source(name).behaviour()

    population: PopulationSource = (
        HttpPopulationSource(http_client(SourceName.POPULATION))
        if is_http(SourceName.POPULATION)
        else StubPopulationSource(data, behaviour(SourceName.POPULATION))
    )
    legal_entity: LegalEntitySource = (
        HttpLegalEntitySource(http_client(SourceName.LEGAL_ENTITY))
        if is_http(SourceName.LEGAL_ENTITY)
        else StubLegalEntitySource(data, behaviour(SourceName.LEGAL_ENTITY))
    )
    return Sources(
        population=GuardedPopulationSource(population, guards[SourceName.POPULATION]),
        legal_entity=GuardedLegalEntitySource(legal_entity, guards[SourceName.LEGAL_ENTITY]),
        business_licence=GuardedBusinessLicenceSource(
            StubBusinessLicenceSource(data, behaviour(SourceName.BUSINESS_LICENCE)),
            guards[SourceName.BUSINESS_LICENCE],
        ),
        bank_card4=GuardedBankCard4Source(
            StubBankCard4Source(data, behaviour(SourceName.BANK_CARD4)), guards[SourceName.BANK_CARD4]
        ),
        telecom3=GuardedTelecom3Source(
            StubTelecom3Source(data, behaviour(SourceName.TELECOM3)), guards[SourceName.TELECOM3]
        ),
        face_match=GuardedFaceMatchSource(
            StubFaceMatchSource(data, behaviour(SourceName.FACE_MATCH), threshold=config.face_threshold),
            guards[SourceName.FACE_MATCH],
        ),
        guards=MappingProxyType(guards),
        clients=tuple(clients),
    )
