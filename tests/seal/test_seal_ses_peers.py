"""Our SES structures judged by code we did not write: the OpenSSL 3 CLI and gmssl.

The bytes to verify are cut out of the blob with ``openssl asn1parse`` offsets, not with our
parser, and the public key comes from ``openssl x509 -pubkey``; so a mistake in what we sign
(wrong element, re-encoding, wrong distinguishing ID) shows up here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos
from gmssl import sm2 as gmssl_sm2
from seal_testkit import DOCUMENT, SIGNED_AT, Sm2Party, seal_spec

from seal.ses import make_seal, make_signature, parse_seal, parse_signature

DIST_ID = "distid:1234567812345678"


def _children(path: Path) -> list[tuple[int, int, int, str]]:
    """(offset, header length, length, type) of the outer SEQUENCE's elements, per OpenSSL."""
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*(\d+):d=1\s+hl=(\d+)\s+l=\s*(\d+)\s+\w+:\s*(.+?)\s*(:|$)", line)
        if m:
            kind = m.group(4).split("[")[0].split("  ")[0].strip()
            rows.append((int(m.group(1)), int(m.group(2)), int(m.group(3)), kind))
    return rows


def _openssl_pubkey(cert_der: bytes, tmp: Path, name: str) -> Path:
    (tmp / f"{name}.der").write_bytes(cert_der)
    pem = tmp / f"{name}.pub.pem"
    subprocess.run(
        [
            "openssl",
            "x509",
            "-inform",
            "DER",
            "-in",
            str(tmp / f"{name}.der"),
            "-pubkey",
            "-noout",
            "-out",
            str(pem),
        ],
        check=True,
    )
    return pem


def _openssl_verify(pub: Path, data: bytes, sig_der: bytes, tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "data.bin").write_bytes(data)
    (tmp / "sig.der").write_bytes(sig_der)
    return subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(pub),
            "-rawin",
            "-in",
            str(tmp / "data.bin"),
            "-sigfile",
            str(tmp / "sig.der"),
            "-digest",
            "sm3",
            "-pkeyopt",
            DIST_ID,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def _gmssl_verify(party: Sm2Party, data: bytes, sig_der: bytes) -> bool:
    rs = algos.DSASignature.load(sig_der).native
    sig_hex = rs["r"].to_bytes(32, "big").hex() + rs["s"].to_bytes(32, "big").hex()
    verifier = gmssl_sm2.CryptSM2(private_key=None, public_key=party.public_xy.hex())
    return bool(verifier.verify_with_sm3(sig_hex, data))


def _cut(blob: bytes, row: tuple[int, int, int, str]) -> bytes:
    off, hl, length, _ = row
    return blob[off : off + hl + length]


def _bit_string_value(blob: bytes, row: tuple[int, int, int, str]) -> bytes:
    off, hl, length, kind = row
    assert kind == "BIT STRING"
    content = blob[off + hl : off + hl + length]
    assert content[0] == 0  # no unused bits
    return content[1:]


@pytest.fixture(scope="module")
def blobs(maker: Sm2Party, holder: Sm2Party, seal_png: bytes) -> tuple[bytes, bytes]:
    seal = make_seal(seal_spec(holder, seal_png), maker.cert, maker.sign)
    sig = make_signature(
        seal, DOCUMENT, holder.cert, holder.sign, property_info="/d.pdf", signing_time=SIGNED_AT
    )
    return seal, sig


def test_maker_signature_verifies_with_openssl_and_gmssl(
    blobs: tuple[bytes, bytes], maker: Sm2Party, tmp_path: Path
) -> None:
    seal, _ = blobs
    (tmp_path / "seal.der").write_bytes(seal)
    rows = _children(tmp_path / "seal.der")
    assert [r[3] for r in rows] == ["SEQUENCE", "OCTET STRING", "OBJECT", "BIT STRING"]
    seal_info = _cut(seal, rows[0])
    signed_value = _bit_string_value(seal, rows[3])
    pub = _openssl_pubkey(maker.cert, tmp_path, "maker")

    ok = _openssl_verify(pub, seal_info, signed_value, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "Signature Verified Successfully" in ok.stdout
    assert _gmssl_verify(maker, seal_info, signed_value)

    # our parser agrees on what was signed
    assert parse_seal(seal).signed_data == seal_info

    # and both peers reject a one-byte change of SES_SealInfo
    tampered = seal_info[:-1] + bytes([seal_info[-1] ^ 1])
    bad = _openssl_verify(pub, tampered, signed_value, tmp_path)
    assert bad.returncode != 0
    assert "Signature Verification Failure" in bad.stdout
    assert not _gmssl_verify(maker, tampered, signed_value)


def test_e_signature_verifies_with_openssl_and_gmssl(
    blobs: tuple[bytes, bytes], holder: Sm2Party, tmp_path: Path
) -> None:
    _, sig = blobs
    (tmp_path / "sig.ses").write_bytes(sig)
    rows = _children(tmp_path / "sig.ses")
    assert [r[3] for r in rows] == ["SEQUENCE", "OCTET STRING", "OBJECT", "BIT STRING"]
    tbs = _cut(sig, rows[0])
    signature = _bit_string_value(sig, rows[3])
    pub = _openssl_pubkey(holder.cert, tmp_path, "holder")

    ok = _openssl_verify(pub, tbs, signature, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert _gmssl_verify(holder, tbs, signature)
    assert parse_signature(sig).signed_data == tbs


def test_openssl_reads_the_embedded_certificates(blobs: tuple[bytes, bytes], tmp_path: Path) -> None:
    """The certificates we embed are X.509 that OpenSSL accepts, and they verify as self-signed."""
    seal, _ = blobs
    parsed = parse_seal(seal)
    for name, der in [("maker", parsed.maker_cert), ("holder", parsed.certs[0])]:
        (tmp_path / f"{name}.der").write_bytes(der)
        pem = tmp_path / f"{name}.pem"
        subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / f"{name}.der"), "-out", str(pem)],
            check=True,
        )
        done = subprocess.run(
            ["openssl", "verify", "-vfyopt", DIST_ID, "-CAfile", str(pem), str(pem)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
