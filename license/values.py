"""Parsing and normalising the scalar values that appear on licences.

Shared by :func:`license.types.validate_data` and the CSV import. Each parser takes what a
client or a spreadsheet plausibly sends and returns one canonical form (ISO dates, money as a
two-decimal string), or raises :class:`ValueProblem` with a short reason that never echoes the
value (it may be personal data).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from core.clock import now
from identity.errors import InvalidNumber, NumberRule
from identity.numbers import parse_id_number, parse_uscc

__all__ = [
    "CHINA_TZ",
    "OPEN_ENDED_WORDS",
    "ValueProblem",
    "add_years_minus_one_day",
    "citizen_id_problem",
    "clean_code",
    "clean_text",
    "format_date_zh",
    "format_datetime_cn",
    "parse_date",
    "parse_integer",
    "parse_money",
    "today_in_china",
    "uscc_problem",
]

#: China Standard Time (UTC+8, no daylight saving since 1991): the calendar day a licence is
#: dated in is the day in Beijing, whatever the server's zone.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

#: Words that, in a validity-end column, mean "no end date" (长期 = long-term).
OPEN_ENDED_WORDS = frozenset({"长期", "长期有效", "永久", "永久有效", "无固定期限"})

# Unicode categories that have no business in a licence: control (Cc), format (Cf: zero-width
# and bidi overrides, which can make text display differently from what is stored), surrogates
# (Cs) and private use (Co).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})

_DATE_PATTERNS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
)
MIN_YEAR = 1900
MAX_YEAR = 2199

_MONEY_RE = re.compile(r"(\d{1,15})(?:\.(\d{1,2}))?")
_INT_RE = re.compile(r"-?\d{1,18}")


class ValueProblem(ValueError):
    """A value could not be parsed; ``code`` is a :class:`license.errors.FieldError` code."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def today_in_china() -> date:
    """Today's date in Beijing, from the freezable :func:`core.clock.now`."""
    return now().astimezone(CHINA_TZ).date()


def clean_text(value: str, *, multiline: bool = False) -> str:
    """NFC-normalise, trim, unify line ends; refuse control and invisible characters."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n").strip()
    for ch in text:
        if ch == "\n" and multiline:
            continue
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            what = "line breaks" if ch == "\n" else "control or invisible characters"
            raise ValueProblem("bad_format", f"must not contain {what}")
    return text


def clean_code(value: str) -> str:
    """Canonical form of a code (USCC, ID number): NFKC (full-width to ASCII), no spaces, upper case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()


def parse_date(value: object) -> date:
    """A calendar date from a ``date`` or a string in a common Chinese administrative spelling.

    Accepted: ``2024-05-01``, ``2024/5/1``, ``2024.05.01``, ``20240501``, ``2024年5月1日``
    (full-width digits too). A ``datetime`` is refused: its day depends on a time zone.
    """
    if isinstance(value, datetime):
        raise ValueProblem("bad_type", "must be a date, not a date and time")
    if isinstance(value, date):
        d = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        for pattern in _DATE_PATTERNS:
            m = pattern.fullmatch(text)
            if m:
                try:
                    d = date(int(m[1]), int(m[2]), int(m[3]))
                except ValueError:
                    raise ValueProblem("bad_date", "is not a real calendar date") from None
                break
        else:
            raise ValueProblem("bad_date", "must be a date such as 2024-05-01 or 2024年5月1日")
    else:
        raise ValueProblem("bad_type", "must be a date or a string")
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise ValueProblem("bad_date", f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return d


def parse_integer(value: object) -> int:
    """An integer from ``int`` (not ``bool``) or a string of digits (full-width allowed)."""
    if isinstance(value, bool):
        raise ValueProblem("bad_type", "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
        if _INT_RE.fullmatch(text):
            return int(text)
        raise ValueProblem("bad_format", "must be a whole number")
    raise ValueProblem("bad_type", "must be an integer")


def parse_money(value: object) -> Decimal:
    """A non-negative amount with at most two decimals (yuan and fen).

    Strings may use thousands separators (``1,000.50``). Floats are accepted only when their
    shortest decimal spelling has at most two decimals, so binary rounding cannot slip in.
    """
    if isinstance(value, bool):
        raise ValueProblem("bad_type", "must be an amount")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
    else:
        raise ValueProblem("bad_type", "must be an amount")
    m = _MONEY_RE.fullmatch(text)
    if not m:
        raise ValueProblem("bad_format", "must be a non-negative amount with at most 2 decimals")
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:  # pragma: no cover - excluded by the regular expression
        raise ValueProblem("bad_format", "is not a number") from None


def add_years_minus_one_day(start: date, years: int) -> date:
    """Last day of a validity of ``years`` years starting on ``start`` (inclusive at both ends).

    2024-05-01 + 5 years -> 2029-04-30. A 29 February start has its anniversary on 1 March of a
    common year, so 2024-02-29 + 1 year -> 2025-02-28. This is the common administrative reading
    of "有效期N年" [L: practice, not a clause we have read].
    """
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:
        anniversary = date(start.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def format_date_zh(d: date) -> str:
    """``2024年05月01日``, the spelling printed on Chinese licences."""
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def format_datetime_cn(dt: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time (naive datetimes are taken to be UTC)."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return aware.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- identifying numbers
# The check-digit algorithms belong to identity/ (identity.numbers: GB 11643, GB 32100, GB 11714);
# licences only turn its typed errors into short reasons without the value. A reason mentions
# "check" exactly when a check character failed, which callers map to ``bad_check_digit``.

_RULE_REASON: dict[NumberRule, str] = {
    NumberRule.LENGTH: "has the wrong length",
    NumberRule.CHARSET: "contains characters that are not allowed",
    NumberRule.REGION: "has an unknown region code",
    NumberRule.BIRTH_DATE: "contains an impossible birth date",
    NumberRule.BIRTH_DATE_IN_FUTURE: "contains a birth date in the future",
    NumberRule.REGISTRATION_AUTHORITY: "has an unknown registration-authority code",
    NumberRule.ORGANISATION_CLASS: "has an organisation class its registration authority does not use",
    NumberRule.ORGANISATION_CODE_CHECK: "embeds an organisation code whose check character is wrong (GB 11714)",
    NumberRule.CHECK_CHARACTER: "check character is wrong",
}


def _reason(exc: InvalidNumber, standard: str) -> str:
    text = _RULE_REASON.get(exc.rule, "is not valid")
    return f"{text} ({standard})" if exc.rule is NumberRule.CHECK_CHARACTER else text


def uscc_problem(code: str, *, check_org_code: bool = True) -> str | None:
    """Why ``code`` is not a valid USCC (GB 32100-2015, via :func:`identity.numbers.parse_uscc`), or ``None``.

    ``code`` must already be in canonical form (upper case, no blanks): a code that only becomes
    valid after normalisation is reported as a format problem, because callers store what they
    checked. ``check_org_code=False`` skips the embedded GB 11714 check: identifiers of the
    national scheme contain authority codes whose embedded check does not hold (STANDARDS.md).
    """
    try:
        canonical = parse_uscc(code, check_org_code=check_org_code).value
    except InvalidNumber as exc:
        return _reason(exc, "GB 32100")
    if canonical != code:
        return "must be written in upper case without blanks"
    return None


def citizen_id_problem(number: str) -> str | None:
    """Why ``number`` is not a valid 18-character citizen ID number (GB 11643-1999), or ``None``."""
    try:
        canonical = parse_id_number(number).value
    except InvalidNumber as exc:
        return _reason(exc, "GB 11643")
    if canonical != number:
        return "must be written in upper case without blanks"
    return None
