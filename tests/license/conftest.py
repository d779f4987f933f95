"""Shared fixtures for the licence tests: the built-in demo types."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from license_samples import BUSINESS, FOOD, QUALIFICATION

from license.types import LicenseType, builtin_types


@pytest.fixture
def business_type() -> LicenseType:
    return builtin_types()[BUSINESS]


@pytest.fixture
def food_type() -> LicenseType:
    return builtin_types()[FOOD]


@pytest.fixture
def person_type() -> LicenseType:
    return builtin_types()[QUALIFICATION]


@pytest.fixture
def base_business_dict(business_type: LicenseType) -> dict[str, Any]:
    return copy.deepcopy(business_type.to_dict())


# ------------------------------------------------------------------ service-level fixtures


class TestOnlyPersonDirectory:
    """TEST-ONLY stand-in for identity/'s registry (person -> level; account -> holder).

    Installed by the ``licensing`` fixture until identity/'s registry is merged; issuance code
    only sees the :class:`license.holders.PersonDirectory` protocol.
    """

    __test__ = False

    def __init__(self) -> None:
        from license.holders import RegisteredPerson

        self.people: dict[str, RegisteredPerson] = {}
        self.accounts: dict[str, str] = {}

    def add(self, id_number: str, name: str, level: int, account: str | None = None) -> None:
        from license.holders import RegisteredPerson

        self.people[id_number] = RegisteredPerson(name, level)
        if account is not None:
            self.accounts[account] = id_number

    def person(self, session: Any, id_number: str) -> Any:
        return self.people.get(id_number)

    def holder_for_account(self, session: Any, account_id: str) -> Any:
        from license.holders import HolderKindRef, HolderRef

        number = self.accounts.get(account_id)
        return None if number is None else HolderRef(HolderKindRef.PERSON, number)


@pytest.fixture
def licensing(services: Any) -> Any:
    """The licence service with the test-only sealer (real Seal CA key) and person directory."""
    from sealer import TestOnlySealer

    from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY, DEMO_DEPARTMENT, DEMO_MISMATCH

    svc = services.licenses
    owners = {DEMO_DEPARTMENT.uscc: DEMO_DEPARTMENT.name, DEMO_COMPANY.uscc: DEMO_COMPANY.name}
    svc.sealer = TestOnlySealer(services, owners)
    people = TestOnlyPersonDirectory()
    people.add(DEMO_CITIZEN.id_number, DEMO_CITIZEN.name, 2, account="acct-citizen")
    people.add(DEMO_MISMATCH.id_number, DEMO_MISMATCH.name, 1, account="acct-l1")
    svc.persons = people
    return svc
