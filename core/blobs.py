"""Content-addressed blob store (signed PDFs, licence PDFs, seal images).

Files live under ``$YWT_HOME/blobs/ab/cd/<sha256>``; the database keeps only the hash. Writes
are atomic (temporary file, fsync, rename), so a crash never leaves a half-written blob under
its final name, and writing the same content twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from core.errors import NotFound

_HEX = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(NotFound):
    code = "blob-not-found"
    title = "No stored file with that hash"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if not _HEX.match(digest):
            raise BlobNotFound(f"not a SHA-256 hex digest: {digest[:80]!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"blob {digest} is missing") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobNotFound(f"blob {digest} is corrupted on disk")
        return data

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()
