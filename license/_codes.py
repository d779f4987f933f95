"""Private check-digit validators for the codes that appear in licences.

``identity/numbers.py`` (being written separately) will own these algorithms for the whole
service; this module is a deliberately small, private copy so that ``license/`` has no
dependency on ``identity/`` yet. Replace the bodies with calls to ``identity.numbers`` once it
is merged; the functions return a reason string (no value echoed) or ``None`` when valid.
"""

from __future__ import annotations

import re
from datetime import date

# GB 32100-2015 unified social credit code: 31 characters, no I O S V Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(rf"[{USCC_ALPHABET}]{{18}}")
# GB 11714 organisation code embedded in positions 9..17 of the USCC.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# GB 11643-1999 citizen identity number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 §4.3 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _org_code_check_char(first8: str) -> str:
    """GB 11714 check character: weights 3,7,9,10,5,8,4,2; 10 -> X, 11 -> 0; letters A=10..Z=35."""
    values = (int(c) if c.isdigit() else ord(c) - 55 for c in first8)
    total = sum(v * w for v, w in zip(values, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid USCC (GB 32100-2015), or ``None``.

    Checks the 18-character alphabet and the USCC check character. The embedded organisation
    code's own GB 11714 check is not enforced: some registration authorities assign codes whose
    embedded check does not hold, and the USCC check already covers every character.
    """
    if len(code) != 18:
        return "must be 18 characters"
    if not _USCC_RE.fullmatch(code):
        return "contains characters outside the GB 32100 alphabet (0-9, A-Y without I O S V Z)"
    if uscc_check_char(code[:17]) != code[17]:
        return "check character is wrong (GB 32100)"
    return None


def org_code_is_consistent(code: str) -> bool:
    """Whether the GB 11714 organisation code inside a (valid) USCC has a correct check character."""
    org = code[8:17]
    if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", org):
        return False
    return _org_code_check_char(org[:8]) == org[8]


def citizen_id_problem(number: str) -> str | None:
    """Why ``number`` is not a valid 18-digit citizen identity number (GB 11643-1999), or ``None``."""
    if len(number) != 18:
        return "must be 18 characters (GB 11643-1999)"
    if not _ID_RE.fullmatch(number):
        return "must be 17 digits followed by a digit or X"
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "contains an impossible birth date"
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        return "check digit is wrong (GB 11643)"
    return None
