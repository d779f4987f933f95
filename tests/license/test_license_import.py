"""Bulk import: UTF-8 and GBK files, per-row error report, nothing stored for a bad file, and resume
after the importing process is killed midway (no duplicates)."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from licence_helpers import DEPT, FOOD, ISSUER, QUALIFICATION, food_data, issue, journal_actions, run, stored_state

from identity.numbers import id_number_check_char
from license.errors import ImportFileError, InvalidLicenseData, IssuerNotAllowed
from license.importer import REPORT_HEADER, run_import
from license.service import LicenseService, SearchFilters

HEADER = [
    "证照类型代码",
    "证照编号",
    "持证主体",
    "持证主体代码",
    "颁发日期",
    "有效期起始日期",
    "有效期截止日期",
    "职业（工种）",
    "等级",
]


def person_id(i: int) -> str:
    body = f"120101198{i % 10}0{1 + i % 9}1{i % 10}{i:03d}"[:17]
    return body + id_number_check_char(body)


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [
        [
            QUALIFICATION,
            f"TJ2019LS{start + i:06d}",
            f"测试{chr(0x4E00 + (start + i) % 500)}",
            person_id(start + i),
            "2019-06-01",
            "2019-06-01",
            "",
            "焊工",
            "四级/中级工",
        ]
        for i in range(n)
    ]


def to_csv(table: list[list[str]], header: list[str] = HEADER) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(table)
    return buf.getvalue()


def _import(svc: LicenseService, path: Path, **kw: Any) -> Any:
    return anyio.run(lambda: run_import(svc, path, type_code=QUALIFICATION, issuer_code=DEPT, actor="test", **kw))


def _count(services: Any, table: str, where: str = "") -> int:
    with services.db.session() as s:
        return int(s.connection().execute(sa.text(f"SELECT COUNT(*) FROM {table} {where}")).scalar_one())


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_import_report_and_rerun(licensing: LicenseService, services: Any, tmp_path: Path, encoding: str) -> None:
    table = rows(4)
    table[1][3] = table[1][3][:-1] + ("0" if table[1][3][-1] != "0" else "1")  # check digit broken
    table[2][7] = ""  # required occupation missing
    src = tmp_path / "historical.csv"
    src.write_bytes(to_csv(table).encode(encoding))
    lineages = _count(services, "license_lineage")

    first = _import(licensing, src)
    assert (first.imported, first.failed, first.skipped, first.total, first.resumed) == (2, 2, 0, 4, False)
    assert first.encoding == ("utf-8" if encoding == "utf-8" else "gb18030")
    report = list(csv.reader(io.StringIO(first.report_path.read_text(encoding="utf-8-sig"))))
    assert tuple(report[0]) == REPORT_HEADER
    assert [(r[0], r[3], r[4]) for r in report[1:]] == [
        ("3", "持证主体代码", "bad_check_digit"),
        ("4", "职业（工种）", "missing"),
    ]
    assert all(table[1][3] not in cell for r in report for cell in r)  # the bad ID number is not echoed

    with services.db.session() as s:
        page = licensing.search(s, ISSUER, SearchFilters(digitised=True))
    assert page.total == 2
    assert {v.number for v in page.items} == {table[0][1], table[3][1]}
    assert all(v.issue_date.isoformat() == "2019-06-01" and v.digitised and v.valid_to is None for v in page.items)

    again = _import(licensing, src)
    assert (again.imported, again.skipped, again.failed, again.resumed) == (0, 2, 2, True)
    assert again.job_id == first.job_id
    assert _count(services, "license_lineage") == lineages + 2


def test_imported_licences_are_sealed_like_new_ones(licensing: LicenseService, services: Any, tmp_path: Path) -> None:
    src = tmp_path / "one.csv"
    src.write_text(to_csv(rows(1)), encoding="utf-8")
    _import(licensing, src)
    with services.db.session() as s:
        view = licensing.search(s, ISSUER, SearchFilters(digitised=True)).items[0]
        pdf = licensing.pdf(s, ISSUER, view.id).pdf
    (tmp_path / "l.pdf").write_bytes(pdf)
    out = run("pdfsig", "-no-ocsp", tmp_path / "l.pdf").stdout
    assert "Signature is Valid." in out and "Total document signed" in out
    assert [a for a, _, _ in journal_actions(services)][-3:] == [
        "license.import.start",
        "license.import",
        "license.import.finish",
    ]


def test_row_whose_number_was_issued_elsewhere_is_a_duplicate(
    licensing: LicenseService, services: Any, tmp_path: Path
) -> None:
    from licence_helpers import person_data

    issue(licensing, QUALIFICATION, person_data("TJ2019LS000000"))
    src = tmp_path / "dup.csv"
    src.write_text(to_csv(rows(2)), encoding="utf-8")
    out = _import(licensing, src)
    assert (out.imported, out.failed) == (1, 1)
    assert "duplicate" in out.report_path.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe" + to_csv(rows(1)).encode("utf-16-le"), "encoding"),
        (to_csv(rows(1)).encode("utf-8") + b"\x81\xff\xfe", "encoding"),
        (to_csv(rows(1), header=HEADER[:-2]).encode("utf-8"), "missing_columns"),
        (b"", "empty"),
    ],
)
def test_bad_files_store_nothing(
    licensing: LicenseService, services: Any, tmp_path: Path, content: bytes, reason: str
) -> None:
    src = tmp_path / "bad.csv"
    src.write_bytes(content)
    before = stored_state(services)
    with pytest.raises(ImportFileError) as info:
        _import(licensing, src)
    assert info.value.reason == reason
    assert stored_state(services) == before
    assert not (tmp_path / "bad.errors.csv").exists()


def test_issuer_must_be_active(licensing: LicenseService, services: Any, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text(to_csv(rows(1)), encoding="utf-8")
    before = stored_state(services)
    with pytest.raises(IssuerNotAllowed):
        anyio.run(
            lambda: run_import(licensing, src, type_code=QUALIFICATION, issuer_code="91120104MA05D2E23F", actor="t")
        )
    assert stored_state(services) == before


def _cli_env(services: Any) -> dict[str, str]:
    s = services.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")}
    env.update(YWT_HOME=str(s.home), YWT_BASE_URL=s.base_url, YWT_ENV="test", YWT_DEMO="false")
    if s.database_url:
        env["YWT_DATABASE_URL"] = s.database_url
    return env


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc: ppid is field 4 of /proc/PID/stat)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_import_resumes_without_duplicates(services: Any, tmp_path: Path, workers: int) -> None:
    """``ywt license import`` killed with SIGKILL midway, then run again: every row exactly once
    (also with two rows in flight when the process dies)."""
    n = 24
    src = tmp_path / "bulk.csv"
    src.write_bytes(to_csv(rows(n)).encode("gbk"))
    cmd = [sys.executable, "-m", "api.cli", "license", "import", str(src), "--type", QUALIFICATION, "--issuer", DEPT]
    cmd += ["--workers", str(workers)]
    base_lineages, base_licences = _count(services, "license_lineage"), _count(services, "license_licence")
    proc = subprocess.Popen(cmd, env=_cli_env(services), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    children: list[int] = []
    try:
        while _count(services, "license_lineage") < base_lineages + 4:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        children = _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # --workers 2 digitises in two worker processes, which die with the import: none goes on
    # storing rows once the importing process is gone
    if workers > 1:
        assert len(children) >= workers
    time.sleep(1.0)
    assert not [pid for pid in children if _alive(pid)], "worker processes outlived the import"
    done_before = _count(services, "license_lineage") - base_lineages
    assert 4 <= done_before < n, "killed midway"
    assert _count(services, "license_licence") - base_licences == done_before  # no half-stored licence
    assert _count(services, "license_import_job", "WHERE status = 'running'") == 1

    second = subprocess.run(cmd, env=_cli_env(services), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"{n} rows — {n - done_before} imported, {done_before} already imported, 0 with errors" in second.stdout
    assert "(resumed)" in second.stdout
    assert "[" in second.stderr and f"{n}/{n}" in second.stderr  # the progress bar
    assert _count(services, "license_lineage") == base_lineages + n
    assert _count(services, "license_licence") == base_licences + n
    with services.db.session() as s:
        numbers = (
            s.connection()
            .execute(sa.text("SELECT number FROM license_lineage WHERE import_job_id IS NOT NULL"))
            .scalars()
            .all()
        )
    assert sorted(numbers) == sorted(r[1] for r in rows(n))
    assert _count(services, "license_import_job", "WHERE status = 'completed' AND runs = 2") == 1
    report = (tmp_path / "bulk.errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(report) == 1  # header only: no row failed


def test_dead_worker_process_stops_the_import_and_a_rerun_resumes(services: Any, tmp_path: Path) -> None:
    """One of the ``--workers 2`` processes killed: the import stops with a clear error (rows
    done stay done, the job is journaled as stopped), and running it again completes it."""
    n = 16
    src = tmp_path / "bulk.csv"
    src.write_bytes(to_csv(rows(n, start=500)).encode("utf-8"))
    cmd = [sys.executable, "-m", "api.cli", "license", "import", str(src), "--type", QUALIFICATION, "--issuer", DEPT]
    cmd += ["--workers", "2", "--quiet"]
    base = _count(services, "license_lineage")
    proc = subprocess.Popen(cmd, env=_cli_env(services), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while _count(services, "license_lineage") < base + 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        workers = [
            pid for pid in _children(proc.pid) if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and "an import worker process died" in err, err
    done = _count(services, "license_lineage") - base
    assert done < n
    assert [a for a, _, _ in journal_actions(services, "license.import.")][-1] == "license.import.stop"
    second = subprocess.run(cmd[:-3], env=_cli_env(services), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"{n} rows — {n - done} imported, {done} already imported, 0 with errors" in second.stdout
    assert _count(services, "license_lineage") == base + n


def test_parallel_import_workers_store_each_row_once(licensing: LicenseService, services: Any, tmp_path: Path) -> None:
    """Three concurrent workers: every good row imported once with distinct serials, bad rows in
    the report in row order, the same file again (two workers) skips everything."""
    from license.identifier import parse_identifier

    n = 12
    table = rows(n, start=100)
    for i in (2, 7, 10):
        table[i][7] = ""  # occupation missing
    table[5][1] = table[4][1]  # a number twice in the file
    src = tmp_path / "parallel.csv"
    src.write_bytes(to_csv(table).encode("gbk"))
    seen: list[int] = []
    in_flight = [0, 0]  # now, most at once
    original = licensing.import_one

    async def counted(*a: Any, **kw: Any) -> Any:
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        try:
            return await original(*a, **kw)
        finally:
            in_flight[0] -= 1

    licensing.import_one = counted  # type: ignore[method-assign]
    try:
        first = _import(licensing, src, workers=3, progress=lambda p: seen.append(p.done))
    finally:
        del licensing.import_one
    assert in_flight[1] >= 2, "rows were not digitised concurrently"
    assert (first.imported, first.failed, first.skipped, first.total) == (n - 4, 4, 0, n)
    assert seen == list(range(1, n + 1))
    report = list(csv.reader(io.StringIO(first.report_path.read_text(encoding="utf-8-sig"))))
    assert [(r[0], r[4]) for r in report[1:]] == [
        ("4", "missing"),
        ("7", "duplicate"),
        ("9", "missing"),
        ("12", "missing"),
    ]
    with services.db.session() as s:
        page = licensing.search(s, ISSUER, SearchFilters(digitised=True, limit=200))
    numbers = [v.number for v in page.items]
    assert len(numbers) == len(set(numbers)) == n - 4
    serials = {parse_identifier(v.identifier).serial for v in page.items}
    assert len(serials) == n - 4
    again = _import(licensing, src, workers=2)
    assert (again.imported, again.skipped, again.failed, again.resumed) == (0, n - 4, 4, True)
    assert _count(services, "license_lineage", f"WHERE import_job_id = '{first.job_id}'") == n - 4
    with pytest.raises(InvalidLicenseData) as info:
        _import(licensing, src, workers=0)
    assert [e.field for e in info.value.errors] == ["workers"]


def test_cli_types_and_issue(services: Any, tmp_path: Path) -> None:
    """The CLI equivalent of issuance (an operator at the console), for an entity licence."""
    import json

    env = _cli_env(services)
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "license", "types", "list"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and FOOD in out.stdout and "食品经营许可证" in out.stdout
    data = tmp_path / "food.json"
    data.write_text(json.dumps(food_data("JY21201160007777"), ensure_ascii=False), encoding="utf-8")
    pdf = tmp_path / "food.pdf"
    cmd = [sys.executable, "-m", "api.cli", "license", "issue", "--type", FOOD, "--issuer", DEPT, "--data", str(data)]
    out = subprocess.run([*cmd, "--out", str(pdf)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert pdf.read_bytes().startswith(b"%PDF") and ".2" in out.stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "has been issued already" in again.stderr

    from license.types import builtin_types

    t = builtin_types()[FOOD].to_dict()
    t.update(type_code="111200000000010116003", name="小餐饮经营许可证")
    (tmp_path / "type.json").write_text(json.dumps(t, ensure_ascii=False), encoding="utf-8")
    add = [sys.executable, "-m", "api.cli", "license", "types", "add", str(tmp_path / "type.json")]
    out = subprocess.run(add, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "111200000000010116003 v1 小餐饮经营许可证" in out.stdout, out.stderr
    t["layout"]["qr"] = [0, 0, 10, 10]
    (tmp_path / "type.json").write_text(json.dumps(t, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([*add, "--update"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "layout" in out.stderr


def test_cli_status_changes_and_list(licensing: LicenseService, services: Any) -> None:
    """``ywt license suspend / resume / revoke / list``: the console operator's status changes,
    journaled and visible at once to the live status a verifier reads."""
    from licence_helpers import food_data

    from license.qr import LicenseStatus, lookup_status

    view = issue(licensing, FOOD, food_data("JY21201160088001"))
    env = _cli_env(services)

    def ywt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "license", *args], env=env, capture_output=True, text=True, timeout=120
        )

    def live() -> LicenseStatus:
        with services.db.session() as s:
            return lookup_status(s, view.identifier).status

    out = ywt("suspend", view.id, "--reason", "责令整改")
    assert out.returncode == 0 and out.stdout.strip() == f"{view.identifier}: suspended", out.stderr
    assert live() is LicenseStatus.SUSPENDED
    assert ywt("resume", view.id).stdout.strip() == f"{view.identifier}: valid"
    assert live() is LicenseStatus.VALID
    refused = ywt("revoke", view.id, "--reason", "   ")  # a blank reason: refused, nothing changes
    assert refused.returncode != 0 and "reason" in refused.stderr
    assert live() is LicenseStatus.VALID
    assert ywt("revoke", view.id, "--reason", "吊销").stdout.strip() == f"{view.identifier}: revoked"
    assert live() is LicenseStatus.REVOKED
    listed = ywt("list", "--type", FOOD, "--issuer", DEPT)
    assert listed.returncode == 0 and f"{view.id}  revoked" in listed.stdout
    assert [a for a, t, _ in journal_actions(services) if t == view.identifier][-4:] == [
        "license.issue",
        "license.suspend",
        "license.resume",
        "license.revoke",
    ]


def test_digitised_licence_of_an_unregistered_holder_can_be_corrected(
    licensing: LicenseService, services: Any, tmp_path: Path
) -> None:
    from licence_helpers import correct

    src = tmp_path / "one.csv"
    src.write_text(to_csv(rows(1)), encoding="utf-8")
    _import(licensing, src)
    with services.db.session() as s:
        v1 = licensing.search(s, ISSUER, SearchFilters(digitised=True)).items[0]
    table = rows(1)[0]
    data = {
        "name": table[2],
        "id_number": table[3],
        "occupation": "焊工（电焊）",
        "level": table[8],
        "certificate_no": table[1],
    }
    v2 = correct(licensing, v1.id, data)
    assert (v2.version, v2.digitised, v2.issue_date) == (2, True, v1.issue_date)
    assert v2.data["occupation"] == "焊工（电焊）"
