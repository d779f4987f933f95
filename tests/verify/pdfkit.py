"""Test-only PDF sealing: a pyHanko ``Signer`` backed by a key in our store, and a
``TimeStamper`` that asks our CA's TSA in-process.

The production sealer lives in seal/ (another helper writes it); this kit only makes the
documents the verifier is tested on. Keys never leave keys/: the pyHanko signer calls
``keys.Signer.sign``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, tsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from api.container import Services
from core import clock
from keys import Family, KeyAlgorithm, SignatureScheme
from keys import Signer as KeySigner

_ALG = {Family.RSA: KeyAlgorithm.RSA_2048, Family.ECDSA: KeyAlgorithm.EC_P256, Family.SM2: KeyAlgorithm.SM2}
_MECH = {
    Family.RSA: "sha256_rsa",
    Family.ECDSA: "sha256_ecdsa",
    Family.SM2: "sm2_sm3",
}


def plain_pdf(text: str = "天津市示例行政审批局 test document", pages: int = 1) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    for i in range(pages):
        c.setFont("Helvetica", 14)
        c.drawString(72, 760, f"Document page {i + 1}")
        c.drawString(72, 730, text.encode("ascii", "replace").decode())
        c.showPage()
    c.save()
    return buf.getvalue()


class StoreSigner(signers.Signer):
    """pyHanko signer whose private key operation is ``keys.Signer.sign``."""

    def __init__(self, key: KeySigner, cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._key = key
        fam = key.algorithm.family
        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs([cert, *chain]),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": _MECH[fam]}),
        )

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(512)
        return self._key.sign(data, self._key.scheme)


class InProcessTsa(TimeStamper):
    """RFC 3161 tokens from our CA without HTTP (``CaService.timestamp``)."""

    def __init__(self, services: Services, family: Family = Family.RSA) -> None:
        super().__init__(include_nonce=True)
        self.services = services
        self.family = family

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        with self.services.db.session() as s:
            der = self.services.ca.timestamp(s, req.dump(), self.family)
        return tsp.TimeStampResp.load(der)


@dataclass
class SealKey:
    signer: KeySigner
    cert: x509.Certificate
    chain: list[x509.Certificate]
    serial: str
    family: Family


def issue_seal_key(services: Services, family: Family, name: str = "测试专用章", ca: str | None = None) -> SealKey:
    """A key in the store with a seal-signing certificate from our Seal CA of ``family``."""
    ca_id = ca or f"{family.value}-seal"
    with services.db.session() as s:
        issued = services.ca.issue_for_new_key(
            s,
            ca_id,
            "seal-signing",
            _ALG[family],
            {"country_name": "CN", "organization_name": "天津市示例行政审批局", "common_name": name},
            actor="test",
            purpose="seal",
        )
        assert issued.key_id is not None
        signer = services.keys.signer(s, issued.key_id)
        chain = [x509.Certificate.load(c.cert_der) for c in services.ca.chain(s, ca_id)]
    return SealKey(signer, x509.Certificate.load(issued.cert_der), chain, issued.serial, family)


def seal_pdf(
    services: Services,
    pdf: bytes,
    key: SealKey,
    *,
    timestamp: bool = True,
    field_name: str | None = None,
    certify: bool = False,
    embed_revinfo: bool = False,
    tsa_family: Family | None = None,
) -> bytes:
    """Sign ``pdf`` with pyHanko (PAdES B-B, or B-T with ``timestamp``)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    md = "sm3" if key.family is Family.SM2 else "sha256"
    meta = signers.PdfSignatureMetadata(
        field_name=field_name or f"Seal{clock.now().timestamp():.0f}{key.serial[:6]}",
        md_algorithm=md,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        embed_validation_info=False,
        reason="test seal",
    )
    tsa = InProcessTsa(services, tsa_family or key.family) if timestamp else None
    pdf_signer = signers.PdfSigner(meta, signer=StoreSigner(key.signer, key.cert, key.chain), timestamper=tsa)
    out = io.BytesIO()
    pdf_signer.sign_pdf(writer, output=out)
    return out.getvalue()


def sign_with_scheme(key: SealKey, data: bytes) -> bytes:
    return key.signer.sign(data, SignatureScheme.SM2_SM3 if key.family is Family.SM2 else None)


def at(dt: datetime) -> datetime:
    return dt


# --- a PKI outside our trust list ------------------------------------------------------------


@dataclass
class ForeignPki:
    root: x509.Certificate
    leaf: x509.Certificate
    key_der: bytes


def _foreign() -> ForeignPki:
    """A root and a signing certificate made with pyca/cryptography, unknown to our trust list."""
    from datetime import UTC, timedelta
    from datetime import datetime as dt

    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_name = cx.Name(
        [cx.NameAttribute(NameOID.COMMON_NAME, "Foreign Root CA"), cx.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    )
    root = (
        cx.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(cx.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(cx.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(cx.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        cx.CertificateBuilder()
        .subject_name(cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, "仿冒专用章")]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(cx.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(cx.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key_der = leaf_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ForeignPki(
        x509.Certificate.load(root.public_bytes(serialization.Encoding.DER)),
        x509.Certificate.load(leaf.public_bytes(serialization.Encoding.DER)),
        key_der,
    )


FOREIGN = _foreign()


def foreign_signed_pdf(pdf: bytes) -> bytes:
    from asn1crypto import keys as asn1keys

    signer = signers.SimpleSigner(
        signing_cert=FOREIGN.leaf,
        signing_key=asn1keys.PrivateKeyInfo.load(FOREIGN.key_der),
        cert_registry=SimpleCertificateStore.from_certs([FOREIGN.leaf, FOREIGN.root]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Foreign", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out)
    return out.getvalue()
