"""Identifying numbers: citizen ID, unified social credit code, mobile phone, bank card.

Each number has a ``parse_*``/``validate_*`` function that normalises the input (Unicode NFKC,
surrounding blanks, upper case where letters are allowed) and raises a typed
:class:`~identity.errors.InvalidNumber` subclass naming the broken rule, a cheap ``is_valid_*``
predicate, the check-character function (used by the synthetic data generator too) and a
``mask_*`` function for responses and logs.

Standards (clause numbers as given in secondary sources; the rules themselves are the [H] facts of
STANDARDS.md, recomputed by the tests):

* GB 11643-1999 公民身份号码 — §5.1 structure (6-digit address code, 8-digit birth date,
  3-digit sequence, 1 check character), §5.2 address code (GB/T 2260), §5.3 birth date
  (GB/T 7408, YYYYMMDD), §5.4 sequence (odd = male, even = female), §5.5 check character
  (ISO 7064:1983 MOD 11-2), Annex B worked example.
* GB 32100-2015 法人和其他组织统一社会信用代码编码规则 — §4 code structure (registration
  authority 1, organisation class 1, registering authority's region 6 (GB/T 2260), subject
  identifier 9 = GB 11714 organisation code, check 1) and character set (digits and capitals
  without I, O, S, V, Z); check character C18 = 31 - MOD(sum Ci*Wi, 31), Wi = 3^(i-1) mod 31;
  Annex A registration-authority / organisation-class codes (as amended; A and N added later).
* GB 11714-1997 全国组织机构代码编制规则 — 8 body characters and a check character
  C9 = 11 - MOD(sum Ci*Wi, 11), 10 -> ``X``, 11 -> ``0``.
* Mobile numbers: the 11-digit mainland numbering plan (1[3-9]xxxxxxxxx).
* Bank cards: ISO/IEC 7812-1 Annex B (Luhn) check digit, PAN length 12..19.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from core import clock
from identity.errors import InvalidBankCard, InvalidIdNumber, InvalidPhone, InvalidUscc, NumberRule
from identity.pii import masked_repr, pii

__all__ = [
    "ID_NUMBER_CHECK_CHARS",
    "ID_NUMBER_WEIGHTS",
    "ORG_CODE_WEIGHTS",
    "PROVINCE_CODES",
    "REGISTRATION_CLASSES",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "CitizenId",
    "Sex",
    "Uscc",
    "id_number_check_char",
    "is_valid_card_number",
    "is_valid_id_number",
    "is_valid_phone",
    "is_valid_uscc",
    "luhn_check_digit",
    "mask_card_number",
    "mask_id_number",
    "mask_phone",
    "normalize_phone",
    "org_code_check_char",
    "parse_id_number",
    "parse_uscc",
    "uscc_check_char",
    "validate_card_number",
    "validate_id_number",
    "validate_uscc",
]

# -- masking ---------------------------------------------------------------------------------------


def _mask(value: str, head: int, tail: int, min_len: int) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters; hide everything when too short.

    A value shorter than the number it claims to be (``min_len``) is masked completely, so a
    truncated number never shows more than its well-formed counterpart would.
    """
    if len(value) < min_len:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str) -> str:
    """``120101199001011237`` -> ``1201**********1237`` (DESIGN.md: keep the first and last 4)."""
    return _mask(value.strip(), 4, 4, 15)


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    return _mask(value.strip(), 3, 4, 11)


def _mask_code(value: str) -> str:
    """Mask an unverified code like an ID number: a USCC is public, but a citizen ID number typed
    into a USCC field must not be echoed back in an error."""
    return _mask(value.strip(), 4, 4, 15)


def mask_card_number(value: str) -> str:
    """``6222021234567890128`` -> ``***************0128`` (only the last 4 digits stay)."""
    return _mask(value.strip(), 0, 4, 12)


def _normalise(value: str) -> str:
    """NFKC (full-width digits and letters become ASCII), drop surrounding blanks, upper-case."""
    return unicodedata.normalize("NFKC", value).strip().upper()


_ASCII_DIGITS: Final = re.compile(r"[0-9]+")

# -- GB 11643-1999 citizen ID ---------------------------------------------------------------------

#: GB 11643-1999 §5.5: Wi = 2^(i-1) mod 11 for positions 18..2 counted from the right.
ID_NUMBER_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: GB 11643-1999 §5.5: check character indexed by the weighted sum mod 11.
ID_NUMBER_CHECK_CHARS: Final = "10X98765432"

#: First two digits of GB/T 2260 codes: provinces, autonomous regions, municipalities, and
#: 71 / 81 / 82 (Taiwan, Hong Kong, Macao); 83 is used by residence permits for Taiwan residents.
PROVINCE_CODES: Final = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82", "83",
    }
)  # fmt: skip

#: No registered birth date is older than this (a sanity floor, not a rule of the standard).
EARLIEST_BIRTH_DATE: Final = date(1850, 1, 1)

#: China Standard Time: "in the future" is judged by the calendar date in China (no DST since 1991).
_CHINA_TZ: Final = timezone(timedelta(hours=8), "CST")

_ID_BODY: Final = re.compile(r"[0-9]{17}")
_ID_FULL: Final = re.compile(r"[0-9]{17}[0-9X]")


class Sex(StrEnum):
    """GB 11643-1999 §5.4: an odd sequence code is assigned to men, an even one to women."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True, repr=False)
class CitizenId:
    """A citizen ID number that passed every GB 11643-1999 check; ``repr`` masks it."""

    value: str = field(metadata=pii(mask_id_number))
    birth_date: date = field(repr=False)
    sex: Sex

    __repr__ = masked_repr

    @property
    def region(self) -> str:
        """The address code (GB 11643-1999 §5.2): GB/T 2260 code of the county of registration."""
        return self.value[:6]

    @property
    def masked(self) -> str:
        return mask_id_number(self.value)


def id_number_check_char(body: str) -> str:
    """Check character for the 17-digit body (GB 11643-1999 §5.5, ISO 7064 MOD 11-2)."""
    if not _ID_BODY.fullmatch(body):
        raise InvalidIdNumber(NumberRule.CHARSET, mask_id_number(body), "the body must be 17 ASCII digits")
    total = sum(map(operator.mul, map(int, body), ID_NUMBER_WEIGHTS))
    return ID_NUMBER_CHECK_CHARS[total % 11]


def _china_today() -> date:
    return clock.now().astimezone(_CHINA_TZ).date()


def parse_id_number(value: str, *, today: date | None = None) -> CitizenId:
    """Validate an 18-character citizen ID number and return its parts.

    Checks, in order: length 18 (first-generation 15-digit numbers of GB 11643-1989 are
    refused), 17 ASCII digits and a digit or ``X`` (§5.1), a known province code (§5.2; the full
    GB/T 2260 table is not shipped), a real calendar birth date (§5.3) not after ``today`` (the
    date in China, from :func:`core.clock.now`) nor before 1850, and the check character (§5.5).
    """
    number = _normalise(value)
    masked = mask_id_number(number)
    if len(number) != 18:
        raise InvalidIdNumber(NumberRule.LENGTH, masked, "citizen ID number must have 18 characters")
    if not _ID_FULL.fullmatch(number):
        raise InvalidIdNumber(NumberRule.CHARSET, masked)
    if number[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber(NumberRule.REGION, masked)
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(NumberRule.BIRTH_DATE, masked) from None
    if birth < EARLIEST_BIRTH_DATE:
        raise InvalidIdNumber(NumberRule.BIRTH_DATE, masked)
    if birth > (today or _china_today()):
        raise InvalidIdNumber(NumberRule.BIRTH_DATE_IN_FUTURE, masked)
    if id_number_check_char(number[:17]) != number[17]:
        raise InvalidIdNumber(NumberRule.CHECK_CHARACTER, masked)
    return CitizenId(value=number, birth_date=birth, sex=Sex.MALE if int(number[16]) % 2 else Sex.FEMALE)


def validate_id_number(value: str, *, today: date | None = None) -> str:
    """The normalised number (upper-case ``X``) if valid, else :class:`InvalidIdNumber`."""
    return parse_id_number(value, today=today).value


def is_valid_id_number(value: str, *, today: date | None = None) -> bool:
    try:
        parse_id_number(value, today=today)
    except InvalidIdNumber:
        return False
    return True


# -- GB 32100-2015 unified social credit code -----------------------------------------------------

#: GB 32100-2015 §4: code characters and their values 0..30 (no I, O, S, V, Z).
USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: GB 32100-2015: Wi = 3^(i-1) mod 31.
USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11714-1997: weights of the 8 organisation-code body characters.
ORG_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)

#: GB 32100-2015 Annex A (as amended): registration authority -> organisation classes it assigns.
#: 1 机构编制 (1 机关, 2 事业单位, 3 编办直管群众团体, 9 其他); 2 外交; 3 司法行政; 4 文化;
#: 5 民政 (1 社会团体, 2 民办非企业单位, 3 基金会, 9 其他); 6 旅游; 7 宗教; 8 工会;
#: 9 工商/市场监管 (1 企业, 2 个体工商户, 3 农民专业合作社; 9 tolerated: some tables list it);
#: A 中央军委改革和编制办公室; N 农业 (集体经济组织); Y 其他.
REGISTRATION_CLASSES: Final = MappingProxyType(
    {
        "1": frozenset("1239"),
        "2": frozenset("19"),
        "3": frozenset("123459"),
        "4": frozenset("19"),
        "5": frozenset("1239"),
        "6": frozenset("129"),
        "7": frozenset("129"),
        "8": frozenset("19"),
        "9": frozenset("1239"),
        "A": frozenset("19"),
        "N": frozenset("1239"),
        "Y": frozenset("1"),
    }
)

_USCC_VALUE: Final = MappingProxyType({c: i for i, c in enumerate(USCC_ALPHABET)})
_USCC_FULL: Final = re.compile(f"[{USCC_ALPHABET}]{{18}}")
_ORG_BODY: Final = re.compile(r"[0-9A-Z]{8}")


@dataclass(frozen=True, slots=True)
class Uscc:
    """A unified social credit code split into its GB 32100-2015 §4 segments.

    Not personal data (it is printed on every business licence), so not masked.
    """

    value: str
    authority: str
    org_class: str
    region: str
    org_code: str

    @property
    def class_code(self) -> str:
        """Authority + class, e.g. ``91`` (enterprise) or ``11`` (government organ)."""
        return self.authority + self.org_class


def uscc_check_char(body: str) -> str:
    """Check character for the 17-character body (GB 32100-2015: C18 = 31 - MOD(sum, 31))."""
    if len(body) != 17 or any(c not in _USCC_VALUE for c in body):
        raise InvalidUscc(
            NumberRule.CHARSET, _mask_code(body), "the body must be 17 characters of the code alphabet"
        )
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(body: str) -> str:
    """GB 11714-1997 check character for an 8-character organisation-code body.

    Characters are valued 0-9 and A=10 .. Z=35; C9 = 11 - MOD(sum, 11); 10 is written ``X``
    and 11 is written ``0``.
    """
    if not _ORG_BODY.fullmatch(body):
        raise InvalidUscc(
            NumberRule.CHARSET, _mask_code(body), "the organisation-code body must be 8 digits or capitals"
        )
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def parse_uscc(value: str, *, check_org_code: bool = True) -> Uscc:
    """Validate an 18-character unified social credit code and return its segments.

    Checks, in order: length, alphabet (§4), registration authority and organisation class
    (Annex A), region (6 digits: ``100000`` for national registrations or a known GB/T 2260
    province), the check character, and (unless ``check_org_code`` is false) the GB 11714 check
    character of the embedded organisation code. The last check is on by default; turn it off
    only if a real source turns out to hold codes whose subject identifier does not follow
    GB 11714 (STANDARDS.md: where unsure, make it configurable).
    """
    code = _normalise(value)
    masked = _mask_code(code)
    if len(code) != 18:
        raise InvalidUscc(NumberRule.LENGTH, masked, "unified social credit code must have 18 characters")
    if not _USCC_FULL.fullmatch(code):
        raise InvalidUscc(NumberRule.CHARSET, masked)
    authority, org_class, region, org_code = code[0], code[1], code[2:8], code[8:17]
    classes = REGISTRATION_CLASSES.get(authority)
    if classes is None:
        raise InvalidUscc(NumberRule.REGISTRATION_AUTHORITY, masked)
    if org_class not in classes:
        raise InvalidUscc(NumberRule.ORGANISATION_CLASS, masked)
    if not _ASCII_DIGITS.fullmatch(region) or (region != "100000" and region[:2] not in PROVINCE_CODES):
        raise InvalidUscc(NumberRule.REGION, masked)
    if uscc_check_char(code[:17]) != code[17]:
        raise InvalidUscc(NumberRule.CHECK_CHARACTER, masked)
    if check_org_code and org_code_check_char(org_code[:8]) != org_code[8]:
        raise InvalidUscc(NumberRule.ORGANISATION_CODE_CHECK, masked)
    return Uscc(value=code, authority=authority, org_class=org_class, region=region, org_code=org_code)


def validate_uscc(value: str, *, check_org_code: bool = True) -> str:
    """The normalised code if valid, else :class:`InvalidUscc`."""
    return parse_uscc(value, check_org_code=check_org_code).value


def is_valid_uscc(value: str, *, check_org_code: bool = True) -> bool:
    try:
        parse_uscc(value, check_org_code=check_org_code)
    except InvalidUscc:
        return False
    return True


# -- mobile phone ---------------------------------------------------------------------------------

_PHONE: Final = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS: Final = re.compile(r"[\s\-]")


def normalize_phone(value: str) -> str:
    """An 11-digit mainland mobile number (``1[3-9]`` + 9 digits), or :class:`InvalidPhone`.

    Blanks and hyphens are dropped and a ``+86`` / ``0086`` / ``86`` country prefix is removed.
    """
    number = _SEPARATORS.sub("", _normalise(value))
    for prefix in ("+86", "0086", "86"):
        if number.startswith(prefix) and len(number) == 11 + len(prefix):
            number = number[len(prefix) :]
            break
    masked = mask_phone(number)
    if len(number) != 11:
        raise InvalidPhone(NumberRule.LENGTH, masked, "mobile phone number must have 11 digits")
    if not _ASCII_DIGITS.fullmatch(number):
        raise InvalidPhone(NumberRule.CHARSET, masked)
    if not _PHONE.fullmatch(number):
        raise InvalidPhone(NumberRule.PREFIX, masked)
    return number


def is_valid_phone(value: str) -> bool:
    try:
        normalize_phone(value)
    except InvalidPhone:
        return False
    return True


# -- bank card ------------------------------------------------------------------------------------

CARD_LENGTHS: Final = range(12, 20)
#: Luhn: a doubled digit contributes the sum of the digits of its double.
_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_check_digit(body: str) -> str:
    """ISO/IEC 7812-1 Annex B (Luhn): the digit that makes ``body + digit`` pass the check."""
    if not _ASCII_DIGITS.fullmatch(body):
        raise InvalidBankCard(NumberRule.CHARSET, mask_card_number(body))
    digits = list(map(int, reversed(body)))
    # Doubling starts with the rightmost body digit (it sits next to the check digit).
    total = sum(map(_LUHN_DOUBLED.__getitem__, digits[0::2])) + sum(digits[1::2])
    return str((10 - total % 10) % 10)


def validate_card_number(value: str) -> str:
    """A bank-card number (PAN) of 12..19 digits passing the Luhn check, or :class:`InvalidBankCard`.

    Blanks and hyphens are dropped.
    """
    number = _SEPARATORS.sub("", _normalise(value))
    masked = mask_card_number(number)
    if len(number) not in CARD_LENGTHS:
        raise InvalidBankCard(NumberRule.LENGTH, masked, "bank-card number must have 12 to 19 digits")
    if not _ASCII_DIGITS.fullmatch(number):
        raise InvalidBankCard(NumberRule.CHARSET, masked)
    if luhn_check_digit(number[:-1]) != number[-1]:
        raise InvalidBankCard(NumberRule.CHECK_CHARACTER, masked)
    return number


def is_valid_card_number(value: str) -> bool:
    try:
        validate_card_number(value)
    except InvalidBankCard:
        return False
    return True
