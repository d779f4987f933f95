"""SM2-with-SM3 signatures agree with two implementations we did not write: gmssl (pure
Python) and the OpenSSL 3 CLI (with the default distinguishing ID spelled out)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos
from gmssl import sm2 as gm_sm2

from keys import KeyAlgorithm, LocalSigner, SignatureScheme, crypto, verify

N = 200
DISTID = "distid:1234567812345678"


def _rs(sig: bytes) -> bytes:
    v = algos.DSASignature.load(sig).native
    return int(v["r"]).to_bytes(32, "big") + int(v["s"]).to_bytes(32, "big")


def _der(rs: bytes) -> bytes:
    return algos.DSASignature({"r": int.from_bytes(rs[:32], "big"), "s": int.from_bytes(rs[32:], "big")}).dump()


@pytest.fixture(scope="module")
def sm2_signer() -> LocalSigner:
    return LocalSigner(KeyAlgorithm.SM2, crypto.generate(KeyAlgorithm.SM2))


def _gmssl(signer: LocalSigner) -> gm_sm2.CryptSM2:
    d = signer._key.private_numbers().private_value
    point = crypto.spki_point(signer.public_key_der)
    return gm_sm2.CryptSM2(public_key=point[1:].hex(), private_key=format(d, "064x"))


def test_ours_verify_with_gmssl_and_theirs_with_ours(sm2_signer: LocalSigner) -> None:
    gm = _gmssl(sm2_signer)
    for i in range(N):
        msg = os.urandom(i % 97 + 1)
        sig = sm2_signer.sign(msg)
        assert gm.verify_with_sm3(_rs(sig).hex(), msg), f"gmssl rejected our signature #{i}"
        theirs = gm.sign_with_sm3(msg)
        assert verify(sm2_signer.public_key_der, SignatureScheme.SM2_SM3, msg, _der(bytes.fromhex(theirs)))
        assert not verify(sm2_signer.public_key_der, SignatureScheme.SM2_SM3, msg + b"x", sig)


def test_ours_verify_with_openssl_and_theirs_with_ours(sm2_signer: LocalSigner, tmp_path: Path) -> None:
    pub = tmp_path / "pub.der"
    pub.write_bytes(sm2_signer.public_key_der)
    key = tmp_path / "key.der"
    key.write_bytes(crypto.to_pkcs8(sm2_signer._key))
    # all 200 verifications in one shell process: one openssl run per message
    script = []
    for i in range(N):
        msg = os.urandom(i % 89 + 1)
        (tmp_path / f"m{i}").write_bytes(msg)
        (tmp_path / f"s{i}").write_bytes(sm2_signer.sign(msg))
        script.append(
            f"openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in m{i} -sigfile s{i} "
            f"-digest sm3 -pkeyopt {DISTID} >/dev/null || echo FAIL-VERIFY {i}\n"
            f"openssl pkeyutl -sign -keyform DER -inkey key.der -rawin -in m{i} -out o{i} "
            f"-digest sm3 -pkeyopt {DISTID} || echo FAIL-SIGN {i}\n"
        )
    out = subprocess.run(["bash", "-c", "".join(script)], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "FAIL" not in out.stdout, out.stdout[:2000]
    for i in range(N):
        msg = (tmp_path / f"m{i}").read_bytes()
        assert verify(sm2_signer.public_key_der, SignatureScheme.SM2_SM3, msg, (tmp_path / f"o{i}").read_bytes())


def test_openssl_rejects_a_tampered_signature(sm2_signer: LocalSigner, tmp_path: Path) -> None:
    (tmp_path / "pub.der").write_bytes(sm2_signer.public_key_der)
    (tmp_path / "m").write_bytes(b"message")
    (tmp_path / "s").write_bytes(sm2_signer.sign(b"messagE"))
    r = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "pub.der",
            "-rawin",
            "-in",
            "m",
            "-sigfile",
            "s",
            "-digest",
            "sm3",
            "-pkeyopt",
            DISTID,
        ],
        cwd=tmp_path,
        capture_output=True,
    )
    assert r.returncode != 0
