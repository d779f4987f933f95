"""Backups: PKI + certificates + revocations + journal + blobs, backed up while live, restored onto
a fresh home (and a fresh PostgreSQL database when the suite runs on PostgreSQL), then judged:
`ywt audit verify`, OpenSSL on the old certificates and the restored CRL, OCSP revocation state,
new certificates with fresh serials.

Bad input tried: wrong passphrase, archives cut inside the header / mid-chunk / at a chunk
boundary / by one byte, a flipped byte, appended bytes, swapped chunks, a file that is no archive,
a non-empty target home, a non-empty target database, an existing output file, a master key that
does not belong to the backup, a missing master key — each with a clear error and nothing written
to the target.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.container import Services, build_services
from core.backup import (
    CHUNK,
    MAGIC,
    TAG,
    ArchiveDamaged,
    DecryptingReader,
    EncryptingWriter,
    TargetNotEmpty,
    WrongPassphrase,
    create_backup,
    restore_backup,
)
from core.settings import Settings
from keys import KeyAlgorithm
from tests import conftest
from tests.ca.helpers import openssl, verify_chain, write_cas

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery staple 电池"
LOG_N = "14"  # fast scrypt for tests (the default is 17)


def ywt(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")} | env
    r = subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=full,
                       cwd=ROOT, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"ywt {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {"YWT_HOME": str(settings.home), "YWT_ENV": "test", "YWT_BACKUP_PASSPHRASE": PASS}
    if settings.database_url:
        env["YWT_DATABASE_URL"] = settings.database_url
    return env | extra


def fresh_database() -> str | None:
    """A new, empty PostgreSQL database when the suite runs on PostgreSQL (None on SQLite)."""
    if not conftest.PG_URL:
        return None
    name = f"ywt_r_{uuid.uuid4().hex[:12]}"
    with conftest._admin_engine().connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    conftest._created_dbs.append(name)
    return conftest._pg_url_for(name)


def table_count(url: str) -> int:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            return int(c.execute(sa.text(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')"
            )).scalar_one())
    finally:
        eng.dispose()


def nothing_written(target: Path, db_url: str | None) -> None:
    assert not target.exists(), f"{target} was created"
    assert not list(target.parent.glob(f".{target.name}.restoring-*")), "staging directory left behind"
    if db_url:
        assert table_count(db_url) == 0


@pytest.fixture
def populated(services: Services) -> dict[str, Any]:
    """Certificates (one revoked, one on hold), time stamps, a multi-chunk blob."""
    out: dict[str, Any] = {"serials": []}
    with services.db.session() as s:
        for i, (ca, alg) in enumerate([("rsa-identity", KeyAlgorithm.RSA_2048), ("ecdsa-seal", KeyAlgorithm.EC_P256),
                                       ("sm2-identity", KeyAlgorithm.SM2)]):
            profile = "person" if "identity" in ca else "seal-signing"
            cert = services.ca.issue_for_new_key(s, ca, profile, alg, {"common_name": f"before backup {i}"},
                                                 actor="test")
            out["serials"].append(cert.serial)
            out.setdefault("certs", {})[ca] = cert
        revoked = services.ca.issue_for_new_key(s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256,
                                                {"common_name": "revoked before backup"}, actor="test")
        services.ca.revoke(s, revoked.serial, "keyCompromise", actor="test")
        out["revoked"] = revoked
    for _ in range(3):
        with services.db.session() as s:
            from asn1crypto import tsp

            q = tsp.TimeStampReq({"version": 1, "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(os.urandom(8)).digest()}})
            services.ca.timestamp(s, q.dump())
    out["blob"] = services.blobs.put(secrets.token_bytes(CHUNK * 2 + 12345))
    out["small_blob"] = services.blobs.put(b"small file")
    return out


def test_backup_and_restore_onto_a_fresh_home(services: Services, populated: dict[str, Any], tmp_path: Path) -> None:
    settings = services.settings
    archive = tmp_path / "ywt.bak"
    out = ywt(env_for(settings), "backup", str(archive), "--scrypt-log-n", LOG_N).stdout
    assert "backup written" in out and "master key included" in out
    data = archive.read_bytes()
    assert b"PRIVATE" not in data and b"before backup" not in data  # nothing readable in the archive
    # the service goes on after the backup: this certificate must NOT be in the restored copy
    with services.db.session() as s:
        after = services.ca.issue_for_new_key(s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256,
                                              {"common_name": "after backup"}, actor="test")

    new_home = tmp_path / "restored"
    new_db = fresh_database()
    args = ["restore", str(archive), "--home", str(new_home)] + (["--database-url", new_db] if new_db else [])
    out = ywt(env_for(settings, YWT_HOME="/nonexistent-home"), *args).stdout
    assert "restored into" in out and "from the archive" in out and "OK" in out.upper()
    assert (new_home / "master.key").stat().st_mode & 0o077 == 0
    restored_env = {"YWT_HOME": str(new_home), "YWT_ENV": "test"} | ({"YWT_DATABASE_URL": new_db} if new_db else {})
    verify = ywt(restored_env, "audit", "verify")
    assert verify.returncode == 0

    restored = build_services(conftest.make_settings(new_home, new_db))
    try:
        with restored.db.session() as s:
            # every certificate from before is there, the one from after is not
            for serial in populated["serials"] + [populated["revoked"].serial]:
                restored.ca.get_certificate(s, serial)
            with pytest.raises(Exception, match="no certificate"):
                restored.ca.get_certificate(s, after.serial)
            assert restored.ca.get_certificate(s, populated["revoked"].serial).status == "revoked"
            crl = restored.ca.current_crl(s, "ecdsa-seal")
        # OpenSSL: old certificates chain to the restored CAs, the restored CRL lists the revocation
        cas = write_cas(restored, tmp_path)
        for ca, cert in populated["certs"].items():
            family = ca.split("-")[0]
            leaf = tmp_path / f"{ca}-leaf.pem"
            leaf.write_text(cert.cert_pem)
            verify_chain(tmp_path, family, cas[f"{family}-root"], cas[ca], leaf)
        (tmp_path / "x.crl").write_bytes(crl)
        text = openssl("crl", "-inform", "DER", "-in", "x.crl", "-CAfile", str(cas["ecdsa-seal"]), "-noout",
                       "-verify", "-text", cwd=tmp_path)
        assert "verify OK" in text.stdout + text.stderr
        assert populated["revoked"].serial.upper() in text.stdout.upper().replace(":", "")
        # OCSP from the restored installation agrees, signed by a restored responder key
        (tmp_path / "revoked.pem").write_text(populated["revoked"].cert_pem)
        openssl("ocsp", "-issuer", str(cas["ecdsa-seal"]), "-cert", "revoked.pem", "-no_nonce", "-reqout", "q.der",
                cwd=tmp_path)
        with restored.db.session() as s:
            (tmp_path / "r.der").write_bytes(restored.ca.ocsp(s, (tmp_path / "q.der").read_bytes()))
        (tmp_path / "trust.pem").write_text(cas["ecdsa-root"].read_text() + cas["ecdsa-seal"].read_text())
        r = openssl("ocsp", "-respin", "r.der", "-issuer", str(cas["ecdsa-seal"]), "-cert", "revoked.pem",
                    "-CAfile", "trust.pem", "-no_nonce", cwd=tmp_path)
        assert "revoked.pem: revoked" in r.stdout and "Reason: keyCompromise" in r.stdout
        # new certificates issue with serials never seen before; blobs came back intact
        with restored.db.session() as s:
            old = {c.serial for c in restored.ca.list_certificates(s, limit=10_000)}
            new = [restored.ca.issue_for_new_key(s, "ecdsa-seal", "seal-signing", KeyAlgorithm.EC_P256,
                                                 {"common_name": f"after restore {i}"}, actor="test").serial
                   for i in range(10)]
        assert len(set(new)) == 10 and not set(new) & old and after.serial not in new
        assert restored.blobs.get(populated["blob"]) and restored.blobs.get(populated["small_blob"]) == b"small file"
    finally:
        restored.close()
    assert ywt(restored_env, "audit", "verify").returncode == 0


def test_backup_without_master_key_needs_it_at_restore(services: Services, tmp_path: Path) -> None:
    settings = services.settings
    archive = tmp_path / "nokey.bak"
    out = ywt(env_for(settings), "backup", str(archive), "--without-master-key", "--cipher", "sm4-gcm",
              "--scrypt-log-n", LOG_N).stdout
    assert "NOT included" in out
    target = tmp_path / "t1"
    db = fresh_database()
    extra = ["--database-url", db] if db else []
    r = ywt(env_for(settings), "restore", str(archive), "--home", str(target), *extra, check=False)
    assert r.returncode == 1 and "holds no master key" in r.stderr
    nothing_written(target, db)
    wrong = secrets.token_hex(32)
    r = ywt(env_for(settings, YWT_MASTER_KEY=wrong), "restore", str(archive), "--home", str(target), *extra,
            check=False)
    assert r.returncode == 1 and "does not belong" in r.stderr and wrong not in r.stderr
    nothing_written(target, db)
    key = (settings.resolved_home / "master.key").read_text().strip()
    r = ywt(env_for(settings, YWT_MASTER_KEY=key), "restore", str(archive), "--home", str(target), *extra)
    assert "from YWT_MASTER_KEY" in r.stdout and not (target / "master.key").exists()
    env = {"YWT_HOME": str(target), "YWT_ENV": "test", "YWT_MASTER_KEY": key} | (
        {"YWT_DATABASE_URL": db} if db else {})
    assert ywt(env, "audit", "verify").returncode == 0


def test_bad_archives_and_targets_are_refused_and_nothing_is_written(services: Services, tmp_path: Path) -> None:
    settings = services.settings
    services.blobs.put(secrets.token_bytes(CHUNK + 100))  # at least two chunks
    archive = tmp_path / "good.bak"
    create_backup(settings, services.master, archive, PASS.encode(), log_n=14)
    data = archive.read_bytes()
    header_len = len(MAGIC) + 4 + int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "big")
    db = fresh_database()
    target_settings = conftest.make_settings(tmp_path / "target", db)
    target = target_settings.resolved_home

    def attempt(blob: bytes, passphrase: str = PASS) -> Exception:
        bad = tmp_path / "bad.bak"
        bad.write_bytes(blob)
        with pytest.raises((ArchiveDamaged, WrongPassphrase)) as exc:
            restore_backup(bad, passphrase.encode(), target_settings)
        nothing_written(target, db)
        return exc.value

    assert isinstance(attempt(data, "wrong passphrase"), WrongPassphrase)
    cases = {
        "inside the header": data[: header_len - 3],
        "first chunk cut": data[: header_len + 100],
        "mid-chunk": data[: header_len + CHUNK + TAG + 500],
        "at a chunk boundary": data[: header_len + CHUNK + TAG],
        "last byte": data[:-1],
        "flipped byte": data[: header_len + 5000] + bytes([data[header_len + 5000] ^ 1]) + data[header_len + 5001:],
        "appended": data + b"\x00" * 32,
        "swapped chunks": data[:header_len] + data[header_len + CHUNK + TAG: header_len + 2 * (CHUNK + TAG)]
        + data[header_len: header_len + CHUNK + TAG] + data[header_len + 2 * (CHUNK + TAG):],
        "not an archive": b"PK\x03\x04 this is a zip file",
        "empty": b"",
    }
    for name, blob in cases.items():
        err = attempt(blob)
        assert isinstance(err, ArchiveDamaged), (name, err)
    # the CLI says it plainly
    (tmp_path / "cut.bak").write_bytes(cases["mid-chunk"])
    env = env_for(settings)
    extra = ["--database-url", db] if db else []
    r = ywt(env, "restore", str(tmp_path / "cut.bak"), "--home", str(target), *extra, check=False)
    assert r.returncode == 1 and "damaged, truncated or altered" in r.stderr
    r = ywt(env | {"YWT_BACKUP_PASSPHRASE": "nope"}, "restore", str(archive), "--home", str(target), *extra,
            check=False)
    assert r.returncode == 1 and "passphrase does not open" in r.stderr
    nothing_written(target, db)
    # a target that is not fresh
    target.mkdir()
    (target / "keep.txt").write_text("do not touch")
    with pytest.raises(TargetNotEmpty):
        restore_backup(archive, PASS.encode(), target_settings)
    assert (target / "keep.txt").read_text() == "do not touch" and len(list(target.iterdir())) == 1
    if db:  # a target database that is not empty
        (target / "keep.txt").unlink()
        target.rmdir()
        with pytest.raises(TargetNotEmpty, match="not empty"):
            restore_backup(archive, PASS.encode(), conftest.make_settings(tmp_path / "t2", settings.database_url))
        assert not (tmp_path / "t2").exists()
    # never overwrite an existing backup
    r = ywt(env, "backup", str(archive), "--scrypt-log-n", LOG_N, check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert archive.read_bytes() == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7])
@pytest.mark.parametrize("cipher", ["aes-256-gcm", "sm4-gcm"])
def test_stream_roundtrip_at_chunk_edges(size: int, cipher: str) -> None:
    plain = secrets.token_bytes(size)
    sink = io.BytesIO()
    w = EncryptingWriter(sink, b"pw", cipher=cipher, log_n=14)
    for i in range(0, size, 300_000):
        w.write(plain[i:i + 300_000])
    w.finish()
    blob = sink.getvalue()
    assert io.BufferedReader(DecryptingReader(io.BytesIO(blob), b"pw")).read() == plain
    # dropping the last chunk is always detected, even when the rest ends on a chunk boundary
    header_len = len(MAGIC) + 4 + int.from_bytes(blob[len(MAGIC):len(MAGIC) + 4], "big")
    chunks = (len(blob) - header_len + CHUNK + TAG - 1) // (CHUNK + TAG)
    if chunks > 1:
        cut = blob[: header_len + (chunks - 1) * (CHUNK + TAG)]
        with pytest.raises(ArchiveDamaged):
            io.BufferedReader(DecryptingReader(io.BytesIO(cut), b"pw")).read()
    with pytest.raises(WrongPassphrase):
        DecryptingReader(io.BytesIO(blob), b"pW")


def test_header_parameters_are_bounded() -> None:
    sink = io.BytesIO()
    w = EncryptingWriter(sink, b"pw", log_n=14)
    w.finish()
    blob = sink.getvalue()
    evil = blob.replace(b'"log_n": 14', b'"log_n": 30')
    with pytest.raises(ArchiveDamaged, match="unsupported parameters"):
        DecryptingReader(io.BytesIO(evil), b"pw")
    with pytest.raises(Exception, match="empty passphrase"):
        EncryptingWriter(io.BytesIO(), b"", log_n=14)
    with pytest.raises(Exception, match="cipher"):
        EncryptingWriter(io.BytesIO(), b"x", cipher="des")
