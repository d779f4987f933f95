"""Keys in a PKCS#11 token (SoftHSM2): signatures as the soft store makes them, a CA whose key is in
the token issuing certificates, CRLs and OCSP responder certificates that OpenSSL accepts, and
clear errors for SM2, a wrong PIN, a missing token and a vanished key object."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pkcs11
import pytest
from asn1crypto import pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.rsa import decode_rsa_private_key
from sqlmodel import func, select

from api.container import Services, build_services, checkpoint_verifier
from ca.models import CaRecord
from ca.profiles import CaRole
from core import clock
from core.audit import AuditEntry, verify_journal
from core.settings import Settings
from keys import KeyAlgorithm, LocalSigner, SignatureScheme, crypto, verify
from keys.errors import HsmLoginFailed, HsmUnavailable, InvalidKey, KeyNotFound, UnsupportedByToken
from keys.models import KeyRecord
from keys.pkcs11 import Pkcs11Backend, Pkcs11Config, ecdsa_raw_to_der, object_uri, parse_uri
from tests.ca.helpers import openssl, verify_chain, write_cas
from tests.conftest import make_settings
from tests.hsm import SoftHsm

ROOT = Path(__file__).resolve().parents[2]


def _pub_pem(spki: bytes, path: Path) -> Path:
    path.write_bytes(pem.armor("PUBLIC KEY", spki))
    return path


def _counts(services: Services) -> tuple[int, int, int]:
    with services.db.session() as s:
        return (
            s.exec(select(func.count()).select_from(KeyRecord)).one(),
            s.exec(select(func.count()).select_from(AuditEntry)).one(),
            s.exec(select(func.count()).select_from(CaRecord)).one(),
        )


@pytest.mark.parametrize(
    ("algorithm", "scheme", "sigopts"),
    [
        (KeyAlgorithm.RSA_2048, SignatureScheme.RSA_PKCS1_SHA256, []),
        (KeyAlgorithm.RSA_2048, SignatureScheme.RSA_PSS_SHA256, ["rsa_padding_mode:pss", "rsa_pss_saltlen:32"]),
        (KeyAlgorithm.EC_P256, SignatureScheme.ECDSA_SHA256, []),
    ],
)
def test_token_signatures_verify_with_keys_verify_and_openssl(
    hsm_services: Services, tmp_path: Path, algorithm: KeyAlgorithm, scheme: SignatureScheme, sigopts: list[str]
) -> None:
    with hsm_services.db.session() as s:
        info = hsm_services.keys.generate(s, algorithm, "test token key", backend="pkcs11")
    with hsm_services.db.session() as s:
        rec = s.get(KeyRecord, info.key_id)
        assert rec is not None and rec.backend == "pkcs11" and rec.private_blob is None
        assert rec.handle is not None and rec.handle.startswith("pkcs11:token=ywt-test;id=%")
        signer = hsm_services.keys.signer(s, info.key_id)
    assert signer.public_key_der == info.public_key_der and crypto.key_id(info.public_key_der) == info.key_id
    pub = _pub_pem(info.public_key_der, tmp_path / "pub.pem")
    for i in range(5):
        msg = secrets.token_bytes(100 + i)
        sig = signer.sign(msg, scheme)
        assert verify(info.public_key_der, scheme, msg, sig)
        assert not verify(info.public_key_der, scheme, msg + b"x", sig)
        (tmp_path / "msg").write_bytes(msg)
        (tmp_path / "sig").write_bytes(sig)
        args = ["dgst", "-sha256", "-verify", str(pub), "-signature", "sig"]
        for o in sigopts:
            args += ["-sigopt", o]
        assert "Verified OK" in openssl(*args, "msg", cwd=tmp_path).stdout


def _import_rsa_into_token(backend: Pkcs11Backend, key: rsa.RSAPrivateKey, label: str) -> bytes:
    """Put a known RSA key into the token (test-only: production keys are generated inside)."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    object_id = secrets.token_bytes(16)
    with backend.token().session() as sess:  # the backend's logged-in session
        attrs = decode_rsa_private_key(der)
        attrs.update({Attribute.TOKEN: True, Attribute.ID: object_id, Attribute.LABEL: label, Attribute.SIGN: True,
                      Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
        sess.create_object(attrs)
        nums = key.public_key().public_numbers()
        sess.create_object({
            Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.RSA, Attribute.TOKEN: True,
            Attribute.ID: object_id, Attribute.LABEL: label, Attribute.VERIFY: True,
            Attribute.MODULUS: nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big"),
            Attribute.PUBLIC_EXPONENT: nums.e.to_bytes(3, "big"),
        })
    return object_id


def test_pkcs1_signature_from_the_token_is_byte_identical_to_the_soft_signer(
    hsm_services: Services, softhsm: SoftHsm
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    soft = LocalSigner(KeyAlgorithm.RSA_2048, key)
    backend = hsm_services.keys.backends["pkcs11"]
    assert isinstance(backend, Pkcs11Backend)
    object_id = _import_rsa_into_token(backend, key, "imported for comparison")
    rec = KeyRecord(key_id=soft.key_id, algorithm="rsa-2048", label="x", backend="pkcs11",
                    created_at=clock.now(), public_key_der=soft.public_key_der,
                    handle=object_uri(softhsm.token, object_id, "imported for comparison"))
    hsm = backend.signer(rec)
    for msg in (b"", b"abc", secrets.token_bytes(1000)):
        assert hsm.sign(msg) == soft.sign(msg)  # PKCS#1 v1.5 is deterministic: same key, same bytes
        pss = hsm.sign(msg, SignatureScheme.RSA_PSS_SHA256)
        assert verify(soft.public_key_der, SignatureScheme.RSA_PSS_SHA256, msg, pss)


def test_ecdsa_raw_signatures_are_re_encoded_as_minimal_der() -> None:
    cases = [(1, 1), (0x80, 0x7F), (2**255, 2**255 + 1), (0x00FF, 0xFF00)] + [
        (secrets.randbits(256) >> secrets.randbelow(40), secrets.randbits(256)) for _ in range(200)
    ]
    for r0, s0 in cases:
        r, s = max(r0, 1), max(s0, 1)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert ecdsa_raw_to_der(raw) == encode_dss_signature(r, s)
    with pytest.raises(HsmUnavailable):
        ecdsa_raw_to_der(b"\x01" * 63)


def test_concurrent_signing_from_many_threads(hsm_services: Services) -> None:
    with hsm_services.db.session() as s:
        info = hsm_services.keys.generate(s, KeyAlgorithm.EC_P256, "threads", backend="pkcs11")
        signer = hsm_services.keys.signer(s, info.key_id)
    results: list[bool] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(20):
            msg = f"{n}-{i}".encode()
            ok = verify(info.public_key_der, SignatureScheme.ECDSA_SHA256, msg, signer.sign(msg))
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160 and all(results)


@pytest.mark.parametrize("family", ["rsa", "ecdsa"])
def test_issuing_ca_in_the_token_issues_what_openssl_accepts(
    hsm_services: Services, tmp_path: Path, family: str
) -> None:
    ca_id = f"{family}-seal-hsm"
    with hsm_services.db.session() as s:
        ca = hsm_services.ca.create_issuing_ca(s, ca_id, f"{family}-root", CaRole.SEAL, backend="pkcs11",
                                               common_name=f"YWT {family.upper()} Seal CA (HSM)", actor="test")
        key = hsm_services.keys.get(s, ca.key_id)
        assert key.backend == "pkcs11"
        alg = KeyAlgorithm.RSA_2048 if family == "rsa" else KeyAlgorithm.EC_P256
        leaf = hsm_services.ca.issue_for_new_key(s, ca_id, "seal-signing", alg,
                                                 {"common_name": "HSM-issued seal", "organization_name": "测试局"},
                                                 actor="test")
        doomed = hsm_services.ca.issue_for_new_key(s, ca_id, "seal-signing", alg, {"common_name": "to revoke"},
                                                   actor="test")
    cas = write_cas(hsm_services, tmp_path)
    (tmp_path / "leaf.pem").write_text(leaf.cert_pem)
    (tmp_path / "doomed.pem").write_text(doomed.cert_pem)
    verify_chain(tmp_path, family, cas[f"{family}-root"], None, cas[ca_id])
    verify_chain(tmp_path, family, cas[f"{family}-root"], cas[ca_id], tmp_path / "leaf.pem")
    text = openssl("x509", "-in", str(cas[ca_id]), "-noout", "-subject", cwd=tmp_path).stdout
    assert "(HSM)" in text

    # revocation: the CRL signed in the token verifies, and OCSP (responder certified by the token key) says so
    with hsm_services.db.session() as s:
        hsm_services.ca.revoke(s, doomed.serial, "keyCompromise", actor="test")
        crl = hsm_services.ca.current_crl(s, ca_id)
    (tmp_path / "x.crl").write_bytes(crl)
    out = openssl("crl", "-inform", "DER", "-in", "x.crl", "-CAfile", str(cas[ca_id]), "-noout", "-verify", "-text",
                  cwd=tmp_path)
    assert "verify OK" in out.stderr + out.stdout and doomed.serial.upper() in out.stdout.upper().replace(":", "")
    chain = tmp_path / "trust.pem"
    chain.write_text(cas[f"{family}-root"].read_text() + cas[ca_id].read_text())
    for name, expect in (("leaf.pem", "good"), ("doomed.pem", "revoked")):
        openssl("ocsp", "-issuer", str(cas[ca_id]), "-cert", name, "-no_nonce", "-reqout", "req.der", cwd=tmp_path)
        with hsm_services.db.session() as s:
            (tmp_path / "resp.der").write_bytes(hsm_services.ca.ocsp(s, (tmp_path / "req.der").read_bytes()))
        r = openssl("ocsp", "-respin", "resp.der", "-issuer", str(cas[ca_id]), "-cert", name, "-CAfile", str(chain),
                    "-no_nonce", cwd=tmp_path)
        assert f"{name}: {expect}" in r.stdout and "Response verify OK" in r.stderr + r.stdout

    with hsm_services.db.session() as s:
        assert verify_journal(s, checkpoint_verifier).ok


def test_private_keys_in_the_token_are_sensitive_and_not_extractable(hsm_services: Services, softhsm: SoftHsm) -> None:
    with hsm_services.db.session() as s:
        info = hsm_services.keys.generate(s, KeyAlgorithm.RSA_2048, "sensitive", backend="pkcs11")
        rec = s.get(KeyRecord, info.key_id)
    assert rec is not None and rec.handle is not None
    _, object_id = parse_uri(rec.handle)
    lib = pkcs11.lib(softhsm.module)
    with lib.get_token(token_label=softhsm.token).open() as sess:  # the backend holds the login
        priv = sess.get_key(object_class=ObjectClass.PRIVATE_KEY, id=object_id)
        assert priv[Attribute.SENSITIVE] is True and priv[Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.AttributeSensitive):
            priv[Attribute.PRIVATE_EXPONENT]


def test_sm2_is_refused_by_the_token_and_nothing_is_stored(hsm_services: Services) -> None:
    before = _counts(hsm_services)
    with pytest.raises(UnsupportedByToken) as exc, hsm_services.db.session() as s:
        hsm_services.keys.generate(s, KeyAlgorithm.SM2, "sm2 in hsm", backend="pkcs11")
    assert exc.value.code == "unsupported-by-token" and "soft store" in exc.value.detail
    with pytest.raises(UnsupportedByToken), hsm_services.db.session() as s:
        hsm_services.ca.create_issuing_ca(s, "sm2-seal-hsm", "sm2-root", CaRole.SEAL, backend="pkcs11", actor="t")
    assert _counts(hsm_services) == before


def test_bad_ca_requests_are_refused_and_nothing_is_stored(hsm_services: Services) -> None:
    before = _counts(hsm_services)
    bad = [
        ("rsa-seal", "rsa-root", CaRole.SEAL),  # exists
        ("rsa seal!", "rsa-root", CaRole.SEAL),  # bad id
        ("rsa-x", "rsa-seal", CaRole.SEAL),  # parent not a root
        ("rsa-y", "nope-root", CaRole.SEAL),  # unknown parent
        ("rsa-z", "rsa-root", CaRole.ROOT),  # roots are not made this way
    ]
    for ca_id, parent, role in bad:
        with pytest.raises(Exception) as exc, hsm_services.db.session() as s:
            hsm_services.ca.create_issuing_ca(s, ca_id, parent, role, backend="pkcs11", actor="t")
        assert exc.value.code in {"duplicate-ca", "invalid-input", "unknown-ca"}, exc.value  # type: ignore[attr-defined]
    with pytest.raises(InvalidKey), hsm_services.db.session() as s:
        hsm_services.keys.generate(s, KeyAlgorithm.EC_P256, "x", backend="no-such-backend")
    assert _counts(hsm_services) == before


def test_without_configuration_there_is_no_pkcs11_backend(services: Services) -> None:
    assert "pkcs11" not in services.keys.backends
    with pytest.raises(InvalidKey, match="unknown key backend"), services.db.session() as s:
        services.keys.generate(s, KeyAlgorithm.EC_P256, "x", backend="pkcs11")


def test_a_key_removed_from_the_token_is_reported_not_found(hsm_services: Services, softhsm: SoftHsm) -> None:
    with hsm_services.db.session() as s:
        info = hsm_services.keys.generate(s, KeyAlgorithm.EC_P256, "to be destroyed", backend="pkcs11")
        rec = s.get(KeyRecord, info.key_id)
    assert rec is not None and rec.handle is not None
    _, object_id = parse_uri(rec.handle)
    lib = pkcs11.lib(softhsm.module)
    with lib.get_token(token_label=softhsm.token).open(rw=True) as sess:
        for obj in sess.get_objects({Attribute.ID: object_id}):
            obj.destroy()
    with pytest.raises(KeyNotFound), hsm_services.db.session() as s:
        hsm_services.keys.signer(s, info.key_id)
    wrong_token = KeyRecord(**(rec.model_dump() | {"handle": object_uri("other-token", object_id, "x")}))
    with pytest.raises(HsmUnavailable, match="other-token"):
        hsm_services.keys.backends["pkcs11"].signer(wrong_token)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("YWT_")} | env
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=120)


def test_wrong_pin_stops_the_start_with_a_clear_error(hsm_settings: Settings, softhsm: SoftHsm) -> None:
    env = {"YWT_HOME": str(hsm_settings.home), "YWT_ENV": "test", "YWT_PKCS11_MODULE": softhsm.module,
           "YWT_PKCS11_TOKEN": softhsm.token, "YWT_PKCS11_PIN": "0000-wrong", **softhsm.env()}
    if hsm_settings.database_url:
        env["YWT_DATABASE_URL"] = hsm_settings.database_url
    r = _cli(env, "keys", "list")
    assert r.returncode == 1
    assert "PIN is incorrect" in r.stderr and "ywt-test" in r.stderr
    assert "0000-wrong" not in r.stderr + r.stdout and softhsm.pin not in r.stderr + r.stdout
    r = _cli(env | {"YWT_PKCS11_TOKEN": "no-such-token"}, "keys", "list")
    assert r.returncode == 1 and "no PKCS#11 token labelled 'no-such-token'" in r.stderr
    r = _cli(env | {"YWT_PKCS11_MODULE": "/nonexistent/libnothing.so"}, "keys", "list")
    assert r.returncode == 1 and "cannot load the PKCS#11 module" in r.stderr
    good = env | {"YWT_PKCS11_PIN": softhsm.pin}
    r = _cli(good, "keys", "list")
    assert r.returncode == 0, r.stderr
    # the operator's way in: a CA whose key is generated in the token, from the CLI
    r = _cli(good, "pki", "create-ca", "--id", "ecdsa-identity-hsm", "--parent", "ecdsa-root", "--role", "identity",
             "--backend", "pkcs11")
    assert r.returncode == 0 and "on backend pkcs11" in r.stdout, r.stderr
    r = _cli(good, "pki", "issue", "--ca", "ecdsa-identity-hsm", "--profile", "person", "--new-key", "ec-p256",
             "--subject", "CN=张三,C=CN")
    assert r.returncode == 0 and r.stdout.startswith("-----BEGIN CERTIFICATE-----"), r.stderr
    r = _cli(good, "keys", "generate", "sm2", "--label", "x", "--backend", "pkcs11")
    assert r.returncode == 1 and "SM2 keys stay in the soft store" in r.stderr
    assert "pkcs11" in _cli(good, "keys", "list").stdout


def test_wrong_pin_in_process_raises_login_failed(tmp_path: Path, softhsm: SoftHsm) -> None:
    """Checked in a fresh process: within one process the token login is shared (PKCS#11 §5.6)."""
    code = (
        "from keys.pkcs11 import Pkcs11Backend, Pkcs11Config\n"
        "from keys.errors import HsmLoginFailed\n"
        f"b = Pkcs11Backend(Pkcs11Config({softhsm.module!r}, {softhsm.token!r}, 'bad-pin'))\n"
        "try:\n    b.check()\nexcept HsmLoginFailed as e:\n    print('LOGIN-FAILED', e.code, repr(b.config))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=os.environ | softhsm.env(), timeout=60)
    assert "LOGIN-FAILED hsm-login-failed" in r.stdout, r.stderr
    assert "bad-pin" not in r.stdout  # the config's repr hides the PIN
    assert HsmLoginFailed.code == "hsm-login-failed"


def test_settings_keep_the_pin_secret(hsm_settings: Settings) -> None:
    assert hsm_settings.pkcs11_configured
    assert "4711" not in repr(hsm_settings) and "4711" not in str(Pkcs11Config("m", "t", "4711-pin"))
    assert Pkcs11Backend(Pkcs11Config("m", "t", "p")).name == "pkcs11"
    assert make_settings(hsm_settings.home).pkcs11_configured is False


def test_a_service_restart_finds_the_token_key_again(hsm_services: Services, hsm_settings: Settings) -> None:
    with hsm_services.db.session() as s:
        info = hsm_services.keys.generate(s, KeyAlgorithm.RSA_2048, "restart", backend="pkcs11")
    hsm_services.close()
    again = build_services(hsm_settings)
    try:
        with again.db.session() as s:
            sig = again.keys.signer(s, info.key_id).sign(b"after restart")
        assert verify(info.public_key_der, SignatureScheme.RSA_PKCS1_SHA256, b"after restart", sig)
    finally:
        again.close()
