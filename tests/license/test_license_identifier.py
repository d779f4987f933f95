"""E-licence identifiers: ISO/IEC 7064 MOD 37,36 check character, strict parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from license.errors import MalformedIdentifier
from license.identifier import (
    IDENTIFIER_PREFIX,
    IdentifierParts,
    build_identifier,
    check_char,
    is_valid_identifier,
    parse_identifier,
)

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "license" / "identifiers.json").read_text("utf-8")
)["valid"]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


INVALID: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "license" / "identifiers.json").read_text("utf-8")
)["invalid"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["value"][-12:])
def test_real_identifiers_parse_and_rebuild(vector: dict[str, Any]) -> None:
    parts = parse_identifier(vector["value"])
    assert parts == IdentifierParts(
        vector["type_code"], vector["issuer_uscc"], vector["serial"], int(vector["version"])
    )
    assert parts.check == vector["check"]
    assert build_identifier(parts) == vector["value"]
    assert str(parts) == vector["value"]
    assert is_valid_identifier(vector["value"])


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["value"][-16:])
def test_corrupted_identifiers_are_rejected(vector: dict[str, Any]) -> None:
    assert not is_valid_identifier(vector["value"])


def test_check_char_matches_the_documented_examples() -> None:
    assert check_char("11100000000013338W01111430000006122244L20230000403001") == "U"
    assert check_char("11100000000013338W00911330105002500287C2025052201002") == "0"


def _reference_check(s: str) -> str:
    """Straight transcription of the algorithm in STANDARDS.md, independent of the module."""
    p = 36
    for c in s:
        s_ = (p + ALPHABET.index(c)) % 36
        if s_ == 0:
            s_ = 36
        p = (2 * s_) % 37
    return ALPHABET[(37 - p) % 36]


@pytest.mark.parametrize("body", ["0", "Z", "A1B2C3", "11100000000013338W00191120000MA05XXXXX31001", "9" * 60])
def test_check_char_agrees_with_reference_transcription(body: str) -> None:
    assert check_char(body) == _reference_check(body)


def _corruptions(identifier: str) -> list[tuple[str, str]]:
    """Every single-character substitution and every adjacent transposition of the non-prefix part."""
    out: list[tuple[str, str]] = []
    start = len(IDENTIFIER_PREFIX)
    for i in range(start, len(identifier)):
        if identifier[i] == ".":
            continue
        for c in ALPHABET:
            if c != identifier[i]:
                out.append((f"sub@{i}:{c}", identifier[:i] + c + identifier[i + 1 :]))
    for i in range(start, len(identifier) - 1):
        a, b = identifier[i], identifier[i + 1]
        if a != b:
            out.append((f"swap@{i}", identifier[:i] + b + a + identifier[i + 2 :]))
    return out


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["value"][-12:])
def test_every_single_substitution_and_adjacent_transposition_is_rejected(vector: dict[str, Any]) -> None:
    corrupted = _corruptions(vector["value"])
    assert len(corrupted) > 1500
    accepted = [name for name, text in corrupted if is_valid_identifier(text)]
    assert accepted == []


def test_check_character_alone_detects_substitutions_in_serial() -> None:
    # The serial has no internal redundancy: only the check character can catch a changed digit.
    ident = VECTORS[0]["value"]
    changed = ident.replace(".20230000403.", ".20230000413.")
    with pytest.raises(MalformedIdentifier) as err:
        parse_identifier(changed)
    assert err.value.component == "check"


@pytest.mark.parametrize(
    ("text", "component"),
    [
        ("1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U", "prefix"),
        ("urn:1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U", "prefix"),
        (" 1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U", "prefix"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001", "structure"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U.X", "structure"),
        ("1.2.156.3005.2.11100000000013338W11.11430000006122244L.20230000403.001.U", "type_code"),
        ("1.2.156.3005.2.11100000000013338X011.11430000006122244L.20230000403.001.U", "type_code"),
        ("1.2.156.3005.2.11100000000013338W0A1.11430000006122244L.20230000403.001.U", "type_code"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244.20230000403.001.U", "issuer_code"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244M.20230000403.001.U", "issuer_code"),
        ("1.2.156.3005.2.11100000000013338W011.1143000000612224IL.20230000403.001.U", "issuer_code"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244l.20230000403.001.U", "issuer_code"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023000040A.001.U", "serial"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L..001.U", "serial"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L." + "1" * 33 + ".001.U", "serial"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U", "version"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.0001.U", "version"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.000.U", "version"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.u", "check"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.UU", "check"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V", "check"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.", "check"),
    ],
)
def test_malformed_identifiers_name_the_wrong_part(text: str, component: str) -> None:
    with pytest.raises(MalformedIdentifier) as err:
        parse_identifier(text)
    assert err.value.component == component
    assert err.value.reason
    assert component in str(err.value)


def test_parts_are_validated_at_construction() -> None:
    with pytest.raises(MalformedIdentifier, match="issuer_code"):
        IdentifierParts("11100000000013338W011", "not-a-uscc", "1")
    with pytest.raises(MalformedIdentifier, match="version"):
        IdentifierParts("11100000000013338W011", "11430000006122244L", "1", 1000)
    with pytest.raises(MalformedIdentifier, match="version"):
        IdentifierParts("11100000000013338W011", "11430000006122244L", "1", True)


def test_next_version_keeps_everything_else_and_recomputes_the_check() -> None:
    parts = parse_identifier(VECTORS[0]["value"])
    nxt = parts.next_version()
    assert (nxt.type_code, nxt.issuer_code, nxt.serial, nxt.version) == (
        parts.type_code,
        parts.issuer_code,
        parts.serial,
        2,
    )
    assert str(nxt).endswith(f".002.{check_char(nxt.body)}")
    assert parse_identifier(str(nxt)) == nxt
    with pytest.raises(MalformedIdentifier):
        IdentifierParts(parts.type_code, parts.issuer_code, parts.serial, 999).next_version()


def test_leading_zeros_in_serial_are_kept() -> None:
    parts = IdentifierParts("11100000000013338W011", "11430000006122244L", "000042")
    assert ".000042.001." in str(parts)
    assert parse_identifier(str(parts)).serial == "000042"


def test_check_char_rejects_foreign_characters() -> None:
    with pytest.raises(MalformedIdentifier):
        check_char("abc")
    with pytest.raises(MalformedIdentifier):
        check_char("")
