"""The fixed demo records: valid numbers recomputed, the documented facts hold."""

from __future__ import annotations

from datetime import date

from identity.numbers import (
    Sex,
    id_number_check_char,
    luhn_check_digit,
    normalize_phone,
    org_code_check_char,
    parse_id_number,
    parse_uscc,
    uscc_check_char,
)
from identity.sources import demo
from identity.sources.base import EntityStatus
from identity.sources.synthetic import generate


def test_demo_person_numbers_are_valid() -> None:
    for person in demo.DEMO_PERSONS:
        assert id_number_check_char(person.id_number[:17]) == person.id_number[17]
        parse_id_number(person.id_number)
        assert normalize_phone(person.phone) == person.phone
        if person.card_number is not None:
            assert luhn_check_digit(person.card_number[:-1]) == person.card_number[-1]
    assert len({p.id_number for p in demo.DEMO_PERSONS}) == len(demo.DEMO_PERSONS)


def test_demo_citizen() -> None:
    citizen = parse_id_number(demo.DEMO_CITIZEN.id_number)
    assert demo.DEMO_CITIZEN.name == "张三"
    assert demo.DEMO_CITIZEN.id_number == "120101199001011239"
    assert (citizen.region, citizen.birth_date, citizen.sex) == ("120101", date(1990, 1, 1), Sex.MALE)
    assert not demo.DEMO_CITIZEN.deceased and demo.DEMO_CITIZEN.card_number is not None
    assert demo.DEMO_DECEASED.deceased
    assert demo.DEMO_MISMATCH.name_variant == "王伍"
    assert demo.DEMO_NO_CARD.card_number is None


def test_demo_entity_codes_are_valid() -> None:
    for entity in demo.DEMO_ENTITIES:
        uscc = parse_uscc(entity.uscc)
        assert org_code_check_char(uscc.org_code[:8]) == uscc.org_code[8]
        assert uscc_check_char(entity.uscc[:17]) == entity.uscc[17]
        rep = next(p for p in demo.DEMO_PERSONS if p.id_number == entity.legal_rep_id_number)
        assert rep.name == entity.legal_rep


def test_demo_department_is_a_government_organ_of_tianjin() -> None:
    uscc = parse_uscc(demo.DEMO_DEPARTMENT.uscc)
    assert demo.DEMO_DEPARTMENT.name == "天津市示例行政审批局"
    assert demo.DEMO_DEPARTMENT.uscc == "11120000MB0000019W"
    assert (uscc.class_code, uscc.region) == ("11", "120000")
    assert demo.DEMO_DEPARTMENT.status is EntityStatus.ACTIVE
    assert demo.DEMO_DEPARTMENT.licence() is None  # an organ holds no business licence
    assert demo.DEMO_COMPANY.licence() is not None
    assert demo.DEMO_CANCELLED_ENTITY.status is EntityStatus.CANCELLED
    assert demo.DEMO_REVOKED_ENTITY.status is EntityStatus.REVOKED


def test_demo_records_lead_the_default_data_set() -> None:
    data = generate()
    assert data.persons[: len(demo.DEMO_PERSONS)] == demo.DEMO_PERSONS
    assert data.entities[: len(demo.DEMO_ENTITIES)] == demo.DEMO_ENTITIES
