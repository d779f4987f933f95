"""Fixtures for the seal tests (helpers live in seal_testkit.py)."""

from __future__ import annotations

import pytest
from seal_testkit import Sm2Party, TrustStub, new_party


@pytest.fixture(scope="session")
def maker() -> Sm2Party:
    return new_party("天津市电子印章制作中心")


@pytest.fixture(scope="session")
def holder() -> Sm2Party:
    return new_party("天津市示例行政审批局")


@pytest.fixture(scope="session")
def stranger() -> Sm2Party:
    return new_party("某某无关单位")


@pytest.fixture
def trust(maker: Sm2Party, holder: Sm2Party, stranger: Sm2Party) -> TrustStub:
    return TrustStub(trusted={maker.cert, holder.cert, stranger.cert})


@pytest.fixture(scope="session")
def seal_png() -> bytes:
    from seal.images import SealImageSpec, SealShape, render_png

    spec = SealImageSpec(SealShape.ROUND, "天津市示例行政审批局", bottom_text="行政审批专用章")
    return render_png(spec, dpi=150)


# ---------------------------------------------------------------------------- registry / PDF sealing


@pytest.fixture
def tokens(client: object, services: object) -> object:
    """Bearer headers with real RFC 9068 access tokens from ``/oauth2/token`` (client_credentials):
    ``demo`` = the demo approval system (``seal:sign license:issue``, granted the demo seals),
    ``noscope`` = the same client asking for ``license:issue`` only, ``other`` = a client with
    ``seal:sign`` but no grant, and service accounts holding operator roles: ``admin``
    (administrator), ``manager2`` (seal_manager, the second pair of eyes), ``auditor``.
    ``renew()`` asks for fresh tokens (after a test moved the clock past their lifetime)."""
    from pdfkit import TokenBox

    from tests.identity.oauth_helpers import client_token, machine_client

    accounts = {
        "other": ("other-client", frozenset({"seal:sign"}), frozenset()),
        "admin": ("test-admin", frozenset({"ops"}), frozenset({"administrator"})),
        "manager2": ("test-manager2", frozenset({"ops"}), frozenset({"seal_manager"})),
        "auditor": ("test-auditor", frozenset({"ops"}), frozenset({"auditor"})),
    }
    secrets = {
        name: machine_client(services, cid, scopes=scopes, roles=roles)  # type: ignore[arg-type]
        for name, (cid, scopes, roles) in accounts.items()
    }

    def issue() -> dict[str, str]:
        out = {
            "demo": client_token(client),  # type: ignore[arg-type]
            "noscope": client_token(client, scope="license:issue"),  # type: ignore[arg-type]
        }
        for name, (cid, _, _) in accounts.items():
            out[name] = client_token(client, cid, secrets[name])  # type: ignore[arg-type]
        return out

    return TokenBox(issue)


@pytest.fixture
def demo_seals(services: object) -> dict[str, str]:
    """Seal ids of the demo department: {"rsa": official, "sm2": approval, "ecdsa": licence}."""
    from pdfkit import USCC

    with services.db.session() as s:  # type: ignore[attr-defined]
        seals = services.seal.list_seals(s, owner_uscc=USCC)  # type: ignore[attr-defined]
    return {x.family.value: x.id for x in seals}
