"""Protocols, queries and answers of the base-data sources (DESIGN.md, "Identity").

One :class:`typing.Protocol` per source: population DB (人口库), legal-entity DB (法人库),
e-business licence (电子营业执照), bank-card four-element (银行卡四要素), telecom three-element
(运营商三要素) and face match (人像比对). Stubs (:mod:`identity.sources.stub`), HTTP clients
(:mod:`identity.sources.http`) and the resilience wrappers (:mod:`identity.sources.resilience`)
implement them; the identity service only sees these types.

Queries are frozen dataclasses validated when built: a query with a malformed ID number, phone,
card or USCC cannot exist, so no adapter ever has to decide what to answer for one. Every number
in a query is masked in its ``repr``, and answers hold their query, so answers are masked too.

An answer is only ever a statement of the source. A source that cannot answer raises
:class:`~identity.errors.SourceUnavailable` (a ``TryLater``); it never answers "not found".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Final, Protocol

from identity.errors import InvalidQuery
from identity.numbers import (
    mask_card_number,
    mask_id_number,
    mask_phone,
    normalize_phone,
    validate_card_number,
    validate_id_number,
    validate_uscc,
)
from identity.pii import masked_repr, pii

__all__ = [
    "MAX_FACE_IMAGE_BYTES",
    "BankCard4Query",
    "BankCard4Result",
    "BankCard4Source",
    "BusinessLicence",
    "BusinessLicenceSource",
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
    "LegalEntitySource",
    "PersonOutcome",
    "PersonQuery",
    "PopulationResult",
    "PopulationSource",
    "SourceName",
    "Telecom3Query",
    "Telecom3Result",
    "Telecom3Source",
    "normalize_name",
]


class SourceName(StrEnum):
    """Which base-data source; names errors, logs and circuit breakers."""

    POPULATION = "population"
    LEGAL_ENTITY = "legal_entity"
    BUSINESS_LICENCE = "business_licence"
    BANK_CARD4 = "bank_card4"
    TELECOM3 = "telecom3"
    FACE_MATCH = "face_match"


# -- names ----------------------------------------------------------------------------------------

_MIDDLE_DOTS: Final = str.maketrans(dict.fromkeys("•・‧∙●", "·"))
_BLANKS: Final = re.compile(r"\s+")
MAX_PERSON_NAME: Final = 64
MAX_ENTITY_NAME: Final = 200


def normalize_name(value: str, what: str, max_len: int = MAX_PERSON_NAME) -> str:
    """A name as the registers compare it: NFKC, one kind of middle dot, single blanks.

    Minority and foreign names are written with a middle dot (买买提·艾力); people type it in
    several look-alike forms, which must not turn a match into a mismatch. Empty names, names
    longer than ``max_len`` and names with control or format characters are refused.
    """
    name = _BLANKS.sub(" ", unicodedata.normalize("NFKC", value).translate(_MIDDLE_DOTS)).strip()
    if not name:
        raise InvalidQuery(what, "must not be empty")
    if len(name) > max_len:
        raise InvalidQuery(what, f"must have at most {max_len} characters")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidQuery(what, "must not contain control or format characters")
    return name


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


# -- population (人口库) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class PersonQuery:
    """Two-element check: does this name belong to this citizen ID number?"""

    name: str
    id_number: str = field(metadata=pii(mask_id_number))

    __repr__ = masked_repr

    def __post_init__(self) -> None:
        _set(self, "name", normalize_name(self.name, "name"))
        _set(self, "id_number", validate_id_number(self.id_number))


class PersonOutcome(StrEnum):
    """Answer of the population DB.

    ``mismatch`` is answered before ``deceased``: the death of a person is not told to someone who
    does not know the person's name.
    """

    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_FOUND = "not_found"
    DECEASED = "deceased"


@dataclass(frozen=True, slots=True)
class PopulationResult:
    query: PersonQuery
    outcome: PersonOutcome

    @property
    def matched(self) -> bool:
        return self.outcome is PersonOutcome.MATCH


class PopulationSource(Protocol):
    """Population DB (人口库): name + citizen ID number two-element check."""

    async def check(self, query: PersonQuery) -> PopulationResult: ...


# -- legal entities (法人库) and e-business licences ------------------------------------------------


class EntityStatus(StrEnum):
    """Registration status: 存续 (active), 注销 (cancelled by the entity), 吊销 (revoked by the authority)."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """What the legal-entity DB tells about an entity (public register data, not masked)."""

    uscc: str
    name: str
    legal_rep: str
    status: EntityStatus
    registered_on: date


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """Check of an entity: does this name and legal representative belong to this USCC?"""

    uscc: str
    name: str
    legal_rep: str

    def __post_init__(self) -> None:
        _set(self, "uscc", validate_uscc(self.uscc))
        _set(self, "name", normalize_name(self.name, "name", MAX_ENTITY_NAME))
        _set(self, "legal_rep", normalize_name(self.legal_rep, "legal_rep"))


class EntityOutcome(StrEnum):
    """Answer of an entity check, in the order it is decided: unknown code, then the name, then the
    legal representative, then a cancelled or revoked status; only then ``match``."""

    MATCH = "match"
    NAME_MISMATCH = "name_mismatch"
    LEGAL_REP_MISMATCH = "legal_rep_mismatch"
    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class EntityCheckResult:
    query: EntityQuery
    outcome: EntityOutcome

    @property
    def matched(self) -> bool:
        return self.outcome is EntityOutcome.MATCH


class LegalEntitySource(Protocol):
    """Legal-entity DB (法人库). ``lookup`` answers ``None`` only when the source says the code is unknown."""

    async def lookup(self, uscc: str) -> EntityRecord | None: ...

    async def check(self, query: EntityQuery) -> EntityCheckResult: ...


@dataclass(frozen=True, slots=True)
class BusinessLicence:
    """The data of an e-business licence (电子营业执照) of a market entity (USCC class 9x)."""

    uscc: str
    name: str
    entity_type: str
    legal_rep: str
    registered_on: date
    valid_until: date | None  # None: 长期 (no end date)
    authority: str
    business_scope: str
    status: EntityStatus


class BusinessLicenceSource(Protocol):
    """E-business licence source. ``None``: the source says there is no licence for the code
    (unknown code, or an entity that is not a market entity, such as a government organ)."""

    async def fetch(self, uscc: str) -> BusinessLicence | None: ...


# -- bank-card four-element and telecom three-element ----------------------------------------------


class ElementOutcome(StrEnum):
    """Answer of an element check. ``not_found``: the card (bank) or the number (telecom) is not
    known; ``mismatch``: it is known but at least one element differs (which one is not told)."""

    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True, repr=False)
class BankCard4Query:
    """Bank-card four-element check (银行卡四要素): name, ID number, card number, reserved phone."""

    name: str
    id_number: str = field(metadata=pii(mask_id_number))
    card_number: str = field(metadata=pii(mask_card_number))
    phone: str = field(metadata=pii(mask_phone))

    __repr__ = masked_repr

    def __post_init__(self) -> None:
        _set(self, "name", normalize_name(self.name, "name"))
        _set(self, "id_number", validate_id_number(self.id_number))
        _set(self, "card_number", validate_card_number(self.card_number))
        _set(self, "phone", normalize_phone(self.phone))


@dataclass(frozen=True, slots=True)
class BankCard4Result:
    query: BankCard4Query
    outcome: ElementOutcome


class BankCard4Source(Protocol):
    async def check(self, query: BankCard4Query) -> BankCard4Result: ...


@dataclass(frozen=True, slots=True, repr=False)
class Telecom3Query:
    """Telecom three-element check (运营商三要素): is this phone registered to this name and ID?"""

    name: str
    id_number: str = field(metadata=pii(mask_id_number))
    phone: str = field(metadata=pii(mask_phone))

    __repr__ = masked_repr

    def __post_init__(self) -> None:
        _set(self, "name", normalize_name(self.name, "name"))
        _set(self, "id_number", validate_id_number(self.id_number))
        _set(self, "phone", normalize_phone(self.phone))


@dataclass(frozen=True, slots=True)
class Telecom3Result:
    query: Telecom3Query
    outcome: ElementOutcome


class Telecom3Source(Protocol):
    async def check(self, query: Telecom3Query) -> Telecom3Result: ...


# -- face match (人像比对) --------------------------------------------------------------------------

MAX_FACE_IMAGE_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class FaceQuery:
    """Compare a live image with the reference photo on file for the ID number."""

    id_number: str = field(metadata=pii(mask_id_number))
    image: bytes = field(repr=False)

    __repr__ = masked_repr

    def __post_init__(self) -> None:
        _set(self, "id_number", validate_id_number(self.id_number))
        if not self.image:
            raise InvalidQuery("image", "must not be empty")
        if len(self.image) > MAX_FACE_IMAGE_BYTES:
            raise InvalidQuery("image", f"must be at most {MAX_FACE_IMAGE_BYTES} bytes")


class FaceOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_FOUND = "not_found"  # no reference photo for the ID number


@dataclass(frozen=True, slots=True)
class FaceMatchResult:
    """``score`` in [0, 1] (``None`` when there is no reference photo); passed iff score >= threshold."""

    query: FaceQuery
    outcome: FaceOutcome
    score: float | None
    threshold: float


class FaceMatchSource(Protocol):
    async def match(self, query: FaceQuery) -> FaceMatchResult: ...
