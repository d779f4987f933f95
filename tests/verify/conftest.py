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


@pytest.fixture
def licence(services: Services) -> object:
    """A real business licence issued by the demo department (sealed through seal/, B-T, with
    its QR code signed by the QR key). Returns the LicenseView; ``licence_pdf`` has the PDF."""
    import anyio

    from identity.sources.demo import DEMO_COMPANY, DEMO_DEPARTMENT
    from license.service import Caller

    svc = services.licenses
    assert svc is not None
    data = {
        "uscc": DEMO_COMPANY.uscc,
        "name": DEMO_COMPANY.name,
        "company_type": "有限责任公司",
        "legal_representative": DEMO_COMPANY.legal_rep,
        "business_scope": "技术开发、技术咨询、技术服务；软件开发",
        "registered_capital": "500",
        "established_on": "2016-03-18",
        "term_until": "",
        "address": "天津市滨海新区示例路8号",
    }
    caller = Caller(actor="client:demo-approval", issuer_code=DEMO_DEPARTMENT.uscc)
    return anyio.run(lambda: svc.issue(caller, "111200000000010116001", data))


@pytest.fixture
def licence_pdf(services: Services, licence: object) -> bytes:
    from identity.sources.demo import DEMO_DEPARTMENT
    from license.service import Caller

    svc = services.licenses
    assert svc is not None
    with services.db.session() as s:
        return svc.pdf(s, Caller(actor="test", issuer_code=DEMO_DEPARTMENT.uscc), licence.id).pdf  # type: ignore[attr-defined]
