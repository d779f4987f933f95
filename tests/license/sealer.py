"""TEST-ONLY licence sealer: pyHanko with a real ECDSA key and certificate from our Seal CA.

Issuance codes against :class:`license.sealing.PdfSealer`; until seal/'s ``SealService`` was
merged, tests sealed with this one. The crypto is real: the key lives in keys/ (the signature is
made by ``services.keys``' signer), the certificate is issued by ``ecdsa-seal`` with the
``seal-signing`` profile, the signature is a PAdES certification signature (DocMDP) with an
RFC 3161 time-stamp from our own TSA (B-T). It skips what seal/ adds (registry, grants, seal
image, idempotency) and so must never be wired outside tests.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from asn1crypto import algos, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlmodel import Session

from api.container import Services
from keys import Family, KeyAlgorithm
from license.errors import NoIssuingSeal
from license.sealing import IssuingSeal, SealBox


class _KeysSigner(signers.Signer):
    """pyHanko signer whose private-key operation goes through keys/."""

    def __init__(self, signer: Any, cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]) -> None:
        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs([cert, *chain]),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )
        self._signer = signer

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        assert digest_algorithm == "sha256"
        return bytes(self._signer.sign(data))


class _InProcessTsa(TimeStamper):
    """RFC 3161 time-stamps from our own TSA (ca/), in the caller's session."""

    def __init__(self, services: Services, session: Session) -> None:
        super().__init__()
        self._services = services
        self._session = session

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        der = self._services.ca.timestamp(self._session, req.dump(), Family.RSA)
        return tsp.TimeStampResp.load(der)


class TestOnlySealer:
    """A PdfSealer for tests: one seal per owner USCC listed at construction."""

    __test__ = False  # not a pytest test class

    def __init__(self, services: Services, owners: dict[str, str]) -> None:
        self.services = services
        self.owners = owners  # USCC -> owner name
        self._keys: dict[str, tuple[str, str]] = {}  # USCC -> (key_id, cert serial)
        self.calls = 0

    def _credential(self, session: Session, owner_uscc: str) -> tuple[Any, asn1_x509.Certificate, list[Any]]:
        if owner_uscc not in self._keys:
            issued = self.services.ca.issue_for_new_key(
                session,
                "ecdsa-seal",
                "seal-signing",
                KeyAlgorithm.EC_P256,
                {
                    "country_name": "CN",
                    "organization_name": self.owners[owner_uscc],
                    "common_name": f"{self.owners[owner_uscc]}电子证照专用章（测试）",
                },
                actor="test-sealer",
            )
            assert issued.key_id is not None
            self._keys[owner_uscc] = (issued.key_id, issued.serial)
        key_id, serial = self._keys[owner_uscc]
        cert = asn1_x509.Certificate.load(self.services.ca.get_certificate(session, serial).cert_der)
        chain = [asn1_x509.Certificate.load(c.cert_der) for c in self.services.ca.chain(session, "ecdsa-seal")]
        return self.services.keys.signer(session, key_id), cert, chain

    def find_seal(self, session: Session, *, owner_uscc: str, seal_ref: str) -> IssuingSeal:
        if owner_uscc not in self.owners or seal_ref != "licence-issuing":
            raise NoIssuingSeal(owner_uscc, seal_ref)
        name = self.owners[owner_uscc]
        return IssuingSeal(f"test-seal-{owner_uscc}", f"{name}电子证照专用章", name)

    def seal(
        self, session: Session, *, seal: IssuingSeal, pdf: bytes, box: SealBox, reason: str, location: str, actor: str
    ) -> bytes:
        owner = seal.seal_id.removeprefix("test-seal-")
        signer, cert, chain = self._credential(session, owner)
        meta = signers.PdfSignatureMetadata(
            field_name="LicenceSeal",
            md_algorithm="sha256",
            certify=True,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
        )
        field_spec = fields.SigFieldSpec(
            "LicenceSeal", on_page=box.page, box=(box.x, box.y, box.x + box.width, box.y + box.height)
        )
        pdf_signer = signers.PdfSigner(
            meta,
            _KeysSigner(signer, cert, chain),
            timestamper=_InProcessTsa(self.services, session),
            new_field_spec=field_spec,
        )
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
        out = asyncio.run(pdf_signer.async_sign_pdf(writer))
        self.calls += 1
        return bytes(out.getvalue())
