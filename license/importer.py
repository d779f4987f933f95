"""Bulk import of historical licences (存量证照数字化), the engine behind ``ywt license import``.

The file is checked as a whole first (encoding, header: :func:`license.importcsv.open_csv_import`)
and the issuer against the legal-entity DB; a file that fails there stores nothing. Then each row
is digitised on its own — validated, rendered, sealed and stored in its own transactions like a
new licence (:meth:`license.service.LicenseService.import_one`), marked ``digitised`` — so an
interruption (Ctrl-C, a killed process, a crash) leaves every finished row complete and no row
half-stored.

Resumption: a job is identified by (SHA-256 of the file, type, issuer). Running the same file
again continues the same job: a row whose licence number already belongs to a lineage created
by this job is skipped (``already imported``) without rendering anything; a number issued by
anyone else is a duplicate. So a re-run never imports a licence twice, whether the first run
finished or was killed.

Every row that is not imported gets a line in the error report: a CSV (UTF-8 with BOM, so
spreadsheet software opens it) with the row number, file line, licence key, column, error code
and message — never the offending value, which may be personal data. It is rewritten on each
run and flushed per row, so even a killed run leaves a report of the rows it did.

Operational failures (a base-data source or the sealer unavailable) stop the import with a
``TryLater``; what was done stays done, and the next run resumes.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from sqlmodel import select

from core import clock
from core.errors import ConfigurationError, TryLater, YwtError
from license import registry
from license.errors import FieldError, ImportFileError, InvalidLicenseData, IssuerNotAllowed, LicenseError
from license.holders import entity_standing
from license.importcsv import ImportedLicense, RowResult, open_csv_import
from license.models import ImportJobRow, LineageRow
from license.service import LicenseService, new_id
from license.values import uscc_problem

__all__ = [
    "MAX_IMPORT_WORKERS",
    "REPORT_HEADER",
    "ImportJob",
    "ImportOutcome",
    "ImportProgress",
    "ServiceFactory",
    "list_jobs",
    "run_import",
]

REPORT_HEADER: Final = ("行号 row", "文件行 line", "证照键 key", "列 column", "错误代码 code", "说明 message")
MAX_IMPORT_BYTES: Final = 200 * 1024 * 1024
MAX_IMPORT_WORKERS: Final = 8

#: Builds a :class:`LicenseService` in a worker process (picklable: a module-level function or a
#: ``functools.partial`` of one over the settings).
ServiceFactory = Callable[[], LicenseService]


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Counts so far (passed to the progress callback after every row)."""

    done: int
    total: int
    imported: int
    skipped: int
    failed: int


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    job_id: str
    file_sha256: str
    encoding: str
    total: int
    imported: int
    skipped: int  # imported by an earlier run of the same job
    failed: int
    report_path: Path
    resumed: bool
    unknown_columns: tuple[str, ...]

    def summary(self) -> str:
        again = " (resumed)" if self.resumed else ""
        return (
            f"import job {self.job_id}{again}: {self.total} rows — {self.imported} imported, "
            f"{self.skipped} already imported, {self.failed} with errors (report: {self.report_path})"
        )


class _Report:
    """The per-row error report, flushed per row (a killed run still leaves one); rewritten in
    row order on close when concurrent workers finished rows out of order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(REPORT_HEADER)
        self._fh.flush()
        self._lines: list[tuple[int, list[object]]] = []
        self._sorted = True

    def row(self, result: RowResult, errors: tuple[FieldError, ...]) -> None:
        if self._lines and result.row_number < self._lines[-1][0]:
            self._sorted = False
        for e in errors:
            line: list[object] = [result.row_number, result.line_number, result.key or "", e.field, e.code, e.message]
            self._lines.append((result.row_number, line))
            self._writer.writerow(line)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
        if not self._sorted:
            with self.path.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(REPORT_HEADER)
                writer.writerows(line for _, line in sorted(self._lines, key=lambda item: item[0]))


def _error_of(exc: YwtError) -> tuple[FieldError, ...]:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, tuple) and errors and all(isinstance(e, FieldError) for e in errors):
        return errors
    return (FieldError("", exc.code, exc.detail),)


async def run_import(
    service: LicenseService,
    source: Path,
    *,
    type_code: str,
    issuer_code: str,
    actor: str,
    report_path: Path | None = None,
    verify_holders: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
    workers: int = 1,
    process_factory: ServiceFactory | None = None,
) -> ImportOutcome:
    """Import ``source`` (CSV, UTF-8 or GBK) as licences of ``type_code`` issued by ``issuer_code``.

    ``verify_holders``: also require registered persons (>= L2) / active entities, as for new
    licences; off by default, because historical holders need not have an account yet (their
    licences appear in their wallet once they register: the wallet finds them by ID number).

    ``workers``: rows digitised concurrently (1..``MAX_IMPORT_WORKERS``). Without
    ``process_factory`` they are tasks of this process whose rendering and sealing run in
    threads: they overlap I/O only, rendering and signing being mostly pure Python under the
    GIL. With ``process_factory`` each worker is a process of its own (``spawn``: no database
    connection or key handle crosses a fork) that builds its service once and digitises the
    rows it is handed; it dies with the importing process (``PR_SET_PDEATHSIG`` on Linux), so
    a killed import leaves no orphan finishing rows behind its back. This process still reads
    the file, decides skips and duplicates, writes the report and draws the progress. The
    report is sorted by row number at the end, whatever order rows finished in.
    """
    if not 1 <= workers <= MAX_IMPORT_WORKERS:
        raise InvalidLicenseData([FieldError("workers", "out_of_range", f"workers must be 1..{MAX_IMPORT_WORKERS}")])
    data = source.read_bytes()
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError("too_large", f"import files are limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    digest = hashlib.sha256(data).hexdigest()
    with service.db.session() as session:
        info = registry.get_type(session, type_code)
    why = uscc_problem(issuer_code)
    if why is not None:
        raise IssuerNotAllowed(f"the issuer code {why}")
    imp = open_csv_import(data, info.license_type)  # encoding and header: nothing stored if bad
    issuer = await entity_standing(service.entities, issuer_code)
    if issuer is None or not issuer.active:
        raise IssuerNotAllowed("the issuer is not an active legal entity in the legal-entity DB")
    total = imp.count_rows()
    now = clock.now()
    with service.db.session() as session:
        job = session.exec(
            select(ImportJobRow).where(
                ImportJobRow.file_sha256 == digest,
                ImportJobRow.type_code == type_code,
                ImportJobRow.issuer_code == issuer_code,
            )
        ).first()
        resumed = job is not None
        if job is None:
            job = ImportJobRow(
                id=new_id(),
                file_sha256=digest,
                file_name=source.name[:200],
                type_code=type_code,
                issuer_code=issuer_code,
                encoding=imp.encoding,
                total_rows=total,
                status="running",
                created_at=now,
                updated_at=now,
                created_by=actor,
            )
        job.runs += 1
        job.status, job.updated_at = "running", now
        session.add(job)
        session.flush()
        service.journal.append(
            session,
            actor=actor,
            action="license.import.start",
            target=job.id,
            data={"file_sha256": digest, "type": type_code, "issuer": issuer_code, "rows": total, "run": job.runs},
        )
        job_id = job.id
    report = _Report(report_path or source.with_name(source.stem + ".errors.csv"))
    pool: ProcessPoolExecutor | None = None
    if process_factory is not None and workers > 1:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(process_factory,),
        )
    counts = {"imported": 0, "skipped": 0, "failed": 0, "done": 0}

    async def digitise(result: RowResult) -> tuple[str, tuple[FieldError, ...]]:
        """One row: ``(outcome, errors)`` with outcome imported / skipped / failed."""
        if result.record is None:
            return "failed", result.errors
        rec = result.record
        if rec.issuer_code is not None and rec.issuer_code != issuer_code:
            return "failed", (FieldError("issuer_code", "mismatch", "the row names another issuer than --issuer"),)
        with service.db.session() as session:
            existing = session.exec(
                select(LineageRow).where(
                    LineageRow.type_code == type_code,
                    LineageRow.issuer_code == issuer_code,
                    LineageRow.number == rec.number,
                )
            ).first()
        if existing is not None and existing.import_job_id == job_id:
            return "skipped", ()
        if existing is not None:
            return "failed", (FieldError(result.key or "", "duplicate", "this licence number was issued already"),)
        if pool is not None:
            # submitted from the event loop's thread, which lives as long as the import: a
            # worker process's parent-death signal is tied to the thread that started it
            future = pool.submit(_digitise_in_child, actor, rec, issuer_code, issuer.name, job_id, verify_holders)
            try:
                outcome, errors, stop = await anyio.to_thread.run_sync(future.result)
            except BrokenProcessPool as exc:  # a worker crashed or was killed: stop, a re-run resumes
                raise TryLater(f"an import worker process died: {exc}") from None
            if stop is not None:
                raise TryLater(stop)
            return outcome, errors
        try:
            await service.import_one(
                actor,
                rec,
                issuer_code=issuer_code,
                issuer_name=issuer.name,
                import_job_id=job_id,
                verify_holder=verify_holders,
            )
        except (TryLater, ConfigurationError):
            raise  # operational: stop here, the next run resumes
        except (LicenseError, YwtError) as exc:
            return "failed", _error_of(exc)
        return "imported", ()

    def record(result: RowResult, outcome: str, errors: tuple[FieldError, ...]) -> None:
        counts["done"] += 1
        counts[outcome] += 1
        if errors:
            report.row(result, errors)
        if progress is not None:
            p = ImportProgress(counts["done"], total, counts["imported"], counts["skipped"], counts["failed"])
            progress(p)

    async def worker(rows: MemoryObjectReceiveStream[RowResult]) -> None:
        async with rows:
            async for result in rows:
                record(result, *await digitise(result))

    try:
        if workers == 1:
            for result in imp.rows():
                record(result, *await digitise(result))
        else:
            # Rows are handed one at a time to ``workers`` tasks; each row is still digitised in
            # its own transactions, so a kill leaves no half-stored row whatever the concurrency.
            send, receive = anyio.create_memory_object_stream[RowResult](0)
            try:
                async with anyio.create_task_group() as tg:
                    for _ in range(workers):
                        tg.start_soon(worker, receive.clone())
                    receive.close()
                    async with send:
                        for result in imp.rows():
                            await send.send(result)
            except BaseExceptionGroup as group:
                raise _first_error(group) from None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        report.close()
        imported, skipped, failed, done = counts["imported"], counts["skipped"], counts["failed"], counts["done"]
        with service.db.session() as session:
            job_row = session.get(ImportJobRow, job_id)
            if job_row is not None:
                job_row.imported = _count_imported(session, job_id)
                job_row.failed = failed
                job_row.updated_at = clock.now()
                if done == total:
                    job_row.status = "completed"
                    job_row.finished_at = job_row.updated_at
                session.add(job_row)
                service.journal.append(
                    session,
                    actor=actor,
                    action="license.import.finish" if done == total else "license.import.stop",
                    target=job_id,
                    data={"imported": imported, "skipped": skipped, "failed": failed, "done": done, "rows": total},
                )
    return ImportOutcome(
        job_id=job_id,
        file_sha256=digest,
        encoding=imp.encoding,
        total=total,
        imported=imported,
        skipped=skipped,
        failed=failed,
        report_path=report.path,
        resumed=resumed,
        unknown_columns=imp.unknown_columns,
    )


# ------------------------------------------------------------------ worker processes

_CHILD: dict[str, LicenseService] = {}  # the worker process's own service, built by _child_init


def _child_init(factory: ServiceFactory) -> None:
    """Worker process start: die with the importing process, then build the service once."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importing process's to handle
    _CHILD["service"] = factory()


def _digitise_in_child(
    actor: str, record: ImportedLicense, issuer_code: str, issuer_name: str, job_id: str, verify_holder: bool
) -> tuple[str, tuple[FieldError, ...], str | None]:
    """One row in a worker process: ``(outcome, errors, stop)``; ``stop`` carries an operational
    failure back (the exception itself may not survive pickling)."""
    service = _CHILD["service"]
    try:
        asyncio.run(
            service.import_one(
                actor,
                record,
                issuer_code=issuer_code,
                issuer_name=issuer_name,
                import_job_id=job_id,
                verify_holder=verify_holder,
            )
        )
    except (TryLater, ConfigurationError) as exc:
        return "failed", (), f"{type(exc).__name__}: {exc.detail}"
    except (LicenseError, YwtError) as exc:
        return "failed", _error_of(exc), None
    return "imported", (), None


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf exception of a task group's exception group (re-raised as it was)."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _count_imported(session: object, job_id: str) -> int:
    import sqlalchemy as sa
    from sqlmodel import Session

    assert isinstance(session, Session)
    return int(
        session.exec(select(sa.func.count()).select_from(LineageRow).where(LineageRow.import_job_id == job_id)).one()
    )


def render_report_text(report_path: Path) -> str:
    """The report as text (for tests and the CLI's ``--show-errors``)."""
    return io.StringIO(report_path.read_text(encoding="utf-8-sig")).getvalue()


@dataclass(frozen=True, slots=True)
class ImportJob:
    """A recorded bulk import (one CSV file for one type and issuer), for the operators' console."""

    id: str
    file_name: str
    type_code: str
    issuer_code: str
    total_rows: int
    imported: int
    failed: int
    runs: int
    status: str
    created_at: object
    updated_at: object
    finished_at: object

    @property
    def percent(self) -> int:
        if self.total_rows <= 0:
            return 100 if self.status == "completed" else 0
        return min(100, (self.imported + self.failed) * 100 // self.total_rows)


def list_jobs(session: object, limit: int = 50) -> list[ImportJob]:
    """Recorded import jobs, newest first."""
    from sqlmodel import Session, col

    assert isinstance(session, Session)
    rows = session.exec(select(ImportJobRow).order_by(col(ImportJobRow.updated_at).desc()).limit(limit)).all()
    return [
        ImportJob(
            r.id,
            r.file_name,
            r.type_code,
            r.issuer_code,
            r.total_rows,
            r.imported,
            r.failed,
            r.runs,
            r.status,
            r.created_at,
            r.updated_at,
            r.finished_at,
        )
        for r in rows
    ]
