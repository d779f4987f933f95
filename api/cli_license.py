"""``ywt license ...``: licence types, issuance, status changes and bulk import from the console.

The console user acts as a licence operator (actor ``cli``): any issuer, named with ``--issuer``.
Translation only: each command calls one service function and prints the result.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import anyio

from api.container import Services, attach_checkpoint_signer, build_services
from core.settings import Settings
from license import registry
from license.importer import MAX_IMPORT_WORKERS, ImportProgress, run_import
from license.service import Caller, LicenseService, SearchFilters

CLI_ACTOR = "cli"


def _open(settings: Settings) -> tuple[Services, LicenseService]:
    """The service container with the journal's checkpoint signer and the licence types seeded."""
    services = build_services(settings)
    assert services.licenses is not None
    with services.db.session() as session:
        ready = services.ca.is_initialised(session)
    if ready:
        attach_checkpoint_signer(services)
        with services.db.session() as session:
            services.licenses.ensure_setup(session, actor=CLI_ACTOR)
    return services, services.licenses


def worker_service(settings: Settings) -> LicenseService:
    """The licence service of an import worker process (``ywt license import --workers N``)."""
    return _open(settings)[1]


class ProgressBar:
    """A one-line progress bar on stderr (redrawn at most 10 times a second; plain lines if not a TTY)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last = 0.0
        self._started = time.monotonic()

    def __call__(self, p: ImportProgress) -> None:
        now = time.monotonic()
        final = p.done >= p.total
        if not final and now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        frac = p.done / p.total if p.total else 1.0
        filled = int(frac * self.width)
        rate = p.done / max(now - self._started, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {p.done}/{p.total} "
            f"imported {p.imported} skipped {p.skipped} failed {p.failed}  {rate:.1f} rows/s"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    services, licenses = _open(settings)
    try:
        outcome = anyio.run(
            lambda: run_import(
                licenses,
                Path(args.file),
                type_code=args.type,
                issuer_code=args.issuer,
                actor=CLI_ACTOR,
                report_path=Path(args.report) if args.report else None,
                verify_holders=args.verify_holders,
                progress=None if args.quiet else ProgressBar(),
                workers=args.workers,
                process_factory=functools.partial(worker_service, settings),
            )
        )
    finally:
        services.close()
    if outcome.unknown_columns:
        print(f"note: ignored unknown columns: {', '.join(outcome.unknown_columns)}", file=sys.stderr)
    print(outcome.summary())
    return 0 if outcome.failed == 0 else 3


def cmd_types_list(args: argparse.Namespace, settings: Settings) -> int:
    services, _ = _open(settings)
    with services.db.session() as session:
        for info in registry.list_types(session):
            flag = "" if info.active else "  (inactive)"
            print(f"{info.type_code}  v{info.version}  {info.license_type.name}  {info.license_type.name_en}{flag}")
    services.close()
    return 0


def cmd_types_show(args: argparse.Namespace, settings: Settings) -> int:
    services, _ = _open(settings)
    with services.db.session() as session:
        print(registry.get_type(session, args.type_code, args.version).license_type.to_json(), end="")
    services.close()
    return 0


def cmd_types_add(args: argparse.Namespace, settings: Settings) -> int:
    services, _ = _open(settings)
    text = Path(args.file).read_bytes()
    try:
        with services.db.session() as session:
            if args.update:
                code = json.loads(text).get("type_code", "")
                info = registry.update_type(session, services.journal, str(code), text, actor=CLI_ACTOR)
            else:
                info = registry.add_type(session, services.journal, text, actor=CLI_ACTOR)
    finally:
        services.close()
    print(f"{info.type_code} v{info.version} {info.license_type.name}")
    return 0


def cmd_issue(args: argparse.Namespace, settings: Settings) -> int:
    services, licenses = _open(settings)
    data: Any = json.loads(Path(args.data).read_text(encoding="utf-8"))
    caller = Caller(actor=CLI_ACTOR, operator=True)
    try:
        view = anyio.run(lambda: licenses.issue(caller, args.type, data, issuer_code=args.issuer))
        if args.out:
            with services.db.session() as session:
                Path(args.out).write_bytes(licenses.pdf(session, caller, view.id).pdf)
    finally:
        services.close()
    print(json.dumps(view.as_dict(), ensure_ascii=False, indent=2) if args.json else f"{view.id} {view.identifier}")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    services, licenses = _open(settings)
    try:
        with services.db.session() as session:
            view = licenses.change_status(
                session, Caller(actor=CLI_ACTOR, operator=True), args.licence_id, args.action, args.reason
            )
    finally:
        services.close()
    print(f"{view.identifier}: {view.status.value}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    services, licenses = _open(settings)
    with services.db.session() as session:
        page = licenses.search(
            session,
            Caller(actor=CLI_ACTOR, operator=True),
            SearchFilters(type_code=args.type, issuer_code=args.issuer, limit=args.limit),
        )
        for v in page.items:
            print(f"{v.id}  {v.status.value:10} {v.issue_date}  {v.type_name}  {v.number}  {v.identifier}")
        print(f"{page.total} licences", file=sys.stderr)
    services.close()
    return 0


def add_commands(sub: Any) -> None:
    lic = sub.add_parser("license", help="e-licences: types, issuance, status, bulk import")
    cmds = lic.add_subparsers(dest="license_command", required=True)

    s = cmds.add_parser("import", help="import historical licences from a CSV file (UTF-8 or GBK); resumable")
    s.add_argument("file")
    s.add_argument("--type", required=True, help="licence type code (see `ywt license types list`)")
    s.add_argument("--issuer", required=True, help="USCC of the issuing department")
    s.add_argument("--report", help="per-row error report (CSV); default FILE.errors.csv")
    s.add_argument("--verify-holders", action="store_true", help="check holders against identity/ like new licences")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        choices=range(1, MAX_IMPORT_WORKERS + 1),
        metavar="N",
        help=f"rows digitised concurrently, 1..{MAX_IMPORT_WORKERS} (default 1)",
    )
    s.set_defaults(func=cmd_import)

    s = cmds.add_parser("issue", help="issue one licence from a JSON data file")
    s.add_argument("--type", required=True)
    s.add_argument("--issuer", required=True)
    s.add_argument("--data", required=True, help="JSON object: field key -> value")
    s.add_argument("--out", help="write the sealed PDF here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_issue)

    for action in ("revoke", "suspend", "resume"):
        s = cmds.add_parser(action, help=f"{action} a licence")
        s.add_argument("licence_id")
        s.add_argument("--reason", required=action != "resume")
        s.set_defaults(func=cmd_status, action=action)

    s = cmds.add_parser("list", help="list licences")
    s.add_argument("--type")
    s.add_argument("--issuer")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=cmd_list)

    types = cmds.add_parser("types", help="licence types").add_subparsers(dest="types_command", required=True)
    s = types.add_parser("list")
    s.set_defaults(func=cmd_types_list)
    s = types.add_parser("show")
    s.add_argument("type_code")
    s.add_argument("--version", type=int)
    s.set_defaults(func=cmd_types_show)
    s = types.add_parser("add", help="add a type from a JSON definition (--update: a new version of an existing one)")
    s.add_argument("file")
    s.add_argument("--update", action="store_true")
    s.set_defaults(func=cmd_types_add)
