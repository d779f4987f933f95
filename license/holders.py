"""Who may hold a licence, and who is asking for their wallet: the licence domain's view of identity/.

Issuance checks the holder against the identity registry and the legal-entity source
(DESIGN.md, "Issuance"): a person must be registered and verified at assurance level L2 or
higher, and the name on the licence must be the registered name; an entity's USCC must be known
to the legal-entity DB (法人库) and the entity active (存续), not cancelled (注销) or revoked (吊销).

The wallet needs the other direction: a logged-in principal (``kind`` ``user``, ``subject`` =
account id, from our OIDC provider) -> the holder whose licences it may see. The documented
lookup is :meth:`PersonDirectory.holder_for_account`: the account's verified citizen ID number,
as identity/ records it; an agent acting for an entity (``Principal.entity_uscc`` set by identity
for an authorised agent) sees the entity's licences instead.

Both are protocols so licence code does not depend on how identity/ stores accounts; the
service container wires the adapter over identity/'s registry.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlmodel import Session

from identity.numbers import mask_id_number
from identity.sources import EntityStatus, LegalEntitySource

__all__ = [
    "MIN_PERSON_LEVEL",
    "EntityStanding",
    "HolderKindRef",
    "HolderRef",
    "PersonDirectory",
    "RegisteredPerson",
    "entity_standing",
    "names_match",
]

#: DESIGN.md "Identity": L2 = two-element match against the population DB.
MIN_PERSON_LEVEL = 2


class HolderKindRef(StrEnum):
    PERSON = "person"
    ENTITY = "entity"


@dataclass(frozen=True, slots=True, repr=False)
class HolderRef:
    """A licence holder by code: a citizen ID number (person) or a USCC (entity)."""

    kind: HolderKindRef
    code: str

    def __repr__(self) -> str:
        shown = mask_id_number(self.code) if self.kind is HolderKindRef.PERSON else self.code
        return f"HolderRef({self.kind.value}, {shown})"


@dataclass(frozen=True, slots=True)
class RegisteredPerson:
    """What the identity registry says about a person: registered name and current assurance level."""

    name: str
    level: int


class PersonDirectory(Protocol):
    """The identity registry as the licence domain needs it."""

    def person(self, session: Session, id_number: str) -> RegisteredPerson | None:
        """The registered person with this (normalised) citizen ID number, or ``None``."""
        ...

    def holder_for_account(self, session: Session, account_id: str) -> HolderRef | None:
        """The holder a logged-in account stands for (its verified ID number), or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class EntityStanding:
    name: str
    status: EntityStatus

    @property
    def active(self) -> bool:
        return self.status is EntityStatus.ACTIVE


async def entity_standing(source: LegalEntitySource, uscc: str) -> EntityStanding | None:
    """Ask the legal-entity DB about ``uscc``; ``None`` when the source says it is unknown.

    A source that cannot answer raises ``SourceUnavailable`` (a ``TryLater``): issuance then
    fails with 503 rather than issuing to an entity nobody checked.
    """
    record = await source.lookup(uscc)
    if record is None:
        return None
    return EntityStanding(record.name, record.status)


def names_match(a: str, b: str) -> bool:
    """Names compared as the registers compare them: NFKC, one kind of middle dot, no blanks."""

    def norm(s: str) -> str:
        s = unicodedata.normalize("NFKC", s)
        for dot in "•・‧∙●":
            s = s.replace(dot, "·")
        return "".join(s.split())

    return norm(a) == norm(b)
