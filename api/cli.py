"""The ``ywt`` command line: serve, init, pki, keys, audit. Translation only: it parses
arguments, calls one service function, prints the result."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from api.container import Services, build_services, checkpoint_verifier, initialise
from core.audit import verify_journal
from core.errors import YwtError
from core.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _services(settings: Settings) -> Services:
    return build_services(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    services = build_services(settings)
    report = initialise(services, demo=settings.demo)
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"yiwangtong (一网通) trust services — home {settings.resolved_home}, database {services.db.dialect}")
    for line in report:
        print(line)
    print(f"listening on http://{host}:{port}  (base URL {settings.base_url}; API docs at /docs)")
    sys.stdout.flush()
    app = create_app(settings, services)
    from api.security import configure_logging

    configure_logging(settings)  # JSON lines; uvicorn's own access log would print query strings
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), workers=1, access_log=False)
    services.close()
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        report = initialise(services, demo=args.demo)
        for line in report or ["already initialised; nothing to do"]:
            print(line)
    finally:
        services.close()
    return 0


def cmd_pki_list(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    with services.db.session() as session:
        cas = services.ca.list_cas(session)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": c.id,
                            "family": c.family.value,
                            "role": c.role.value,
                            "subject": c.subject,
                            "not_after": c.not_after.isoformat(),
                        }
                        for c in cas
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            for c in cas:
                print(f"{c.id:16} {c.role.value:9} {c.not_after:%Y-%m-%d}  {c.subject}")
        if args.certs:
            for cert in services.ca.list_certificates(session, args.ca):
                print(f"  {cert.serial:42} {cert.status:8} {cert.profile:15} {cert.subject}")
    services.close()
    return 0


def cmd_pki_issue(args: argparse.Namespace, settings: Settings) -> int:
    from ca.names import parse_dn
    from keys import KeyAlgorithm

    services = _services(settings)
    try:
        with services.db.session() as session:
            if args.csr:
                issued = services.ca.issue_from_csr(
                    session, args.ca, args.profile, Path(args.csr).read_bytes(), actor="cli"
                )
            elif args.key_id:
                issued = services.ca.issue_for_key(
                    session, args.ca, args.profile, args.key_id, parse_dn(args.subject or ""), actor="cli"
                )
            else:
                issued = services.ca.issue_for_new_key(
                    session,
                    args.ca,
                    args.profile,
                    KeyAlgorithm(args.new_key),
                    parse_dn(args.subject or ""),
                    actor="cli",
                )
    finally:
        services.close()
    if args.out:
        Path(args.out).write_text(issued.cert_pem)
    else:
        sys.stdout.write(issued.cert_pem)
    print(f"issued serial {issued.serial} ({issued.profile}) for {issued.subject}", file=sys.stderr)
    return 0


def cmd_pki_revoke(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        with services.db.session() as session:
            if args.resume:
                cert = services.ca.resume(session, args.serial, actor="cli")
                print(f"resumed {cert.serial}")
            else:
                cert = services.ca.revoke(session, args.serial, args.reason, actor="cli")
                print(f"revoked {cert.serial} ({cert.revocation_reason}) at {cert.revoked_at}; new CRL issued")
    finally:
        services.close()
    return 0


def cmd_pki_create_ca(args: argparse.Namespace, settings: Settings) -> int:
    from ca.profiles import CaRole

    services = _services(settings)
    try:
        with services.db.session() as session:
            ca = services.ca.create_issuing_ca(
                session,
                args.id,
                args.parent,
                CaRole(args.role),
                backend=args.backend,
                common_name=args.common_name,
                actor="cli",
            )
            key = services.keys.get(session, ca.key_id)
    finally:
        services.close()
    print(f"created {ca.id} ({ca.role.value}, {ca.family.value}) under {ca.parent_id}: {ca.subject}")
    print(f"key {key.key_id} on backend {key.backend}")
    return 0


def cmd_pki_crl(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        with services.db.session() as session:
            der = (
                services.ca.issue_crl(session, args.ca, actor="cli")
                if args.new
                else services.ca.current_crl(session, args.ca)
            )
    finally:
        services.close()
    if args.out:
        Path(args.out).write_bytes(der)
        print(f"wrote {len(der)} bytes to {args.out}")
    else:
        sys.stdout.buffer.write(der)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    with services.db.session() as session:
        for k in services.keys.list(session):
            print(f"{k.key_id}  {k.algorithm.value:9} {k.backend:6} {k.created_at:%Y-%m-%d}  {k.label}")
    services.close()
    return 0


def cmd_keys_generate(args: argparse.Namespace, settings: Settings) -> int:
    from keys import KeyAlgorithm

    services = _services(settings)
    with services.db.session() as session:
        info = services.keys.generate(
            session, KeyAlgorithm(args.algorithm), args.label, backend=args.backend, actor="cli"
        )
    services.close()
    print(info.key_id)
    return 0


def cmd_keys_import(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    password = args.password.encode() if args.password else None
    with services.db.session() as session:
        info = services.keys.import_private(
            session, Path(args.file).read_bytes(), args.label, password=password, actor="cli"
        )
    services.close()
    print(info.key_id)
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    with services.db.session() as session:
        report = verify_journal(session, checkpoint_verifier)
    services.close()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "checkpoints": report.checkpoints,
                    "first_bad_seq": report.first_bad_seq,
                    "problem": report.problem,
                }
            )
        )
    else:
        print(report.summary())
    return 0 if report.ok else 1


def cmd_audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from api.container import attach_checkpoint_signer

    services = _services(settings)
    attach_checkpoint_signer(services)
    with services.db.session() as session:
        cp = services.journal.checkpoint(session)
    services.close()
    print(f"checkpoint at entry {cp.seq}: {cp.entry_hash}" if cp else "nothing to checkpoint")
    return 0


def _passphrase(settings: Settings, *, confirm: bool) -> bytes:
    if settings.backup_passphrase is not None:
        return settings.backup_passphrase.get_secret_value().encode()
    if not sys.stdin.isatty():
        raise ValueError("set YWT_BACKUP_PASSPHRASE or run at a terminal to type the passphrase")
    import getpass

    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ValueError("the passphrases differ")
    return first.encode()


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from core.backup import create_backup

    passphrase = _passphrase(settings, confirm=True)
    services = _services(settings)
    try:
        with services.db.session() as session:
            services.journal.append(
                session,
                actor="cli",
                action="ops.backup",
                target=Path(args.out).name,
                data={"master_key_included": not args.without_master_key, "cipher": args.cipher},
            )
        report = create_backup(
            settings,
            services.master,
            Path(args.out),
            passphrase,
            include_master_key=not args.without_master_key,
            cipher=args.cipher,
            log_n=args.scrypt_log_n,
        )
    finally:
        services.close()
    facts = report.facts
    print(
        f"backup written to {report.path} ({report.dialect}, {report.blobs} blobs, "
        f"{facts.get('certificates')} certificates, {facts.get('journal_entries')} journal entries, "
        f"master key {'included' if report.master_key_included else 'NOT included: keep YWT_MASTER_KEY safe'})"
    )
    if facts.get("keys_pkcs11"):
        print(f"note: {facts['keys_pkcs11']} keys live in the PKCS#11 token and are not in the archive; "
              "back the token up with the HSM's own procedure")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from core.backup import restore_backup

    passphrase = _passphrase(settings, confirm=False)
    target = settings.model_copy(update={"home": Path(args.home), "database_url": args.database_url})
    key_text = settings.master_key.get_secret_value() if settings.master_key is not None else None
    report = restore_backup(Path(args.archive), passphrase, target, master_key_text=key_text)
    services = _services(target)
    try:
        with services.db.session() as session:
            audit = verify_journal(session, checkpoint_verifier)
            if audit.ok:
                services.journal.append(
                    session, actor="cli", action="ops.restore", target=Path(args.archive).name,
                    data={"created_at": report.manifest.get("created_at"), "blobs": report.blobs},
                )
    finally:
        services.close()
    print(f"restored into {report.home} ({report.dialect}, {report.blobs} blobs, master key "
          f"{'from the archive' if report.master_key_from_archive else 'from YWT_MASTER_KEY'})")
    print(f"audit journal: {audit.summary()}")
    return 0 if audit.ok else 1
def _seal_line(s: Any) -> str:
    return (
        f"{s.id:22} {s.status.value:9} {s.family.value:5} {s.key_algorithm or '-':8} {s.seal_type.value:9} "
        f"{s.es_id:14} {s.valid_to:%Y-%m-%d}  {s.name}"
    )


def cmd_seal(args: argparse.Namespace, settings: Settings) -> int:
    """``ywt seal ...``: one seal-service call per sub-command."""
    from datetime import datetime

    from keys import Family
    from seal.domain import SealApplication, SealType
    from seal.images import SealShape
    from seal.pdf import PadesLevel, Placement
    from seal.trust import verify_ses_blob

    services = _services(settings)
    actor = f"cli:{args.as_}"
    op = args.seal_command
    try:
        if op == "sign":
            placement = (
                Placement(anchor=args.anchor, page=args.page)
                if args.anchor
                else Placement(page=args.page or 1, x=args.x, y=args.y, width=args.width, height=args.height)
            )
            result = services.seal.seal_document(
                seal_id=args.seal,
                pdf=Path(args.file).read_bytes(),
                placement=placement,
                level=PadesLevel(args.level),
                reason=args.reason,
                location=args.location,
                certify=args.certify,
                actor=actor,
                idempotency_key=args.idempotency_key,
                cross_page=args.cross_page,
            )
            out = Path(args.out or Path(args.file).with_suffix(".sealed.pdf"))
            out.write_bytes(result.pdf)
            print(f"sealed {args.file} -> {out} ({result.level}, page {result.page}, sha256 {result.sha256})")
            return 0
        if op == "ses-verify":
            document = Path(args.document).read_bytes() if args.document else None
            report = verify_ses_blob(services, Path(args.file).read_bytes(), document)
            if args.json:
                print(json.dumps({"indication": report.indication.value, "sub_indication": report.sub_indication,
                                  "checks": [{"name": c.name.value, "status": c.status.value, "message": c.message}
                                             for c in report.checks]}, ensure_ascii=False, indent=2))  # fmt: skip
            else:
                print(report.text())
            return 0 if report.ok else 1
        with services.db.session() as session:
            svc = services.seal
            if op == "list":
                seals = svc.list_seals(session, owner_uscc=args.owner)
                if args.json:
                    print(json.dumps([{"id": s.id, "es_id": s.es_id, "name": s.name, "status": s.status.value,
                                       "family": s.family.value, "key_algorithm": s.key_algorithm,
                                       "signature_algorithm": s.signature_algorithm, "owner_uscc": s.owner_uscc,
                                       "valid_to": s.valid_to.isoformat()} for s in seals],
                                     ensure_ascii=False, indent=2))  # fmt: skip
                else:
                    for s in seals:
                        print(_seal_line(s))
            elif op == "apply":
                info = svc.apply(
                    session,
                    SealApplication(
                        owner_uscc=args.uscc,
                        owner_name=args.owner_name,
                        seal_type=SealType(args.type),
                        family=Family(args.family),
                        department=args.department,
                        name=args.name,
                        valid_days=args.days,
                        shape=SealShape(args.shape),
                        sensitive=args.sensitive,
                    ),
                    actor=actor,
                )
                print(_seal_line(info))
            elif op in ("approve", "activate", "resume"):
                print(_seal_line(getattr(svc, op)(session, args.seal_id, actor=actor)))
            elif op == "suspend":
                print(_seal_line(svc.suspend(session, args.seal_id, actor=actor, reason=args.reason)))
            elif op == "revoke":
                print(_seal_line(svc.revoke(session, args.seal_id, actor=actor, reason=args.reason)))
            elif op == "image":
                png = Path(args.png).read_bytes()
                info = svc.set_image(session, args.seal_id, png, actor=actor, width_mm=args.width_mm)
                print(_seal_line(info))
            elif op == "export":
                export = svc.ses_seal if args.what == "ses" else svc.image_png
                data = export(session, args.seal_id)
                Path(args.out).write_bytes(data)
                print(f"wrote {len(data)} bytes to {args.out}")
            elif op == "grant":
                until = datetime.fromisoformat(args.until) if args.until else None
                types = tuple(t for t in (args.types or "").split(",") if t)
                g = svc.grant(session, args.seal_id, args.client, actor=actor, document_types=types, not_after=until)
                print(f"{g.id} {g.status.value} {g.client_id} -> {g.seal_id}")
            elif op == "grants":
                for g in svc.list_grants(session, seal_id=args.seal_id):
                    kinds = ",".join(g.document_types) or "*"
                    ends = g.not_after.isoformat() if g.not_after else "-"
                    print(f"{g.id} {g.status.value:8} {g.client_id:20} {g.seal_id} types={kinds} until={ends}")
            elif op in ("approve-grant", "revoke-grant"):
                fn = svc.approve_grant if op == "approve-grant" else svc.revoke_grant
                g = fn(session, args.grant_id, actor=actor)
                print(f"{g.id} {g.status.value} {g.client_id} -> {g.seal_id}")
            elif op == "expire":
                done = svc.expire_due(session, actor=actor)
                print(f"{len(done)} seal(s) marked expired" + (": " + ", ".join(done) if done else ""))
        return 0
    finally:
        services.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ywt", description="yiwangtong (一网通) trust services")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service (initialises the PKI and demo data on first start)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("init", help="create the PKI (and with --demo the demo world) without serving")
    s.add_argument("--demo", action="store_true")
    s.set_defaults(func=cmd_init)

    pki = sub.add_parser("pki", help="certificate authorities").add_subparsers(dest="pki_command", required=True)
    s = pki.add_parser("list", help="list CAs (and with --certs the certificates they issued)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--certs", action="store_true")
    s.add_argument("--ca")
    s.set_defaults(func=cmd_pki_list)
    s = pki.add_parser("issue", help="issue an end-entity certificate")
    s.add_argument("--ca", required=True, help="issuing CA id, e.g. sm2-identity")
    s.add_argument("--profile", required=True, help="person, organisation, seal-signing, tsa, token-signing, ...")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--csr", help="PKCS#10 request file (PEM or DER)")
    src.add_argument("--key-id", help="a key already in the key store")
    src.add_argument("--new-key", help="generate a key in the store: rsa-2048, ec-p256, sm2, ...")
    s.add_argument("--subject", help='with --key-id/--new-key: "CN=…,O=…,C=CN"')
    s.add_argument("--out", help="write the PEM certificate here instead of stdout")
    s.set_defaults(func=cmd_pki_issue)
    s = pki.add_parser("revoke", help="revoke a certificate (CRL re-issued at once)")
    s.add_argument("serial", help="hex serial number")
    s.add_argument("--reason", default="unspecified", help="keyCompromise, superseded, certificateHold, ...")
    s.add_argument("--resume", action="store_true", help="lift a certificateHold instead")
    s.set_defaults(func=cmd_pki_revoke)
    s = pki.add_parser("create-ca", help="create a further issuing CA under a root (e.g. with its key in the HSM)")
    s.add_argument("--id", required=True, help="new CA id, e.g. rsa-seal-hsm")
    s.add_argument("--parent", required=True, help="a root CA id, e.g. rsa-root")
    s.add_argument("--role", required=True, choices=["identity", "seal", "service"])
    s.add_argument("--backend", default="soft", help="soft (default) or pkcs11 (needs YWT_PKCS11_*)")
    s.add_argument("--common-name")
    s.set_defaults(func=cmd_pki_create_ca)
    s = pki.add_parser("crl", help="write a CA's current CRL (DER)")
    s.add_argument("ca")
    s.add_argument("--out")
    s.add_argument("--new", action="store_true", help="issue a fresh CRL now")
    s.set_defaults(func=cmd_pki_crl)

    keys = sub.add_parser("keys", help="key store").add_subparsers(dest="keys_command", required=True)
    s = keys.add_parser("list")
    s.set_defaults(func=cmd_keys_list)
    s = keys.add_parser("generate")
    s.add_argument("algorithm", help="rsa-2048, rsa-3072, rsa-4096, ec-p256, sm2")
    s.add_argument("--label", required=True)
    s.add_argument("--backend", default="soft", help="soft (default) or pkcs11 (RSA/ECDSA only; needs YWT_PKCS11_*)")
    s.set_defaults(func=cmd_keys_generate)
    s = keys.add_parser("import")
    s.add_argument("file", help="PKCS#8 private key, PEM or DER")
    s.add_argument("--label", required=True)
    s.add_argument("--password")
    s.set_defaults(func=cmd_keys_import)

    _seal_parser(sub)

    audit = sub.add_parser("audit", help="audit journal").add_subparsers(dest="audit_command", required=True)
    s = audit.add_parser("verify", help="check the whole hash chain and the signed checkpoints")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audit_verify)
    s = audit.add_parser("checkpoint", help="sign the current head now")
    s.set_defaults(func=cmd_audit_checkpoint)

    s = sub.add_parser("backup", help="write an encrypted backup (database, blobs, master key) to OUT")
    s.add_argument("out")
    s.add_argument("--without-master-key", action="store_true",
                   help="leave the master key out (it is escrowed elsewhere; restore then needs YWT_MASTER_KEY)")
    s.add_argument("--cipher", default="aes-256-gcm", choices=["aes-256-gcm", "sm4-gcm"])
    s.add_argument("--scrypt-log-n", type=int, default=17, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_backup)
    s = sub.add_parser("restore", help="restore an archive onto a new home (and a new, empty database)")
    s.add_argument("archive")
    s.add_argument("--home", required=True, help="the new home directory (must not exist or be empty)")
    s.add_argument("--database-url", help="an empty PostgreSQL database for a PostgreSQL backup")
    s.set_defaults(func=cmd_restore)
    from api import cli_license

    cli_license.add_commands(sub)
    from api import cli_verify

    cli_verify.add_commands(sub, pki)
    from api import cli_identity

    cli_identity.add_commands(sub)
    return p


def _seal_parser(sub: Any) -> None:
    seal = sub.add_parser("seal", help="electronic seals: registry, grants, sealing PDFs, SES verification")
    ss = seal.add_subparsers(dest="seal_command", required=True)

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = ss.add_parser(name, help=help_text)
        p.add_argument("--as", dest="as_", default="operator", help="operator name for the audit journal")
        p.set_defaults(func=cmd_seal)
        return p

    p = cmd("list", "list seals")
    p.add_argument("--owner", help="owner USCC")
    p.add_argument("--json", action="store_true")
    p = cmd("apply", "apply for a seal (image generated)")
    p.add_argument("--uscc", required=True)
    p.add_argument("--owner-name", required=True)
    p.add_argument("--type", required=True, help="official, contract, finance, approval, licence")
    p.add_argument("--family", default="sm2", help="rsa, ecdsa or sm2")
    p.add_argument("--department")
    p.add_argument("--name")
    p.add_argument("--days", type=int, default=3 * 365)
    p.add_argument("--shape", default="round", help="round, oval or rectangle")
    p.add_argument("--sensitive", action="store_true", help="second operator needed for approval and grants")
    for name, text in (
        ("approve", "approve: key, certificate, SES_Seal"),
        ("activate", "activate"),
        ("resume", "lift a suspension"),
    ):
        cmd(name, text).add_argument("seal_id")
    p = cmd("suspend", "suspend (certificateHold)")
    p.add_argument("seal_id")
    p.add_argument("--reason")
    p = cmd("revoke", "revoke (final; certificate revoked)")
    p.add_argument("seal_id")
    p.add_argument("--reason", default="cessation_of_operation")
    p = cmd("image", "replace the generated image by a PNG (before approval)")
    p.add_argument("seal_id")
    p.add_argument("png")
    p.add_argument("--width-mm", type=float)
    p = cmd("export", "write the seal image (PNG) or SES_Seal (DER)")
    p.add_argument("seal_id")
    p.add_argument("what", choices=["image", "ses"])
    p.add_argument("--out", required=True)
    p = cmd("grant", "allow a client to use a seal")
    p.add_argument("seal_id")
    p.add_argument("client")
    p.add_argument("--types", help="comma-separated document types (default: any)")
    p.add_argument("--until", help="ISO 8601 time with zone")
    p = cmd("grants", "list grants")
    p.add_argument("--seal-id")
    for name in ("approve-grant", "revoke-grant"):
        cmd(name, name.replace("-", " ")).add_argument("grant_id")
    cmd("expire", "mark seals past their validity as expired")
    p = cmd("sign", "seal a PDF")
    p.add_argument("file")
    p.add_argument("--seal", required=True)
    p.add_argument("--page", type=int)
    p.add_argument("--x", type=float)
    p.add_argument("--y", type=float)
    p.add_argument("--width", type=float)
    p.add_argument("--height", type=float)
    p.add_argument("--anchor")
    p.add_argument("--level", default="B-T", help="B-B, B-T, B-LT or B-LTA")
    p.add_argument("--reason")
    p.add_argument("--location")
    p.add_argument("--certify", action="store_true")
    p.add_argument("--cross-page", action="store_true", help="also a cross-page seal (骑缝章) on every page")
    p.add_argument("--idempotency-key")
    p.add_argument("--out")
    p = cmd("ses-verify", "verify a GB/T 38540 SES_Signature or SES_Seal")
    p.add_argument("file")
    p.add_argument("--document")
    p.add_argument("--json", action="store_true")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except Exception as exc:
        print(f"ywt: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        rc: int = args.func(args, settings)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at exit
        return rc
    except YwtError as exc:
        print(f"ywt: {exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"ywt: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ywt verify x.pdf | head`: the reader left; no traceback, 128+SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a file named on the command line that cannot be read or written
        print(f"ywt: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
