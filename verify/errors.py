"""Errors of the verification service.

Verification itself answers with reports (ETSI indications), never with exceptions; these
errors are for input that cannot be verified at all (not a PDF, a PDF bomb, an image without a
QR code, a token that is not a JWS) and for operational failures. They carry data, never
personal data; api/problems.py maps them to RFC 9457 problems.
"""

from __future__ import annotations

from core.errors import ConfigurationError, InvalidInput, TooLarge, YwtError


class VerifyError(YwtError):
    code = "verify-error"
    title = "Verification error"


class NotAPdf(VerifyError, InvalidInput):
    code = "not-a-pdf"
    title = "The file is not a PDF document"


class EmptyInput(VerifyError, InvalidInput):
    code = "empty-input"
    title = "Nothing to verify: the upload is empty"


class InputTooLarge(VerifyError, TooLarge):
    code = "too-large"
    title = "The upload is too large"


class PdfTooComplex(VerifyError, InvalidInput):
    """A PDF that exceeds the verifier's resource bounds (nesting, streams, objects, time,
    memory): PDF bombs end here instead of exhausting the server."""

    code = "pdf-too-complex"
    title = "The PDF exceeds the verifier's resource limits"


class NoQrCode(VerifyError, InvalidInput):
    code = "no-qr-code"
    title = "No QR code was found in the image"


class BadImage(VerifyError, InvalidInput):
    code = "bad-image"
    title = "The upload is not a readable PNG or JPEG image"


class BadQrPayload(VerifyError, InvalidInput):
    code = "bad-qr-payload"
    title = "The QR payload is not a licence verification code"


class BadToken(VerifyError, InvalidInput):
    code = "bad-token"
    title = "The token is not a well-formed JWS/JWT"


class BadCertificate(VerifyError, InvalidInput):
    code = "bad-certificate"
    title = "The certificate could not be read"


class BadTrustAnchor(VerifyError, InvalidInput):
    code = "bad-trust-anchor"
    title = "The trust anchor is not acceptable"


class TrustListUnavailable(VerifyError, ConfigurationError):
    code = "trust-list-unavailable"
    title = "The trust list cannot be published (no signing key)"
