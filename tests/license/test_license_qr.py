"""The QR payload: compact JWS ES256, offline verification, forged and truncated codes refused.

The independent peer is python-jose, a JOSE library a relying party would use: it verifies our
token with nothing but the QR certificate's public key.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from licence_helpers import QUALIFICATION, issue, person_data, trust_certs

from core import clock
from identity.sources.demo import DEMO_CITIZEN
from keys import Family, KeyAlgorithm, LocalSigner
from keys.crypto import generate
from license.errors import InvalidQrPayload
from license.identifier import IdentifierParts
from license.qr import (
    MAX_PAYLOAD_CHARS,
    QrContent,
    kid_for,
    make_payload,
    mask_holder_name,
    payload_from_text,
    qr_url,
    verify_payload,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def qr(services: Any) -> Any:
    with services.db.session() as s:
        cred = services.ca.find_credential(s, "qr", Family.ECDSA)
    assert cred is not None, "ensure_setup creates the QR credential at initialisation"
    return cred


def _content(**over: Any) -> QrContent:
    values: dict[str, Any] = {
        "identifier": str(IdentifierParts(QUALIFICATION, "11120000MB0000019W", "2024000001")),
        "holder_masked": "张*",
        "valid_from": date(2024, 6, 1),
        "valid_to": date(2029, 5, 31),
        "data_hash": bytes(range(32)),
        "signed_at": clock.now().replace(microsecond=0) - timedelta(minutes=1),
    }
    values.update(over)
    return QrContent(**values)


def _sign_raw(header: dict[str, Any], claims: dict[str, Any], signer: Any) -> str:
    """A JWS over arbitrary header/claims with a real ES256 signature (for structural negatives)."""
    from asn1crypto import algos

    h = _b64(json.dumps(header, separators=(",", ":")).encode())
    b = _b64(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())
    der = signer.sign(f"{h}.{b}".encode())
    return f"{h}.{b}.{_b64(algos.DSASignature.load(der).to_p1363())}"


def test_roundtrip_and_python_jose_agrees(services: Any, qr: Any) -> None:
    from jose import jws

    payload = make_payload(_content(), qr.signer, qr.cert_der)
    assert len(payload) <= MAX_PAYLOAD_CHARS
    claims = verify_payload(payload, trust_certs(services))
    assert claims.identifier.endswith(".2024000001.001." + claims.identifier[-1])
    assert claims.holder_masked == "张*" and claims.valid_to == date(2029, 5, 31)
    assert claims.data_hash == bytes(range(32)).hex()
    assert claims.type_code == QUALIFICATION and claims.version == 1
    assert "Licence QR" in claims.signer_subject

    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(qr.cert_der).decode() + "-----END CERTIFICATE-----\n"
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import serialization

    pub = cx509.load_pem_x509_certificate(pem.encode()).public_key()
    pub_pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = json.loads(jws.verify(payload, pub_pem.decode(), algorithms=["ES256"]))
    assert body["id"] == claims.identifier and body["n"] == "张*" and body["vf"] == 20240601
    assert jws.get_unverified_header(payload) == {"alg": "ES256", "kid": kid_for(qr.cert_der)}


def test_open_ended_licence_has_no_end_date(services: Any, qr: Any) -> None:
    payload = make_payload(_content(valid_to=None), qr.signer, qr.cert_der)
    assert "vt" not in json.loads(_unb64(payload.split(".")[1]))
    assert verify_payload(payload, trust_certs(services)).valid_to is None


def test_worst_case_sizes_stay_within_400(qr: Any) -> None:
    """Longest masked names (entities: 6 characters, 14 UTF-8 bytes), our longest serials."""
    for name in ("张*", "欧阳***", mask_holder_name("天津市示例餐饮管理有限公司", entity=True)):
        for serial in ("2024000001", "20249999999"):
            ident = str(IdentifierParts(QUALIFICATION, "11120000MB0000019W", serial, 999))
            payload = make_payload(
                _content(identifier=ident, holder_masked=name, valid_to=date(9999, 12, 31)), qr.signer, qr.cert_der
            )
            assert len(payload) <= MAX_PAYLOAD_CHARS, (name, serial, len(payload))
    # and the QR URL of the demo base fits the layout at 150 dpi (checked by the render tests)
    assert qr_url("http://127.0.0.1:8000", "x") == "http://127.0.0.1:8000/v/x"


def test_no_personal_data_in_clear(licensing: Any, services: Any) -> None:
    view = issue(licensing, QUALIFICATION, person_data())
    header, body, _ = view.qr_payload.split(".")
    text = _unb64(header).decode() + _unb64(body).decode("utf-8")
    assert DEMO_CITIZEN.id_number not in text
    assert DEMO_CITIZEN.name not in text  # only 张*
    assert set(json.loads(_unb64(body))) == {"id", "n", "vf", "h", "iat"}


def test_masking() -> None:
    assert mask_holder_name("张三", entity=False) == "张*"
    assert mask_holder_name("欧阳娜娜", entity=False) == "欧***"
    assert mask_holder_name("买买提·艾力", entity=False) == "买***"
    assert mask_holder_name("天津示例科技有限公司", entity=True) == "天津**公司"


def test_payload_from_scanned_url() -> None:
    assert payload_from_text(" https://ywt.example.cn/v/abc.def.ghi?x=1 ") == "abc.def.ghi"
    assert payload_from_text("abc.def.ghi") == "abc.def.ghi"


# ------------------------------------------------------------------- forged and truncated codes


def _reason(payload: str, certs: list[bytes], **kw: Any) -> str:
    with pytest.raises(InvalidQrPayload) as info:
        verify_payload(payload, certs, **kw)
    return info.value.reason


def test_altered_claims_are_refused(services: Any, qr: Any) -> None:
    certs = trust_certs(services)
    header, body, sig = make_payload(_content(), qr.signer, qr.cert_der).split(".")
    claims = json.loads(_unb64(body))
    changes = ({"n": "李*"}, {"vt": 20991231}, {"h": _b64(bytes(32))}, {"id": claims["id"].replace("001.", "002.")})
    for change in changes:
        forged = _b64(json.dumps({**claims, **change}, ensure_ascii=False, separators=(",", ":")).encode())
        assert _reason(f"{header}.{forged}.{sig}", certs) == "bad_signature"
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert _reason(f"{header}.{body}.{flipped}", certs) == "bad_signature"


def test_truncated_codes_are_refused(services: Any, qr: Any) -> None:
    certs = trust_certs(services)
    payload = make_payload(_content(), qr.signer, qr.cert_der)
    seen = set()
    for cut in (1, 2, 3, 10, 43, 86, 87, 150, len(payload) - 60, len(payload) - 1):
        seen.add(_reason(payload[: len(payload) - cut], certs))
    assert seen <= {"malformed", "bad_signature"}
    assert _reason("", certs) == "malformed"
    assert _reason("http://127.0.0.1:8000/v/", certs) == "malformed"


def test_signature_by_an_untrusted_key_is_refused(services: Any, qr: Any) -> None:
    certs = trust_certs(services)
    rogue = LocalSigner(KeyAlgorithm.EC_P256, generate(KeyAlgorithm.EC_P256))
    # the rogue key claims the trusted certificate's kid: the signature decides
    assert _reason(make_payload(_content(), rogue, qr.cert_der), certs) == "bad_signature"
    # ... or its own certificate, which is not in the trust list
    assert _reason(make_payload(_content(), rogue, b"rogue certificate"), certs) == "unknown_signer"
    # nothing trusted at all
    assert _reason(make_payload(_content(), qr.signer, qr.cert_der), []) == "unknown_signer"


def test_header_tricks_are_refused(services: Any, qr: Any) -> None:
    certs = trust_certs(services)
    kid = kid_for(qr.cert_der)
    claims = _content().claims()
    assert _reason(_sign_raw({"alg": "HS256", "kid": kid}, claims, qr.signer), certs) == "unsupported_alg"
    none = f"{_b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{_b64(json.dumps(claims).encode())}."
    assert _reason(none, certs) == "malformed"  # empty signature
    typed = _sign_raw({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims, qr.signer)
    assert _reason(typed, certs) == "wrong_type"
    crit = _sign_raw({"alg": "ES256", "kid": kid, "crit": []}, claims, qr.signer)
    assert _reason(crit, certs) == "wrong_type"


def test_claims_of_another_token_kind_are_refused(services: Any, qr: Any) -> None:
    """An OIDC-shaped token signed by a trusted key is still not a licence code."""
    certs = trust_certs(services)
    kid = kid_for(qr.cert_der)
    oidc = {"iss": "http://127.0.0.1:8000", "sub": "acct", "aud": "rp", "iat": 1700000000}
    assert _reason(_sign_raw({"alg": "ES256", "kid": kid}, oidc, qr.signer), certs) == "bad_claims"
    extra = {**_content().claims(), "sub": "acct"}
    assert _reason(_sign_raw({"alg": "ES256", "kid": kid}, extra, qr.signer), certs) == "bad_claims"
    bad_date = {**_content().claims(), "vf": 20240230}
    assert _reason(_sign_raw({"alg": "ES256", "kid": kid}, bad_date, qr.signer), certs) == "bad_claims"


def test_non_canonical_base64_is_refused(services: Any, qr: Any) -> None:
    header, body, sig = make_payload(_content(), qr.signer, qr.cert_der).split(".")
    # the last character of a 64-byte signature carries 4 unused bits: set them
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(sig[-1]) ^ 1]
    assert _reason(f"{header}.{body}.{sig[:-1]}{last}", trust_certs(services)) == "malformed"
    assert _reason(f"{header}=.{body}.{sig}", trust_certs(services)) == "malformed"


def test_oversized_payload_is_refused_before_parsing(services: Any) -> None:
    assert _reason("a" * 401, trust_certs(services)) == "too_long"


def test_signer_must_be_a_token_signing_certificate(services: Any) -> None:
    """A trusted ECDSA certificate for another purpose (our TSA) cannot vouch for a licence."""
    with services.db.session() as s:
        tsa = services.ca.find_credential(s, "tsa", Family.ECDSA)
    payload = make_payload(_content(), tsa.signer, tsa.cert_der)
    assert _reason(payload, [tsa.cert_der, *trust_certs(services)]) == "untrusted_signer"


def test_signing_time_must_fit_the_certificate(services: Any, qr: Any) -> None:
    certs = trust_certs(services)
    future = make_payload(_content(signed_at=clock.now() + timedelta(days=1)), qr.signer, qr.cert_der)
    assert _reason(future, certs) == "bad_claims"
    ancient = make_payload(_content(signed_at=datetime(2001, 1, 1, tzinfo=UTC)), qr.signer, qr.cert_der)
    assert _reason(ancient, certs) == "untrusted_signer"
    # verified "as of" a past time, a code signed after it is refused
    ok = make_payload(_content(), qr.signer, qr.cert_der)
    assert _reason(ok, certs, at=clock.now() - timedelta(days=1)) == "bad_claims"


def test_look_alike_certificate_not_issued_by_the_named_ca_is_refused(services: Any) -> None:
    """A certificate naming our Service CA as issuer, but signed by someone else."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca.oids import EKU_TOKEN_SIGNING

    with services.db.session() as s:
        service_ca = services.ca.get_ca(s, "ecdsa-service")
    issuer_name = cx509.load_der_x509_certificate(service_ca.cert_der).subject
    rogue_key = generate(KeyAlgorithm.EC_P256)
    now = datetime.now(UTC)
    cert = (
        cx509.CertificateBuilder()
        .subject_name(cx509.Name([cx509.NameAttribute(cx509.NameOID.COMMON_NAME, "YWT Licence QR Signing")]))
        .issuer_name(issuer_name)
        .public_key(rogue_key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(cx509.ExtendedKeyUsage([cx509.ObjectIdentifier(EKU_TOKEN_SIGNING)]), critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    der = cert.public_bytes(Encoding.DER)
    payload = make_payload(_content(), LocalSigner(KeyAlgorithm.EC_P256, rogue_key), der)
    assert _reason(payload, [der, service_ca.cert_der]) == "untrusted_signer"
