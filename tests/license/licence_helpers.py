"""Helpers for the licence service tests: demo-world data, stored-state snapshots, peer tools."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa

from identity.sources.demo import DEMO_CITIZEN, DEMO_COMPANY, DEMO_DEPARTMENT
from license.service import Caller, LicenseService, LicenseView

BUSINESS = "111200000000010116001"
FOOD = "111200000000010116002"
QUALIFICATION = "11120000000002022H001"
DEPT = DEMO_DEPARTMENT.uscc
ISSUER = Caller(actor="client:demo-approval", issuer_code=DEPT)
OPERATOR = Caller(actor="operator:licence-op", operator=True)


def person_data(number: str = "TJ2024ZY100001", **over: Any) -> dict[str, Any]:
    data = {
        "name": DEMO_CITIZEN.name,
        "id_number": DEMO_CITIZEN.id_number,
        "occupation": "电工",
        "level": "三级/高级工",
        "certificate_no": number,
    }
    data.update(over)
    return data


def business_data(**over: Any) -> dict[str, Any]:
    data = {
        "uscc": DEMO_COMPANY.uscc,
        "name": DEMO_COMPANY.name,
        "company_type": "有限责任公司",
        "legal_representative": DEMO_COMPANY.legal_rep,
        "business_scope": "技术开发、技术咨询、技术服务；软件开发；信息系统集成服务",
        "registered_capital": "500",
        "established_on": "2016-03-18",
        "term_until": "",
        "address": "天津市滨海新区示例路8号",
    }
    data.update(over)
    return data


def food_data(number: str = "JY21201160012345", **over: Any) -> dict[str, Any]:
    data = {
        "operator_name": DEMO_COMPANY.name,
        "uscc": DEMO_COMPANY.uscc,
        "legal_representative": DEMO_COMPANY.legal_rep,
        "premises": "天津市滨海新区示例路8号一层",
        "main_format": "餐饮服务经营者",
        "business_items": "热食类食品制售；冷食类食品制售",
        "licence_no": number,
        "valid_until": "2031-05-31",
    }
    data.update(over)
    return data


def issue(svc: LicenseService, type_code: str, data: dict[str, Any], caller: Caller = ISSUER, **kw: Any) -> LicenseView:
    return anyio.run(lambda: svc.issue(caller, type_code, data, **kw))


def correct(svc: LicenseService, licence_id: str, data: dict[str, Any], caller: Caller = ISSUER) -> LicenseView:
    return anyio.run(lambda: svc.correct(caller, licence_id, data))


STATE_TABLES = (
    "license_licence",
    "license_lineage",
    "license_share",
    "license_import_job",
    "license_type",
    "license_type_version",
    "audit_entry",
    "seal_use",
)


def stored_state(services: Any) -> dict[str, int]:
    """Row counts of everything issuance could write, plus the number of blobs on disk."""
    out: dict[str, int] = {}
    with services.db.session() as s:
        conn = s.connection()
        for t in STATE_TABLES:
            out[t] = int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
    root = Path(services.settings.blob_dir)
    out["blobs"] = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    return out


def journal_actions(services: Any, prefix: str = "license.") -> list[tuple[str, str, str]]:
    with services.db.session() as s:
        rows = s.connection().execute(
            sa.text("SELECT action, target, data FROM audit_entry WHERE action LIKE :p ORDER BY seq"),
            {"p": f"{prefix}%"},
        )
        return [(str(a), str(t), str(d)) for a, t, d in rows]


#: zbarimg reading QR codes only, raw text, one line per symbol.
ZBARIMG_QR = ("zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable")


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, text=True)


def decode_qr_from_pdf(pdf: bytes, tmp: Path) -> str:
    """pdftoppm -r 150 then zbarimg: the text of the QR code as a phone camera would read it.

    Only QR symbols are looked for (``-Sdisable -Sqrcode.enable``, as a QR reader and our own
    server-side decoder do): with every symbology on, zbar once read a linear barcode "967246"
    into the printed text of a licence in CI. Exactly one QR code must be on the page."""
    src = tmp / "licence.pdf"
    src.write_bytes(pdf)
    run("pdftoppm", "-r", "150", "-png", "-singlefile", src, tmp / "page")
    out = run(*ZBARIMG_QR, tmp / "page.png").stdout.strip()
    assert out, "zbarimg found no QR code"
    assert len(out.splitlines()) == 1, f"more than one QR code on the page: {out!r}"
    return out


def nss_db(services: Any, tmp: Path) -> Path:
    """An NSS database trusting our roots, for pdfsig."""
    d = tmp / "nss"
    d.mkdir()
    run("certutil", "-N", "-d", f"sql:{d}", "--empty-password")
    with services.db.session() as s:
        roots = services.ca.roots(s)
    for r in roots:
        pem = tmp / f"{r.id}.pem"
        pem.write_text(r.cert_pem)
        run("certutil", "-A", "-d", f"sql:{d}", "-n", r.id, "-t", "CT,C,C", "-i", pem)
    return d


def embedded_metadata(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    return bytes(names[1]["/EF"]["/F"].data)


def trust_certs(services: Any) -> list[bytes]:
    """What a trust list carries for QR verification: the QR signer certificates and our CAs."""
    from license.qr import signing_certificates

    with services.db.session() as s:
        return signing_certificates(s) + [c.cert_der for c in services.ca.list_cas(s)]
