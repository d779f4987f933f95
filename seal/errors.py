"""Errors of the seal domain.

Every error raised on purpose by ``seal/`` derives from :class:`SealError`. Errors carry the
data a caller (or ``api/problems.py``) needs as attributes *and* in ``extra``; none of them
holds an HTTP status. Errors about bad input also derive from :class:`core.errors.InvalidInput`,
so generic handlers treat them as client mistakes.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import InvalidInput, TooLarge, YwtError

__all__ = [
    "InvalidSealImage",
    "InvalidSealSpec",
    "MalformedSes",
    "MissingGlyphs",
    "SealError",
    "SealImageTooLarge",
    "SealNotValidAt",
    "SesTooLarge",
    "SignerNotInSeal",
    "SignerOutputInvalid",
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
