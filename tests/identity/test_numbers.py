"""Check characters, parsing and masking of identifying numbers.

Valid vectors are the [H] examples of STANDARDS.md ("Identity numbers"); every other valid number
here was built with the check functions and is re-checked by them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core import clock
from core.errors import InvalidInput
from identity.errors import (
    IdentityError,
    InvalidBankCard,
    InvalidIdNumber,
    InvalidNumber,
    InvalidPhone,
    InvalidUscc,
    NumberRule,
)
from identity.numbers import (
    ID_NUMBER_CHECK_CHARS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    Sex,
    id_number_check_char,
    is_valid_card_number,
    is_valid_id_number,
    is_valid_phone,
    is_valid_uscc,
    luhn_check_digit,
    mask_card_number,
    mask_id_number,
    mask_phone,
    normalize_phone,
    org_code_check_char,
    parse_id_number,
    parse_uscc,
    uscc_check_char,
    validate_card_number,
    validate_id_number,
    validate_uscc,
)

STANDARDS_ID = "360426199101010071"
STANDARDS_USCCS = ("91110000600037341L", "11100000000013338W")


def _with_check(body: str) -> str:
    return body + id_number_check_char(body)


def _uscc(body: str) -> str:
    return body + uscc_check_char(body)


def _corruptions(value: str, alphabet: str) -> list[str]:
    """Every string that differs from ``value`` in exactly one character drawn from ``alphabet``."""
    return [value[:i] + c + value[i + 1 :] for i in range(len(value)) for c in alphabet if c != value[i]]


# -- citizen ID -----------------------------------------------------------------------------------


def test_standards_id_vector_parses() -> None:
    cid = parse_id_number(STANDARDS_ID)
    assert cid.value == STANDARDS_ID
    assert cid.region == "360426"
    assert cid.birth_date == date(1991, 1, 1)
    assert cid.sex is Sex.MALE  # sequence 007: odd


def test_check_char_table_matches_gb11643() -> None:
    # GB 11643-1999 §5.5: remainders 0..10 map to 1 0 X 9 8 7 6 5 4 3 2.
    assert ID_NUMBER_CHECK_CHARS == "10X98765432"
    assert id_number_check_char(STANDARDS_ID[:17]) == "1"


def test_every_single_character_corruption_of_an_id_fails() -> None:
    corruptions = _corruptions(STANDARDS_ID, "0123456789X")
    assert len(corruptions) == 17 * 10 + 10
    assert [c for c in corruptions if is_valid_id_number(c)] == []


def test_sex_from_sequence_parity() -> None:
    assert parse_id_number(_with_check("12010119900101124")).sex is Sex.FEMALE
    assert parse_id_number(_with_check("12010119900101123")).sex is Sex.MALE


def test_normalisation_accepts_lower_x_full_width_and_blanks() -> None:
    number = next(n for n in (_with_check(f"1201011990010112{i}") for i in range(10)) if n.endswith("X"))
    assert validate_id_number(number.lower()) == number
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in STANDARDS_ID)
    assert validate_id_number(f"  {full_width} ") == STANDARDS_ID


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("36042619910101007", NumberRule.LENGTH, id="17-chars"),
        pytest.param("3604261991010100711", NumberRule.LENGTH, id="19-chars"),
        pytest.param("360426910101007", NumberRule.LENGTH, id="first-generation-15-digits"),
        pytest.param("", NumberRule.LENGTH, id="empty"),
        pytest.param("36042619910101007A", NumberRule.CHARSET, id="letter-check"),
        pytest.param("3604261991010X0071", NumberRule.CHARSET, id="x-inside"),
        pytest.param("٣٦٠٤٢٦١٩٩١٠١٠١٠٠٧١", NumberRule.CHARSET, id="arabic-indic-digits"),
        pytest.param(_with_check("99042619910101007"), NumberRule.REGION, id="unknown-province"),
        pytest.param(_with_check("00042619910101007"), NumberRule.REGION, id="province-00"),
        pytest.param(_with_check("12010119900230123"), NumberRule.BIRTH_DATE, id="february-30"),
        pytest.param(_with_check("12010119901301123"), NumberRule.BIRTH_DATE, id="month-13"),
        pytest.param(_with_check("12010100000101123"), NumberRule.BIRTH_DATE, id="year-0"),
        pytest.param(_with_check("12010118000101123"), NumberRule.BIRTH_DATE, id="before-1850"),
        pytest.param("360426199101010072", NumberRule.CHECK_CHARACTER, id="wrong-check"),
    ],
)
def test_id_rules(value: str, rule: NumberRule) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(value)
    assert info.value.rule is rule
    assert info.value.extra["rule"] == rule.value


def test_leap_day_is_a_calendar_date() -> None:
    assert parse_id_number(_with_check("12010120000229123")).birth_date == date(2000, 2, 29)
    assert not is_valid_id_number(_with_check("12010119000229123"))  # 1900 was no leap year


def test_birth_date_in_the_future_is_refused_by_the_china_calendar() -> None:
    born_2030_01_02 = _with_check("12010120300102123")
    # 2030-01-01 16:30 UTC is already 2030-01-02 00:30 in China: born "today" is allowed.
    with clock.frozen(datetime(2030, 1, 1, 16, 30, tzinfo=UTC)):
        assert parse_id_number(born_2030_01_02).birth_date == date(2030, 1, 2)
    # 2030-01-01 15:30 UTC is 23:30 on the 1st in China: the 2nd is still in the future.
    with clock.frozen(datetime(2030, 1, 1, 15, 30, tzinfo=UTC)), pytest.raises(InvalidIdNumber) as info:
        parse_id_number(born_2030_01_02)
    assert info.value.rule is NumberRule.BIRTH_DATE_IN_FUTURE
    assert parse_id_number(born_2030_01_02, today=date(2030, 1, 2)).sex is Sex.MALE


def test_id_errors_are_typed_and_never_hold_the_number() -> None:
    for bad in ("360426199101010072", _with_check("12010119900230123"), "36042619910101007A"):
        with pytest.raises(InvalidIdNumber) as info:
            validate_id_number(bad)
        error = info.value
        assert isinstance(error, InvalidNumber | InvalidInput | IdentityError)
        assert error.code == "invalid-id-number"
        for text in (str(error), repr(error), repr(error.extra), error.detail):
            assert bad not in text
            assert bad[6:14] not in text  # not even the birth date
        assert error.masked == mask_id_number(bad)


def test_citizen_id_repr_is_masked() -> None:
    cid = parse_id_number(STANDARDS_ID)
    assert STANDARDS_ID not in repr(cid)
    assert STANDARDS_ID not in str([cid])
    assert "3604**********0071" in repr(cid)
    assert "1991" not in repr(cid)  # the birth date is personal data too


# -- USCC -----------------------------------------------------------------------------------------


def test_uscc_weights_are_powers_of_three_mod_31() -> None:
    assert tuple(pow(3, i, 31) for i in range(17)) == USCC_WEIGHTS
    assert len(USCC_ALPHABET) == 31
    assert not set("IOSVZ") & set(USCC_ALPHABET)


@pytest.mark.parametrize("code", STANDARDS_USCCS)
def test_standards_uscc_vectors(code: str) -> None:
    assert validate_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_uscc_segments() -> None:
    uscc = parse_uscc("91110000600037341L")
    assert (uscc.authority, uscc.org_class, uscc.region, uscc.org_code) == ("9", "1", "110000", "600037341")
    assert uscc.class_code == "91"
    assert parse_uscc("11100000000013338W").region == "100000"  # national registration


@pytest.mark.parametrize("code", STANDARDS_USCCS)
def test_every_single_character_corruption_of_a_uscc_fails(code: str) -> None:
    corruptions = _corruptions(code, USCC_ALPHABET + "IOSVZ")
    assert len(corruptions) == 18 * 35
    assert [c for c in corruptions if is_valid_uscc(c)] == []
    # Even without the GB 11714 check the GB 32100 check character alone catches all of them.
    assert [c for c in corruptions if is_valid_uscc(c, check_org_code=False)] == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("91110000600037341", NumberRule.LENGTH, id="17-chars"),
        pytest.param("91110000600O37341L", NumberRule.CHARSET, id="letter-O"),
        pytest.param("91110000600037341!", NumberRule.CHARSET, id="punctuation"),
        pytest.param(_uscc("B1110000600037341"), NumberRule.REGISTRATION_AUTHORITY, id="authority-B"),
        pytest.param(_uscc("04110000600037341"), NumberRule.REGISTRATION_AUTHORITY, id="authority-0"),
        pytest.param(_uscc("94110000600037341"), NumberRule.ORGANISATION_CLASS, id="class-94"),
        pytest.param(_uscc("Y2110000600037341"), NumberRule.ORGANISATION_CLASS, id="class-Y2"),
        pytest.param(_uscc("91990000600037341"), NumberRule.REGION, id="province-99"),
        pytest.param(_uscc("9111A000600037341"), NumberRule.REGION, id="letter-in-region"),
        pytest.param("91110000600037341M", NumberRule.CHECK_CHARACTER, id="wrong-check"),
        pytest.param(_uscc("91110000600037342"), NumberRule.ORGANISATION_CODE_CHECK, id="org-code"),
    ],
)
def test_uscc_rules(value: str, rule: NumberRule) -> None:
    with pytest.raises(InvalidUscc) as info:
        parse_uscc(value)
    assert info.value.rule is rule


def test_org_code_check_can_be_turned_off() -> None:
    code = _uscc("91110000600037342")
    assert not is_valid_uscc(code)
    assert validate_uscc(code, check_org_code=False) == code


def test_org_code_check_characters_cover_x_and_zero() -> None:
    seen = {org_code_check_char(f"{n:08d}") for n in range(200)}
    assert seen == set("0123456789X")
    # GB 11714: 11 - MOD(sum, 11) = 11 is written "0" and 10 is written "X".
    # GB 11714: C9 = 11 - MOD(sum, 11); 11 is written "0" and 10 is written "X".
    assert org_code_check_char("00000000") == "0"  # sum 0
    assert org_code_check_char("00000001") == "9"  # sum 2
    assert org_code_check_char("00000006") == "X"  # sum 12 = 1 mod 11


def test_uscc_lower_case_is_normalised() -> None:
    assert validate_uscc(" 91110000600037341l ") == "91110000600037341L"


def test_uscc_errors_mask_what_might_be_an_id_number() -> None:
    # Someone types a citizen ID number into the USCC field: it must not be echoed back.
    with pytest.raises(InvalidUscc) as info:
        validate_uscc(STANDARDS_ID)
    for text in (str(info.value), repr(info.value), repr(info.value.extra)):
        assert STANDARDS_ID not in text


# -- phone ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        " 138 1234 5678 ",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "008613812345678",
        "8613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_phone_normalisation(value: str) -> None:
    assert normalize_phone(value) == "13812345678"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("1381234567", NumberRule.LENGTH, id="10-digits"),
        pytest.param("138123456789", NumberRule.LENGTH, id="12-digits"),
        pytest.param("1381234567a", NumberRule.CHARSET, id="letter"),
        pytest.param("12812345678", NumberRule.PREFIX, id="prefix-12"),
        pytest.param("23812345678", NumberRule.PREFIX, id="not-1"),
    ],
)
def test_phone_rules(value: str, rule: NumberRule) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(value)
    assert info.value.rule is rule
    assert value not in str(info.value) and value not in repr(info.value.extra)


def test_phone_mask() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("1381234") == "*******"
    assert is_valid_phone("19912345678") and not is_valid_phone("")


# -- bank card ------------------------------------------------------------------------------------

VISA_TEST = "4111111111111111"
UNIONPAY_19 = "6222020123456789015"


def test_luhn_vectors() -> None:
    assert luhn_check_digit("7992739871") == "3"  # the classic example of ISO/IEC 7812-1 Annex B
    assert validate_card_number(VISA_TEST) == VISA_TEST
    assert validate_card_number("6222 0201 2345 6789 015") == UNIONPAY_19


@pytest.mark.parametrize("card", [VISA_TEST, UNIONPAY_19])
def test_every_single_digit_corruption_of_a_card_fails(card: str) -> None:
    assert [c for c in _corruptions(card, "0123456789") if is_valid_card_number(c)] == []


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("79927398713", NumberRule.LENGTH, id="11-digits"),
        pytest.param("4" * 20, NumberRule.LENGTH, id="20-digits"),
        pytest.param("411111111111111A", NumberRule.CHARSET, id="letter"),
        pytest.param("4111111111111112", NumberRule.CHECK_CHARACTER, id="luhn"),
    ],
)
def test_card_rules(value: str, rule: NumberRule) -> None:
    with pytest.raises(InvalidBankCard) as info:
        validate_card_number(value)
    assert info.value.rule is rule
    assert value not in str(info.value) and value not in repr(info.value.extra)


def test_card_mask_keeps_only_the_last_four() -> None:
    assert mask_card_number(UNIONPAY_19) == "*" * 15 + "9015"
    assert mask_card_number("12345") == "*****"


# -- masking --------------------------------------------------------------------------------------


def test_id_mask_follows_design() -> None:
    assert mask_id_number("120101199001011239") == "1201**********1239"
    assert mask_id_number("12010119900101") == "*" * 14
    assert mask_id_number("") == ""
