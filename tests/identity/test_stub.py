"""Stub sources: every answer of every protocol, simulated latency and failures."""

from __future__ import annotations

import time

import pytest

from core.errors import ConfigurationError
from identity.errors import InvalidUscc, SourceUnavailable, UnavailableReason
from identity.numbers import id_number_check_char, luhn_check_digit, org_code_check_char, uscc_check_char
from identity.sources import demo
from identity.sources.base import (
    BankCard4Query,
    ElementOutcome,
    EntityOutcome,
    EntityQuery,
    EntityStatus,
    FaceOutcome,
    FaceQuery,
    PersonOutcome,
    PersonQuery,
    SourceName,
    Telecom3Query,
)
from identity.sources.dataset import SyntheticDataset, SyntheticEntity, reference_face
from identity.sources.stub import (
    StubBankCard4Source,
    StubBehaviour,
    StubBusinessLicenceSource,
    StubFaceMatchSource,
    StubLegalEntitySource,
    StubPopulationSource,
    StubTelecom3Source,
)
from identity.sources.synthetic import generate

pytestmark = pytest.mark.anyio

CITIZEN = demo.DEMO_CITIZEN


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate()


def unknown_id_number(data: SyntheticDataset) -> str:
    for seq in range(1, 1000):
        body = f"11010119800101{seq:03d}"
        number = body + id_number_check_char(body)
        if data.person(number) is None:
            return number
    raise AssertionError("no free ID number")


def unknown_uscc(data: SyntheticDataset) -> str:
    for i in range(100):
        org = f"MA0000{i:02d}"
        body = f"91120101{org}{org_code_check_char(org)}"
        code = body + uscc_check_char(body)
        if data.entity(code) is None:
            return code
    raise AssertionError("no free USCC")


# -- population -----------------------------------------------------------------------------------


async def test_population_answers(data: SyntheticDataset) -> None:
    source = StubPopulationSource(data)

    async def outcome(name: str, id_number: str) -> PersonOutcome:
        return (await source.check(PersonQuery(name, id_number))).outcome

    assert await outcome("张三", CITIZEN.id_number) is PersonOutcome.MATCH
    assert await outcome("张叁", CITIZEN.id_number) is PersonOutcome.MISMATCH
    assert await outcome("李四", demo.DEMO_DECEASED.id_number) is PersonOutcome.DECEASED
    # The death of a person is not told to someone who does not know the name.
    assert await outcome("李斯", demo.DEMO_DECEASED.id_number) is PersonOutcome.MISMATCH
    assert await outcome("王伍", demo.DEMO_MISMATCH.id_number) is PersonOutcome.MISMATCH
    assert await outcome("王五", demo.DEMO_MISMATCH.id_number) is PersonOutcome.MATCH
    assert await outcome("张三", unknown_id_number(data)) is PersonOutcome.NOT_FOUND


async def test_population_answers_over_the_generated_persons(data: SyntheticDataset) -> None:
    source = StubPopulationSource(data)
    for person in data.persons[::50]:
        result = await source.check(PersonQuery(person.name, person.id_number))
        assert result.outcome is (PersonOutcome.DECEASED if person.deceased else PersonOutcome.MATCH)
        if person.name_variant:
            variant = await source.check(PersonQuery(person.name_variant, person.id_number))
            assert variant.outcome is PersonOutcome.MISMATCH


# -- legal entities and business licences ----------------------------------------------------------


async def test_entity_lookup(data: SyntheticDataset) -> None:
    source = StubLegalEntitySource(data)
    record = await source.lookup(demo.DEMO_DEPARTMENT.uscc)
    assert record is not None
    assert (record.name, record.legal_rep, record.status) == (
        "天津市示例行政审批局",
        "赵敏",
        EntityStatus.ACTIVE,
    )
    assert await source.lookup(unknown_uscc(data)) is None
    with pytest.raises(InvalidUscc):
        await source.lookup("not-a-code")


@pytest.mark.parametrize(
    ("entity", "name", "rep", "expected"),
    [
        (demo.DEMO_COMPANY, "天津示例科技有限公司", "刘洋", EntityOutcome.MATCH),
        (demo.DEMO_COMPANY, "天津市示例科技有限公司", "刘洋", EntityOutcome.NAME_MISMATCH),
        (demo.DEMO_COMPANY, "天津示例科技有限公司", "刘阳", EntityOutcome.LEGAL_REP_MISMATCH),
        (demo.DEMO_CANCELLED_ENTITY, "天津示例商贸有限公司", "陈静", EntityOutcome.CANCELLED),
        (demo.DEMO_REVOKED_ENTITY, "天津示例餐饮管理有限公司", "陈静", EntityOutcome.REVOKED),
        (demo.DEMO_REVOKED_ENTITY, "天津示例餐饮有限公司", "陈静", EntityOutcome.NAME_MISMATCH),
        (demo.DEMO_DEPARTMENT, "天津市示例行政审批局", "赵敏", EntityOutcome.MATCH),
    ],
)
async def test_entity_check(
    data: SyntheticDataset, entity: SyntheticEntity, name: str, rep: str, expected: EntityOutcome
) -> None:
    result = await StubLegalEntitySource(data).check(EntityQuery(entity.uscc, name, rep))
    assert result.outcome is expected
    assert result.matched is (expected is EntityOutcome.MATCH)


async def test_entity_check_unknown_code(data: SyntheticDataset) -> None:
    result = await StubLegalEntitySource(data).check(EntityQuery(unknown_uscc(data), "某公司", "某人"))
    assert result.outcome is EntityOutcome.NOT_FOUND


async def test_business_licence(data: SyntheticDataset) -> None:
    source = StubBusinessLicenceSource(data)
    licence = await source.fetch(demo.DEMO_COMPANY.uscc)
    assert licence is not None
    assert (licence.name, licence.legal_rep, licence.status) == (
        "天津示例科技有限公司",
        "刘洋",
        EntityStatus.ACTIVE,
    )
    assert licence.valid_until is None
    cancelled = await source.fetch(demo.DEMO_CANCELLED_ENTITY.uscc)
    assert cancelled is not None and cancelled.status is EntityStatus.CANCELLED
    assert await source.fetch(demo.DEMO_DEPARTMENT.uscc) is None  # a government organ
    assert await source.fetch(unknown_uscc(data)) is None


# -- bank-card four-element, telecom three-element --------------------------------------------------


async def test_bank_card4(data: SyntheticDataset) -> None:
    source = StubBankCard4Source(data)
    card = CITIZEN.card_number
    assert card is not None

    async def outcome(name: str, id_number: str, card_number: str, phone: str) -> ElementOutcome:
        return (await source.check(BankCard4Query(name, id_number, card_number, phone))).outcome

    assert await outcome("张三", CITIZEN.id_number, card, CITIZEN.phone) is ElementOutcome.MATCH
    assert await outcome("张叁", CITIZEN.id_number, card, CITIZEN.phone) is ElementOutcome.MISMATCH
    assert await outcome("张三", demo.DEMO_NO_CARD.id_number, card, CITIZEN.phone) is ElementOutcome.MISMATCH
    assert await outcome("张三", CITIZEN.id_number, card, demo.DEMO_NO_CARD.phone) is ElementOutcome.MISMATCH
    other_card = next(
        c
        for c in (f"622202999999999{i:03d}" for i in range(1000))
        if data.person_by_card(c + luhn_check_digit(c)) is None
    )
    other_card += luhn_check_digit(other_card)
    assert await outcome("张三", CITIZEN.id_number, other_card, CITIZEN.phone) is ElementOutcome.NOT_FOUND


async def test_telecom3(data: SyntheticDataset) -> None:
    source = StubTelecom3Source(data)

    async def outcome(name: str, id_number: str, phone: str) -> ElementOutcome:
        return (await source.check(Telecom3Query(name, id_number, phone))).outcome

    assert await outcome("张三", CITIZEN.id_number, CITIZEN.phone) is ElementOutcome.MATCH
    assert await outcome("张叁", CITIZEN.id_number, CITIZEN.phone) is ElementOutcome.MISMATCH
    assert await outcome("陈静", demo.DEMO_NO_CARD.id_number, CITIZEN.phone) is ElementOutcome.MISMATCH
    free = next(p for p in (f"1990000{i:04d}" for i in range(10_000)) if data.person_by_phone(p) is None)
    assert await outcome("张三", CITIZEN.id_number, free) is ElementOutcome.NOT_FOUND


# -- face match -----------------------------------------------------------------------------------


async def test_face_match(data: SyntheticDataset) -> None:
    source = StubFaceMatchSource(data, threshold=0.8)
    same = await source.match(FaceQuery(CITIZEN.id_number, reference_face(CITIZEN.id_number)))
    assert same.outcome is FaceOutcome.PASSED and same.score is not None and 0.95 <= same.score <= 0.99
    other = await source.match(FaceQuery(CITIZEN.id_number, reference_face(demo.DEMO_NO_CARD.id_number)))
    assert other.outcome is FaceOutcome.FAILED and other.score is not None and other.score < 0.6
    missing = await source.match(FaceQuery(unknown_id_number(data), b"any image"))
    assert (missing.outcome, missing.score) == (FaceOutcome.NOT_FOUND, None)
    again = await source.match(FaceQuery(CITIZEN.id_number, reference_face(demo.DEMO_NO_CARD.id_number)))
    assert again.score == other.score  # deterministic
    with pytest.raises(ConfigurationError):
        StubFaceMatchSource(data, threshold=0)


# -- simulated latency and failures ---------------------------------------------------------------


async def test_latency_and_jitter(data: SyntheticDataset) -> None:
    source = StubPopulationSource(data, StubBehaviour(latency=0.05, jitter=0.05))
    query = PersonQuery("张三", CITIZEN.id_number)
    start = time.perf_counter()
    for _ in range(3):
        await source.check(query)
    elapsed = time.perf_counter() - start
    assert elapsed >= 0.15  # the simulated latency is really spent (an upper bound would be a timing test)


async def test_failures_are_transient_errors_and_reproducible(data: SyntheticDataset) -> None:
    query = PersonQuery("张三", CITIZEN.id_number)

    async def run(seed: int) -> list[bool]:
        source = StubPopulationSource(data, StubBehaviour(failure_rate=0.3, seed=seed))
        failed = []
        for _ in range(200):
            try:
                result = await source.check(query)
            except SourceUnavailable as error:
                assert (error.source, error.reason) == (SourceName.POPULATION, UnavailableReason.ERROR)
                failed.append(True)
            else:
                assert result.outcome is PersonOutcome.MATCH
                failed.append(False)
        return failed

    first = await run(1)
    assert first == await run(1)
    assert first != await run(2)
    assert 30 <= sum(first) <= 90


async def test_failure_rate_one_means_down(data: SyntheticDataset) -> None:
    source = StubLegalEntitySource(data, StubBehaviour(failure_rate=1.0))
    with pytest.raises(SourceUnavailable):
        await source.lookup(demo.DEMO_COMPANY.uscc)


@pytest.mark.parametrize(
    "kwargs",
    [{"latency": -1}, {"jitter": float("nan")}, {"failure_rate": 1.5}, {"failure_rate": -0.1}],
)
def test_bad_behaviour_is_a_configuration_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        StubBehaviour(**kwargs)  # type: ignore[arg-type]
