"""Key custody: a store of key pairs addressed by key id, with pluggable backends.

The soft backend keeps each private key as PKCS#8 sealed with SM4-GCM under a key derived from
the master key (associated data = key id, so blobs cannot be swapped between rows). Decrypted
keys are cached in memory per process, so a signing request never re-reads or re-decrypts a key.
An HSM backend (PKCS#11) implements :class:`KeyBackend` and is selected per key record; callers
only ever see :class:`keys.signer.Signer`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, select

from core import aead, clock
from core.audit import Journal
from core.secrets import MasterKey
from keys import crypto
from keys.algorithms import KeyAlgorithm
from keys.errors import DuplicateKey, InvalidKey, KeyNotFound
from keys.models import KeyRecord
from keys.signer import LocalSigner, Signer


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    algorithm: KeyAlgorithm
    label: str
    backend: str
    created_at: datetime
    public_key_der: bytes


def _info(rec: KeyRecord) -> KeyInfo:
    return KeyInfo(rec.key_id, KeyAlgorithm(rec.algorithm), rec.label, rec.backend, rec.created_at, rec.public_key_der)


class KeyBackend(Protocol):
    name: str

    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyRecord: ...

    def signer(self, record: KeyRecord) -> Signer: ...


class SoftBackend:
    """Private keys encrypted at rest in the database."""

    name = "soft"

    def __init__(self, master: MasterKey) -> None:
        self._keys = {aead.AeadAlg.SM4_GCM: master.derive("keystore/sm4", 16)}

    def _record(self, algorithm: KeyAlgorithm, key: crypto.PrivateKey, label: str, exportable: bool) -> KeyRecord:
        spki = crypto.spki_of(key)
        kid = crypto.key_id(spki)
        blob = aead.seal(self._keys[aead.AeadAlg.SM4_GCM], crypto.to_pkcs8(key), kid.encode())
        return KeyRecord(
            key_id=kid,
            algorithm=algorithm.value,
            label=label,
            backend=self.name,
            created_at=clock.now(),
            public_key_der=spki,
            private_blob=blob,
            exportable=exportable,
        )

    def generate(self, algorithm: KeyAlgorithm, label: str) -> KeyRecord:
        return self._record(algorithm, crypto.generate(algorithm), label, exportable=False)

    def import_private(self, data: bytes, label: str, password: bytes | None = None) -> KeyRecord:
        try:
            algorithm, key = crypto.load_private(data, password)
        except crypto.KeyFormatError as exc:
            raise InvalidKey(str(exc)) from exc
        return self._record(algorithm, key, label, exportable=True)

    def signer(self, record: KeyRecord) -> Signer:
        if record.private_blob is None:
            raise KeyNotFound(record.key_id)
        der = aead.open_(self._keys, record.private_blob, record.key_id.encode())
        algorithm, key = crypto.load_private(der)
        signer = LocalSigner(algorithm, key)
        if signer.key_id != record.key_id:
            raise InvalidKey("stored private key does not match its public key")
        return signer


class KeyStore:
    """Generate, import, list and use keys by id. All DB work happens in the caller's session."""

    def __init__(self, master: MasterKey, journal: Journal) -> None:
        self.journal = journal
        self.soft = SoftBackend(master)
        self.backends: dict[str, KeyBackend] = {self.soft.name: self.soft}
        self._cache: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def add_backend(self, backend: KeyBackend) -> None:
        self.backends[backend.name] = backend

    def close(self) -> None:
        """Release backend resources (PKCS#11 sessions); the soft store holds none."""
        for be in self.backends.values():
            close = getattr(be, "close", None)
            if close is not None:
                close()
        with self._lock:
            self._cache.clear()

    def generate(
        self, session: Session, algorithm: KeyAlgorithm, label: str, *, backend: str = "soft", actor: str = "system"
    ) -> KeyInfo:
        try:
            be = self.backends[backend]
        except KeyError as exc:
            raise InvalidKey(f"unknown key backend {backend!r}") from exc
        rec = be.generate(algorithm, label)
        session.add(rec)
        self.journal.append(
            session,
            actor=actor,
            action="key.generate",
            target=rec.key_id,
            data={"algorithm": algorithm.value, "label": label, "backend": backend},
        )
        return _info(rec)

    def import_private(
        self, session: Session, data: bytes, label: str, *, password: bytes | None = None, actor: str = "system"
    ) -> KeyInfo:
        rec = self.soft.import_private(data, label, password)
        if session.get(KeyRecord, rec.key_id) is not None:
            raise DuplicateKey(f"key {rec.key_id} is already in the store", key_id=rec.key_id)
        session.add(rec)
        self.journal.append(
            session,
            actor=actor,
            action="key.import",
            target=rec.key_id,
            data={"algorithm": rec.algorithm, "label": label},
        )
        return _info(rec)

    def get(self, session: Session, key_id: str) -> KeyInfo:
        rec = session.get(KeyRecord, key_id)
        if rec is None:
            raise KeyNotFound(key_id)
        return _info(rec)

    def list(self, session: Session) -> list[KeyInfo]:
        return [_info(r) for r in session.exec(select(KeyRecord).order_by(KeyRecord.created_at)).all()]  # type: ignore[arg-type]

    def signer(self, session: Session, key_id: str) -> Signer:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        rec = session.get(KeyRecord, key_id)
        if rec is None:
            raise KeyNotFound(key_id)
        signer = self.backends[rec.backend].signer(rec)
        with self._lock:
            self._cache[key_id] = signer
        return signer
