"""E-licence throughput: licences issued per second end to end (validate + render + QR + seal +
store), bulk-import rows per second for a 10,000-row CSV, and where the time goes.

Run: .venv/bin/python bench/license.py [--issue N] [--rows 10000] [--import-rows N]

Baselines measured in the same run, on the same installation and documents:
- "render + seal only": reportlab rendering and seal/'s ``sign_pdf`` of the same licence, with no
  validation, QR signing, storage or journal — the floor issuance cannot go below;
- the CSV stage alone (decode, header check, per-row validation) for the import file, i.e. what
  an import would cost if digitising a row were free.

``--import-rows`` imports only N rows of the 10,000-row file (the whole file takes minutes per
thousand rows, all of it signing and rendering); the rate is per imported row. Then N other rows
of the file are imported with two worker threads, and N more with two worker processes as
``ywt license import --workers 2`` does (baseline: the one-worker rate of this run);
``--import-rows 3334`` digitises the whole file.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from bench.common import installation, table
from identity.numbers import id_number_check_char
from identity.sources.demo import DEMO_COMPANY, DEMO_DEPARTMENT
from license import service as service_mod
from license.importcsv import open_csv_import
from license.importer import run_import
from license.registry import get_type
from license.sealing import SealBox
from license.service import Caller, LicenseService

FOOD = "111200000000010116002"
QUALIFICATION = "11120000000002022H001"
ISSUER = Caller(actor="bench", issuer_code=DEMO_DEPARTMENT.uscc)


class Timers:
    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.total[name] += time.perf_counter() - t
                self.count[name] += 1

        return timed

    def reset(self) -> None:
        self.total.clear()
        self.count.clear()


def instrument(svc: LicenseService, timers: Timers) -> None:
    """Time the phases: validation, rendering (reportlab), sealing (seal/), storing."""
    assert svc.sealer is not None
    svc._prepare = timers.wrap("prepare", svc._prepare)  # type: ignore[method-assign]
    svc._render = timers.wrap("render_phase", svc._render)  # type: ignore[method-assign]
    svc._store = timers.wrap("store_phase", svc._store)  # type: ignore[method-assign]
    service_mod.render_license = timers.wrap("render_pdf", service_mod.render_license)  # type: ignore[assignment]
    svc.sealer.seal = timers.wrap("seal", svc.sealer.seal)  # type: ignore[method-assign]


def food(i: int) -> dict[str, str]:
    return {
        "operator_name": DEMO_COMPANY.name,
        "uscc": DEMO_COMPANY.uscc,
        "legal_representative": DEMO_COMPANY.legal_rep,
        "premises": "天津市滨海新区示例路8号一层",
        "main_format": "餐饮服务经营者",
        "business_items": "热食类食品制售；冷食类食品制售",
        "licence_no": f"JY2120116{i:07d}",
        "valid_until": "2031-05-31",
    }


def split(timers: Timers, n: int) -> list[tuple[str, float]]:
    t = timers.total
    render = t["render_pdf"]
    seal = t["seal"]
    store = t["store_phase"] - seal
    other = t["render_phase"] - render  # seal lookup, serial, metadata, QR signature
    prepare = t["prepare"]
    return [
        ("validate (type, data, holder, number)", prepare / n),
        ("render PDF (reportlab, CJK subset, QR)", render / n),
        ("QR sign + serial + metadata", other / n),
        ("seal (seal/: PAdES B-T certification)", seal / n),
        ("store (lineage, blob, row, journal, commit)", store / n),
    ]


def _floor_setup(svc: LicenseService, services: Any) -> Callable[[], None]:
    """Render + seal only, same licence type, data and seal: the floor issuance cannot go below."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from license.metadata import LicenseMetadata
    from license.render import render_license
    from license.types import validate_data

    assert svc.sealer is not None
    sealer = svc.sealer
    with services.db.session() as s:
        t = get_type(s, FOOD).license_type
        seal = sealer.find_seal(s, owner_uscc=DEMO_DEPARTMENT.uscc, seal_ref=t.seal_ref)
        row = svc.search(s, ISSUER, service_mod.SearchFilters(limit=1)).items[0]
    values = validate_data(t, food(0))
    names = PdfFileReader(io.BytesIO(svc.blobs.get(row.pdf_sha256))).root["/Names"]["/EmbeddedFiles"]["/Names"]
    meta = LicenseMetadata.from_json(bytes(names[1]["/EF"]["/F"].data))
    box = t.layout.seal

    def once() -> None:
        pdf = render_license(t, values, meta, row.identifier, row.qr_url)
        with services.db.session() as s:
            sealer.seal(
                s,
                seal=seal,
                pdf=pdf,
                box=SealBox(0, box.x, box.y, box.width, box.height),
                reason="bench",
                location="bench",
                actor="bench",
            )

    return once


def bench_issue(
    svc: LicenseService, services: Any, n: int, timers: Timers
) -> tuple[float, float, list[tuple[str, float]]]:
    """Issuance and its floor measured in interleaved rounds (the machine is shared: drift hits both)."""
    anyio.run(lambda: svc.issue(ISSUER, FOOD, food(0)))  # warm up (fonts, keys, caches)
    floor_once = _floor_setup(svc, services)
    floor_once()
    timers.reset()
    issued = floor_done = 0
    t_issue = t_floor = 0.0
    rounds = max(1, n // 5)
    for r in range(rounds):
        start = time.perf_counter()
        for i in range(5):
            k = 1 + r * 5 + i
            anyio.run(lambda k=k: svc.issue(ISSUER, FOOD, food(k)))
            issued += 1
        t_issue += time.perf_counter() - start
        saved = dict(timers.total), dict(timers.count)
        start = time.perf_counter()
        for _ in range(5):
            floor_once()
            floor_done += 1
        t_floor += time.perf_counter() - start
        timers.total.clear()
        timers.total.update(saved[0])
        timers.count.clear()
        timers.count.update(saved[1])
    return issued / t_issue, floor_done / t_floor, split(timers, issued)


def person_id(i: int) -> str:
    body = f"1201011980{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + id_number_check_char(body)


def make_csv(path: Path, rows: int) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(
        [
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
    )
    for i in range(rows):
        w.writerow(
            [
                QUALIFICATION,
                f"TJ2018BM{i:07d}",
                f"张{chr(0x4E00 + i % 2000)}",
                person_id(i),
                "2018-09-01",
                "2018-09-01",
                "",
                "焊工",
                "四级/中级工",
            ]
        )
    path.write_bytes(buf.getvalue().encode("gbk"))


def _part(full: Path, dest: Path, start: int, n: int) -> Path:
    """Rows ``start .. start+n`` of the full file, with its header (fresh licence numbers per part)."""
    lines = full.read_bytes().split(b"\r\n")
    dest.write_bytes(b"\r\n".join([lines[0], *lines[1 + start : 1 + start + n]]) + b"\r\n")
    return dest


IMPORT_RUNS = ("1 worker", "2 worker threads", "2 worker processes")


def bench_import(
    svc: LicenseService, rows: int, import_rows: int, timers: Timers
) -> tuple[dict[str, float], dict[str, float], float, list[tuple[str, float]]]:
    """Import rows/s with one worker (timed phases), with two worker threads and with two worker
    processes as ``ywt license import --workers 2`` runs them (start-up of the processes
    included), each on other rows of the same file so nothing is skipped; and the CSV stage alone
    over the whole file."""
    from api.cli_license import worker_service

    tmp = Path(tempfile.mkdtemp(prefix="ywt-bench-import-"))
    full = tmp / "licences-10k.csv"
    make_csv(full, rows)
    with svc.db.session() as s:
        t = get_type(s, QUALIFICATION).license_type
    start = time.perf_counter()
    imp = open_csv_import(full, t)
    ok = sum(1 for r in imp.rows() if r.ok)
    csv_rate = rows / (time.perf_counter() - start)
    assert ok == rows, ok
    rates: dict[str, float] = {}
    steady: dict[str, float] = {}
    split_one: list[tuple[str, float]] = []
    factory = functools.partial(worker_service, svc.settings)
    for k, name in enumerate(IMPORT_RUNS):
        part = _part(full, tmp / f"licences-part{k}.csv", k * import_rows, import_rows)
        workers = 1 if k == 0 else 2
        timers.reset()
        stamps: list[float] = []
        start = time.perf_counter()
        out = anyio.run(
            lambda part=part, workers=workers, k=k, stamps=stamps: run_import(
                svc,
                part,
                type_code=QUALIFICATION,
                issuer_code=DEMO_DEPARTMENT.uscc,
                actor="bench",
                workers=workers,
                process_factory=factory if k == 2 else None,
                progress=lambda _p, stamps=stamps: stamps.append(time.perf_counter()),
            )
        )
        elapsed = time.perf_counter() - start
        assert out.imported == import_rows, out.summary()
        rates[name] = import_rows / elapsed
        # after start-up (worker processes spawned, services built): first to last finished row
        steady[name] = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        if k == 0:  # phase timers add up wall time per call: meaningful with one worker only
            split_one = split(timers, import_rows)
    return rates, steady, csv_rate, split_one


def _pg_installation(url: str) -> Any:
    """Like bench.common.installation, on the given (empty) database: PostgreSQL row locks let
    concurrent import workers seal at the same time, where SQLite serialises whole transactions."""
    from api.container import build_services, initialise
    from core.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="ywt-bench-"))
    settings = Settings(home=home, env="test", demo=True, base_url="http://127.0.0.1:8000", database_url=url)  # type: ignore[arg-type]
    services = build_services(settings)
    initialise(services, demo=True)
    return services


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--issue", type=int, default=30, help="licences issued in the timed loop")
    ap.add_argument("--rows", type=int, default=10_000, help="rows in the generated import file")
    ap.add_argument("--import-rows", type=int, default=300, help="rows actually digitised (prefix of the file)")
    ap.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite in a temporary home)")
    args = ap.parse_args()

    services = installation(demo=True) if not args.database_url else _pg_installation(args.database_url)
    svc = services.licenses
    assert svc is not None
    timers = Timers()
    instrument(svc, timers)

    issue_rate, floor, issue_split = bench_issue(svc, services, args.issue, timers)
    import_rates, steady, csv_rate, import_split = bench_import(svc, args.rows, args.import_rows, timers)
    import_rate = import_rates[IMPORT_RUNS[0]]

    table(
        f"e-licences (per second, in-process, {'PostgreSQL' if args.database_url else 'SQLite'})",
        [
            ("licences issued/s end to end", issue_rate, floor, "render + seal only"),
            (
                f"import rows/s ({args.import_rows} of a {args.rows}-row GBK CSV)",
                import_rate,
                csv_rate,
                "CSV decode + validation only",
            ),
            *[
                (f"import rows/s, {name} ({args.import_rows} other rows)", import_rates[name], import_rate, "1 worker")
                for name in IMPORT_RUNS[1:]
            ],
            *[
                (f"  after start-up: {name}", steady[name], steady[IMPORT_RUNS[0]], "1 worker, after start-up")
                for name in IMPORT_RUNS[1:]
            ],
        ],
    )
    for title, parts in (("issuance", issue_split), ("import", import_split)):
        total = sum(v for _, v in parts)
        print(f"\n== where the time goes: {title} (ms per licence) ==")
        for name, v in sorted(parts, key=lambda p: -p[1]):
            print(f"{name:46} {v * 1000:8.1f} ms {v / total * 100:5.1f} %")
        top = max(parts, key=lambda p: p[1])
        print(f"dominant: {top[0]} ({top[1] / total * 100:.0f} % of {total * 1000:.0f} ms)")
    services.close()


if __name__ == "__main__":
    main()
