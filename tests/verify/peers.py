"""poppler's pdfsig as an independent judge (PEERS.md): an NSS database trusting our roots."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from api.container import Services


@dataclass(frozen=True)
class PdfsigSignature:
    signature_valid: bool  # "Signature Validation: Signature is Valid."
    trusted: bool  # "Certificate Validation: Certificate is Trusted."
    total: bool  # "Total document signed"
    raw: str

    @property
    def plain_valid(self) -> bool:
        """What a careful pdfsig user calls valid: all three (PEERS.md)."""
        return self.signature_valid and self.trusted and self.total


def nss_db(services: Services, directory: Path, extra_pems: list[Path] = ()) -> Path:  # type: ignore[assignment]
    db = directory / "nss"
    db.mkdir(exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    with services.db.session() as s:
        cas = services.ca.list_cas(s)
    for ca in cas:
        if ca.family.value == "sm2":
            continue  # NSS cannot read SM2 certificates
        pem = directory / f"{ca.id}.pem"
        pem.write_text(ca.cert_pem)
        trust = "CT,C,C" if ca.role.value == "root" else ",,"
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{db}", "-n", ca.id, "-t", trust, "-i", str(pem)],
            check=True,
            capture_output=True,
        )
    return db


def pdfsig(db: Path, pdf: bytes, directory: Path, name: str = "doc.pdf") -> list[PdfsigSignature]:
    path = directory / name
    path.write_bytes(pdf)
    proc = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{db}", "-no-ocsp", str(path)], capture_output=True, text=True, timeout=60
    )
    out = proc.stdout + proc.stderr
    blocks = re.split(r"^Signature #\d+:", out, flags=re.M)[1:]
    return [
        PdfsigSignature(
            "Signature Validation: Signature is Valid." in b,
            "Certificate Validation: Certificate is Trusted." in b,
            "Total document signed" in b and "Not total document signed" not in b,
            b,
        )
        for b in blocks
    ]
