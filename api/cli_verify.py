"""``ywt verify`` and ``ywt pki trust-bundle``: offline verification from the command line.

Offline means no server: the CLI verifies in-process. With an installation at hand (``$YWT_HOME``
or ``YWT_DATABASE_URL``), it uses that installation's trust list, CA records (revocation) and
registries (seal and licence status); ``--trust`` adds anchors. Without one, ``--trust`` is the
whole trust list and only revocation data embedded in the document counts (a third party with
the exported bundle). ``--at`` validates as of a past time, like DSS's validation time.

Exit codes: 0 TOTAL-PASSED, 1 TOTAL-FAILED, 2 INDETERMINATE, 3 the input cannot be verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import YwtError
from core.settings import Settings
from verify.report import DocumentReport, Indication

EXIT = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 2}


def _at(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _installation(settings: Settings) -> bool:
    return settings.database_url is not None or (settings.resolved_home / "ywt.db").is_file()


def _print(report: DocumentReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    sub = f" / {report.sub_indication.value}" if report.sub_indication else ""
    print(f"{report.indication.value}{sub}")
    print(report.summary_zh())
    print(report.summary_en())
    for i, sig in enumerate(report.signatures, 1):
        ssub = f" / {sig.sub_indication.value}" if sig.sub_indication else ""
        print(f"  signature {i} [{sig.field_name}]: {sig.indication.value}{ssub}")
        print(f"    {sig.summary_zh()}")
        for c in sig.checks:
            print(f"    [{c.status.value:13}] {c.name}: {c.message}")
    for c in report.checks:
        print(f"  [{c.status.value:13}] {c.name}: {c.message}")
    lic = report.details.get("licence")
    if lic:
        print(f"  licence {lic.get('identifier')} holder {lic.get('holder')} status {lic.get('status', 'not checked')}")


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from verify.errors import BadTrustAnchor
    from verify.trust import load_certificates

    try:
        try:
            at = _at(args.at)
        except ValueError:
            raise BadTrustAnchor("--at must be an ISO 8601 date-time") from None
        extra = load_certificates(Path(args.trust).read_bytes()) if args.trust else []
        if _installation(settings):
            report = _with_installation(args, settings, extra, at)
        else:
            if not extra:
                raise BadTrustAnchor("no installation here: give the trust list with --trust PEM-BUNDLE")
            report = _standalone(args, extra, at)
    except OSError as exc:
        print(f"ywt verify: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 3
    except YwtError as exc:
        if args.json:
            print(json.dumps({"error": exc.code, "detail": exc.detail}, ensure_ascii=False))
        else:
            print(f"ywt verify: {exc.title}: {exc.detail}", file=sys.stderr)
        return 3
    _print(report, args.json)
    return EXIT[report.indication]


def _with_installation(args: argparse.Namespace, settings: Settings, extra: list[Any], at: datetime | None) -> Any:
    from dataclasses import replace

    from api.container import build_services

    services = build_services(settings)
    try:
        assert services.verifier is not None
        svc = replace(services.verifier, extra_anchors=tuple(extra))
        if args.qr is not None:
            return svc.verify_qr(args.qr, at=at, actor="cli")
        if args.qr_image is not None:
            return svc.verify_qr_image(Path(args.qr_image).read_bytes(), at=at, actor="cli")
        return svc.verify_pdf(Path(args.file).read_bytes(), at=at, actor="cli")
    finally:
        services.close()


def _standalone(args: argparse.Namespace, extra: list[Any], at: datetime | None) -> Any:
    from verify.qrimage import decode
    from verify.service import verify_pdf_standalone, verify_qr_standalone
    from verify.trust import TrustList

    trust = TrustList(()).with_anchors(extra, "cli")
    if args.qr is not None:
        return verify_qr_standalone(args.qr, trust, at=at)
    if args.qr_image is not None:
        texts = decode(Path(args.qr_image).read_bytes())
        return verify_qr_standalone(([t for t in texts if "/v/" in t] or texts)[0], trust, at=at)
    return verify_pdf_standalone(Path(args.file).read_bytes(), trust, at=at)


def cmd_trust_bundle(args: argparse.Namespace, settings: Settings) -> int:
    from api.container import build_services

    services = build_services(settings)
    try:
        assert services.verifier is not None
        with services.db.session() as session:
            bundle = services.verifier.trust_list(session).pem_bundle()
    finally:
        services.close()
    if args.out:
        Path(args.out).write_text(bundle)
        print(f"wrote {bundle.count('BEGIN CERTIFICATE')} certificates to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(bundle)
    return 0


def cmd_trust_add(args: argparse.Namespace, settings: Settings) -> int:
    """Operators: trust another CA (national platform CA, accredited CA) or an external IdP."""
    from api.container import build_services

    services = build_services(settings)
    try:
        assert services.verifier is not None
        trust = services.verifier.trust
        with services.db.session() as session:
            if args.ca:
                added = trust.add_ca(
                    session, Path(args.ca).read_bytes(), name=args.name or "", source=args.source, actor="cli"
                )
                for a in added:
                    print(f"trusted CA {a.sha256}  {a.subject}")
                if not added:
                    print("already trusted")
            else:
                import json as _json

                jwks = _json.loads(Path(args.jwks).read_text()) if args.jwks else None
                idp = trust.add_idp(
                    session,
                    issuer=args.idp,
                    name=args.name or args.idp,
                    source=args.source,
                    actor="cli",
                    jwks=jwks,
                    jwks_uri=args.jwks_uri,
                )
                print(f"trusted IdP {idp.issuer} ({idp.name})")
    except YwtError as exc:
        print(f"ywt: {exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        services.close()
    return 0


def add_commands(sub: Any, pki: Any) -> None:
    s = sub.add_parser(
        "verify",
        help="verify a signed PDF or a licence QR code offline (exit 0 passed, 1 failed, 2 indeterminate, 3 bad input)",
    )
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("file", nargs="?", help="the signed PDF")
    what.add_argument("--qr", help="the scanned QR text (the /v/... URL or the bare payload)")
    what.add_argument("--qr-image", help="a PNG/JPEG photo of a licence QR code")
    s.add_argument("--trust", help="PEM bundle of extra trust anchors (e.g. from `ywt pki trust-bundle`)")
    s.add_argument("--at", help="validate as of this time (ISO 8601), e.g. the signing time")
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.set_defaults(func=cmd_verify)
    t = pki.add_parser("trust-bundle", help="export the trust list's anchors (and licence QR signers) as PEM")
    t.add_argument("--out")
    t.set_defaults(func=cmd_trust_bundle)
    a = pki.add_parser("trust-add", help="trust an external CA (PEM bundle) or identity provider for verification")
    what_add = a.add_mutually_exclusive_group(required=True)
    what_add.add_argument("--ca", help="PEM bundle (or DER) of CA certificates, e.g. the national platform CA")
    what_add.add_argument("--idp", help="issuer URL of an OpenID provider, e.g. the national IdP")
    a.add_argument("--jwks", help="with --idp: the provider's JWKS (JSON file)")
    a.add_argument("--jwks-uri", help="with --idp: where to fetch the JWKS")
    a.add_argument("--name", help="display name")
    a.add_argument("--source", default="accredited", help="national | accredited | ...")
    a.set_defaults(func=cmd_trust_add)
