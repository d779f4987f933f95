"""Test PKI for seals: SM2 keys and minimal self-signed SM2 certificates (conftest.py wraps them).

Keys come from tongsuopy (test code only: production code signs through ``keys/``);
certificates are built with asn1crypto per GM/T 0015 (SPKI ``id-ecPublicKey`` + sm2p256v1,
signature ``SEQ{1.2.156.10197.1.501, NULL}``) and signed over the DER TBSCertificate.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import core, keys, x509
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

from seal import _ses_asn1 as asn
from seal.ses import CertCheck, CheckStatus, SealInfoSpec, SealPicture

OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d0342")  # STANDARDS.md
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Sm2Party:
    """A key pair with a self-signed certificate."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: bytes

    def sign(self, data: bytes) -> bytes:
        sig: bytes = self.key.sign(data, ec.ECDSA(hashes.SM3()))
        return sig

    @property
    def public_xy(self) -> bytes:
        n = self.key.public_key().public_numbers()
        return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")

    @property
    def public_pem(self) -> bytes:
        pem: bytes = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem


def make_cert(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime = T0 - timedelta(days=365),
    not_after: datetime = T0 + timedelta(days=3 * 365),
    key_usage: set[str] | None = None,
    serial: int = 1,
) -> bytes:
    der_spki = serialization.PublicFormat.SubjectPublicKeyInfo
    spki = key.public_key().public_bytes(serialization.Encoding.DER, der_spki)
    assert spki.startswith(SM2_SPKI_PREFIX)
    name = x509.Name.build({"country_name": "CN", "organization_name": "示例", "common_name": common_name})
    usage = key_usage if key_usage is not None else {"digital_signature", "non_repudiation"}
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": OID_SM2_WITH_SM3, "parameters": core.Null()},
            "issuer": name,
            "validity": {
                "not_before": x509.Time({"utc_time": not_before}),
                "not_after": x509.Time({"utc_time": not_after}),
            },
            "subject": name,
            "subject_public_key_info": keys.PublicKeyInfo.load(spki),
            "extensions": [
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": usage,
                }
            ],
        }
    )
    signature = key.sign(tbs.dump(), ec.ECDSA(hashes.SM3()))
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": OID_SM2_WITH_SM3, "parameters": core.Null()},
            "signature_value": signature,
        }
    )
    der: bytes = cert.dump()
    return der


def new_party(name: str, **cert_kwargs: object) -> Sm2Party:
    key = ec.generate_private_key(ec.SM2())
    return Sm2Party(name, key, make_cert(name, key, **cert_kwargs))  # type: ignore[arg-type]


def sm2_verify(cert_der: bytes, data: bytes, signature: bytes) -> bool:
    """The ``verify`` callable as keys/ will provide it: SM2-with-SM3, default ID."""
    spki = x509.Certificate.load(cert_der)["tbs_certificate"]["subject_public_key_info"].dump()
    public = serialization.load_der_public_key(spki)
    try:
        public.verify(signature, data, ec.ECDSA(hashes.SM3()))
    except InvalidSignature:
        return False
    return True


@dataclass
class TrustStub:
    """Stands in for the CA / trust list: trusts listed certs within their validity."""

    trusted: set[bytes] = field(default_factory=set)
    revoked: set[bytes] = field(default_factory=set)
    calls: list[tuple[bytes, datetime]] = field(default_factory=list)

    def __call__(self, cert_der: bytes, at: datetime) -> CertCheck:
        self.calls.append((cert_der, at))
        if cert_der in self.revoked:
            return CertCheck.failed("revoked", "REVOKED")
        if cert_der not in self.trusted:
            return CertCheck.failed("no chain to the trust list", "NO_CERTIFICATE_CHAIN_FOUND")
        validity = x509.Certificate.load(cert_der)["tbs_certificate"]["validity"]
        if not validity["not_before"].native <= at <= validity["not_after"].native:
            return CertCheck(CheckStatus.FAILED, "outside its validity", "OUT_OF_BOUNDS_NO_POE")
        return CertCheck.passed()


def tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (230, 0, 18, 255)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------- SES helpers

VALID_FROM = T0
VALID_TO = T0 + timedelta(days=365)
SIGNED_AT = T0 + timedelta(days=30)
DOCUMENT = b"%PDF-1.7 demo decision 2025-001: approved\n"


def seal_spec(holder: Sm2Party, png: bytes | None = None, **overrides: object) -> SealInfoSpec:
    args: dict[str, object] = {
        "es_id": "12010300000001",
        "name": "天津市示例行政审批局行政审批专用章",
        "seal_type": 1,
        "signer_certs": (holder.cert,),
        "valid_start": VALID_FROM,
        "valid_end": VALID_TO,
        "created": VALID_FROM,
        "picture": SealPicture("png", png or tiny_png(), 42, 42),
    } | overrides
    return SealInfoSpec(**args)  # type: ignore[arg-type]


def forge_signature(
    seal_der: bytes,
    document: bytes,
    signer: Sm2Party,
    *,
    at: datetime = SIGNED_AT,
    version: int = 4,
    signature_alg: str = OID_SM2_WITH_SM3,
    time_stamp: bytes | None = None,
) -> bytes:
    """A v4 SES_Signature built without make_signature's refusals (for negative tests)."""
    tbs = asn.TbsSignV4(
        {
            "version": version,
            "eseal": asn.SesSealV4.load(seal_der),
            "time_info": at,
            "data_hash": hashlib.new("sm3", document).digest(),
            "property_info": "/forged.pdf",
        }
    ).dump()
    out = {
        "to_sign": asn.TbsSignV4.load(tbs),
        "cert": signer.cert,
        "signature_alg_id": signature_alg,
        "signature": signer.sign(tbs),
    }
    if time_stamp is not None:
        out["time_stamp"] = time_stamp
    der: bytes = asn.SesSignatureV4(out).dump()
    return der


def make_v1_seal(maker: Sm2Party, holder: Sm2Party, *, header_version: int = 1) -> bytes:
    """A GM/T 0031-2014 seal laid out as ofdrw's v1 generator does (UTCTime, signInfo)."""
    seal_info = asn.SealInfoV1(
        {
            "header": {"id": "ES", "version": header_version, "vid": "TEST-V1"},
            "es_id": "V1-0001",
            "property": {
                "type": 1,
                "name": "示例一版印章",
                "cert_list": [holder.cert],
                "create_date": x509.Time({"utc_time": VALID_FROM}),
                "valid_start": x509.Time({"utc_time": VALID_FROM}),
                "valid_end": x509.Time({"utc_time": VALID_TO}),
            },
            "picture": {"type": "PNG", "data": tiny_png(), "width": 40, "height": 40},
        }
    )
    cert = core.OctetString(maker.cert)
    alg = core.ObjectIdentifier(OID_SM2_WITH_SM3)
    body = seal_info.dump() + cert.dump() + alg.dump()
    signed = b"\x30" + _len(body) + body
    seal = asn.SesSealV1(
        {
            "e_seal_info": asn.SealInfoV1.load(seal_info.dump()),
            "sign_info": {
                "cert": maker.cert,
                "signature_algorithm": OID_SM2_WITH_SM3,
                "sign_data": maker.sign(signed),
            },
        }
    )
    der: bytes = seal.dump()
    return der


def make_v1_signature(seal_der: bytes, document: bytes, signer: Sm2Party, *, time_info: bytes) -> bytes:
    """A GM/T 0031-2014 signature: TBS carries timeInfo BIT STRING, cert and algorithm."""
    tbs = asn.TbsSignV1(
        {
            "version": 1,
            "eseal": asn.SesSealV1.load(seal_der),
            "time_info": core.OctetBitString(time_info),
            "data_hash": core.OctetBitString(hashlib.new("sm3", document).digest()),
            "property_info": "/Doc_0/Signs/Sign_0/Signature.xml",
            "cert": signer.cert,
            "signature_algorithm": OID_SM2_WITH_SM3,
        }
    ).dump()
    der: bytes = asn.SesSignatureV1(
        {"to_sign": asn.TbsSignV1.load(tbs), "signature": signer.sign(tbs)}
    ).dump()
    return der


def _len(body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
