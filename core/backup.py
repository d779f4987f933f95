"""Encrypted backups of an installation, and restore onto a fresh home.

What goes in (a tar stream, encrypted as it is written):

* ``database/ywt.db`` — a consistent copy of the SQLite database made with SQLite's online backup
  API (readers and writers may go on meanwhile), or ``database/ywt.pgdump`` — ``pg_dump`` custom
  format, which reads one MVCC snapshot (a consistent dump while the service runs).
* ``blobs/<sha256>`` — every file of the content-addressed blob store. The database is dumped
  *first*: blobs are written before the rows that name them commit, so every blob the dump refers
  to already exists when the blobs are copied (later ones are harmless orphans).
* ``master.key`` — unless ``include_master_key=False``. The soft key store and personal data in the
  dump are encrypted under the master key, so a restore needs it: either from the archive or from
  ``YWT_MASTER_KEY`` at restore time (escrowed elsewhere, e.g. production).
* ``manifest.json`` (last) — format, dialect, sizes and SHA-256 of every member, the master key's
  check value (an HMAC, it does not reveal the key), counts for the operator.

Encryption. The archive key comes from a *passphrase* with scrypt (RFC 7914; N = 2^17, r = 8,
p = 1 by default — OWASP's minimum for scrypt — stored in the header, bounded on read). It is
deliberately not derived from the master key: the archive carries the master key, which must not
be protected only by itself; a lost or compromised master key must not also lose or open every
backup; and backup custody (an offline passphrase, two-person rule) differs from runtime custody.
The stream is cut into 1 MiB chunks, each sealed with AES-256-GCM (default) or SM4-GCM under the
nonce ``prefix(7) || counter(4) || last(1)`` with the header as associated data: the STREAM
construction (Hoang, Reyhanitabar, Rogaway, Vizár, CRYPTO 2015, as in age and Tink). Reordered,
altered, truncated or extended archives fail authentication; the last chunk is marked, so a
cut-off archive is detected even at a chunk boundary. A key-check value in the header tells a
wrong passphrase apart from a damaged archive.

Restore decrypts and verifies *everything* into a staging directory beside the target before the
target is touched; the target home must be new or empty (and a PostgreSQL target database empty;
``pg_restore --single-transaction``). The staging directory becomes the home by one rename.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from tongsuopy.crypto.ciphers.aead import SM4GCM

from core import clock
from core.errors import ConfigurationError, Conflict, InvalidInput, YwtError
from core.secrets import MasterKey
from core.settings import Settings

MAGIC = b"YWT-BACKUP\x00\x01"
FORMAT = 1
CHUNK = 1 << 20
TAG = 16
DEFAULT_LOG_N = 17
MIN_LOG_N, MAX_LOG_N = 14, 22
CIPHERS = ("aes-256-gcm", "sm4-gcm")
_BLOB_NAME = re.compile(r"^blobs/[0-9a-f]{64}$")
_DB_NAMES = ("database/ywt.db", "database/ywt.pgdump")


class BackupError(YwtError):
    code = "backup-error"
    title = "Backup or restore failed"


class WrongPassphrase(BackupError, InvalidInput):
    code = "backup-wrong-passphrase"
    title = "The passphrase does not open this backup"


class ArchiveDamaged(BackupError, InvalidInput):
    code = "backup-damaged"
    title = "The backup archive is damaged, truncated or altered"


class TargetNotEmpty(BackupError, Conflict):
    code = "restore-target-not-empty"
    title = "A restore needs a fresh home (and an empty database)"


class BackupToolFailed(BackupError, ConfigurationError):
    code = "backup-tool-failed"
    title = "A database tool (pg_dump / pg_restore) failed"


# --- the encrypted stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    cipher: str
    log_n: int
    r: int
    p: int
    salt: bytes
    nonce_prefix: bytes
    key_check: bytes

    def body(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "cipher": self.cipher,
                "kdf": {"name": "scrypt", "log_n": self.log_n, "r": self.r, "p": self.p,
                        "salt": base64.b64encode(self.salt).decode()},
                "nonce_prefix": base64.b64encode(self.nonce_prefix).decode(),
                "chunk": CHUNK,
                "key_check": base64.b64encode(self.key_check).decode(),
            },
            sort_keys=True,
        ).encode()

    def encoded(self) -> bytes:
        body = self.body()
        return MAGIC + len(body).to_bytes(4, "big") + body


def _derive(passphrase: bytes, salt: bytes, log_n: int, r: int, p: int, cipher: str) -> tuple[bytes, bytes]:
    """(content key, key-check key) from the passphrase."""
    if not passphrase:
        raise InvalidInput("an empty passphrase is not accepted")
    material = Scrypt(salt=salt, length=64, n=2**log_n, r=r, p=p).derive(passphrase)
    key_len = 32 if cipher == "aes-256-gcm" else 16
    return material[:key_len], material[32:]


def _key_check(check_key: bytes) -> bytes:
    return hmac.new(check_key, b"ywt-backup-key-check/v1", "sha256").digest()[:16]


def _aead(cipher: str, key: bytes) -> AESGCM | SM4GCM:
    return AESGCM(key) if cipher == "aes-256-gcm" else SM4GCM(key)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 2**32:
        raise BackupError("archive too large for one stream (4 PiB)")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """A write-only file object: plaintext in, STREAM-sealed chunks out to ``sink``."""

    def __init__(self, sink: IO[bytes], passphrase: bytes, *, cipher: str = "aes-256-gcm",
                 log_n: int = DEFAULT_LOG_N) -> None:
        if cipher not in CIPHERS:
            raise InvalidInput(f"cipher must be one of {', '.join(CIPHERS)}")
        if not MIN_LOG_N <= log_n <= MAX_LOG_N:
            raise InvalidInput(f"scrypt log2(N) must be in {MIN_LOG_N}..{MAX_LOG_N}")
        salt = secrets.token_bytes(16)
        key, check = _derive(passphrase, salt, log_n, 8, 1, cipher)
        self._header = _Header(cipher, log_n, 8, 1, salt, secrets.token_bytes(7), _key_check(check))
        self._aad = self._header.body()
        self._aead = _aead(cipher, key)
        self._sink = sink
        self._buf = bytearray()
        self._counter = 0
        self._done = False
        sink.write(self._header.encoded())

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buf += bytes(data)
        while len(self._buf) > CHUNK:  # keep at least one byte back: the last chunk is sealed on close
            self._emit(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]
        return len(data)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        nonce = _nonce(self._header.nonce_prefix, self._counter, last)
        self._sink.write(self._aead.encrypt(nonce, plain, self._aad))
        self._counter += 1

    def finish(self) -> None:
        if not self._done:
            self._emit(bytes(self._buf), last=True)
            self._buf.clear()
            self._done = True


class DecryptingReader(io.RawIOBase):
    """A read-only file object over an archive; raises on a wrong passphrase or any damage."""

    def __init__(self, source: IO[bytes], passphrase: bytes) -> None:
        magic = source.read(len(MAGIC))
        if magic != MAGIC:
            raise ArchiveDamaged("not a yiwangtong backup archive (bad magic)")
        size = int.from_bytes(source.read(4) or b"\xff\xff\xff\xff", "big")
        if size > 4096:
            raise ArchiveDamaged("archive header is malformed")
        body = source.read(size)
        try:
            h = json.loads(body)
            kdf = h["kdf"]
            header = _Header(
                str(h["cipher"]), int(kdf["log_n"]), int(kdf["r"]), int(kdf["p"]),
                base64.b64decode(kdf["salt"]), base64.b64decode(h["nonce_prefix"]), base64.b64decode(h["key_check"]),
            )
            chunk = int(h["chunk"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveDamaged("archive header is malformed") from exc
        if (h.get("format") != FORMAT or header.cipher not in CIPHERS or chunk != CHUNK or kdf.get("name") != "scrypt"
                or not MIN_LOG_N <= header.log_n <= MAX_LOG_N or header.r != 8 or header.p != 1
                or len(header.nonce_prefix) != 7 or len(header.salt) != 16):
            raise ArchiveDamaged("archive header has unsupported parameters")
        if header.body() != body:
            raise ArchiveDamaged("archive header is not in canonical form")
        key, check = _derive(passphrase, header.salt, header.log_n, header.r, header.p, header.cipher)
        if not hmac.compare_digest(_key_check(check), header.key_check):
            raise WrongPassphrase("wrong passphrase (or an altered archive header)")
        self._aead = _aead(header.cipher, key)
        self._aad = body
        self._prefix = header.nonce_prefix
        self._src = source
        self._counter = 0
        self._plain = b""
        self._pending = source.read(CHUNK + TAG)
        self._eof = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        block = self._pending
        if self._eof:
            return
        self._pending = self._src.read(CHUNK + TAG)
        last = not self._pending
        if len(block) < TAG:
            raise ArchiveDamaged("archive is truncated")
        try:
            self._plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), block, self._aad)
        except InvalidTag as exc:
            where = "is truncated or altered at its end" if last else f"is altered (chunk {self._counter})"
            raise ArchiveDamaged(f"archive {where}") from exc
        except Exception as exc:  # tongsuopy raises its own tag error class
            raise ArchiveDamaged(f"archive is altered (chunk {self._counter})") from exc
        self._counter += 1
        self._eof = last

    def readinto(self, buffer: Any) -> int:
        while not self._plain and not self._eof:
            self._next()
        n = min(len(buffer), len(self._plain))
        buffer[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n


# --- database dumps ---------------------------------------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as a libpq URL for pg_dump/pg_restore, the password moved to PGPASSWORD."""
    u = sa.make_url(url)
    env = {"PGPASSWORD": u.password} if u.password else {}
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run_pg(args: list[str], url: str, *tail: str) -> None:
    target, extra = _libpq(url)
    env = os.environ | extra
    try:
        r = subprocess.run([*args, target, *tail], capture_output=True, text=True, env=env, timeout=3600)
    except FileNotFoundError as exc:
        raise BackupToolFailed(f"{args[0]} is not installed (Debian: postgresql-client)") from exc
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()][-3:]
        raise BackupToolFailed(f"{args[0]} failed: {' / '.join(lines)[:500]}")


def dump_database(settings: Settings, out: Path) -> str:
    """Write a consistent dump to ``out``; returns the archive member name."""
    if settings.is_sqlite:
        src_path = sa.make_url(settings.sqlalchemy_url).database
        if not src_path or not Path(src_path).exists():
            raise ConfigurationError(f"no SQLite database at {src_path}")
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(out)
        try:
            with dst:
                src.backup(dst)  # SQLite online backup API: a consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        return "database/ywt.db"
    _run_pg(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--file={out}"], settings.sqlalchemy_url)
    return "database/ywt.pgdump"


def _database_facts(settings: Settings) -> dict[str, Any]:
    engine = sa.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as c:
            def count(sql: str) -> int:
                try:
                    return int(c.execute(sa.text(sql)).scalar_one())
                except sa.exc.DBAPIError:
                    return -1

            check = c.execute(sa.text("SELECT value FROM core_meta WHERE key = 'master_key_check'")).scalar()
            return {
                "master_key_check": check,
                "journal_entries": count("SELECT count(*) FROM audit_entry"),
                "certificates": count("SELECT count(*) FROM ca_certificate"),
                "keys_soft": count("SELECT count(*) FROM key_record WHERE backend = 'soft'"),
                "keys_pkcs11": count("SELECT count(*) FROM key_record WHERE backend = 'pkcs11'"),
            }
    finally:
        engine.dispose()


# --- backup -----------------------------------------------------------------------------------------


def _master_key_text(settings: Settings) -> str:
    if settings.master_key is not None:
        return settings.master_key.get_secret_value()
    return settings.master_key_file.read_text()


@dataclass
class BackupReport:
    path: Path
    dialect: str
    blobs: int
    bytes_plain: int
    master_key_included: bool
    facts: dict[str, Any] = field(default_factory=dict)


class _HashingReader(io.RawIOBase):
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.sha, self.n = fh, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.fh.read(len(buffer))
        buffer[: len(data)] = data
        self.sha.update(data)
        self.n += len(data)
        return len(data)


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> tuple[str, int]:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o600
    info.mtime = 0
    with path.open("rb") as fh:
        reader = _HashingReader(fh)
        tar.addfile(info, reader)
    if reader.n != info.size:
        raise BackupError(f"{name} changed size while it was read")
    return reader.sha.hexdigest(), reader.n


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def create_backup(
    settings: Settings,
    master: MasterKey,
    out: Path,
    passphrase: bytes,
    *,
    include_master_key: bool = True,
    cipher: str = "aes-256-gcm",
    log_n: int = DEFAULT_LOG_N,
) -> BackupReport:
    """Write an encrypted archive of the installation to ``out`` (atomically: a temporary file
    renamed at the end, so a failed backup never leaves a half archive under that name)."""
    out = out.expanduser().resolve()
    if out.exists():
        raise Conflict(f"{out} already exists; refusing to overwrite a backup")
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = _database_facts(settings)
    if facts["master_key_check"] != master.check_value():
        raise ConfigurationError("the master key does not belong to this installation")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": clock.now().isoformat(),
        "dialect": "sqlite" if settings.is_sqlite else "postgresql",
        "master_key_included": include_master_key,
        "master_key_check": facts["master_key_check"],
        "facts": facts,
        "members": {},
    }
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    blob_count = 0
    total = 0
    try:
        with os.fdopen(fd, "wb") as sink, tempfile.TemporaryDirectory(prefix="ywt-backup-") as work:
            dump = Path(work) / "dump"
            db_member = dump_database(settings, dump)
            enc = EncryptingWriter(sink, passphrase, cipher=cipher, log_n=log_n)
            with tarfile.open(fileobj=enc, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                digest, size = _add_file(tar, db_member, dump)
                manifest["members"][db_member] = {"sha256": digest, "size": size}
                total += size
                dump.unlink()
                if include_master_key:
                    _add_bytes(tar, "master.key", (_master_key_text(settings).strip() + "\n").encode())
                blob_root = settings.blob_dir
                if blob_root.is_dir():
                    for path in sorted(blob_root.rglob("*")):
                        if not path.is_file() or not re.fullmatch(r"[0-9a-f]{64}", path.name):
                            continue  # temporary files of writes in progress
                        digest, size = _add_file(tar, f"blobs/{path.name}", path)
                        if digest != path.name:
                            raise BackupError(f"blob {path.name} is corrupted on disk (hash mismatch)")
                        manifest["members"][f"blobs/{path.name}"] = {"sha256": digest, "size": size}
                        blob_count += 1
                        total += size
                _add_bytes(tar, "manifest.json", json.dumps(manifest, sort_keys=True, indent=1).encode())
            enc.finish()
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return BackupReport(out, manifest["dialect"], blob_count, total, include_master_key, facts)


# --- restore ----------------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    home: Path
    dialect: str
    blobs: int
    master_key_from_archive: bool
    manifest: dict[str, Any]


def _target_is_fresh(home: Path) -> None:
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise TargetNotEmpty(f"{home} exists and is not empty; restore only onto a new home", home=str(home))


def _pg_is_empty(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            n = c.execute(sa.text(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )).scalar_one()
    except sa.exc.OperationalError as exc:
        raise TargetNotEmpty(f"the target database cannot be reached: {type(exc.orig).__name__}") from exc
    finally:
        engine.dispose()
    if n:
        raise TargetNotEmpty("the target PostgreSQL database is not empty; create a fresh one for the restore")


@contextlib.contextmanager
def _staging(home: Path) -> Iterator[Path]:
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}.restoring-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _unpack(archive: Path, passphrase: bytes, staging: Path) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
    """Decrypt and unpack into ``staging`` member by member, hashing as it goes."""
    seen: dict[str, tuple[str, int]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with archive.open("rb") as fh:
            reader = io.BufferedReader(DecryptingReader(fh, passphrase), buffer_size=CHUNK)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    name = member.name
                    if not member.isfile() or name in seen:
                        raise ArchiveDamaged(f"unexpected archive member {name[:80]!r}")
                    if name == "manifest.json":
                        src = tar.extractfile(member)
                        assert src is not None
                        manifest = json.loads(src.read(16 << 20))
                        continue
                    if manifest is not None:
                        raise ArchiveDamaged("members after the manifest")
                    if name in _DB_NAMES or name == "master.key":
                        dest = staging / ".incoming" / name
                    elif _BLOB_NAME.match(name):
                        digest = name.split("/")[1]
                        dest = staging / "blobs" / digest[:2] / digest[2:4] / digest
                    else:
                        raise ArchiveDamaged(f"unexpected archive member {name[:80]!r}")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    sha = hashlib.sha256()
                    n = 0
                    with dest.open("wb") as out:
                        while block := src.read(CHUNK):
                            sha.update(block)
                            n += len(block)
                            out.write(block)
                    seen[name] = (sha.hexdigest(), n)
            while reader.read(CHUNK):  # authenticate to the very end (tar stops before its padding)
                pass
    except tarfile.TarError as exc:
        raise ArchiveDamaged(f"archive content is not a valid tar stream: {exc}") from exc
    except (ValueError, json.JSONDecodeError) as exc:
        raise ArchiveDamaged("archive manifest is not valid JSON") from exc
    if manifest is None:
        raise ArchiveDamaged("archive has no manifest")
    return manifest, seen


def restore_backup(
    archive: Path, passphrase: bytes, target: Settings, *, master_key_text: str | None = None
) -> RestoreReport:
    """Restore ``archive`` as the installation described by ``target`` (a new home; with
    PostgreSQL a new, empty database). Nothing is written to the target unless the whole archive
    decrypts, parses and matches its manifest."""
    home = target.resolved_home
    _target_is_fresh(home)
    if not target.is_sqlite:
        _pg_is_empty(target.sqlalchemy_url)
    elif target.database_url and Path(sa.make_url(target.database_url).database or "").exists():
        raise TargetNotEmpty("the target SQLite database file already exists")
    if not archive.is_file():
        raise InvalidInput(f"no archive at {archive}")
    with _staging(home) as staging:
        manifest, seen = _unpack(archive, passphrase, staging)
        if manifest.get("format") != FORMAT:
            raise ArchiveDamaged("unsupported manifest format")
        members: dict[str, Any] = manifest.get("members", {})
        expected = {k: (v["sha256"], v["size"]) for k, v in members.items()}
        actual = {k: v for k, v in seen.items() if k != "master.key"}
        if expected != actual:
            missing = sorted(set(expected) - set(actual))[:3]
            bad = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])[:3]
            raise ArchiveDamaged(f"archive does not match its manifest (missing {missing}, differing {bad})")
        dialect = manifest["dialect"]
        want = "sqlite" if target.is_sqlite else "postgresql"
        if dialect != want:
            raise InvalidInput(f"this is a {dialect} backup; restore it onto {dialect} (target is {want})")
        # the master key: from the archive, or given now; either way it must match the data
        incoming = staging / ".incoming"
        key_file = incoming / "master.key"
        from_archive = key_file.exists()
        key_text = master_key_text or (key_file.read_text() if from_archive else None)
        if key_text is None:
            raise InvalidInput("the archive holds no master key: set YWT_MASTER_KEY to the installation's key")
        if MasterKey.parse(key_text).check_value() != manifest.get("master_key_check"):
            raise InvalidInput("the master key does not belong to the backed-up installation")
        if from_archive and master_key_text is None:
            os.replace(key_file, staging / "master.key")
            os.chmod(staging / "master.key", 0o600)
        key_file.unlink(missing_ok=True)
        if dialect == "sqlite":
            db = incoming / "database" / "ywt.db"
            con = sqlite3.connect(db)
            try:
                ok = con.execute("PRAGMA integrity_check").fetchone()
            finally:
                con.close()
            if not ok or ok[0] != "ok":
                raise ArchiveDamaged("the database in the archive fails SQLite's integrity check")
            dest = Path(sa.make_url(target.sqlalchemy_url).database or "")
            if dest.resolve().parent == home:
                os.replace(db, staging / dest.name)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(db, dest)
        else:
            _run_pg(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--dbname"],
                    target.sqlalchemy_url, str(incoming / "database" / "ywt.pgdump"))
        shutil.rmtree(incoming, ignore_errors=True)
        if home.exists():
            home.rmdir()  # empty (checked above)
        os.replace(staging, home)
    blobs = sum(1 for k in members if k.startswith("blobs/"))
    return RestoreReport(home, dialect, blobs, from_archive and master_key_text is None, manifest)
