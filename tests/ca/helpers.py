"""Helpers for CA tests: write PEMs, run openssl, make CSRs with openssl (an independent producer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from api.container import Services

DISTID = "distid:1234567812345678"


def openssl(*args: str, cwd: Path, check: bool = True, input_: bytes | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=None if input_ is None else input_.decode("latin-1"),
    )
    if check and r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def write_cas(services: Services, directory: Path) -> dict[str, Path]:
    """Write every CA certificate as <id>.pem; returns id -> path."""
    out = {}
    with services.db.session() as s:
        for ca in services.ca.list_cas(s):
            p = directory / f"{ca.id}.pem"
            p.write_text(ca.cert_pem)
            out[ca.id] = p
    return out


def make_csr(directory: Path, family: str, subject: str, name: str = "req") -> Path:
    key = directory / f"{name}.key"
    csr = directory / f"{name}.csr"
    if family == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key), cwd=directory)
        openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr), cwd=directory)
    elif family == "ecdsa":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key), cwd=directory)
        openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr), cwd=directory)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key), cwd=directory)
        openssl(
            "req",
            "-new",
            "-key",
            str(key),
            "-sm3",
            "-sigopt",
            DISTID,
            "-subj",
            subject,
            "-out",
            str(csr),
            cwd=directory,
        )
    return csr


def verify_chain(directory: Path, family: str, root: Path, intermediate: Path | None, leaf: Path) -> None:
    """openssl verify. OpenSSL 3.0 applies the SM2 distid only to certificates it trusts or to the
    leaf, and rejects it for RSA/ECDSA (checked here), so SM2 chains are checked link by link:
    root -> intermediate, then intermediate (trusted, -partial_chain) -> leaf."""
    if family != "sm2":
        args = ["verify", "-CAfile", str(root)]
        if intermediate is not None:
            args += ["-untrusted", str(intermediate)]
        r = openssl(*args, str(leaf), cwd=directory)
        assert r.stdout.strip().endswith("OK"), r.stdout
        return
    if intermediate is None:
        r = openssl("verify", "-vfyopt", DISTID, "-CAfile", str(root), str(leaf), cwd=directory)
        assert r.stdout.strip().endswith("OK"), r.stdout
        return
    r = openssl("verify", "-vfyopt", DISTID, "-CAfile", str(root), str(intermediate), cwd=directory)
    assert r.stdout.strip().endswith("OK"), r.stdout
    r = openssl("verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile", str(intermediate), str(leaf), cwd=directory)
    assert r.stdout.strip().endswith("OK"), r.stdout
