"""Base-data sources of the identity domain: protocols, stubs, HTTP adapters, resilience.

Callers build the set once with :func:`build_sources` and use its guarded sources; every answer
is a statement of the source, and a source that cannot answer raises
:class:`~identity.errors.SourceUnavailable` (``TryLater``). The stub register app lives in
:mod:`identity.sources.stub_server` (not imported here: it pulls in FastAPI).
"""

from identity.sources.base import (
    BankCard4Query,
    BankCard4Result,
    BankCard4Source,
    BusinessLicence,
    BusinessLicenceSource,
    ElementOutcome,
    EntityCheckResult,
    EntityOutcome,
    EntityQuery,
    EntityRecord,
    EntityStatus,
    FaceMatchResult,
    FaceMatchSource,
    FaceOutcome,
    FaceQuery,
    LegalEntitySource,
    PersonOutcome,
    PersonQuery,
    PopulationResult,
    PopulationSource,
    SourceName,
    Telecom3Query,
    Telecom3Result,
    Telecom3Source,
)
from identity.sources.dataset import SyntheticDataset, SyntheticEntity, SyntheticPerson, reference_face
from identity.sources.registry import AdapterKind, SourceConfig, Sources, SourcesConfig, build_sources
from identity.sources.resilience import CircuitState, GuardPolicy, SourceGuard
from identity.sources.stub import StubBehaviour
from identity.sources.synthetic import generate

__all__ = [
    "AdapterKind",
    "BankCard4Query",
    "BankCard4Result",
    "BankCard4Source",
    "BusinessLicence",
    "BusinessLicenceSource",
    "CircuitState",
    "ElementOutcome",
    "EntityCheckResult",
    "EntityOutcome",
    "EntityQuery",
    "EntityRecord",
    "EntityStatus",
    "FaceMatchResult",
    "FaceMatchSource",
    "FaceOutcome",
    "FaceQuery",
    "GuardPolicy",
    "LegalEntitySource",
    "PersonOutcome",
    "PersonQuery",
    "PopulationResult",
    "PopulationSource",
    "SourceConfig",
    "SourceGuard",
    "SourceName",
    "Sources",
    "SourcesConfig",
    "StubBehaviour",
    "SyntheticDataset",
    "SyntheticEntity",
    "SyntheticPerson",
    "Telecom3Query",
    "Telecom3Result",
    "Telecom3Source",
    "build_sources",
    "generate",
    "reference_face",
]
