from __future__ import annotations

from collections.abc import Callable

import pytest

from api.container import Services
from keys import Family
from tests.verify.pdfkit import SealKey, issue_seal_key, plain_pdf, seal_pdf
from verify.report import DocumentReport
from verify.service import VerifyService


@pytest.fixture
def verifier(services: Services) -> VerifyService:
    assert services.verifier is not None
    return services.verifier


@pytest.fixture
def seal_key(services: Services) -> Callable[[Family], SealKey]:
    made: dict[Family, SealKey] = {}

    def get(family: Family = Family.RSA) -> SealKey:
        if family not in made:
            made[family] = issue_seal_key(services, family)
        return made[family]

    return get


@pytest.fixture
def sealed(services: Services, seal_key: Callable[[Family], SealKey]) -> Callable[..., bytes]:
    def make(family: Family = Family.RSA, *, timestamp: bool = True, pdf: bytes | None = None, **kw: object) -> bytes:
        return seal_pdf(services, pdf if pdf is not None else plain_pdf(), seal_key(family), timestamp=timestamp, **kw)  # type: ignore[arg-type]

    return make


def checks_of(report: DocumentReport, sig: int = 0) -> dict[str, str]:
    return {c.name: c.status.value for c in report.signatures[sig].checks}
