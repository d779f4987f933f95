"""Verification: signed PDFs, licence QR codes, tokens, certificates and GB/T 38540 signatures,
against exactly the trust list, with ETSI EN 319 102-1 reports (DESIGN.md "Verification").

Public surface: :class:`VerifyService` (the façade the API, pages and CLI call),
:func:`verify_pdf_standalone` / :func:`verify_qr_standalone` (offline, no installation), the
trust list (:class:`TrustService`, :class:`TrustList`, :func:`verify_published`), path
validation (:func:`validate_certificate`), reports and errors.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verify.certs import PathResult, validate_certificate
    from verify.errors import (
        BadCertificate,
        BadImage,
        BadQrPayload,
        BadToken,
        BadTrustAnchor,
        EmptyInput,
        InputTooLarge,
        NoQrCode,
        NotAPdf,
        PdfTooComplex,
        TrustListUnavailable,
        VerifyError,
    )
    from verify.report import Check, DocumentReport, Indication, Party, SealIdentity, SignatureReport, Status, Sub
    from verify.service import VerifyService, verify_pdf_standalone, verify_qr_standalone
    from verify.trust import TrustAnchor, TrustedIdp, TrustList, TrustService, from_bundle, verify_published

__all__ = [
    "BadCertificate",
    "BadImage",
    "BadQrPayload",
    "BadToken",
    "BadTrustAnchor",
    "Check",
    "DocumentReport",
    "EmptyInput",
    "Indication",
    "InputTooLarge",
    "NoQrCode",
    "NotAPdf",
    "Party",
    "PathResult",
    "PdfTooComplex",
    "SealIdentity",
    "SignatureReport",
    "Status",
    "Sub",
    "TrustAnchor",
    "TrustList",
    "TrustListUnavailable",
    "TrustService",
    "TrustedIdp",
    "VerifyError",
    "VerifyService",
    "from_bundle",
    "validate_certificate",
    "verify_pdf_standalone",
    "verify_published",
    "verify_qr_standalone",
]

_WHERE = {
    **dict.fromkeys(("PathResult", "validate_certificate"), "verify.certs"),
    **dict.fromkeys(
        (
            "BadCertificate",
            "BadImage",
            "BadQrPayload",
            "BadToken",
            "BadTrustAnchor",
            "EmptyInput",
            "InputTooLarge",
            "NoQrCode",
            "NotAPdf",
            "PdfTooComplex",
            "TrustListUnavailable",
            "VerifyError",
        ),
        "verify.errors",
    ),
    **dict.fromkeys(
        ("Check", "DocumentReport", "Indication", "Party", "SealIdentity", "SignatureReport", "Status", "Sub"),
        "verify.report",
    ),
    **dict.fromkeys(("VerifyService", "verify_pdf_standalone", "verify_qr_standalone"), "verify.service"),
    **dict.fromkeys(
        ("TrustAnchor", "TrustList", "TrustService", "TrustedIdp", "from_bundle", "verify_published"), "verify.trust"
    ),
}


def __getattr__(name: str) -> Any:
    """Lazy re-exports (PEP 562): the sandbox worker imports ``verify.pdfcore`` and must not pay
    for the service layer (ca/, seal/, license/) it never uses."""
    import importlib

    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
