"""Test-vector and peer infrastructure.

* committed vectors (tests/vectors/) load and are internally consistent, checked with reference
  implementations written here from the standards' formulas (not with project code);
* fetched third-party corpora (tests/vectors/fetch.py) load, and a sample is sane against pyca;
* the node OpenID peers (tests/peers/) run a full certified-RP flow against the certified-OP stand-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.utils import CryptographyDeprecationWarning

from tests import vectorlib
from tests.nodepeers import national_idp as start_national_idp
from tests.nodepeers import require_node
from tests.vectorlib import committed

TESTS_DIR = Path(__file__).resolve().parent.parent
PEERS_DIR = TESTS_DIR / "peers"
FETCH_SCRIPT = TESTS_DIR / "vectors" / "fetch.py"

Point = tuple[int, int] | None


# ------------------------------------------------------------------------------------------------
# Reference implementations (from the formulas in /work/shared/STANDARDS.md)
# ------------------------------------------------------------------------------------------------


class Curve:
    """Short-Weierstrass curve over GF(p), affine coordinates; slow, for known-answer checks only."""

    def __init__(self, params: dict[str, str]) -> None:
        self.p = int(params["p"], 16)
        self.a = int(params["a"], 16)
        self.b = int(params["b"], 16)
        self.n = int(params["n"], 16)
        self.g: Point = (int(params["gx"], 16), int(params["gy"], 16))

    def on_curve(self, pt: Point) -> bool:
        if pt is None:
            return True
        x, y = pt
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if p1 == p2:
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (lam * lam - x1 - x2) % self.p
        return x3, (lam * (x1 - x3) - y1) % self.p

    def mul(self, k: int, pt: Point) -> Point:
        result: Point = None
        addend = pt
        while k:
            if k & 1:
                result = self.add(result, addend)
            addend = self.add(addend, addend)
            k >>= 1
        return result


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def b32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def der_integer(v: int) -> bytes:
    body = v.to_bytes((v.bit_length() + 8) // 8, "big")  # always room for a leading 0 when needed
    body = body.lstrip(b"\x00") or b"\x00"
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + bytes([len(body)]) + body


CID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CID_MAP = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
MOD3736_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LICENCE_PREFIX = "1.2.156.3005.2."


def citizen_id_check_ok(value: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], CID_WEIGHTS, strict=True))
    return CID_MAP[total % 11] == value[17]


def citizen_id_valid(value: str) -> bool:
    if not citizen_id_check_ok(value):
        return False
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return True


def org_code_check_ok(code9: str) -> bool:
    if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", code9):
        return False
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(code9[:8], ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return code9[8] == ("X" if c == 10 else "0" if c == 11 else str(c))


def uscc_check_ok(value: str) -> bool:
    if len(value) != 18 or any(c not in USCC_ALPHABET for c in value):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(value[:17], USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31] == value[17]


def uscc_valid(value: str) -> bool:
    return uscc_check_ok(value) and org_code_check_ok(value[8:17])


def mod37_36_check(data: str) -> str:
    p = 36
    for ch in data:
        s = (p + MOD3736_ALPHABET.index(ch)) % 36 or 36
        p = 2 * s % 37
    return MOD3736_ALPHABET[(37 - p) % 36]


def mod37_36_verify(data_with_check: str) -> bool:
    """ISO/IEC 7064 verification form: run the recursion over the check character too; must end at 1."""
    p = 36
    for ch in data_with_check[:-1]:
        s = (p + MOD3736_ALPHABET.index(ch)) % 36 or 36
        p = 2 * s % 37
    return (p + MOD3736_ALPHABET.index(data_with_check[-1])) % 36 == 1


LICENCE_RE = re.compile(
    r"1\.2\.156\.3005\.2\.(?P<type>[0-9A-Z]{18}\d{3})\.(?P<issuer>[0-9A-Z]{18})\."
    r"(?P<serial>[0-9A-Z]+)\.(?P<version>\d{3})\.(?P<check>[0-9A-Z])"
)


def licence_check_ok(value: str) -> bool:
    parts = value.split(".")
    if len(parts) < 6:
        return False
    body = "".join(parts[5:-1])
    return bool(re.fullmatch(r"[0-9A-Z]+", body)) and mod37_36_check(body) == parts[-1]


# ------------------------------------------------------------------------------------------------
# SM2 / SM3 / SM4
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sm2() -> dict[str, Any]:
    return committed("sm", "sm2_sign_gbt32918_5_annex_a")


@pytest.fixture(scope="module")
def curve(sm2: dict[str, Any]) -> Curve:
    return Curve(sm2["curve"])


def test_sm2_curve_parameters(curve: Curve) -> None:
    assert curve.on_curve(curve.g)
    assert curve.mul(curve.n, curve.g) is None
    assert curve.p % 4 == 3 and curve.a == curve.p - 3


def test_sm2_public_key_is_d_times_g(sm2: dict[str, Any], curve: Curve) -> None:
    pub = curve.mul(int(sm2["private_key_d"], 16), curve.g)
    assert pub == (int(sm2["public_key_x"], 16), int(sm2["public_key_y"], 16))
    assert curve.on_curve(pub)


def test_sm2_za_and_e(sm2: dict[str, Any], curve: Curve) -> None:
    ident = sm2["id_ascii"].encode("ascii")
    assert ident.hex() == sm2["id_hex"]
    assert (len(ident) * 8).to_bytes(2, "big").hex() == sm2["entl_hex"]
    assert curve.g is not None
    za = sm3(
        bytes.fromhex(sm2["entl_hex"])
        + ident
        + b"".join(b32(v) for v in (curve.a, curve.b, *curve.g))
        + bytes.fromhex(sm2["public_key_x"] + sm2["public_key_y"])
    )
    assert za == bytes.fromhex(sm2["za"])
    msg = sm2["message_ascii"].encode("ascii")
    assert msg.hex() == sm2["message_hex"]
    assert sm3(za + msg) == bytes.fromhex(sm2["e"])


def test_sm2_signature_from_k(sm2: dict[str, Any], curve: Curve) -> None:
    d, k, e = (int(sm2[f], 16) for f in ("private_key_d", "k", "e"))
    kg = curve.mul(k, curve.g)
    assert kg is not None
    r = (e + kg[0]) % curve.n
    s = pow(1 + d, -1, curve.n) * (k - r * d) % curve.n
    assert (r, s) == (int(sm2["r"], 16), int(sm2["s"], 16))


def test_sm2_signature_verifies_with_public_key_only(sm2: dict[str, Any], curve: Curve) -> None:
    pub: Point = (int(sm2["public_key_x"], 16), int(sm2["public_key_y"], 16))
    r, s, e = (int(sm2[f], 16) for f in ("r", "s", "e"))
    assert 1 <= r < curve.n and 1 <= s < curve.n
    t = (r + s) % curve.n
    point = curve.add(curve.mul(s, curve.g), curve.mul(t, pub))
    assert point is not None
    assert (e + point[0]) % curve.n == r
    # one bit off in e must fail
    assert (e ^ 1) + point[0] != e + point[0]
    assert ((e ^ 1) + point[0]) % curve.n != r


def test_sm2_derived_encodings(sm2: dict[str, Any]) -> None:
    derived = sm2["derived"]
    r, s = int(sm2["r"], 16), int(sm2["s"], 16)
    body = der_integer(r) + der_integer(s)
    assert (b"\x30" + bytes([len(body)]) + body).hex() == derived["signature_der"]
    assert derived["public_key_spki_der"] == (
        derived["spki_der_prefix"] + "00" + "04" + (sm2["public_key_x"] + sm2["public_key_y"]).lower()
    )


def test_sm2_vector_against_gmssl_peer(sm2: dict[str, Any]) -> None:
    from gmssl import sm2 as gm_sm2  # independent pure-Python implementation (test extra)

    crypt = gm_sm2.CryptSM2(public_key=(sm2["public_key_x"] + sm2["public_key_y"]).lower(), private_key="")
    signature = (sm2["r"] + sm2["s"]).lower()
    message = sm2["message_ascii"].encode("ascii")
    assert crypt.verify_with_sm3(signature, message)
    assert not crypt.verify_with_sm3(signature, message + b"!")


def test_sm2_vector_against_openssl_peer(sm2: dict[str, Any], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl CLI not found (Debian package 'openssl')")
    derived = sm2["derived"]
    (tmp_path / "pub.der").write_bytes(bytes.fromhex(derived["public_key_spki_der"]))
    (tmp_path / "sig.der").write_bytes(bytes.fromhex(derived["signature_der"]))
    (tmp_path / "msg").write_bytes(sm2["message_ascii"].encode("ascii"))
    cmd = [
        openssl, "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin",
        "-in", "msg", "-sigfile", "sig.der", "-digest", "sm3", "-pkeyopt", f"distid:{sm2['id_ascii']}",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Signature Verified Successfully" in done.stdout


def test_sm3_vectors() -> None:
    data = committed("sm", "sm3")
    assert len(data["tests"]) == 2
    for case in data["tests"]:
        msg = case["message_ascii"].encode("ascii")
        assert msg.hex() == case["message_hex"]
        assert hashlib.new("sm3", msg).hexdigest() == case["digest"].lower()


def test_sm4_vector() -> None:
    (case,) = committed("sm", "sm4")["tests"]
    enc = Cipher(algorithms.SM4(bytes.fromhex(case["key"])), modes.ECB()).encryptor()  # noqa: S305 - single-block KAT
    out = enc.update(bytes.fromhex(case["plaintext"])) + enc.finalize()
    assert out == bytes.fromhex(case["ciphertext"])
    dec = Cipher(algorithms.SM4(bytes.fromhex(case["key"])), modes.ECB()).decryptor()  # noqa: S305
    assert dec.update(out) + dec.finalize() == bytes.fromhex(case["plaintext"])


# ------------------------------------------------------------------------------------------------
# Identity numbers and licence identifiers
# ------------------------------------------------------------------------------------------------


def test_citizen_id_vectors() -> None:
    data = committed("identity", "citizen_id")
    assert list(data["algorithm"]["weights"]) == list(CID_WEIGHTS)
    assert data["algorithm"]["check_map"] == CID_MAP
    assert "360426199101010071" in {v["value"] for v in data["valid"]}
    for case in data["valid"]:
        value = case["value"]
        assert citizen_id_valid(value), value
        assert f"{value[6:10]}-{value[10:12]}-{value[12:14]}" == case["birth_date"]
        assert case["sex"] == ("male" if int(value[16]) % 2 else "female")
    assert any(v["value"].endswith("X") for v in data["valid"])
    for case in data["invalid"]:
        value = case["value"]
        assert not citizen_id_valid(value), case
        assert citizen_id_check_ok(value) == case["check_digit_valid"], case
        if case["changed"] and case["position"]:
            before = case["from"]
            diffs = [i for i, (a, b) in enumerate(zip(before, value, strict=True)) if a != b]
            assert diffs == [case["position"] - 1], case


def test_uscc_vectors() -> None:
    data = committed("identity", "uscc")
    assert data["algorithm"]["alphabet"] == USCC_ALPHABET
    assert list(data["algorithm"]["weights"]) == list(USCC_WEIGHTS)
    values = {v["value"] for v in data["valid"]}
    assert {"91110000600037341L", "11100000000013338W"} <= values
    for case in data["valid"]:
        assert uscc_valid(case["value"]), case
    for case in data["invalid"]:
        value = case["value"]
        assert not uscc_valid(value), case
        assert uscc_check_ok(value) == case["check_char_valid"], case
        if "org_code_check_valid" in case:
            assert org_code_check_ok(value[8:17]) == case["org_code_check_valid"], case


def test_licence_identifiers() -> None:
    data = committed("license", "identifiers")
    assert len(data["valid"]) >= 2
    for case in data["valid"]:
        value = case["value"]
        m = LICENCE_RE.fullmatch(value)
        assert m is not None, value
        body = m["type"] + m["issuer"] + m["serial"] + m["version"]
        assert mod37_36_check(body) == m["check"] == case["check"]
        assert mod37_36_verify(body + m["check"])
        assert uscc_valid(m["issuer"]) and uscc_valid(m["type"][:18])
        assert (m["type"], m["issuer"], m["serial"], m["version"]) == (
            case["type_code"],
            case["issuer_uscc"],
            case["serial"],
            case["version"],
        )
    for case in data["invalid"]:
        value = case["value"]
        assert licence_check_ok(value) == case["check_valid"], case
        m = LICENCE_RE.fullmatch(value)
        fully_valid = (
            m is not None and licence_check_ok(value) and uscc_valid(m["issuer"]) and uscc_valid(m["type"][:18])
        )
        assert not fully_valid, case
        if "structure_valid" in case:
            assert (m is not None) == case["structure_valid"], case
        if "issuer_uscc_valid" in case:
            assert m is not None and uscc_valid(m["issuer"]) == case["issuer_uscc_valid"], case


def test_mod37_36_catches_every_single_substitution() -> None:
    body = "11100000000013338W01111430000006122244L20230000403001"
    check = mod37_36_check(body)
    assert check == "U"
    for i, original in enumerate(body):
        for repl in MOD3736_ALPHABET:
            if repl != original:
                assert not mod37_36_verify(body[:i] + repl + body[i + 1 :] + check)


# ------------------------------------------------------------------------------------------------
# Fetched third-party corpora
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fetched_corpora() -> None:
    """Run tests/vectors/fetch.py once (idempotent; a no-op when the cache is current)."""
    done = subprocess.run([sys.executable, str(FETCH_SCRIPT)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        pytest.fail(f"tests/vectors/fetch.py failed (exit {done.returncode}):\n{done.stderr}{done.stdout}")


WYCHEPROOF_FILES = {
    "ecdsa_secp256r1_sha256_test": ("ECDSA", "ecdsa_verify_schema_v1.json"),
    "rsa_signature_2048_sha256_test": ("RSASSA-PKCS1-v1_5", "rsassa_pkcs1_verify_schema_v1.json"),
    "rsa_pss_2048_sha256_mgf1_32_test": ("RSASSA-PSS", "rsassa_pss_verify_schema_v1.json"),
}


@pytest.mark.usefixtures("fetched_corpora")
@pytest.mark.parametrize("name", sorted(WYCHEPROOF_FILES))
def test_wycheproof_file_loads(name: str) -> None:
    data = vectorlib.wycheproof(name)
    algorithm, schema = WYCHEPROOF_FILES[name]
    assert data["algorithm"] == algorithm
    assert data["schema"] == schema
    cases = list(vectorlib.wycheproof_tests(name))
    assert len(cases) == data["numberOfTests"] > 50
    ids = [t["tcId"] for _, t in cases]
    assert len(set(ids)) == len(ids)
    assert {t["result"] for _, t in cases} <= {"valid", "invalid", "acceptable"}
    assert any(t["result"] == "invalid" for _, t in cases)
    for group, _ in cases:
        assert group["sha"] == "SHA-256"
        assert group["publicKeyDer"]


def _wycheproof_verify(name: str, group: dict[str, Any], test: dict[str, Any]) -> bool:
    key = load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    try:
        if name.startswith("ecdsa"):
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        elif name.startswith("rsa_pss"):
            assert isinstance(key, rsa.RSAPublicKey)
            assert (group["mgf"], group["mgfSha"], group["sLen"]) == ("MGF1", "SHA-256", 32)
            key.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.mark.usefixtures("fetched_corpora")
@pytest.mark.parametrize("name", sorted(WYCHEPROOF_FILES))
def test_wycheproof_corpus_is_sane_against_pyca(name: str) -> None:
    """The corpus is usable as loaded: pyca/cryptography (OpenSSL) agrees with every verdict."""
    disagreements = []
    for group, test in vectorlib.wycheproof_tests(name):
        ok = _wycheproof_verify(name, group, test)
        if test["result"] != "acceptable" and ok != (test["result"] == "valid"):
            disagreements.append((test["tcId"], test["result"], test["comment"], test.get("flags")))
    assert disagreements == []


@pytest.mark.usefixtures("fetched_corpora")
def test_pkits_manifest_and_files() -> None:
    root = vectorlib.pkits_dir()
    cases = vectorlib.pkits_cases()
    assert len(cases) == 246
    assert len({c["name"] for c in cases}) == 246  # unique key
    assert len({c["id"] for c in cases}) == 217  # NIST test ids; policy tests recur with other params
    assert sum(1 for c in cases if "error" not in c) == 110
    anchor = x509.load_der_x509_certificate(vectorlib.pkits_trust_anchor().read_bytes())
    assert anchor.subject == anchor.issuer
    referenced: set[str] = set()
    for case in cases:
        for cert in [case["cert"], *case.get("other_certs", [])]:
            assert (root / "certs" / cert).is_file(), (case["id"], cert)
            referenced.add(f"certs/{cert}")
        for crl in case.get("crls", []):
            assert (root / "crls" / crl).is_file(), (case["id"], crl)
            referenced.add(f"crls/{crl}")
    # Every file parses as DER with asn1crypto (a project dependency, lenient like pyHanko).
    for path in sorted([*root.glob("certs/*.crt"), *root.glob("crls/*.crl")]):
        der = path.read_bytes()
        obj = asn1_x509.Certificate.load(der) if path.suffix == ".crt" else asn1_crl.CertificateList.load(der)
        obj.native  # noqa: B018 - forces a full parse
    # pyca/cryptography refuses only the DSA certificates whose parameters are inherited from the
    # issuer (empty AlgorithmIdentifier params); path-validation code must not rely on it for those.
    refused = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # PKITS has a zero serial
        for rel in sorted(referenced):
            der = (root / rel).read_bytes()
            try:
                if rel.startswith("certs/"):
                    x509.load_der_x509_certificate(der).subject  # noqa: B018
                else:
                    x509.load_der_x509_crl(der).issuer  # noqa: B018
            except ValueError:
                refused.add(rel)
    assert refused <= {
        "certs/DSAParametersInheritedCACert.crt",
        "certs/ValidDSAParameterInheritanceTest5EE.crt",
    }
    notices = json.loads((root / "pkits-user-notice.json").read_text(encoding="utf-8"))
    assert len(notices) == 10


def test_missing_corpus_raises_with_instruction(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YWT_VECTOR_CACHE", str(tmp_path))
    vectorlib.wycheproof.cache_clear()
    try:
        with pytest.raises(vectorlib.VectorsMissingError, match=r"tests/vectors/fetch\.py"):
            vectorlib.pkits_dir()
        with pytest.raises(vectorlib.VectorsMissingError, match=r"tests/vectors/fetch\.py"):
            vectorlib.wycheproof("ecdsa_secp256r1_sha256_test")
    finally:
        vectorlib.wycheproof.cache_clear()


def test_jws_wycheproof_corpus() -> None:
    """No registry ships json_web_signature_test.json: the loader must say so, loudly."""
    if not os.environ.get(vectorlib.JWS_ENV):
        with pytest.raises(vectorlib.JwsCorpusUnavailableError, match="no PyPI or npm package"):
            vectorlib.jws_wycheproof()
        return
    data = vectorlib.jws_wycheproof()
    tests = [t for g in data["testGroups"] for t in g["tests"]]
    assert len(tests) == data["numberOfTests"] == 401
    assert sum(1 for t in tests if t["result"] == "invalid") == 355


# ------------------------------------------------------------------------------------------------
# Node OpenID peers
# ------------------------------------------------------------------------------------------------


def _require_node_peers() -> str:
    return require_node("oidc-provider", "openid-client", "playwright-core")


@pytest.fixture
def national_idp(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = {
        "client": {
            "client_id": "ywt-infra-test",
            "client_secret": secrets.token_urlsafe(32),
            "redirect_uris": ["http://127.0.0.1:9/oidc/callback"],
        },
        "accounts": [
            {
                "username": "citizen01",
                "password": secrets.token_urlsafe(12),
                "sub": "gjzwfw-test-0001",
                "name": "李四",
                "id_number": "360426199101010071",
            }
        ],
    }
    with start_national_idp(config, tmp_path) as issuer:
        yield {"issuer": issuer, "config": config, "stderr": tmp_path / "national_idp.stderr"}


def _run_rp_flow(idp: dict[str, Any], password: str) -> tuple[int, dict[str, Any], str]:
    node = _require_node_peers()
    client, account = idp["config"]["client"], idp["config"]["accounts"][0]
    env = {
        **os.environ,
        "RP_CLIENT_ID": client["client_id"],
        "RP_CLIENT_SECRET": client["client_secret"],
        "RP_REDIRECT_URI": client["redirect_uris"][0],
        "RP_USERNAME": account["username"],
        "RP_PASSWORD": password,
    }
    done = subprocess.run(
        [node, str(PEERS_DIR / "rp_flow.mjs"), idp["issuer"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return done.returncode, json.loads(lines[0]), done.stderr


@pytest.mark.slow
def test_rp_flow_against_national_idp(national_idp: dict[str, Any]) -> None:
    account = national_idp["config"]["accounts"][0]
    rc, result, stderr = _run_rp_flow(national_idp, account["password"])
    assert rc == 0, f"{result}\n{stderr}\n{national_idp['stderr'].read_text()}"
    assert result["ok"] is True
    assert result["issuer"] == national_idp["issuer"]
    assert result["callback"] == {"has_code": True, "iss": national_idp["issuer"]}
    assert result["browser"]["forms_submitted"] == 1
    claims = result["id_token_claims"]
    assert claims["iss"] == national_idp["issuer"]
    assert claims["aud"] == national_idp["config"]["client"]["client_id"]
    assert claims["sub"] == account["sub"]
    assert result["userinfo"] == {
        "sub": account["sub"],
        "name": account["name"],
        "id_number": account["id_number"],
        "id_number_verified": True,
    }
    assert result["refresh"]["access_token_changed"] is True
    assert result["refresh"]["userinfo_sub"] == account["sub"]
    assert result["revocation"]["access_token"]["rejected"] is True
    assert result["revocation"]["refresh_token"] == {
        "rejected": True,
        "error": "invalid_grant",
        "status": 400,
    }


@pytest.mark.slow
def test_national_idp_requires_pkce(national_idp: dict[str, Any]) -> None:
    client = national_idp["config"]["client"]
    query = urllib.parse.urlencode(
        {
            "client_id": client["client_id"],
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": client["redirect_uris"][0],
            "state": "s1",
        }
    )
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(national_idp["issuer"]).netloc, timeout=10)
    try:
        conn.request("GET", f"/auth?{query}")
        response = conn.getresponse()
        location = response.getheader("Location") or ""
    finally:
        conn.close()
    assert response.status in (302, 303)
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert location.startswith(client["redirect_uris"][0])
    assert params["error"] == ["invalid_request"]
    assert "PKCE" in params["error_description"][0]
    assert "code" not in params


@pytest.mark.slow
def test_rp_flow_fails_loudly_on_bad_password(national_idp: dict[str, Any]) -> None:
    rc, result, stderr = _run_rp_flow(national_idp, "not-the-password")
    assert rc == 1
    assert result["ok"] is False
    assert result["step"] == "login"
    assert "HTTP 401" in result["error"]["message"]
    assert "failed at login" in stderr
