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
    """The licence service (sealing through seal/ with the demo department's licence-issuing seal)
    with the test-only person directory."""
    from identity.sources.demo import DEMO_CITIZEN, DEMO_MISMATCH

    svc = services.licenses
    people = TestOnlyPersonDirectory()
    people.add(DEMO_CITIZEN.id_number, DEMO_CITIZEN.name, 2, account="acct-citizen")
    people.add(DEMO_MISMATCH.id_number, DEMO_MISMATCH.name, 1, account="acct-l1")
    svc.persons = people
    return svc


# ------------------------------------------------------------------ HTTP principals (test-only)

ISSUER_TOKEN = "tok-demo-approval"  # the demo department's approval system (client_credentials)
OTHER_ISSUER_TOKEN = "tok-other-dept"  # a client acting for another entity
NOSCOPE_TOKEN = "tok-no-scope"  # the demo department's client without license:issue
OPERATOR_TOKEN = "tok-licence-operator"  # operator with the license_issuer role
AUDITOR_TOKEN = "tok-auditor"  # operator without licence roles
CITIZEN_TOKEN = "tok-citizen"  # 张三's account (L2)
STRANGER_TOKEN = "tok-stranger"  # another person's account


class TestOnlyTokenVerifier:
    """TEST-ONLY ``services.token_verifier``: fixed bearer strings -> principals.

    Stands in for identity/'s access-token verifier until its client_credentials and login
    tokens are merged; routes only ever see :class:`api.auth.Principal`.
    """

    __test__ = False

    def __init__(self) -> None:
        from api.auth import Principal
        from identity.sources.demo import DEMO_COMPANY, DEMO_DEPARTMENT

        self.principals = {
            ISSUER_TOKEN: Principal(
                "demo-approval", "client", "demo-approval", frozenset({"license:issue", "seal:sign"}),
                entity_uscc=DEMO_DEPARTMENT.uscc,
            ),
            OTHER_ISSUER_TOKEN: Principal(
                "other-client", "client", "other-client", frozenset({"license:issue"}), entity_uscc=DEMO_COMPANY.uscc
            ),
            NOSCOPE_TOKEN: Principal(
                "weak-client", "client", "weak-client", frozenset({"seal:sign"}), entity_uscc=DEMO_DEPARTMENT.uscc
            ),
            OPERATOR_TOKEN: Principal("licence-op", "operator", roles=frozenset({"license_issuer"})),
            AUDITOR_TOKEN: Principal("auditor", "operator", roles=frozenset({"auditor"})),
            CITIZEN_TOKEN: Principal("acct-citizen", "user", acr="L2"),
            STRANGER_TOKEN: Principal("acct-l1", "user", acr="L1"),
        }

    def __call__(self, token: str) -> Any:
        from core.errors import Unauthenticated

        try:
            return self.principals[token]
        except KeyError:
            raise Unauthenticated("unknown test token") from None


@pytest.fixture
def http(services: Any, licensing: Any) -> Any:
    """TestClient with the test-only token verifier installed (see TestOnlyTokenVerifier)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    services.token_verifier = TestOnlyTokenVerifier()
    with TestClient(create_app(services.settings, services)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
