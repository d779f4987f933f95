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
def fake_tokens(services: object) -> object:
    """TEST-ONLY: installs a verifier on ``services.token_verifier`` that maps fixed test tokens
    (``tok-demo-approval``, ``tok-admin``, ...) to principals. Replaced by identity's real
    client_credentials tokens where those exist."""
    from pdfkit import FakeTokens, test_principals

    verifier = FakeTokens(test_principals())
    services.token_verifier = verifier  # type: ignore[attr-defined]
    return verifier


@pytest.fixture
def demo_seals(services: object) -> dict[str, str]:
    """Seal ids of the demo department: {"rsa": official, "sm2": approval, "ecdsa": licence}."""
    from pdfkit import USCC

    with services.db.session() as s:  # type: ignore[attr-defined]
        seals = services.seal.list_seals(s, owner_uscc=USCC)  # type: ignore[attr-defined]
    return {x.family.value: x.id for x in seals}
