"""The audit journal catches every kind of tampering done directly in the database.

Tampering tried: edit a field, delete an entry, swap two entries' contents (reorder),
truncate the tail (with and without fixing the head row), forge a checkpoint signature.
"""

from __future__ import annotations

import sqlalchemy as sa

from api.cli import main as cli
from api.container import Services, checkpoint_verifier
from core.audit import AuditCheckpoint, AuditEntry, verify_journal


def _append(services: Services, n: int) -> None:
    with services.db.session() as s:
        for i in range(n):
            services.journal.append(s, actor="tester", action="test.event", target=f"t{i}", data={"i": i, "名": "值"})


def _verify(services: Services):  # type: ignore[no-untyped-def]
    with services.db.session() as s:
        return verify_journal(s, checkpoint_verifier)


def _exec(services: Services, sql: str, **params: object) -> None:
    with services.db.engine.begin() as c:
        c.execute(sa.text(sql), params)


def test_clean_journal_verifies_with_signed_checkpoints(services: Services) -> None:
    _append(services, 120)
    report = _verify(services)
    assert report.ok, report
    assert report.entries >= 120
    assert report.checkpoints >= 2  # every 50 entries in tests
    with services.db.session() as s:
        cp = s.exec(sa.select(AuditCheckpoint)).scalars().first()  # type: ignore[call-overload]
        assert cp is not None and cp.key_id == services.journal.signer.key_id  # type: ignore[union-attr]


def test_edit_is_caught(services: Services) -> None:
    _append(services, 10)
    with services.db.session() as s:
        last = s.exec(sa.select(sa.func.max(AuditEntry.seq))).scalar_one()  # type: ignore[call-overload]
    _exec(services, "UPDATE audit_entry SET data = :d WHERE seq = :s", d='{"i":999}', s=last - 3)
    report = _verify(services)
    assert not report.ok and report.first_bad_seq == last - 3 and "edited" in (report.problem or "")


def test_edit_of_actor_is_caught(services: Services) -> None:
    _append(services, 3)
    _exec(services, "UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 2")
    assert _verify(services).first_bad_seq == 2


def test_delete_is_caught(services: Services) -> None:
    _append(services, 10)
    _exec(services, "DELETE FROM audit_entry WHERE seq = 5")
    report = _verify(services)
    assert not report.ok and report.first_bad_seq == 5 and "missing" in (report.problem or "")


def test_reorder_is_caught(services: Services) -> None:
    _append(services, 10)
    with services.db.engine.begin() as c:
        a = c.execute(sa.text("SELECT ts, actor, action, target, data FROM audit_entry WHERE seq = 7")).one()
        b = c.execute(sa.text("SELECT ts, actor, action, target, data FROM audit_entry WHERE seq = 8")).one()
        for seq, row in ((7, b), (8, a)):
            c.execute(
                sa.text(
                    "UPDATE audit_entry SET ts=:ts, actor=:actor, action=:action, target=:target, data=:data "
                    "WHERE seq=:seq"
                ),
                {"ts": row[0], "actor": row[1], "action": row[2], "target": row[3], "data": row[4], "seq": seq},
            )
    report = _verify(services)
    assert not report.ok and report.first_bad_seq == 7


def test_truncation_is_caught_by_head(services: Services) -> None:
    _append(services, 10)
    with services.db.session() as s:
        last = s.exec(sa.select(sa.func.max(AuditEntry.seq))).scalar_one()  # type: ignore[call-overload]
    _exec(services, "DELETE FROM audit_entry WHERE seq > :s", s=last - 2)
    report = _verify(services)
    assert not report.ok and "truncated" in (report.problem or "")


def test_truncation_with_forged_head_is_caught_by_checkpoint(services: Services) -> None:
    _append(services, 60)
    with services.db.session() as s:
        cp_seq = s.exec(sa.select(sa.func.max(AuditCheckpoint.seq))).scalar_one()  # type: ignore[call-overload]
        keep = s.get(AuditEntry, cp_seq - 1)
        assert keep is not None
        keep_hash = keep.entry_hash
    _exec(services, "DELETE FROM audit_entry WHERE seq >= :s", s=cp_seq)
    _exec(services, "UPDATE audit_head SET seq = :s, entry_hash = :h WHERE id = 1", s=cp_seq - 1, h=keep_hash)
    report = _verify(services)
    assert not report.ok and "past the end" in (report.problem or "")


def test_forged_checkpoint_signature_is_caught(services: Services) -> None:
    _append(services, 60)
    with services.db.engine.begin() as c:
        sig = c.execute(sa.text("SELECT signature FROM audit_checkpoint ORDER BY seq LIMIT 1")).scalar_one()
        forged = bytes(sig[:-1]) + bytes([sig[-1] ^ 1])
        c.execute(
            sa.text("UPDATE audit_checkpoint SET signature = :s WHERE seq = (SELECT MIN(seq) FROM audit_checkpoint)"),
            {"s": forged},
        )
    report = _verify(services)
    assert not report.ok and "signature" in (report.problem or "")


def test_cli_reports_first_bad_entry(services: Services, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _append(services, 5)
    settings = services.settings
    monkeypatch.setenv("YWT_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("YWT_DATABASE_URL", settings.database_url)
    assert cli(["audit", "verify"]) == 0
    assert "OK" in capsys.readouterr().out
    _exec(services, "UPDATE audit_entry SET target = 'x' WHERE seq = 3")
    assert cli(["audit", "verify"]) == 1
    assert "BROKEN at entry 3" in capsys.readouterr().out


# --- quick walks (Journal.verify(full=False)): from where this process last verified ------------


def _walk(services: Services, *, full: bool):  # type: ignore[no-untyped-def]
    with services.db.session() as s:
        return services.journal.verify(s, checkpoint_verifier, full=full)


def test_quick_walk_hashes_only_new_entries_and_counts_everything(services: Services) -> None:
    _append(services, 60)
    first = _walk(services, full=False)  # nothing verified yet in this process: a full walk
    assert first.ok and first.full and first.walked == first.entries
    _append(services, 7)
    second = _walk(services, full=False)
    assert second.ok and not second.full
    assert second.walked == 7 and second.entries == first.entries + 7
    assert second.checkpoints >= first.checkpoints
    assert second.prefix is not None and first.prefix is not None
    assert second.prefix.full_walk_at == first.prefix.full_walk_at  # carried forward
    assert "7 new entries walked" in second.summary()
    assert _verify(services).entries == second.entries  # a full walk agrees


def test_quick_walk_catches_tampering_of_new_entries_and_a_rewritten_anchor(services: Services) -> None:
    """Tampering tried after a verified walk: edit an entry appended since; rewrite the entry the
    last walk ended on (hash changed); truncate back past it. Each is caught by the quick walk,
    and after a failure the next quick walk is a full one."""
    _append(services, 5)
    anchor = _walk(services, full=True).prefix
    assert anchor is not None
    _append(services, 4)
    _exec(services, "UPDATE audit_entry SET target = 'forged' WHERE seq = :s", s=anchor.seq + 2)
    bad = _walk(services, full=False)
    assert not bad.ok and bad.first_bad_seq == anchor.seq + 2 and "edited" in (bad.problem or "")
    again = _walk(services, full=False)
    assert not again.ok and again.full  # no verified prefix after a failure: walked in full


def test_quick_walk_catches_a_rewritten_or_removed_anchor(services: Services) -> None:
    _append(services, 5)
    anchor = _walk(services, full=True).prefix
    assert anchor is not None
    _exec(services, "UPDATE audit_entry SET entry_hash = :h WHERE seq = :s", h="ab" * 32, s=anchor.seq)
    bad = _walk(services, full=False)
    assert not bad.ok and bad.first_bad_seq == anchor.seq and "no longer has the hash" in (bad.problem or "")

    _exec(services, "UPDATE audit_entry SET entry_hash = :h WHERE seq = :s", h=anchor.entry_hash, s=anchor.seq)
    assert _walk(services, full=True).ok
    _exec(services, "DELETE FROM audit_entry WHERE seq = :s", s=anchor.seq)
    gone = _walk(services, full=False)
    assert not gone.ok and gone.first_bad_seq == anchor.seq


def test_old_edit_that_keeps_hashes_needs_the_full_walk(services: Services) -> None:
    """What the quick walk does not see, and the page says so: an edit to an entry before the
    last verified one. The full walk (the page's button, the API, ``ywt audit verify``) finds it."""
    _append(services, 8)
    assert _walk(services, full=True).ok
    _exec(services, "UPDATE audit_entry SET data = :d WHERE seq = 3", d='{"i":999}')
    assert _walk(services, full=False).ok  # by design: before the verified prefix
    full = _walk(services, full=True)
    assert not full.ok and full.first_bad_seq == 3
