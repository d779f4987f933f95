"""Assurance levels (DESIGN.md, "Identity") and the verification methods that reach them.

The level is what we assert about a person; the method is how we came to assert it. They are
stored apart (``identity_verification``: level, method, source, time, evidence reference), so a
relying party's ``acr_values`` is answered by the level while the audit keeps the method:

| level | meaning | methods |
|---|---|---|
| L1 | a reachable phone | ``phone_otp`` (SMS one-time code) |
| L2 | real name: name + citizen ID match the population DB | ``population_2e`` |
| L3 | real person: L2 plus a second, independent binding | ``telecom3``, ``bank_card4``, ``face_match`` |
| L4 | in-person or certificate-based | ``counter`` (checked at a service counter), ``certificate`` |

A national-platform login brings the level the trust list maps its assertion to
(``national_idp``). Each level presupposes the ones below: L3 methods need an L2 person first.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["LEVEL_OF_METHOD", "REQUIRES", "Level", "Method", "max_level"]


class Level(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L4 = "L4"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    @staticmethod
    def parse(value: str) -> Level | None:
        try:
            return Level(value.strip().upper())
        except (ValueError, AttributeError):
            return None


class Method(StrEnum):
    PHONE_OTP = "phone_otp"
    POPULATION = "population_2e"
    TELECOM3 = "telecom3"
    BANK_CARD4 = "bank_card4"
    FACE_MATCH = "face_match"
    COUNTER = "counter"
    CERTIFICATE = "certificate"
    NATIONAL_IDP = "national_idp"


LEVEL_OF_METHOD: Final = {
    Method.PHONE_OTP: Level.L1,
    Method.POPULATION: Level.L2,
    Method.TELECOM3: Level.L3,
    Method.BANK_CARD4: Level.L3,
    Method.FACE_MATCH: Level.L3,
    Method.COUNTER: Level.L4,
    Method.CERTIFICATE: Level.L4,
}

#: The level an account must hold before a method may raise it further.
REQUIRES: Final = {
    Method.TELECOM3: Level.L2,
    Method.BANK_CARD4: Level.L2,
    Method.FACE_MATCH: Level.L2,
    Method.COUNTER: Level.L2,
    Method.CERTIFICATE: Level.L2,
}


def max_level(levels: list[Level]) -> Level | None:
    return max(levels, key=lambda lv: lv.rank) if levels else None
