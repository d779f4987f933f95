"""Auditor API: read the hash-chained journal and check it (role ``auditor``; read-only).

The journal never holds personal data in clear (domains journal masked values and ids), so an
auditor reads it as stored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import Principal, RequireRoles
from api.container import checkpoint_verifier
from api.deps import ServicesDep, SessionDep
from core.audit import list_entries

router = APIRouter(prefix="/audit/v1", tags=["audit"])

Auditor = Annotated[Principal, Depends(RequireRoles("auditor"))]


class EntryOut(BaseModel):
    seq: int
    ts: datetime
    actor: str
    action: str
    target: str
    data: dict[str, Any]
    prev_hash: str
    entry_hash: str


class EntriesOut(BaseModel):
    items: list[EntryOut]
    next_after: int | None


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
    summary: str


@router.get("/entries")
def entries(
    principal: Auditor,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # the column is a 32-bit integer on PostgreSQL
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> EntriesOut:
    """Journal entries in chain order after ``after``; page on with ``next_after``."""
    rows = list_entries(session, after=after, limit=limit, action=action, actor=actor)
    items = [
        EntryOut(
            seq=e.seq,
            ts=e.ts,
            actor=e.actor,
            action=e.action,
            target=e.target,
            data=json.loads(e.data),
            prev_hash=e.prev_hash,
            entry_hash=e.entry_hash,
        )
        for e in rows
    ]
    return EntriesOut(items=items, next_after=rows[-1].seq if len(rows) == limit else None)


@router.get("/verify")
def verify(principal: Auditor, services: ServicesDep, session: SessionDep) -> VerifyOut:
    """Walk the whole chain and the signed checkpoints (as ``ywt audit verify``)."""
    r = services.journal.verify(session, checkpoint_verifier, full=True)
    return VerifyOut(
        ok=r.ok,
        entries=r.entries,
        checkpoints=r.checkpoints,
        first_bad_seq=r.first_bad_seq,
        problem=r.problem,
        summary=r.summary(),
    )
