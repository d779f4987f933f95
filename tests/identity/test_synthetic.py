"""The synthetic data set: size, validity of every number, determinism, special records, speed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from identity.numbers import (
    is_valid_card_number,
    normalize_phone,
    parse_uscc,
    validate_id_number,
)
from identity.sources.base import EntityStatus
from identity.sources.dataset import SyntheticDataset
from identity.sources.demo import DEMO_CITIZEN, DEMO_ENTITIES, DEMO_PERSONS
from identity.sources.synthetic import DEFAULT_SEED, generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data() -> SyntheticDataset:
    return generate()


def _digest(data: SyntheticDataset) -> str:
    """A digest over every raw field (``repr`` is masked, so it would not see the numbers)."""
    h = hashlib.sha256()
    for p in data.persons:
        h.update(f"{p.name}|{p.id_number}|{p.phone}|{p.card_number}|{p.deceased}|{p.name_variant}\n".encode())
    for e in data.entities:
        fields = (
            e.uscc,
            e.name,
            e.legal_rep,
            e.legal_rep_id_number,
            e.status,
            e.registered_on,
            e.entity_type,
        )
        h.update(
            ("|".join(map(str, fields)) + f"|{e.authority}|{e.business_scope}|{e.name_variant}\n").encode()
        )
    return h.hexdigest()


def test_default_sizes(data: SyntheticDataset) -> None:
    assert len(data.persons) == 10_000
    assert len(data.entities) == 1_000
    assert data.seed == DEFAULT_SEED


def test_every_person_number_is_valid_and_canonical(data: SyntheticDataset) -> None:
    for person in data.persons:
        assert validate_id_number(person.id_number) == person.id_number
        assert normalize_phone(person.phone) == person.phone
        assert person.card_number is None or is_valid_card_number(person.card_number)
        assert 2 <= len(person.name) <= 4
        assert person.name_variant is None or person.name_variant != person.name


def test_every_entity_code_is_valid(data: SyntheticDataset) -> None:
    for entity in data.entities:
        uscc = parse_uscc(entity.uscc)  # including the embedded GB 11714 check
        rep = data.person(entity.legal_rep_id_number)
        assert rep is not None and rep.name == entity.legal_rep and not rep.deceased
        market = uscc.authority == "9"
        assert (entity.business_scope is not None) == market
        assert entity.status is not EntityStatus.REVOKED or market
        assert uscc.region == "120000" or uscc.region.startswith("1201")
        assert date(1995, 1, 1) <= entity.registered_on <= date(2024, 12, 31)
        if entity.registered_on >= date(2015, 10, 1):
            assert uscc.org_code[:2] in {"MA", "MB", "MJ"}
    assert len({e.name for e in data.entities}) == len(data.entities)


def test_lookups_find_every_record(data: SyntheticDataset) -> None:
    for person in data.persons[:500]:
        assert data.person(person.id_number) is person
        assert data.person_by_phone(person.phone) is person
        if person.card_number:
            assert data.person_by_card(person.card_number) is person
    for entity in data.entities:
        assert data.entity(entity.uscc) is entity


def test_special_records_are_present(data: SyntheticDataset) -> None:
    persons = data.persons
    assert 150 <= sum(p.deceased for p in persons) <= 450  # about 3%
    assert 100 <= sum(p.name_variant is not None for p in persons) <= 300  # about 2%
    assert 300 <= sum(p.card_number is None for p in persons) <= 700  # about 5%
    statuses = Counter(e.status for e in data.entities)
    assert statuses[EntityStatus.CANCELLED] >= 30
    assert statuses[EntityStatus.REVOKED] >= 10
    assert sum(e.name_variant is not None for e in data.entities) >= 5
    classes = Counter(e.uscc[:2] for e in data.entities)
    assert set(classes) == {"91", "92", "93", "11", "12", "51", "52"}
    tianjin = sum(p.id_number.startswith("12") for p in persons)
    assert 0.6 * len(persons) < tianjin < 0.9 * len(persons)


def test_same_seed_same_data_different_seed_different_data() -> None:
    first = generate.__wrapped__(7, persons=2_000, entities=200)
    second = generate.__wrapped__(7, persons=2_000, entities=200)
    other = generate.__wrapped__(8, persons=2_000, entities=200)
    assert first.persons == second.persons and first.entities == second.entities
    assert _digest(first) == _digest(second) != _digest(other)
    # The demo records lead every data set, whatever the seed.
    assert other.persons[: len(DEMO_PERSONS)] == DEMO_PERSONS
    assert other.entities[: len(DEMO_ENTITIES)] == DEMO_ENTITIES


def test_same_data_in_another_process_with_another_hash_seed(data: SyntheticDataset) -> None:
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from identity.sources.synthetic import generate;"
        "from tests.identity.test_synthetic import _digest;"
        "print(_digest(generate()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == _digest(data)


def test_generate_is_cached_and_refuses_sizes_below_the_demo_records() -> None:
    assert generate() is generate()
    with pytest.raises(ValueError, match="demo records"):
        generate(persons=3)


def test_dataset_refuses_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="duplicate ID number"):
        SyntheticDataset(0, [DEMO_CITIZEN, DEMO_CITIZEN], [])


def test_reprs_mask_every_number(data: SyntheticDataset) -> None:
    text = repr(data.persons[:200]) + repr(data.entities[:50]) + repr(data)
    for person in data.persons[:200]:
        assert person.id_number not in text
        assert person.phone not in text
        assert person.card_number is None or person.card_number not in text
