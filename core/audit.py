"""Append-only, hash-chained audit journal with signed checkpoints.

Each entry's hash is SM3 over a canonical encoding of (previous hash, sequence number, time,
actor, action, target, data) — so editing, deleting, reordering or truncating entries breaks
the chain. Like a Certificate Transparency tree head, a *checkpoint* periodically signs
(sequence, head hash) with a Service CA key; a checkpoint that no longer matches the chain, or
one that points past its end, exposes tail truncation as well.

Entries are appended inside the caller's transaction, so a state change and its journal entry
commit or vanish together. ``audit_head`` is a one-row table updated first in every append: it
serialises writers on both SQLite and PostgreSQL (row lock), so sequence numbers never collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from core import clock
from core.db import UTCDateTime

GENESIS = "0" * 64
_FORMAT = 1


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=100, index=True)
    target: str = Field(max_length=300)
    data: str  # canonical JSON
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    entry_hash: str = Field(default=GENESIS, max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    __tablename__ = "audit_checkpoint"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_hash: str = Field(max_length=64)
    ts: datetime = Field(sa_type=UTCDateTime)
    key_id: str = Field(max_length=64)
    cert_der: bytes
    signature: bytes


class CheckpointSigner(Protocol):
    """What the journal needs from a signing key (provided by keys/ + ca/ at wiring time)."""

    @property
    def key_id(self) -> str: ...

    @property
    def cert_der(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


#: ``verify(cert_der, data, signature) -> bool``, provided by keys/ at wiring time.
CheckpointVerifier = Callable[[bytes, bytes, bytes], bool]


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _ts(ts: datetime) -> str:
    return clock.utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, seq: int, ts: datetime, actor: str, action: str, target: str, data: str) -> str:
    body = canonical([_FORMAT, prev_hash, seq, _ts(ts), actor, action, target, data])
    return hashlib.new("sm3", body.encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, head_hash: str, ts: datetime) -> bytes:
    return canonical(["ywt-audit-checkpoint", _FORMAT, seq, head_hash, _ts(ts)]).encode()


class Journal:
    """Appends to and verifies the journal. Holds the optional checkpoint signer."""

    def __init__(self, checkpoint_every: int = 100) -> None:
        self.checkpoint_every = checkpoint_every
        self.signer: CheckpointSigner | None = None

    def append(
        self, session: Session, *, actor: str, action: str, target: str = "", data: dict[str, Any] | None = None
    ) -> AuditEntry:
        """Append one entry in the caller's transaction (commit is the caller's)."""
        conn = session.connection()
        conn.execute(sa.text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))
        row = conn.execute(sa.text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).one()
        seq, prev = int(row[0]), str(row[1])
        ts = clock.now()
        payload = canonical(data or {})
        h = entry_hash(prev, seq, ts, actor, action, target, payload)
        entry = AuditEntry(
            seq=seq,
            ts=ts,
            actor=actor[:200],
            action=action,
            target=target[:300],
            data=payload,
            prev_hash=prev,
            entry_hash=h,
        )
        session.add(entry)
        conn.execute(sa.text("UPDATE audit_head SET entry_hash = :h WHERE id = 1"), {"h": h})
        if self.signer is not None and self.checkpoint_every and seq % self.checkpoint_every == 0:
            session.flush()
            self._checkpoint(session, seq, h, ts)
        return entry

    def checkpoint(self, session: Session) -> AuditCheckpoint | None:
        """Sign the current head now (e.g. at shutdown or from ``ywt audit checkpoint``)."""
        if self.signer is None:
            return None
        conn = session.connection()
        conn.execute(sa.text("UPDATE audit_head SET seq = seq WHERE id = 1"))  # take the writer lock
        row = conn.execute(sa.text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).one()
        seq, h = int(row[0]), str(row[1])
        if seq == 0 or session.get(AuditCheckpoint, seq) is not None:
            return None
        return self._checkpoint(session, seq, h, clock.now())

    def _checkpoint(self, session: Session, seq: int, h: str, ts: datetime) -> AuditCheckpoint:
        assert self.signer is not None
        cp = AuditCheckpoint(
            seq=seq,
            entry_hash=h,
            ts=ts,
            key_id=self.signer.key_id,
            cert_der=self.signer.cert_der,
            signature=self.signer.sign(checkpoint_message(seq, h, ts)),
        )
        session.add(cp)
        return cp


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        if self.ok:
            return f"audit journal OK: {self.entries} entries, {self.checkpoints} signed checkpoints verified"
        return f"audit journal BROKEN at entry {self.first_bad_seq}: {self.problem}"


def _iter_entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.exec(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)  # type: ignore[arg-type]
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def list_entries(
    session: Session, *, after: int = 0, limit: int = 100, action: str | None = None, actor: str | None = None
) -> list[AuditEntry]:
    """Entries in chain order after sequence number ``after`` (for auditors; keyset pagination)."""
    q = select(AuditEntry).where(AuditEntry.seq > after)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    return list(session.exec(q.order_by(AuditEntry.seq).limit(limit)).all())  # type: ignore[arg-type]


def verify_journal(session: Session, verify_signature: CheckpointVerifier | None) -> AuditReport:
    """Walk the whole chain; report the first entry that does not fit.

    Checks, in order: sequence numbers are contiguous from 1 (deletion, reordering), each
    ``prev_hash`` is the previous entry's hash, each stored hash recomputes (edits), the head row
    matches the last entry (truncation), and every checkpoint's signature verifies and its hash
    equals the entry at its sequence number (truncation past a checkpoint, rewritten history).
    """
    checkpoints = {cp.seq: cp for cp in session.exec(select(AuditCheckpoint)).all()}
    expected_seq, prev, count = 1, GENESIS, 0
    for e in _iter_entries(session):
        if e.seq != expected_seq:
            return AuditReport(False, count, 0, expected_seq, f"entry {expected_seq} is missing (next is {e.seq})")
        if e.prev_hash != prev:
            return AuditReport(False, count, 0, e.seq, "previous-hash link does not match the preceding entry")
        if entry_hash(e.prev_hash, e.seq, e.ts, e.actor, e.action, e.target, e.data) != e.entry_hash:
            return AuditReport(False, count, 0, e.seq, "entry content does not match its hash (edited)")
        cp = checkpoints.get(e.seq)
        if cp is not None and cp.entry_hash != e.entry_hash:
            return AuditReport(False, count, 0, e.seq, "entry differs from the signed checkpoint at this position")
        prev, expected_seq, count = e.entry_hash, e.seq + 1, count + 1
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is None:
        return AuditReport(False, count, 0, 1, "journal head row is missing")
    if head.seq != last_seq or head.entry_hash != prev:
        return AuditReport(
            False, count, 0, last_seq + 1, f"journal truncated: head says {head.seq} entries, found {last_seq}"
        )
    verified = 0
    for seq, cp in sorted(checkpoints.items()):
        if seq > last_seq:
            return AuditReport(False, count, verified, last_seq + 1, f"signed checkpoint at {seq} lies past the end")
        if verify_signature is None:
            continue
        if not verify_signature(cp.cert_der, checkpoint_message(cp.seq, cp.entry_hash, cp.ts), cp.signature):
            return AuditReport(False, count, verified, seq, "checkpoint signature does not verify")
        verified += 1
    notes: tuple[str, ...] = ()
    if verify_signature is None and checkpoints:
        notes = ("checkpoint signatures not checked (no verifier)",)
    return AuditReport(True, count, verified, notes=notes)


def recent_entries(session: Session, limit: int = 50, action_prefix: str | None = None) -> list[AuditEntry]:
    """The newest entries first (for the operators' journal viewer)."""
    q = select(AuditEntry)
    if action_prefix:
        q = q.where(col(AuditEntry.action).startswith(action_prefix))
    return list(session.exec(q.order_by(col(AuditEntry.seq).desc()).limit(max(1, min(limit, 500)))).all())


def ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, entry_hash=GENESIS))
