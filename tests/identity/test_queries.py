"""Queries validate on construction and never show a number in clear."""

from __future__ import annotations

import logging

import pytest

from identity.errors import InvalidBankCard, InvalidIdNumber, InvalidPhone, InvalidQuery, InvalidUscc
from identity.sources.base import (
    MAX_FACE_IMAGE_BYTES,
    BankCard4Query,
    BankCard4Result,
    ElementOutcome,
    EntityQuery,
    FaceMatchResult,
    FaceOutcome,
    FaceQuery,
    PersonOutcome,
    PersonQuery,
    PopulationResult,
    Telecom3Query,
    Telecom3Result,
    normalize_name,
)
from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY

ID = DEMO_CITIZEN.id_number
PHONE = DEMO_CITIZEN.phone
CARD = DEMO_CITIZEN.card_number or ""


def test_queries_normalise_their_fields() -> None:
    query = PersonQuery(" 张三 ", ID[:-1] + ID[-1].lower())
    assert (query.name, query.id_number) == ("张三", ID)
    bank = BankCard4Query("张三", ID, " ".join([CARD[:4], CARD[4:]]), "+86 " + PHONE)
    assert (bank.card_number, bank.phone) == (CARD, PHONE)
    assert EntityQuery(DEMO_COMPANY.uscc.lower(), DEMO_COMPANY.name, "刘洋").uscc == DEMO_COMPANY.uscc


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("买买提•艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),
        ("John  Smith", "John Smith"),
        ("ＡＢＣ", "ABC"),
    ],
)
def test_name_normalisation(raw: str, expected: str) -> None:
    assert normalize_name(raw, "name") == expected


@pytest.mark.parametrize("bad", ["", "   ", "张\u200b三", "张\x00三", "张" * 65])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        PersonQuery(bad, ID)
    assert info.value.field == "name"


def test_bad_numbers_are_refused_with_their_typed_error() -> None:
    with pytest.raises(InvalidIdNumber):
        PersonQuery("张三", ID[:-1] + "0")
    with pytest.raises(InvalidPhone):
        Telecom3Query("张三", ID, "12345")
    with pytest.raises(InvalidBankCard):
        BankCard4Query("张三", ID, CARD[:-1] + "0", PHONE)
    with pytest.raises(InvalidUscc):
        EntityQuery("91120116MA05D1E12H", "天津示例科技有限公司", "刘洋")


def test_face_query_limits() -> None:
    with pytest.raises(InvalidQuery):
        FaceQuery(ID, b"")
    with pytest.raises(InvalidQuery):
        FaceQuery(ID, b"\xff" * (MAX_FACE_IMAGE_BYTES + 1))
    assert FaceQuery(ID, b"img").image == b"img"


def test_reprs_and_logs_of_queries_and_results_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    person = PersonQuery("张三", ID)
    bank = BankCard4Query("张三", ID, CARD, PHONE)
    telecom = Telecom3Query("张三", ID, PHONE)
    face = FaceQuery(ID, b"secret-image-bytes")
    objects = [
        person,
        PopulationResult(person, PersonOutcome.MATCH),
        bank,
        BankCard4Result(bank, ElementOutcome.MATCH),
        telecom,
        Telecom3Result(telecom, ElementOutcome.MATCH),
        face,
        FaceMatchResult(face, FaceOutcome.PASSED, 0.97, 0.8),
    ]
    with caplog.at_level(logging.INFO):
        for obj in objects:
            logging.getLogger("test").info("answer %s / %r", obj, obj)
    text = " ".join(repr(o) + str(o) for o in objects) + caplog.text
    for secret in (ID, PHONE, CARD, "secret-image-bytes"):
        assert secret not in text
    assert "1201**********1239" in text and "139****1234" in text and CARD[-4:] in text
