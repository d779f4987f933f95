"""Our PKI judged by the OpenSSL 3 CLI: chains, CRLs, OCSP against the running server, TSA."""

from __future__ import annotations

import base64
import subprocess
import urllib.parse
import warnings
from pathlib import Path

import httpx
import pytest
from asn1crypto import ocsp as asn1ocsp
from asn1crypto import pem, tsp, x509
from cryptography import x509 as pyca_x509

from api.cli import main as cli
from api.container import Services
from ca.tsa import TimeStampResponse
from tests.ca.helpers import DISTID, make_csr, openssl, verify_chain, write_cas
from tests.conftest import LiveServer

FAMILIES = ["rsa", "ecdsa", "sm2"]


@pytest.mark.parametrize("family", FAMILIES)
def test_openssl_verifies_every_chain(services: Services, tmp_path: Path, family: str) -> None:
    cas = write_cas(services, tmp_path)
    root = cas[f"{family}-root"]
    verify_chain(tmp_path, family, root, None, root)
    for role in ("identity", "seal", "service"):
        verify_chain(tmp_path, family, root, None, cas[f"{family}-{role}"])
    # an end-entity certificate from an openssl-made CSR, through the Identity CA
    csr = make_csr(tmp_path, family, f"/C=CN/O=测试单位/CN=OpenSSL Peer {family}")
    with services.db.session() as s:
        issued = services.ca.issue_from_csr(s, f"{family}-identity", "organisation", csr.read_bytes(), actor="t")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(issued.cert_pem)
    verify_chain(tmp_path, family, root, cas[f"{family}-identity"], leaf)
    text = openssl("x509", "-in", str(leaf), "-noout", "-text", cwd=tmp_path).stdout
    assert "CRL Distribution Points" in text and "OCSP - URI:" in text and "CA Issuers - URI:" in text
    if family == "sm2":
        assert "SM2-with-SM3" in text or "1.2.156.10197.1.501" in text


@pytest.mark.parametrize("family", FAMILIES)
def test_objects_parse_without_warnings(services: Services, family: str) -> None:
    with services.db.session() as s:
        ders = [c.cert_der for c in services.ca.list_cas(s) if c.family.value == family]
        ders += [c.cert_der for c in services.ca.list_certificates(s) if c.ca_id.startswith(family)]
        crl = services.ca.current_crl(s, f"{family}-seal")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for der in ders:
            cert = pyca_x509.load_der_x509_certificate(der)
            cert.extensions  # noqa: B018 - parse every extension
            assert x509.Certificate.load(der).native  # asn1crypto full parse
        pyca_x509.load_der_x509_crl(crl)


@pytest.mark.parametrize("family", FAMILIES)
def test_openssl_verifies_crl_and_lists_revoked_serial(services: Services, tmp_path: Path, family: str) -> None:
    cas = write_cas(services, tmp_path)
    with services.db.session() as s:
        cert = services.ca.issue_for_new_key(
            s,
            f"{family}-identity",
            "person",
            services.ca.get_ca(s, f"{family}-identity").family
            and __import__("ca.service", fromlist=["x"]).FAMILY_KEYS[
                services.ca.get_ca(s, f"{family}-identity").family
            ][1],
            {"common_name": "Revoke Me", "country_name": "CN"},
            actor="t",
        )
        services.ca.revoke(s, cert.serial, "keyCompromise", actor="t")
        der = services.ca.current_crl(s, f"{family}-identity")
    (tmp_path / "c.crl").write_bytes(der)
    args = [
        "crl",
        "-inform",
        "DER",
        "-in",
        "c.crl",
        "-CAfile",
        str(cas[f"{family}-identity"]),
        "-noout",
        "-verify",
        "-text",
    ]
    if family == "sm2":
        # openssl crl has no -vfyopt; check the SM2 CRL signature with pkeyutl over the TBS instead
        from asn1crypto import crl as asn1crl

        lst = asn1crl.CertificateList.load(der)
        (tmp_path / "tbs").write_bytes(lst["tbs_cert_list"].dump())
        (tmp_path / "sig").write_bytes(lst["signature"].native)
        openssl("x509", "-in", str(cas[f"{family}-identity"]), "-pubkey", "-noout", "-out", "pub.pem", cwd=tmp_path)
        r = openssl(
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-rawin",
            "-in",
            "tbs",
            "-sigfile",
            "sig",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            cwd=tmp_path,
        )
        assert "Signature Verified Successfully" in r.stdout
        args = ["crl", "-inform", "DER", "-in", "c.crl", "-noout", "-text"]
    r = openssl(*args, cwd=tmp_path)
    if family != "sm2":
        assert "verify OK" in r.stderr + r.stdout
    assert cert.serial.upper() in r.stdout.replace(":", "").upper()
    assert "Key Compromise" in r.stdout and "Next Update" in r.stdout


def _ocsp(tmp_path: Path, url: str, issuer: Path, leaf: Path, root: Path) -> str:
    r = openssl(
        "ocsp",
        "-issuer",
        str(issuer),
        "-cert",
        str(leaf),
        "-url",
        f"{url}/pki/ocsp",
        "-CAfile",
        str(root),
        "-resp_text",
        cwd=tmp_path,
    )
    assert "Response verify OK" in r.stderr + r.stdout, r.stderr
    return r.stdout


@pytest.mark.parametrize("family", ["rsa", "ecdsa"])
def test_openssl_ocsp_good_then_revoked_after_cli_revoke(
    live_server: LiveServer, tmp_path: Path, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = live_server.services
    cas = write_cas(services, tmp_path)
    csr = make_csr(tmp_path, family, "/C=CN/CN=OCSP Subject")
    with services.db.session() as s:
        issued = services.ca.issue_from_csr(s, f"{family}-identity", "person", csr.read_bytes(), actor="t")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(issued.cert_pem)
    out = _ocsp(tmp_path, live_server.url, cas[f"{family}-identity"], leaf, cas[f"{family}-root"])
    assert f"{leaf}: good" in out and "OCSP Nonce" in out
    # a delegated responder (not the CA key) marked id-pkix-ocsp-nocheck, with OCSPSigning EKU
    assert "OCSP No Check" in out and "OCSP Signing" in out, out
    assert "CN=YWT " in out and " OCSP Responder" in out.split("Subject: ")[1].splitlines()[0], out
    monkeypatch.setenv("YWT_HOME", str(services.settings.home))
    if services.settings.database_url:
        monkeypatch.setenv("YWT_DATABASE_URL", services.settings.database_url)
    assert cli(["pki", "revoke", issued.serial, "--reason", "keyCompromise"]) == 0
    out = _ocsp(tmp_path, live_server.url, cas[f"{family}-identity"], leaf, cas[f"{family}-root"])
    assert f"{leaf}: revoked" in out and "keyCompromise" in out


def test_openssl_ocsp_sm2_good_then_revoked(live_server: LiveServer, tmp_path: Path) -> None:
    """SM2: ``openssl ocsp`` builds the request and reads our answer (good, then revoked); OpenSSL
    3.0 cannot verify an SM2-signed OCSP response itself (no distid for it), so the response
    signature is checked with ``openssl pkeyutl -digest sm3 -pkeyopt distid`` over the DER
    tbsResponseData, and the delegated responder certificate with ``openssl verify``."""
    services = live_server.services
    cas = write_cas(services, tmp_path)
    csr = make_csr(tmp_path, "sm2", "/C=CN/CN=SM2 OCSP Subject")
    with services.db.session() as s:
        issued = services.ca.issue_from_csr(s, "sm2-identity", "person", csr.read_bytes(), actor="t")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(issued.cert_pem)

    def ask(name: str) -> str:
        r = openssl("ocsp", "-issuer", str(cas["sm2-identity"]), "-cert", str(leaf), "-url",
                    f"{live_server.url}/pki/ocsp", "-noverify", "-respout", f"{name}.der", cwd=tmp_path)  # fmt: skip
        basic = asn1ocsp.OCSPResponse.load((tmp_path / f"{name}.der").read_bytes()).basic_ocsp_response
        assert basic["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
        responder = basic["certs"][0]
        (tmp_path / "responder.pem").write_bytes(pem.armor("CERTIFICATE", responder.dump()))
        assert "OCSP Responder" in responder.subject.human_friendly
        (tmp_path / "tbs").write_bytes(basic["tbs_response_data"].dump())
        (tmp_path / "sig").write_bytes(basic["signature"].native)
        openssl("x509", "-in", "responder.pem", "-pubkey", "-noout", "-out", "rpub.pem", cwd=tmp_path)
        ok = openssl("pkeyutl", "-verify", "-pubin", "-inkey", "rpub.pem", "-rawin", "-in", "tbs",
                     "-sigfile", "sig", "-digest", "sm3", "-pkeyopt", DISTID, cwd=tmp_path)  # fmt: skip
        assert "Signature Verified Successfully" in ok.stdout
        bad = bytearray((tmp_path / "tbs").read_bytes())
        bad[-1] ^= 1
        (tmp_path / "tbs").write_bytes(bytes(bad))
        assert openssl("pkeyutl", "-verify", "-pubin", "-inkey", "rpub.pem", "-rawin", "-in", "tbs",
                       "-sigfile", "sig", "-digest", "sm3", "-pkeyopt", DISTID,
                       cwd=tmp_path, check=False).returncode != 0  # fmt: skip
        verify_chain(tmp_path, "sm2", cas["sm2-root"], cas["sm2-identity"], tmp_path / "responder.pem")
        return r.stdout

    assert f"{leaf}: good" in ask("good")
    with services.db.session() as s:
        services.ca.revoke(s, issued.serial, "keyCompromise", actor="t")
    out = ask("revoked")
    assert f"{leaf}: revoked" in out and "keyCompromise" in out, out


def test_ocsp_unknown_serial_get_and_malformed(live_server: LiveServer, tmp_path: Path) -> None:
    services = live_server.services
    cas = write_cas(services, tmp_path)
    # a certificate from a CA we do not run -> our responder answers 'unauthorized'
    make_csr(tmp_path, "rsa", "/CN=stranger", "s")
    openssl(
        "req", "-x509", "-key", "s.key", "-subj", "/CN=Foreign CA", "-days", "1", "-out", "foreign.pem", cwd=tmp_path
    )
    r = openssl(
        "ocsp",
        "-issuer",
        "foreign.pem",
        "-cert",
        "foreign.pem",
        "-url",
        f"{live_server.url}/pki/ocsp",
        "-noverify",
        cwd=tmp_path,
        check=False,
    )
    assert "unauthorized" in (r.stdout + r.stderr).lower()
    # unknown serial of our CA, over GET with the URL-encoded base64 request
    openssl(
        "ocsp",
        "-issuer",
        str(cas["rsa-identity"]),
        "-serial",
        "0x1234567",
        "-reqout",
        "req.der",
        "-no_nonce",
        cwd=tmp_path,
    )
    b64 = urllib.parse.quote(base64.b64encode((tmp_path / "req.der").read_bytes()).decode(), safe="")
    resp = httpx.get(f"{live_server.url}/pki/ocsp/{b64}")
    assert resp.headers["content-type"] == "application/ocsp-response"
    parsed = asn1ocsp.OCSPResponse.load(resp.content)
    assert parsed["response_status"].native == "successful"
    single = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "unknown"
    # malformed requests -> malformedRequest, never a 500
    for body in (b"", b"\x30\x03\x02\x01", b"not der at all", bytes(5000)):
        resp = httpx.post(
            f"{live_server.url}/pki/ocsp", content=body, headers={"content-type": "application/ocsp-request"}
        )
        assert resp.status_code == 200
        assert asn1ocsp.OCSPResponse.load(resp.content)["response_status"].native == "malformed_request"
    resp = httpx.get(f"{live_server.url}/pki/ocsp/%%%not-base64")
    assert asn1ocsp.OCSPResponse.load(resp.content)["response_status"].native == "malformed_request"


@pytest.mark.parametrize("digest", ["sha256", "sm3"])
def test_openssl_ts_query_and_verify(live_server: LiveServer, tmp_path: Path, digest: str) -> None:
    cas = write_cas(live_server.services, tmp_path)
    (tmp_path / "data").write_bytes(b"document to time-stamp\n")
    openssl("ts", "-query", "-data", "data", f"-{digest}", "-cert", "-out", "q.tsq", cwd=tmp_path)
    resp = httpx.post(
        f"{live_server.url}/pki/tsa",
        content=(tmp_path / "q.tsq").read_bytes(),
        headers={"content-type": "application/timestamp-query"},
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "r.tsr").write_bytes(resp.content)
    r = openssl(
        "ts",
        "-verify",
        "-data",
        "data",
        "-in",
        "r.tsr",
        "-CAfile",
        str(cas["rsa-root"]),
        "-untrusted",
        str(cas["rsa-service"]),
        cwd=tmp_path,
    )
    assert "Verification: OK" in r.stdout
    text = openssl("ts", "-reply", "-in", "r.tsr", "-text", cwd=tmp_path).stdout
    assert "Status: Granted" in text and "Accuracy: 0x01 seconds" in text
    from ca import oids

    assert f"Policy OID: {oids.TSA_POLICY}" in text, text
    assert ("Hash Algorithm: sm3" if digest == "sm3" else "Hash Algorithm: sha256") in text, text


def test_tsa_serials_are_monotonic_and_bad_queries_rejected(live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"x")
    openssl("ts", "-query", "-data", "data", "-sha256", "-out", "q.tsq", cwd=tmp_path)
    serials = []
    for _ in range(5):
        resp = httpx.post(f"{live_server.url}/pki/tsa", content=(tmp_path / "q.tsq").read_bytes())
        info = tsp.TimeStampResp.load(resp.content)["time_stamp_token"]["content"]["encap_content_info"]["content"]
        serials.append(info.parsed["serial_number"].native)
    assert serials == sorted(serials) and len(set(serials)) == 5
    # unsupported hash -> rejection with badAlg
    openssl("ts", "-query", "-data", "data", "-sha1", "-out", "sha1.tsq", cwd=tmp_path)
    resp = httpx.post(f"{live_server.url}/pki/tsa", content=(tmp_path / "sha1.tsq").read_bytes())
    status = TimeStampResponse.load(resp.content)["status"]
    assert status["status"].native == "rejection" and "bad_alg" in status["fail_info"].native
    openssl("ts", "-query", "-data", "data", "-sha512", "-out", "sha512.tsq", cwd=tmp_path)
    resp = httpx.post(f"{live_server.url}/pki/tsa", content=(tmp_path / "sha512.tsq").read_bytes())
    assert "bad_alg" in TimeStampResponse.load(resp.content)["status"]["fail_info"].native
    for junk in (b"", b"junk", bytes(100)):
        resp = httpx.post(f"{live_server.url}/pki/tsa", content=junk)
        assert resp.status_code == 200
        assert TimeStampResponse.load(resp.content)["status"]["status"].native == "rejection"
    # openssl shows the rejection as such
    (tmp_path / "rej.tsr").write_bytes(resp.content)
    out = subprocess.run(
        ["openssl", "ts", "-reply", "-in", "rej.tsr", "-text"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "Rejected" in out.stdout


def test_sm2_tsa_token_verifies_with_our_keys(live_server: LiveServer, tmp_path: Path) -> None:
    import hashlib

    from keys import SignatureScheme, verify

    (tmp_path / "data").write_bytes(b"sm2 stamp")
    openssl("ts", "-query", "-data", "data", "-sm3", "-cert", "-out", "q.tsq", cwd=tmp_path)
    resp = httpx.post(f"{live_server.url}/pki/tsa?family=sm2", content=(tmp_path / "q.tsq").read_bytes())
    token = tsp.TimeStampResp.load(resp.content)["time_stamp_token"]
    sd = token["content"]
    si = sd["signer_infos"][0]
    assert si["digest_algorithm"]["algorithm"].native == "sm3"
    tst_der = sd["encap_content_info"]["content"].contents
    attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}
    assert attrs["message_digest"].native == hashlib.new("sm3", tst_der).digest()
    sid = si["sid"].chosen
    cert = next(c.chosen for c in sd["certificates"] if c.chosen.serial_number == sid["serial_number"].native)
    assert "Time-Stamping" in cert.subject.human_friendly
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.301.1"
    signed = si["signed_attrs"].untag().dump()
    assert signed[0] == 0x31
    assert verify(cert.public_key.dump(), SignatureScheme.SM2_SM3, signed, si["signature"].native)
