"""The verification service: one façade for the API, the pages and the CLI.

It owns the trust list, gathers revocation data from our CA in-process (current CRLs; the CA
records for certificates past expiry), runs untrusted parsing in the sandbox, applies the
policy (:mod:`verify.pdf`) and journals every verification with its verdict (the document's
SHA-256, never its content or any personal data).

Sessions are opened here rather than passed in: PDF analysis takes tens of milliseconds to
seconds, and an SQLite session is a writer lock (BEGIN IMMEDIATE), so the service gathers
its inputs in one short session, analyses with no session open, and journals in another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from asn1crypto import cms, x509
from sqlmodel import Session

from ca.service import CaService
from core import clock, metrics
from core.audit import Journal
from core.db import Database
from core.settings import Settings
from keys import SignatureScheme
from keys import verify as keys_verify
from verify import report as r
from verify import sandbox
from verify.certs import PathResult, run_sync, validate_certificate, validation_context
from verify.errors import BadCertificate, EmptyInput, InputTooLarge, NotAPdf, PdfTooComplex
from verify.pdf import RegistryStatus, decide
from verify.pdfcore import PdfFacts, PdfInputs, analyse
from verify.report import Check, DocumentReport, Sub
from verify.trust import TrustList, TrustService, load_certificates


class SealLookup(Protocol):
    """Seal identity and live status for a signing certificate (seal/ provides the real one)."""

    def __call__(self, session: Session, cert_der: bytes) -> RegistryStatus | None: ...


def registry_lookup(ca: CaService) -> SealLookup:
    """The default seam: seal registry + CA records (:mod:`verify.registry`)."""
    from verify.registry import seal_lookup

    def lookup(session: Session, cert_der: bytes) -> RegistryStatus | None:
        return seal_lookup(ca, session, cert_der)

    return lookup


@dataclass
class VerifyService:
    settings: Settings
    db: Database
    ca: CaService
    journal: Journal
    trust: TrustService
    seal_lookup: SealLookup | None = None
    limits: sandbox.Limits = field(default_factory=lambda: sandbox.DEFAULT_LIMITS)
    #: extra anchors (e.g. ``ywt verify --trust``) added to every trust list this instance builds
    extra_anchors: tuple[x509.Certificate, ...] = ()
    #: identity/ (our JWKS and token deny list) for token verification
    identity: Any = None
    _jwks_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)
    _crl_cache: tuple[tuple[tuple[str, int], ...], datetime, tuple[bytes, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.seal_lookup is None:
            self.seal_lookup = registry_lookup(self.ca)

    # --- inputs -------------------------------------------------------------------------------

    def trust_list(self, session: Session) -> TrustList:
        tl = self.trust.current(session)
        return tl.with_anchors(list(self.extra_anchors), "cli") if self.extra_anchors else tl

    def our_crls(self, session: Session) -> tuple[bytes, ...]:
        """The current CRL of every CA of ours, in-process (what ``/pki/cas/{id}/crl`` serves).

        Cached while no CA has issued a newer CRL (one indexed query tells) and none is within
        its refresh window, so a revocation is visible to the very next verification."""
        import sqlalchemy as sa

        from ca.models import CrlRecord

        rows = session.exec(
            sa.select(CrlRecord.ca_id, sa.func.max(CrlRecord.number)).group_by(CrlRecord.ca_id)  # type: ignore[call-overload]
        ).all()
        key = tuple(sorted((str(a), int(n)) for a, n in rows))
        cached = self._crl_cache
        if cached is not None and cached[0] == key and clock.now() < cached[1]:
            return cached[2]
        ders = tuple(self.ca.current_crl(session, c.id) for c in self.ca.list_cas(session))
        from asn1crypto import crl as asn1crl

        refresh = timedelta(hours=self.settings.crl_refresh_hours)
        next_updates = [asn1crl.CertificateList.load(d)["tbs_cert_list"]["next_update"].native for d in ders]
        valid_until = min((n for n in next_updates if n is not None), default=clock.now()) - refresh
        rows = session.exec(
            sa.select(CrlRecord.ca_id, sa.func.max(CrlRecord.number)).group_by(CrlRecord.ca_id)  # type: ignore[call-overload]
        ).all()
        self._crl_cache = (tuple(sorted((str(a), int(n)) for a, n in rows)), valid_until, ders)
        return ders

    def _inputs(self, at: datetime | None) -> PdfInputs:
        with self.db.session() as s:
            return PdfInputs(self.trust_list(s), self.our_crls(s), at or clock.now())

    def _journal(self, kind: str, digest: str, result: str, sub: str | None, actor: str, **data: Any) -> None:
        with self.db.session() as s:
            self.journal.append(
                s,
                actor=actor,
                action=f"verify.{kind}",
                target=digest,
                data={"indication": result, "sub_indication": sub, **data},
            )
        metrics.VERIFICATION_VERDICTS.labels(kind, result).inc()

    def journal_rejected(self, kind: str, data: bytes | str, code: str, actor: str) -> None:
        """Bad input is journaled too (its hash and the problem code), nothing else is stored."""
        raw = data.encode() if isinstance(data, str) else data
        self._journal(kind, hashlib.sha256(raw).hexdigest(), "REJECTED", code, actor, size=len(raw))

    # --- PDF ----------------------------------------------------------------------------------

    def check_pdf_input(self, data: bytes) -> None:
        if not data:
            raise EmptyInput("the file is empty")
        if len(data) > self.settings.max_upload_bytes:
            raise InputTooLarge(
                f"PDFs are limited to {self.settings.max_upload_bytes} bytes", limit=self.settings.max_upload_bytes
            )
        if b"%PDF-" not in data[:1024]:
            raise NotAPdf("the file does not start with a %PDF- header", size=len(data))

    def analyse_pdf(self, data: bytes, inputs: PdfInputs) -> PdfFacts:
        """Facts about ``data`` from the sandboxed child (bounded time and memory)."""
        try:
            return sandbox.run(analyse, data, inputs, limits=self.limits)
        except sandbox.ChildFailed as exc:
            return PdfFacts(len(data), hashlib.sha256(data).hexdigest(), None, internal_problem=str(exc))

    def verify_pdf(self, data: bytes, *, at: datetime | None = None, actor: str = "anonymous") -> DocumentReport:
        """Verify every signature of a PDF (ETSI report). Raises only for input that is not a
        PDF at all (empty, no header, too large, or beyond the sandbox's limits)."""
        try:
            self.check_pdf_input(data)
            inputs = self._inputs(at)
            facts = self.analyse_pdf(data, inputs)
        except (EmptyInput, NotAPdf, InputTooLarge) as exc:
            self.journal_rejected("pdf", data, exc.code, actor)
            raise
        except PdfTooComplex as exc:
            self.journal_rejected("pdf", data, exc.code, actor)
            raise
        with self.db.session() as s:
            lookup = self.seal_lookup
            assert lookup is not None
            report = decide(facts, inputs, lambda der: lookup(s, der))
            self.journal.append(
                s,
                actor=actor,
                action="verify.pdf",
                target=report.sha256,
                data={
                    "indication": report.indication.value,
                    "sub_indication": report.sub_indication.value if report.sub_indication else None,
                    "signatures": len(report.signatures),
                    "size": report.size,
                },
            )
        metrics.VERIFICATION_VERDICTS.labels("pdf", report.indication.value).inc()
        return report

    # --- certificates -------------------------------------------------------------------------

    def verify_certificate(
        self, data: bytes, *, chain: bytes | None = None, at: datetime | None = None, actor: str = "anonymous"
    ) -> DocumentReport:
        """Path validation and revocation of a certificate (PEM or DER) against the trust list."""
        if not data:
            raise EmptyInput("no certificate given")
        try:
            certs = load_certificates(data, limit=20)
            others = load_certificates(chain, limit=20) if chain else []
        except Exception as exc:
            self.journal_rejected("certificate", data, BadCertificate.code, actor)
            raise BadCertificate(str(getattr(exc, "detail", exc))[:200]) from exc
        cert, others = certs[0], [*certs[1:], *others]
        inputs = self._inputs(at)
        result = validate_certificate(
            cert, trust=inputs.trust, intermediates=others, at=inputs.at, crls=inputs.crls, revocation="hard-fail"
        )
        with self.db.session() as s:
            lookup = self.seal_lookup
            assert lookup is not None
            reg = lookup(s, bytes(cert.dump()))
        checks = certificate_checks(result, reg, inputs.at)
        from verify.pdf import party

        der = bytes(cert.dump())
        report = DocumentReport(
            "certificate",
            hashlib.sha256(der).hexdigest(),
            len(der),
            inputs.at,
            tuple(checks),
            details={"certificate": party(der).as_dict(), "path": list(result.path), "result": result.as_dict()},
        )
        self._journal("certificate", report.sha256, report.indication.value, _sub(report), actor)
        return report

    # --- tokens -------------------------------------------------------------------------------

    def verify_token(
        self, token: str, *, audience: str | None = None, at: datetime | None = None, actor: str = "anonymous"
    ) -> DocumentReport:
        """An ID or access token of ours, or of an external IdP on the trust list (JWKS)."""
        from verify.errors import BadToken
        from verify.token import verify_token

        when = at or clock.now()
        identity = self.identity
        try:
            with self.db.session() as s:
                trust = self.trust_list(s)
                our_jwks = identity.jwks(s) if identity is not None else None

                def revoked(ids: list[str]) -> bool:
                    from identity.tokens import AccessTokens

                    return bool(AccessTokens.revoked(s, ids))

                report = verify_token(
                    token,
                    trust=trust,
                    our_issuer=self.settings.base_url,
                    our_jwks=our_jwks,
                    at=when,
                    audience=audience,
                    revoked=revoked if identity is not None else None,
                    fetch_jwks=self.fetch_jwks,
                )
        except BadToken as exc:
            self.journal_rejected("token", token if isinstance(token, str) else "", exc.code, actor)
            raise
        self._journal("token", report.sha256, report.indication.value, _sub(report), actor)
        return report

    def fetch_jwks(self, uri: str) -> dict[str, Any] | None:
        """An external IdP's JWKS by URI (cached 5 minutes, 64 KiB, 5 s): when the trust list
        holds a ``jwks_uri`` rather than the keys themselves."""
        import json
        import time

        import httpx

        hit = self._jwks_cache.get(uri)
        if hit is not None and time.monotonic() - hit[0] < 300:
            return hit[1]
        try:
            with httpx.Client(timeout=5.0, follow_redirects=False) as client:
                resp = client.get(uri)
            if resp.status_code != 200 or len(resp.content) > 65536:
                return None
            data = json.loads(resp.content)
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        self._jwks_cache[uri] = (time.monotonic(), data)
        return data

    # --- licence QR codes ---------------------------------------------------------------------

    def verify_qr(self, text: str, *, at: datetime | None = None, actor: str = "anonymous") -> DocumentReport:
        """A scanned licence code (URL or bare token): offline signature, then live status."""
        from license.qr import lookup_status
        from verify.errors import VerifyError
        from verify.qr import verify_text

        when = at or clock.now()
        try:
            with self.db.session() as s:
                trust = self.trust_list(s)
                report = verify_text(text, trust, when, lambda ident: lookup_status(s, ident))
                licence = report.details.get("licence")
                if licence is not None:
                    report.details["seal"] = _licence_seal(s, str(licence["identifier"]))
        except VerifyError as exc:
            self.journal_rejected("qr", text if isinstance(text, str) else "", exc.code, actor)
            raise
        self._journal("qr", report.sha256, report.indication.value, _sub(report), actor)
        return report

    def verify_qr_image(self, image: bytes, *, at: datetime | None = None, actor: str = "anonymous") -> DocumentReport:
        """Decode the QR code in a photo (zbar), then :meth:`verify_qr`. With several codes in
        the picture, the first that is a licence code wins."""
        from verify.errors import BadImage, NoQrCode
        from verify.qrimage import decode

        try:
            texts = decode(image)
        except (BadImage, NoQrCode) as exc:
            self.journal_rejected("qr", image, exc.code, actor)
            raise
        preferred = [t for t in texts if "/v/" in t] or texts
        return self.verify_qr(preferred[0], at=at, actor=actor)

    # --- GB/T 38540 SES_Signature -------------------------------------------------------------

    def verify_ses(
        self, data: bytes, *, document: bytes | None = None, at: datetime | None = None, actor: str = "anonymous"
    ) -> DocumentReport:
        """Verify an SES_Signature (DER or base64) with seal/'s verifier; certificates, CRLs and
        timestamps are checked here against the trust list (GB/T 38540-2020 §8)."""
        from seal import ses

        if not data:
            raise EmptyInput("no SES_Signature given")
        blob = _maybe_base64(data)
        inputs = self._inputs(at)
        try:
            rep = ses.verify_signature(
                blob,
                verify=_sm2_cert_verify,
                check_cert=lambda der, when: _ses_cert_check(der, when, inputs),
                check_timestamp=lambda tok, sig: _ses_timestamp_check(tok, sig, inputs),
                document=document,
                at=inputs.at,
            )
        except Exception as exc:
            from core.errors import YwtError

            if isinstance(exc, YwtError):
                self.journal_rejected("ses", blob, exc.code, actor)
            raise
        checks = tuple(
            Check(
                c.name.value,
                r.Status(c.status.value),
                c.message,
                "",
                _to_sub(c.sub_indication),
            )
            for c in rep.checks
        )
        report = DocumentReport(
            "ses",
            hashlib.sha256(blob).hexdigest(),
            len(blob),
            inputs.at,
            checks,
            details={
                "es_id": rep.es_id,
                "seal_name": rep.seal_name,
                "version": int(rep.version),
                "signing_time": rep.signing_time.isoformat() if rep.signing_time else None,
                "ses_indication": rep.indication.value,
            },
        )
        self._journal("ses", report.sha256, report.indication.value, _sub(report), actor)
        return report


def verify_pdf_standalone(
    data: bytes, trust: TrustList, *, at: datetime | None = None, limits: sandbox.Limits = sandbox.DEFAULT_LIMITS
) -> DocumentReport:
    """Offline PDF verification without an installation (``ywt verify --trust``): the trust
    list is the bundle, revocation data only what the document embeds, no registry."""
    if not data:
        raise EmptyInput("the file is empty")
    if b"%PDF-" not in data[:1024]:
        raise NotAPdf("the file does not start with a %PDF- header")
    inputs = PdfInputs(trust, (), at or clock.now())
    try:
        facts = sandbox.run(analyse, data, inputs, limits=limits)
    except sandbox.ChildFailed as exc:
        facts = PdfFacts(len(data), hashlib.sha256(data).hexdigest(), None, internal_problem=str(exc))
    return decide(facts, inputs, lambda _der: None)


def verify_qr_standalone(text: str, trust: TrustList, *, at: datetime | None = None) -> DocumentReport:
    """Offline QR verification: the signature against the bundle; live status not available."""
    from verify.qr import verify_text

    return verify_text(text, trust, at or clock.now(), None)


def _licence_seal(session: Session, identifier: str) -> dict[str, Any] | None:
    """Which seal sealed the licence, and when (shown on the QR landing page). Read-only look-up
    in license/'s table until its LiveStatus carries these fields."""
    from sqlmodel import select

    from license.models import LicenceRow
    from seal.models import SealRecord

    row = session.exec(select(LicenceRow).where(LicenceRow.identifier == identifier)).first()
    if row is None:
        return None
    seal = session.get(SealRecord, row.seal_id)
    return {
        "seal_id": row.seal_id,
        "name": row.seal_name,
        "owner": seal.owner_name if seal else row.issuer_name,
        "status": seal.status if seal else None,
        "signing_time": clock.utc(row.signing_time).isoformat(),
        "image_url": f"/v/seal/{row.seal_id}.png" if seal else None,
    }


def _to_sub(value: str | None) -> Sub | None:
    if value is None:
        return None
    return Sub(value) if value in Sub.__members__ else Sub.GENERIC


def _sub(report: DocumentReport) -> str | None:
    return report.sub_indication.value if report.sub_indication else None


def _maybe_base64(data: bytes) -> bytes:
    stripped = data.strip()
    if stripped[:1] == b"0":  # DER SEQUENCE starts with 0x30 = "0" in ASCII... and base64 of it with "M"
        return data
    if stripped[:1] == b"M":
        try:
            return base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            return data
    return data


def certificate_checks(result: PathResult, reg: RegistryStatus | None, at: datetime) -> list[Check]:
    checks: list[Check] = []
    if result.trusted:
        checks.append(r.passed("chain", "the certificate chains to the trust list", "证书由受信任的机构签发"))
        checks.append(r.passed("validity", f"valid at {at.isoformat()}", "证书在有效期内"))
        checks.append(r.passed("revocation", "not revoked", "证书未被吊销"))
    elif result.revoked:
        checks.append(r.passed("chain", "the certificate chains to the trust list", "证书由受信任的机构签发"))
        checks.append(
            r.failed(
                "revocation",
                Sub.REVOKED,
                f"revoked at {result.revoked_at.isoformat() if result.revoked_at else '?'}"
                f" ({result.revocation_reason})",
                "证书已被吊销",
            )
        )
    elif result.expired:
        checks.append(r.failed("validity", Sub.EXPIRED, result.message[:300], "证书已过期"))
    elif result.not_yet_valid:
        checks.append(r.failed("validity", Sub.NOT_YET_VALID, result.message[:300], "证书尚未生效"))
    elif result.sub is Sub.NO_CERTIFICATE_CHAIN_FOUND:
        checks.append(
            r.indeterminate("chain", Sub.NO_CERTIFICATE_CHAIN_FOUND, result.message[:300], "证书不是由受信任的机构签发")
        )
    else:
        checks.append(
            r.indeterminate(
                "chain", result.sub or Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE, result.message[:300], "证书链验证未通过"
            )
        )
    if reg is not None and reg.seal is not None:
        checks.append(
            r.passed(
                "registry", f"seal certificate of '{reg.seal.name}' ({reg.seal.status})", f"印章证书：{reg.seal.name}"
            )
        )
    return checks


def _sm2_cert_verify(cert_der: bytes, data: bytes, signature: bytes) -> bool:
    try:
        spki = x509.Certificate.load(cert_der).public_key.dump()
        return keys_verify(spki, SignatureScheme.SM2_SM3, data, signature)
    except ValueError:
        return False


def _ses_cert_check(cert_der: bytes, when: datetime, inputs: PdfInputs) -> Any:
    from seal.ses import CertCheck

    try:
        cert = x509.Certificate.load(cert_der)
        cert.subject.native  # noqa: B018 - force parsing
    except (ValueError, TypeError):
        return CertCheck.failed("the certificate does not parse", "FORMAT_FAILURE")
    res = validate_certificate(
        cert, trust=inputs.trust, at=when, crls=inputs.crls, revocation="hard-fail", retroactive_revinfo=True
    )
    if res.trusted:
        return CertCheck.passed(f"trusted and valid at {when.isoformat()}")
    if res.revoked:
        return CertCheck.failed(res.message[:300], "REVOKED")
    return CertCheck.indeterminate(res.message[:300], (res.sub or Sub.GENERIC).value)


def _ses_timestamp_check(token_der: bytes, signature_value: bytes, inputs: PdfInputs) -> Any:
    """RFC 3161 token over the signature value (GB/T 38540 §7: timeStamp), checked with the
    same SM2-capable validation context as everything else."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    from seal.ses import CheckStatus, TimestampCheck

    try:
        ci = cms.ContentInfo.load(token_der)
        sd = ci["content"]
        vc = validation_context(inputs.trust, at=inputs.at, crls=inputs.crls, revocation="soft-fail")
        kw = run_sync(validate_tst_signed_data(sd, vc, lambda alg: hashlib.new(alg, signature_value).digest()))
    except Exception as exc:
        return TimestampCheck(
            CheckStatus.FAILED, f"the timestamp token cannot be verified: {type(exc).__name__}", None, "FORMAT_FAILURE"
        )
    ok = kw.get("intact") and kw.get("valid")
    if not ok:
        return TimestampCheck(
            CheckStatus.FAILED, "the timestamp token does not match the signature", None, "HASH_FAILURE"
        )
    if not kw.get("trusted"):
        return TimestampCheck(
            CheckStatus.INDETERMINATE, "the TSA is not on the trust list", kw.get("timestamp"), "NO_POE"
        )
    return TimestampCheck(CheckStatus.PASSED, f"timestamped at {kw['timestamp'].isoformat()}", kw["timestamp"])
