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
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
        self._verified: VerifiedPrefix | None = None
        self._verified_lock = threading.Lock()

    def verify(
        self,
        session: Session,
        verify_signature: CheckpointVerifier | None,
        *,
        full: bool,
        full_walk_every: timedelta | None = None,
    ) -> AuditReport:
        """Verify the journal, in full or (``full=False``) from where this process last verified it.

        The quick form is for pages shown often (the console's journal viewer): it re-checks that
        the last verified entry still carries the hash it had, then walks only the entries appended
        since, with their checkpoints. An edit to an *older* entry that keeps that entry's stored
        hash is found only by a full walk, so the report says when the last full walk was, and the
        first verification in a process, any failure and ``full=True`` always walk everything, and so does a quick
        walk whose last full walk is ``full_walk_every`` old or older.
        """
        with self._verified_lock:
            since = None if full else self._verified
        if since is not None and full_walk_every is not None and clock.now() - since.full_walk_at >= full_walk_every:
            since = None
        report = verify_journal(session, verify_signature, since=since)
        with self._verified_lock:
            if report.ok and report.prefix is not None:
                self._verified = report.prefix
            elif not report.ok:
                self._verified = None
        return report

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
class VerifiedPrefix:
    """How far a successful walk got: the last entry, its hash, the checkpoints verified up to it
    and when the last *full* walk ended (quick walks carry it forward)."""

    seq: int
    entry_hash: str
    checkpoints: int
    full_walk_at: datetime


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    walked: int = 0  # entries hashed by this walk (== entries for a full walk)
    full: bool = True  # False: only the entries after ``since`` were walked
    prefix: VerifiedPrefix | None = None  # set when ok: where a later quick walk may start

    def summary(self) -> str:
        if self.ok:
            text = f"audit journal OK: {self.entries} entries, {self.checkpoints} signed checkpoints verified"
            if not self.full and self.prefix is not None:
                text += (
                    f" ({self.walked} new entries walked; last full walk "
                    f"{self.prefix.full_walk_at.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
                )
            return text
        return f"audit journal BROKEN at entry {self.first_bad_seq}: {self.problem}"


class _EntryRow(Protocol):
    """The columns of an entry as the chain walk reads them (a Core row, not an ORM object)."""

    seq: int
    ts: datetime
    actor: str
    action: str
    target: str
    data: str
    prev_hash: str
    entry_hash: str


def _iter_entries(session: Session, after: int = 0, batch: int = 5000) -> Iterator[_EntryRow]:
    """Every entry in chain order, in keyset-paged batches of plain rows (no ORM identity map:
    the walk of a long journal is dominated by object construction otherwise)."""
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in ("seq", "ts", "actor", "action", "target", "data", "prev_hash", "entry_hash")]
    conn = session.connection()
    last = after
    while True:
        rows = conn.execute(sa.select(*columns).where(table.c.seq > last).order_by(table.c.seq).limit(batch)).all()
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


def verify_journal(
    session: Session, verify_signature: CheckpointVerifier | None, *, since: VerifiedPrefix | None = None
) -> AuditReport:
    """Walk the whole chain (or, with ``since``, the part after it); report the first entry that
    does not fit.

    Checks, in order: sequence numbers are contiguous from 1 (deletion, reordering), each
    ``prev_hash`` is the previous entry's hash, each stored hash recomputes (edits), the head row
    matches the last entry (truncation), and every checkpoint's signature verifies and its hash
    equals the entry at its sequence number (truncation past a checkpoint, rewritten history).
    With ``since`` the walk first checks that entry ``since.seq`` still has ``since.entry_hash``
    (a rewritten or truncated tail), then starts after it; checkpoints up to it are not re-checked.
    """
    checkpoints = {cp.seq: cp for cp in session.exec(select(AuditCheckpoint)).all()}
    expected_seq, prev, count, start_seq = 1, GENESIS, 0, 0
    if since is not None:
        anchor = session.get(AuditEntry, since.seq) if since.seq else None
        if since.seq and (anchor is None or anchor.entry_hash != since.entry_hash):
            problem = f"entry {since.seq} no longer has the hash it had when last verified"
            return AuditReport(False, 0, 0, since.seq, problem, full=False)
        expected_seq, prev, count, start_seq = since.seq + 1, since.entry_hash, since.seq, since.seq
    walked = 0
    for e in _iter_entries(session, after=start_seq):
        if e.seq != expected_seq:
            return AuditReport(False, count, 0, expected_seq, f"entry {expected_seq} is missing (next is {e.seq})")
        if e.prev_hash != prev:
            return AuditReport(False, count, 0, e.seq, "previous-hash link does not match the preceding entry")
        if entry_hash(e.prev_hash, e.seq, e.ts, e.actor, e.action, e.target, e.data) != e.entry_hash:
            return AuditReport(False, count, 0, e.seq, "entry content does not match its hash (edited)")
        cp = checkpoints.get(e.seq)
        if cp is not None and cp.entry_hash != e.entry_hash:
            return AuditReport(False, count, 0, e.seq, "entry differs from the signed checkpoint at this position")
        prev, expected_seq, count, walked = e.entry_hash, e.seq + 1, count + 1, walked + 1
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is None:
        return AuditReport(False, count, 0, 1, "journal head row is missing")
    if head.seq != last_seq or head.entry_hash != prev:
        return AuditReport(
            False, count, 0, last_seq + 1, f"journal truncated: head says {head.seq} entries, found {last_seq}"
        )
    verified = since.checkpoints if since is not None else 0
    for seq, cp in sorted(checkpoints.items()):
        if seq > last_seq:
            return AuditReport(False, count, verified, last_seq + 1, f"signed checkpoint at {seq} lies past the end")
        if verify_signature is None or seq <= start_seq:
            continue
        if not verify_signature(cp.cert_der, checkpoint_message(cp.seq, cp.entry_hash, cp.ts), cp.signature):
            return AuditReport(False, count, verified, seq, "checkpoint signature does not verify")
        verified += 1
    notes: tuple[str, ...] = ()
    if verify_signature is None and checkpoints:
        notes = ("checkpoint signatures not checked (no verifier)",)
    prefix = VerifiedPrefix(
        seq=last_seq,
        entry_hash=prev,
        checkpoints=verified,
        full_walk_at=since.full_walk_at if since is not None else clock.now(),
    )
    return AuditReport(True, count, verified, notes=notes, walked=walked, full=since is None, prefix=prefix)


def recent_entries(session: Session, limit: int = 50, action_prefix: str | None = None) -> list[AuditEntry]:
    """The newest entries first (for the operators' journal viewer)."""
    q = select(AuditEntry)
    if action_prefix:
        q = q.where(col(AuditEntry.action).startswith(action_prefix))
    return list(session.exec(q.order_by(col(AuditEntry.seq).desc()).limit(max(1, min(limit, 500)))).all())


def ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, entry_hash=GENESIS))
