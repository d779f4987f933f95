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

PASSWORD = "licence-test-pw-2024"  # test accounts' password (satisfies identity's password rules)


def register_person(services: Any, username: str, person: Any, *, lapsed: bool = False) -> str:
    """A real registry person: an account, then identity/'s two-element check (population stub) -> L2.

    ``lapsed``: the L2 verification is then marked as no longer in force (as after an expired
    re-verification) and only a phone check (L1) remains, so the person is registered but below
    L2. Returns the account id.
    """
    from sqlmodel import select

    from core import clock
    from identity.models import VerificationRecord
    from license.service import run_blocking

    identity = services.identity
    with services.db.session() as s:
        account = identity.accounts.create(s, username, PASSWORD, display_name=person.name, actor="test")
        account_id = account.id
    run_blocking(
        lambda: identity.verifier.register_person(account_id, person.name, person.id_number, None, actor="test")
    )
    if lapsed:
        from identity.levels import Level, Method

        with services.db.session() as s:
            for rec in s.exec(select(VerificationRecord).where(VerificationRecord.account_id == account_id)).all():
                rec.valid_until = clock.now()
                s.add(rec)
            identity.registry.record_verification(
                s,
                account_id,
                level=Level.L1,
                method=Method.PHONE_OTP,
                source="test",
                evidence_ref="test:phone",
                person_id=None,
                actor="test",
            )
    return str(account_id)


@pytest.fixture
def licensing(services: Any) -> Any:
    """The licence service as wired in production: identity/'s registry, seal/'s sealer, plus
    王五 registered with a lapsed L2 (registered but below L2) and 赵敏 at L2 with no licence."""
    from identity.sources.demo import DEMO_DEPARTMENT_HEAD, DEMO_MISMATCH

    register_person(services, "wangwu", DEMO_MISMATCH, lapsed=True)
    register_person(services, "zhaomin", DEMO_DEPARTMENT_HEAD)
    return services.licenses


# ------------------------------------------------------------------ HTTP principals: real tokens

ISSUER_TOKEN = "demo-approval"  # the demo department's approval system (client_credentials)
OTHER_ISSUER_TOKEN = "other-dept"  # a client acting for another entity (DEMO_COMPANY)
NOSCOPE_TOKEN = "weak-client"  # a client of the demo department without license:issue
OPERATOR_TOKEN = "licence-op"  # operator with the license_issuer role (OIDC login)
AUDITOR_TOKEN = "auditor-op"  # operator without licence roles (OIDC login)
CITIZEN_TOKEN = "citizen"  # 张三's account (L2), OIDC login through demo-rp with PKCE
STRANGER_TOKEN = "zhaomin"  # another person at L2, no licences


class RealTokens:
    """Access tokens from our own OAuth/OIDC endpoints (identity/): client_credentials for machine
    clients, the authorization-code flow with PKCE through the login form for people. Minted on
    first use per name and cached for the test."""

    def __init__(self, services: Any, app: Any) -> None:
        self.services = services
        self.app = app
        self.cache: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def _client(self, client_id: str, scopes: frozenset[str], acts_for: str) -> str:
        from tests.identity.oauth_helpers import machine_client

        if client_id not in self.secrets:
            self.secrets[client_id] = machine_client(self.services, client_id, scopes=scopes, acts_for=acts_for)
        return self.secrets[client_id]

    def _client_token(self, client_id: str, secret: str) -> str:
        from fastapi.testclient import TestClient

        from tests.identity.oauth_helpers import client_token

        with TestClient(self.app) as c:
            return client_token(c, client_id, secret)

    def _user_token(self, username: str, password: str, *, operator: bool = False) -> str:
        """Authorization code + PKCE through the login form; operators through a console client
        allowed the ``roles`` scope (their roles are only put in tokens that ask for it)."""
        from fastapi.testclient import TestClient

        from tests.identity.oidc_helpers import Flow, rp_client, tokens

        flow = Flow()
        if operator:
            if "ops-console" not in self.secrets:
                console = rp_client(self.services, "ops-console", scopes="openid profile roles")
                self.secrets["ops-console"] = console.secret or ""
            flow = Flow(
                client_id="ops-console",
                redirect_uri="https://rp.example.gov.cn/cb",
                scope="openid roles",
                secret=self.secrets["ops-console"],
            )
        with TestClient(self.app) as c:  # a fresh cookie jar: one browser per person
            return str(tokens(c, flow, username=username, password=password)["access_token"])

    def __call__(self, name: str) -> str:
        if name in self.cache:
            return self.cache[name]
        from api.demo import ADMIN_PASSWORD, APPROVAL_CLIENT, APPROVAL_SECRET, CITIZEN_PASSWORD, CITIZEN_USER
        from identity import operators
        from identity.sources.demo import DEMO_COMPANY, DEMO_DEPARTMENT

        if name == ISSUER_TOKEN:
            token = self._client_token(APPROVAL_CLIENT, APPROVAL_SECRET)
        elif name == OTHER_ISSUER_TOKEN:
            secret = self._client(name, frozenset({"license:issue"}), DEMO_COMPANY.uscc)
            token = self._client_token(name, secret)
        elif name == NOSCOPE_TOKEN:
            secret = self._client(name, frozenset({"seal:sign"}), DEMO_DEPARTMENT.uscc)
            token = self._client_token(name, secret)
        elif name == CITIZEN_TOKEN:
            token = self._user_token(CITIZEN_USER, CITIZEN_PASSWORD)
        elif name == STRANGER_TOKEN:
            token = self._user_token("zhaomin", PASSWORD)
        elif name in (OPERATOR_TOKEN, AUDITOR_TOKEN):
            role = operators.Role.LICENSE_ISSUER if name == OPERATOR_TOKEN else operators.Role.AUDITOR
            with self.services.db.session() as s:
                operators.create_operator(s, self.services.journal, name, PASSWORD, {role}, actor="test")
            token = self._user_token(name, PASSWORD, operator=True)
        elif name == "admin":
            token = self._user_token("admin", ADMIN_PASSWORD, operator=True)
        else:
            raise KeyError(name)
        self.cache[name] = token
        return token


@pytest.fixture
def http(services: Any, licensing: Any) -> Any:
    """TestClient of the app whose ``bearer(name)`` headers carry real access tokens."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(services.settings, services)
    with TestClient(app) as c:
        c.tokens = RealTokens(services, app)  # type: ignore[attr-defined]
        _current["tokens"] = c.tokens  # type: ignore[attr-defined]
        yield c
    _current.clear()


_current: dict[str, RealTokens] = {}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_current['tokens'](name)}"}


def mint(*names: str) -> None:
    """Obtain these tokens now (logins and token grants are journaled: do it before a snapshot)."""
    for name in names:
        _current["tokens"](name)
