"""Stub base-data sources answering from a synthetic data set.

Each stub implements one protocol of :mod:`identity.sources.base` and behaves like a remote
register: every call waits ``latency`` plus up to ``jitter`` seconds and fails with probability
``failure_rate`` (raising :class:`~identity.errors.SourceUnavailable`, as a real adapter does
for a 5xx). Delays and failures are drawn from a PRNG seeded with ``seed`` and the source name,
so a test that makes the same calls in the same order sees the same delays and failures.

The answers themselves are deterministic functions of the data set (``*_outcome`` below); the
stubs never answer from a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from dataclasses import dataclass
from typing import Final

from core.errors import ConfigurationError
from identity.errors import SourceUnavailable, UnavailableReason
from identity.numbers import validate_uscc
from identity.sources.base import (
    BankCard4Query,
    BankCard4Result,
    BusinessLicence,
    ElementOutcome,
    EntityCheckResult,
    EntityOutcome,
    EntityQuery,
    EntityRecord,
    EntityStatus,
    FaceMatchResult,
    FaceOutcome,
    FaceQuery,
    PersonOutcome,
    PersonQuery,
    PopulationResult,
    SourceName,
    Telecom3Query,
    Telecom3Result,
)
from identity.sources.dataset import SyntheticDataset, reference_face

__all__ = [
    "DEFAULT_FACE_THRESHOLD",
    "StubBankCard4Source",
    "StubBehaviour",
    "StubBusinessLicenceSource",
    "StubFaceMatchSource",
    "StubLegalEntitySource",
    "StubPopulationSource",
    "StubTelecom3Source",
    "bank_card4_outcome",
    "entity_outcome",
    "face_score",
    "population_outcome",
    "telecom3_outcome",
]

DEFAULT_FACE_THRESHOLD: Final = 0.8


@dataclass(frozen=True, slots=True)
class StubBehaviour:
    """How a stub misbehaves: ``latency`` + uniform(0, ``jitter``) seconds per call, and a
    transient failure with probability ``failure_rate``; ``seed`` makes both reproducible."""

    latency: float = 0.0
    jitter: float = 0.0
    failure_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency", "jitter"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"stub {name} must be a finite number of seconds >= 0")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ConfigurationError("stub failure_rate must be between 0 and 1")


class _Simulator:
    """Per-source delay and failure draws (both drawn on every call, so the failure sequence does
    not depend on the latency settings)."""

    def __init__(self, source: SourceName, behaviour: StubBehaviour) -> None:
        self._source = source
        self._behaviour = behaviour
        # A str seed is hashed with SHA-512 by ``random``: stable across processes.
        self._rng = random.Random(f"{behaviour.seed}/{source.value}")

    async def __call__(self) -> None:
        behaviour = self._behaviour
        delay = behaviour.latency + self._rng.random() * behaviour.jitter
        fail = self._rng.random() < behaviour.failure_rate
        if delay > 0:
            await asyncio.sleep(delay)
        if fail:
            raise SourceUnavailable(self._source, UnavailableReason.ERROR, "simulated failure")


# -- answers --------------------------------------------------------------------------------------


def population_outcome(data: SyntheticDataset, query: PersonQuery) -> PersonOutcome:
    person = data.person(query.id_number)
    if person is None:
        return PersonOutcome.NOT_FOUND
    if person.name != query.name:
        return PersonOutcome.MISMATCH
    return PersonOutcome.DECEASED if person.deceased else PersonOutcome.MATCH


def entity_outcome(data: SyntheticDataset, query: EntityQuery) -> EntityOutcome:
    entity = data.entity(query.uscc)
    if entity is None:
        return EntityOutcome.NOT_FOUND
    if entity.name != query.name:
        return EntityOutcome.NAME_MISMATCH
    if entity.legal_rep != query.legal_rep:
        return EntityOutcome.LEGAL_REP_MISMATCH
    match entity.status:
        case EntityStatus.CANCELLED:
            return EntityOutcome.CANCELLED
        case EntityStatus.REVOKED:
            return EntityOutcome.REVOKED
        case EntityStatus.ACTIVE:
            return EntityOutcome.MATCH


def bank_card4_outcome(data: SyntheticDataset, query: BankCard4Query) -> ElementOutcome:
    person = data.person_by_card(query.card_number)
    if person is None:
        return ElementOutcome.NOT_FOUND
    same = (person.name, person.id_number, person.phone) == (query.name, query.id_number, query.phone)
    return ElementOutcome.MATCH if same else ElementOutcome.MISMATCH


def telecom3_outcome(data: SyntheticDataset, query: Telecom3Query) -> ElementOutcome:
    person = data.person_by_phone(query.phone)
    if person is None:
        return ElementOutcome.NOT_FOUND
    same = (person.name, person.id_number) == (query.name, query.id_number)
    return ElementOutcome.MATCH if same else ElementOutcome.MISMATCH


def _fraction(*parts: bytes) -> float:
    digest = hashlib.sha256(b"\x00".join(parts)).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def face_score(data: SyntheticDataset, query: FaceQuery) -> float | None:
    """Similarity in [0, 1]: 0.95..0.99 for the reference photo, below 0.6 for any other image;
    ``None`` when there is no reference photo (unknown ID number)."""
    if data.person(query.id_number) is None:
        return None
    seed = query.id_number.encode()
    if query.image == reference_face(query.id_number):
        return round(0.95 + 0.04 * _fraction(b"same", seed), 4)
    return round(0.6 * _fraction(b"other", seed, query.image), 4)


# -- stubs ----------------------------------------------------------------------------------------


class _Stub:
    source: SourceName

    def __init__(self, dataset: SyntheticDataset, behaviour: StubBehaviour | None = None) -> None:
        self._data = dataset
        self._simulate = _Simulator(self.source, behaviour or StubBehaviour())


class StubPopulationSource(_Stub):
    source = SourceName.POPULATION

    async def check(self, query: PersonQuery) -> PopulationResult:
        await self._simulate()
        return PopulationResult(query, population_outcome(self._data, query))


class StubLegalEntitySource(_Stub):
    source = SourceName.LEGAL_ENTITY

    async def lookup(self, uscc: str) -> EntityRecord | None:
        code = validate_uscc(uscc)
        await self._simulate()
        entity = self._data.entity(code)
        return None if entity is None else entity.record()

    async def check(self, query: EntityQuery) -> EntityCheckResult:
        await self._simulate()
        return EntityCheckResult(query, entity_outcome(self._data, query))


class StubBusinessLicenceSource(_Stub):
    source = SourceName.BUSINESS_LICENCE

    async def fetch(self, uscc: str) -> BusinessLicence | None:
        code = validate_uscc(uscc)
        await self._simulate()
        entity = self._data.entity(code)
        return None if entity is None else entity.licence()


class StubBankCard4Source(_Stub):
    source = SourceName.BANK_CARD4

    async def check(self, query: BankCard4Query) -> BankCard4Result:
        await self._simulate()
        return BankCard4Result(query, bank_card4_outcome(self._data, query))


class StubTelecom3Source(_Stub):
    source = SourceName.TELECOM3

    async def check(self, query: Telecom3Query) -> Telecom3Result:
        await self._simulate()
        return Telecom3Result(query, telecom3_outcome(self._data, query))


class StubFaceMatchSource(_Stub):
    source = SourceName.FACE_MATCH

    def __init__(
        self,
        dataset: SyntheticDataset,
        behaviour: StubBehaviour | None = None,
        *,
        threshold: float = DEFAULT_FACE_THRESHOLD,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ConfigurationError("face-match threshold must be in (0, 1]")
        super().__init__(dataset, behaviour)
        self._threshold = threshold

    async def match(self, query: FaceQuery) -> FaceMatchResult:
        await self._simulate()
        score = face_score(self._data, query)
        if score is None:
            outcome = FaceOutcome.NOT_FOUND
        else:
            outcome = FaceOutcome.PASSED if score >= self._threshold else FaceOutcome.FAILED
        return FaceMatchResult(query, outcome, score, self._threshold)
