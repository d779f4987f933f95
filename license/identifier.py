"""E-licence identifiers (电子证照标识) of the national e-licence scheme.

Shape (STANDARDS.md "Electronic licences"; [H] on real identifiers, [M] that GB/T 36904 defines it)::

    1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>

- type code: 21 characters, the USCC of the authority that defined the licence type (18) followed
  by 3 digits, e.g. ``11100000000013338W011``;
- issuer USCC: the 18-character unified social credit code (GB 32100) of the issuing authority;
- serial: digits assigned by the issuer (seen with 10 and 11 digits; we accept 1 to 32);
- version: 3 digits, ``001`` for the first issue, +1 for each corrected re-issue;
- check: one character of ``0-9A-Z``, the ISO/IEC 7064 MOD 37,36 check character computed over
  type code + issuer + serial + version with the dots removed.

The check character catches every single-character substitution; it catches most, but not all,
transpositions of adjacent characters (a random trial here missed about 1 in 1,000 within the
body). Inside the issuer and type codes the GB 32100 check character catches more, so every
substitution and adjacent transposition of the two real identifiers from STANDARDS.md is
rejected (the tests enumerate them). Parsing is therefore a format check, never authenticity:
that comes from the signed QR payload and the sealed PDF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from license.errors import MalformedIdentifier
from license.values import uscc_problem

__all__ = [
    "IDENTIFIER_PREFIX",
    "IdentifierParts",
    "build_identifier",
    "check_char",
    "is_valid_identifier",
    "parse_identifier",
    "type_code_problem",
]

#: OID arc of the national e-licence scheme under which every identifier lives.
IDENTIFIER_PREFIX = "1.2.156.3005.2."

#: ISO/IEC 7064 MOD 37,36 alphabet: digits and upper-case Latin letters, valued 0..35.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}

SERIAL_MAX_DIGITS = 32
_SERIAL_RE = re.compile(rf"[0-9]{{1,{SERIAL_MAX_DIGITS}}}")
_VERSION_RE = re.compile(r"[0-9]{3}")
_TYPE_SUFFIX_RE = re.compile(r"[0-9]{3}")


def check_char(s: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system, M = 36) check character for ``s``.

    ``s`` is the identifier body without dots (type code + issuer + serial + version), made of
    ``0-9A-Z``. Per ISO/IEC 7064 §7 (hybrid systems): start with P = M; for each character,
    S = (P + value) mod M, with S = M when the remainder is 0; P = 2·S mod (M + 1). The check
    character is the one whose value is (M + 1 − P) mod M.

    >>> check_char("11100000000013338W00911330105002500287C2025052201002")
    '0'
    """
    if not s:
        raise MalformedIdentifier("structure", "nothing to compute a check character over")
    p = 36
    for c in s:
        v = _VALUE.get(c)
        if v is None:
            raise MalformedIdentifier("structure", "contains a character outside 0-9 and A-Z")
        s_ = (p + v) % 36 or 36
        p = (2 * s_) % 37
    return _ALPHABET[(37 - p) % 36]


def type_code_problem(code: str) -> str | None:
    """Why ``code`` is not a licence type code (defining authority USCC + 3 digits), or ``None``."""
    if len(code) != 21:
        return "must be 21 characters: the defining authority's USCC (18) and 3 digits"
    problem = uscc_problem(code[:18], check_org_code=False)
    if problem is not None:
        return f"defining authority USCC {problem}"
    if not _TYPE_SUFFIX_RE.fullmatch(code[18:]):
        return "must end in 3 digits after the defining authority's USCC"
    return None


@dataclass(frozen=True, slots=True)
class IdentifierParts:
    """The components of an e-licence identifier, validated at construction.

    ``serial`` is a string because leading zeros are significant; ``version`` counts from 1.
    """

    type_code: str
    issuer_code: str
    serial: str
    version: int = 1

    def __post_init__(self) -> None:
        problem = type_code_problem(self.type_code)
        if problem is not None:
            raise MalformedIdentifier("type_code", problem)
        problem = uscc_problem(self.issuer_code, check_org_code=False)
        if problem is not None:
            raise MalformedIdentifier("issuer_code", f"issuer USCC {problem}")
        if not _SERIAL_RE.fullmatch(self.serial):
            raise MalformedIdentifier("serial", f"must be 1 to {SERIAL_MAX_DIGITS} digits")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise MalformedIdentifier("version", "must be an integer")
        if not 1 <= self.version <= 999:
            raise MalformedIdentifier("version", "must be between 001 and 999")

    @property
    def body(self) -> str:
        """Type code + issuer + serial + version without dots: what the check character covers."""
        return f"{self.type_code}{self.issuer_code}{self.serial}{self.version:03d}"

    @property
    def check(self) -> str:
        return check_char(self.body)

    def __str__(self) -> str:
        return build_identifier(self)

    def next_version(self) -> IdentifierParts:
        """The parts of the corrected re-issue (version + 1) of the same licence."""
        if self.version >= 999:
            raise MalformedIdentifier("version", "no version after 999")
        return replace(self, version=self.version + 1)


def build_identifier(parts: IdentifierParts) -> str:
    """The full identifier text, check character included."""
    return (
        f"{IDENTIFIER_PREFIX}{parts.type_code}.{parts.issuer_code}.{parts.serial}"
        f".{parts.version:03d}.{parts.check}"
    )


def parse_identifier(text: str) -> IdentifierParts:
    """Parse an identifier strictly; raise :class:`MalformedIdentifier` naming the wrong part.

    No trimming, no case folding: an identifier is compared byte for byte elsewhere (QR payloads,
    metadata ``ZZBS``), so a variant spelling must not be accepted here either.
    """
    if not isinstance(text, str):
        raise MalformedIdentifier("structure", "must be a string")
    if not text.startswith(IDENTIFIER_PREFIX):
        raise MalformedIdentifier("prefix", f"must start with {IDENTIFIER_PREFIX}")
    rest = text[len(IDENTIFIER_PREFIX) :]
    pieces = rest.split(".")
    if len(pieces) != 5:
        raise MalformedIdentifier(
            "structure",
            "expected 5 dot-separated parts after the prefix (type.issuer.serial.version.check), "
            f"got {len(pieces)}",
        )
    type_code, issuer_code, serial, version, check = pieces
    if not _VERSION_RE.fullmatch(version):
        raise MalformedIdentifier("version", "must be exactly 3 digits")
    parts = IdentifierParts(type_code, issuer_code, serial, int(version))
    if len(check) != 1 or check not in _VALUE:
        raise MalformedIdentifier("check", "must be one character of 0-9 or A-Z")
    if check != parts.check:
        raise MalformedIdentifier("check", "check character does not match (ISO/IEC 7064 MOD 37,36)")
    return parts


def is_valid_identifier(text: str) -> bool:
    """Whether ``text`` parses as a well-formed identifier with a correct check character."""
    try:
        parse_identifier(text)
    except MalformedIdentifier:
        return False
    return True
