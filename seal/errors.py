"""Errors of the seal domain.

Every error raised on purpose by ``seal/`` derives from :class:`SealError`. Errors carry the
data a caller (or ``api/problems.py``) needs as attributes *and* in ``extra``; none of them
holds an HTTP status. Errors about bad input also derive from :class:`core.errors.InvalidInput`,
so generic handlers treat them as client mistakes.
"""

from __future__ import annotations

from datetime import datetime

from core import errors as core_errors
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge, TryLater, YwtError

__all__ = [
    "AnchorNotFound",
    "DamagedPdf",
    "DocumentLocked",
    "EncryptedPdf",
    "GrantNotFound",
    "IdempotencyKeyReused",
    "InvalidPdf",
    "InvalidSealImage",
    "InvalidSealRequest",
    "InvalidSealSpec",
    "MalformedSes",
    "MissingGlyphs",
    "NotAPdf",
    "PageOutOfRange",
    "PdfTooComplex",
    "PdfTooLarge",
    "PlacementOutsidePage",
    "SameOperator",
    "SealError",
    "SealExpired",
    "SealImageTooLarge",
    "SealNotActive",
    "SealNotFound",
    "SealNotGranted",
    "SealNotUsable",
    "SealNotValidAt",
    "SealRevoked",
    "SealStateConflict",
    "SealSuspended",
    "SesTooLarge",
    "SignerNotInSeal",
    "SignerOutputInvalid",
    "TimestampUnavailable",
    "UnsupportedSesVersion",
]


class SealError(YwtError):
    """Root of the seal domain's errors."""

    code = "seal-error"
    title = "The seal operation failed"


class InvalidSealSpec(SealError, InvalidInput):
    """A seal image spec or seal-info spec is contradictory or out of bounds.

    ``field`` names the offending attribute (``"text"``, ``"width_mm"``, ...).
    """

    code = "invalid-seal-spec"
    title = "The seal specification is not valid"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}", field=field, reason=reason)


class MissingGlyphs(InvalidSealSpec):
    """The font cannot draw some characters of the seal text (they would render as tofu)."""

    code = "seal-missing-glyphs"
    title = "The seal font has no glyph for some characters"

    def __init__(self, field: str, chars: str, font: str) -> None:
        self.chars = chars
        self.font = font
        listed = " ".join(f"{c!r} (U+{ord(c):04X})" for c in chars)
        super().__init__(field, f"font {font} has no glyph for {listed}")
        self.extra.update(chars=chars, font=font)


class InvalidSealImage(SealError, InvalidInput):
    """An uploaded seal image was refused; ``reason`` says why in plain words."""

    code = "invalid-seal-image"
    title = "The seal image is not acceptable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason, reason=reason)


class SealImageTooLarge(InvalidSealImage, TooLarge):
    """The uploaded image exceeds a byte or pixel limit."""

    code = "seal-image-too-large"
    title = "The seal image is too large"

    def __init__(self, reason: str, *, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(reason)
        self.extra.update(size=size, limit=limit)


class MalformedSes(SealError, InvalidInput):
    """An ``SES_Seal`` / ``SES_Signature`` blob cannot be parsed.

    ``where`` is a dotted path into the structure (``"SES_Signature.toSign.eseal"``) so that the
    message is precise enough to debug interop with another vendor's seal.
    """

    code = "malformed-ses"
    title = "The electronic seal data is malformed"

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}", where=where, reason=reason)


class SesTooLarge(MalformedSes):
    """The blob is larger than the parser accepts (it never starts on such input)."""

    code = "ses-too-large"
    title = "The electronic seal data is too large"

    def __init__(self, where: str, *, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(where, f"{size} bytes exceed the limit of {limit} bytes")
        self.extra.update(size=size, limit=limit)


class SignerOutputInvalid(SealError):
    """The ``sign`` callable returned something that is not a DER ``SEQUENCE{r, s}``.

    This is an operational fault of the key backend, not a client mistake.
    """

    code = "seal-signer-output-invalid"
    title = "The signing backend returned an invalid signature"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason, reason=reason)


class SignerNotInSeal(SealError, InvalidInput):
    """Refused to sign: the signer certificate is not in the seal's ``certList`` (GB/T 38540 §7.2)."""

    code = "seal-signer-not-in-seal"
    title = "The signing certificate does not belong to this seal"

    def __init__(self, es_id: str) -> None:
        self.es_id = es_id
        super().__init__(f"the signer certificate is not listed in seal {es_id!r}", es_id=es_id)


class SealNotValidAt(SealError, InvalidInput):
    """Refused to sign: the seal's validity window does not contain the signing time."""

    code = "seal-not-valid-at"
    title = "The seal is not valid at the signing time"

    def __init__(self, es_id: str, at: datetime, valid_start: datetime, valid_end: datetime) -> None:
        self.es_id = es_id
        self.at = at
        self.valid_start = valid_start
        self.valid_end = valid_end
        super().__init__(
            f"seal {es_id!r} is valid from {valid_start.isoformat()} to {valid_end.isoformat()}, "
            f"not at {at.isoformat()}",
            es_id=es_id,
            at=at.isoformat(),
            valid_start=valid_start.isoformat(),
            valid_end=valid_end.isoformat(),
        )


class UnsupportedSesVersion(SealError, InvalidInput):
    """The blob is well-formed but of a version this operation does not handle (e.g. signing
    with a GM/T 0031-2014 v1 seal: we read v1, we only produce GB/T 38540-2020 v4)."""

    code = "unsupported-ses-version"
    title = "This electronic seal version is not supported here"

    def __init__(self, version: int, reason: str) -> None:
        self.version = version
        self.reason = reason
        super().__init__(f"version {version}: {reason}", version=version, reason=reason)


# ------------------------------------------------------------------------------ registry


class SealNotFound(SealError, NotFound):
    code = "seal-not-found"
    title = "No such seal"

    def __init__(self, seal_id: str) -> None:
        self.seal_id = seal_id[:80]
        super().__init__(f"no seal with id {self.seal_id!r}", seal_id=self.seal_id)


class GrantNotFound(SealError, NotFound):
    code = "seal-grant-not-found"
    title = "No such seal grant"

    def __init__(self, grant_id: str) -> None:
        self.grant_id = grant_id[:80]
        super().__init__(f"no grant with id {self.grant_id!r}", grant_id=self.grant_id)


class InvalidSealRequest(SealError, InvalidInput):
    """A seal application, grant or signing request has a bad field; ``field`` names it."""

    code = "invalid-seal-request"
    title = "The seal request is not valid"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}", field=field, reason=reason)


class SealStateConflict(SealError, Conflict):
    """A lifecycle transition that the seal's current status does not allow."""

    code = "seal-state-conflict"
    title = "The seal's status does not allow this operation"

    def __init__(self, seal_id: str, status: str, action: str) -> None:
        self.seal_id = seal_id
        self.status = status
        self.action = action
        super().__init__(
            f"seal {seal_id} is {status}; cannot {action}", seal_id=seal_id, seal_status=status, action=action
        )


class SameOperator(SealError, Forbidden):
    """Four-eyes rule for sensitive seals: the second approval must come from someone else."""

    code = "seal-second-approval-required"
    title = "Another operator must approve this"

    def __init__(self, what: str, operator: str) -> None:
        super().__init__(f"{what} was requested by {operator}; another operator must approve it", what=what)


class SealNotUsable(SealError, Conflict):
    """The seal exists but cannot seal documents now (GB/T 38540 §8: validity and status)."""

    code = "seal-not-usable"
    title = "The seal cannot be used now"

    def __init__(self, seal_id: str, status: str, detail: str | None = None) -> None:
        self.seal_id = seal_id
        self.status = status
        super().__init__(detail or f"seal {seal_id} is {status}", seal_id=seal_id, seal_status=status)


class SealNotActive(SealNotUsable):
    code = "seal-not-active"
    title = "The seal is not active yet"


class SealSuspended(SealNotUsable):
    code = "seal-suspended"
    title = "The seal is suspended"


class SealRevoked(SealNotUsable):
    code = "seal-revoked"
    title = "The seal is revoked"


class SealExpired(SealNotUsable):
    code = "seal-expired"
    title = "The seal has expired"


class SealNotGranted(SealError, Forbidden):
    """The calling client holds no usable grant for this seal (or not for this document type)."""

    code = "seal-not-granted"
    title = "This client may not use this seal"

    def __init__(self, seal_id: str, client_id: str, reason: str) -> None:
        self.seal_id = seal_id
        self.client_id = client_id
        super().__init__(
            f"client {client_id} may not use seal {seal_id}: {reason}", seal_id=seal_id, client_id=client_id
        )


class IdempotencyKeyReused(core_errors.IdempotencyKeyReused, SealError):
    """The Idempotency-Key was already used by this caller for another document or other parameters (422)."""

    used_for = "another document or other parameters"


class TimestampUnavailable(SealError, TryLater):
    code = "timestamp-unavailable"
    title = "The time-stamping authority did not answer"


# ------------------------------------------------------------------------------ PDF input


class InvalidPdf(SealError, InvalidInput):
    """Root of the errors about the uploaded PDF itself."""

    code = "invalid-pdf"
    title = "The PDF cannot be sealed"

    def __init__(self, reason: str, **extra: object) -> None:
        self.reason = reason
        super().__init__(reason, **extra)


class NotAPdf(InvalidPdf):
    code = "not-a-pdf"
    title = "The upload is not a PDF document"


class DamagedPdf(InvalidPdf):
    code = "damaged-pdf"
    title = "The PDF is truncated or damaged"


class EncryptedPdf(InvalidPdf):
    code = "encrypted-pdf"
    title = "Encrypted PDFs cannot be sealed"


class PdfTooComplex(InvalidPdf):
    code = "pdf-too-complex"
    title = "The PDF structure is too deeply nested or loops"


class PdfTooLarge(SealError, TooLarge):
    code = "pdf-too-large"
    title = "The PDF is too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the PDF has {size} bytes; at most {limit} are accepted", size=size, limit=limit)


class PageOutOfRange(InvalidPdf):
    code = "page-out-of-range"
    title = "The document has no such page"

    def __init__(self, page: int, pages: int) -> None:
        super().__init__(f"page {page} was asked for; the document has {pages} page(s)", page=page, pages=pages)


class AnchorNotFound(InvalidPdf):
    code = "anchor-not-found"
    title = "The anchor text was not found in the document"

    def __init__(self, anchor_length: int) -> None:
        super().__init__("the anchor text does not occur on any page", anchor_length=anchor_length)


class PlacementOutsidePage(InvalidPdf):
    code = "placement-outside-page"
    title = "The seal box lies outside the page"


class DocumentLocked(SealError, Conflict):
    """The document's certification signature forbids further changes (ISO 32000-1 §12.8.2.2, DocMDP P=1),
    or certification was asked for on a document that is already signed."""

    code = "document-locked"
    title = "The document does not allow another signature of this kind"
