"""Records of the synthetic base-data world and the indexed, immutable data set holding them.

The stubs answer from a :class:`SyntheticDataset`; :mod:`identity.sources.synthetic` generates
one, :mod:`identity.sources.demo` fixes the well-known records at its start. A record holds the
ground truth *and* the hints tests need (``name_variant``: a plausible wrong name the sources
answer "mismatch" for).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final, TypeVar

from identity.numbers import mask_card_number, mask_id_number, mask_phone
from identity.pii import masked_repr, pii
from identity.sources.base import BusinessLicence, EntityRecord, EntityStatus

__all__ = ["SyntheticDataset", "SyntheticEntity", "SyntheticPerson", "reference_face"]


@dataclass(frozen=True, slots=True, repr=False)
class SyntheticPerson:
    """A natural person as the population DB, the telco and the bank know them.

    ``card_number`` is ``None`` for a person without a bank card; ``phone`` is registered to the
    person at the telco and reserved with the bank for the card.
    """

    name: str
    id_number: str = field(metadata=pii(mask_id_number))
    phone: str = field(metadata=pii(mask_phone))
    card_number: str | None = field(metadata=pii(mask_card_number))
    deceased: bool = False
    name_variant: str | None = None

    __repr__ = masked_repr


@dataclass(frozen=True, slots=True, repr=False)
class SyntheticEntity:
    """A legal entity as the legal-entity DB knows it.

    ``business_scope`` is ``None`` for entities that hold no business licence (government organs,
    public institutions, social organisations). ``legal_rep_id_number`` links to a person of the
    same data set.
    """

    uscc: str
    name: str
    legal_rep: str
    legal_rep_id_number: str = field(metadata=pii(mask_id_number))
    status: EntityStatus
    registered_on: date
    entity_type: str
    authority: str
    business_scope: str | None
    name_variant: str | None = None

    __repr__ = masked_repr

    def record(self) -> EntityRecord:
        return EntityRecord(
            uscc=self.uscc,
            name=self.name,
            legal_rep=self.legal_rep,
            status=self.status,
            registered_on=self.registered_on,
        )

    def licence(self) -> BusinessLicence | None:
        if self.business_scope is None:
            return None
        return BusinessLicence(
            uscc=self.uscc,
            name=self.name,
            entity_type=self.entity_type,
            legal_rep=self.legal_rep,
            registered_on=self.registered_on,
            valid_until=None,
            authority=self.authority,
            business_scope=self.business_scope,
            status=self.status,
        )


_FACE_MAGIC: Final = b"YWT-SYNTHETIC-FACE\x00"


def reference_face(id_number: str) -> bytes:
    """The synthetic "police photo" of a person: fixed bytes derived from the ID number.

    The face-match stub scores an image that equals it as a pass; tests and the demo use it to
    produce a matching live image.
    """
    return _FACE_MAGIC + hashlib.sha256(b"face:" + id_number.encode()).digest()


V = TypeVar("V")


def _index(items: Iterable[V], key: str, what: str) -> Mapping[str, V]:
    index: dict[str, V] = {}
    for item in items:
        value = getattr(item, key)
        if value is None:
            continue
        if value in index:
            raise ValueError(f"duplicate {what} in the synthetic data set")
        index[value] = item
    return MappingProxyType(index)


class SyntheticDataset:
    """Immutable persons and entities with lookups by ID number, phone, card and USCC.

    Building it refuses duplicate keys, so every lookup has one true answer.
    """

    __slots__ = ("_by_card", "_by_id", "_by_phone", "_by_uscc", "entities", "persons", "seed")

    def __init__(self, seed: int, persons: Iterable[SyntheticPerson], entities: Iterable[SyntheticEntity]):
        self.seed = seed
        self.persons: tuple[SyntheticPerson, ...] = tuple(persons)
        self.entities: tuple[SyntheticEntity, ...] = tuple(entities)
        self._by_id = _index(self.persons, "id_number", "ID number")
        self._by_phone = _index(self.persons, "phone", "phone number")
        self._by_card = _index(self.persons, "card_number", "card number")
        self._by_uscc = _index(self.entities, "uscc", "USCC")

    def __repr__(self) -> str:
        return (
            f"SyntheticDataset(seed={self.seed}, persons={len(self.persons)}, entities={len(self.entities)})"
        )

    def person(self, id_number: str) -> SyntheticPerson | None:
        return self._by_id.get(id_number)

    def person_by_phone(self, phone: str) -> SyntheticPerson | None:
        return self._by_phone.get(phone)

    def person_by_card(self, card_number: str) -> SyntheticPerson | None:
        return self._by_card.get(card_number)

    def entity(self, uscc: str) -> SyntheticEntity | None:
        return self._by_uscc.get(uscc)
