"""Errors of the ``license`` domain (e-licences, 电子证照).

One base, :class:`LicenseError`, and small subclasses that carry data, so ``api/problems.py``
can map each class to an RFC 9457 problem type in one place. No HTTP status codes here.

Personal data never goes into an error: a :class:`FieldError` names the field and what is wrong
with it ("check digit is wrong"), never the value that was submitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

from core import errors as core_errors
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, TryLater, YwtError

__all__ = [
    "DuplicateLicenseNumber",
    "DuplicateLicenseType",
    "FieldError",
    "HolderNotEligible",
    "IdempotencyKeyReused",
    "IdempotentRequestInProgress",
    "ImportFileError",
    "InvalidLicenseData",
    "InvalidLicenseType",
    "InvalidQrPayload",
    "InvalidStatusChange",
    "IssuerNotAllowed",
    "LicenseError",
    "LicenseNotFound",
    "LicenseRenderError",
    "MalformedIdentifier",
    "NoIssuingSeal",
    "SealingUnavailable",
    "ShareExpired",
    "ShareNotFound",
    "ShareRevoked",
    "UnknownLicenseType",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of submitted licence data.

    ``field`` is the field key (or the CSV column header, for imports); ``code`` a stable slug
    (``missing``, ``too_long``, ``bad_format``, ``bad_date``, ``date_order``, ``unknown_field``,
    ``bad_check_digit``, ``not_an_option``, ``bad_type``, ``out_of_range``, ``in_future``,
    ``mismatch``, ``duplicate``); ``message`` a short human explanation without the value.
    """

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class LicenseError(YwtError):
    """Root of the ``license`` domain's errors."""

    code: ClassVar[str] = "license-error"
    title: ClassVar[str] = "The licence request could not be processed"


class MalformedIdentifier(LicenseError, InvalidInput):
    """An e-licence identifier (GB/T 36904 style, ``1.2.156.3005.2....``) is not well formed.

    ``component`` names the part that is wrong (``prefix``, ``type_code``, ``issuer_code``,
    ``serial``, ``version``, ``check``, ``structure``); ``reason`` says how.
    """

    code = "license-malformed-identifier"
    title = "The e-licence identifier is malformed"

    def __init__(self, component: str, reason: str) -> None:
        self.component = component
        self.reason = reason
        super().__init__(f"{component}: {reason}", component=component, reason=reason)


class InvalidLicenseType(LicenseError, InvalidInput):
    """A licence type (template) definition is contradictory or incomplete.

    ``path`` points into the definition (``fields[2].pattern``, ``layout.seal``).
    """

    code = "license-invalid-type"
    title = "The licence type definition is not valid"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason, path=path, reason=reason)

    def under(self, prefix: str) -> InvalidLicenseType:
        """The same problem, its path prefixed by the enclosing element."""
        return InvalidLicenseType(f"{prefix}.{self.path}" if self.path else prefix, self.reason)


class UnknownLicenseType(LicenseError, NotFound):
    """No licence type with this type code is known."""

    code = "license-unknown-type"
    title = "Unknown licence type"

    def __init__(self, type_code: str) -> None:
        self.type_code = type_code
        super().__init__(f"no licence type with code {type_code!r}", type_code=type_code)


class InvalidLicenseData(LicenseError, InvalidInput):
    """Licence data failed validation; ``errors`` lists every field problem found, not just the first."""

    code = "license-invalid-data"
    title = "The licence data is not valid"

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("InvalidLicenseData needs at least one FieldError")
        summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(summary, errors=[e.as_dict() for e in self.errors])

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields that have at least one error, in order of first appearance."""
        return tuple(dict.fromkeys(e.field for e in self.errors))


class LicenseRenderError(LicenseError, InvalidInput):
    """The licence PDF cannot be produced (text does not fit its box, glyph missing, QR too dense)."""

    code = "license-render"
    title = "The licence could not be rendered"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason, field=field, reason=reason)


class ImportFileError(LicenseError, InvalidInput):
    """A bulk-import file is unusable as a whole (encoding, header): no row was processed.

    ``reason`` is a slug (``encoding``, ``empty``, ``missing_columns``, ``duplicate_columns``,
    ``ambiguous_columns``); ``columns`` the columns concerned.
    """

    code = "license-import-file"
    title = "The import file cannot be processed"

    def __init__(self, reason: str, detail: str, *, columns: Sequence[str] = ()) -> None:
        self.reason = reason
        self.columns: tuple[str, ...] = tuple(columns)
        super().__init__(detail, reason=reason, columns=list(self.columns))


class DuplicateLicenseType(LicenseError, Conflict):
    """A licence type with this type code exists already (update it instead)."""

    code = "license-type-exists"
    title = "A licence type with this code exists already"

    def __init__(self, type_code: str) -> None:
        self.type_code = type_code
        super().__init__(f"licence type {type_code} exists already", type_code=type_code)


class DuplicateLicenseNumber(LicenseError, Conflict):
    """The issuer has already issued a licence of this type with this licence number (ZZBH).

    Numbers are unique per (type, issuer); the database enforces it, so concurrent issuance of
    the same number leaves exactly one licence.
    """

    code = "license-duplicate-number"
    title = "This licence number has been issued already"

    def __init__(self, type_code: str, number: str) -> None:
        self.type_code = type_code
        self.number = number
        super().__init__(
            f"a licence of type {type_code} with number {number} exists for this issuer",
            type_code=type_code,
            number=number,
        )


class HolderNotEligible(LicenseError, InvalidInput):
    """The holder named in the licence data cannot receive it.

    ``reason``: ``person_not_registered``, ``level_too_low``, ``name_mismatch``,
    ``entity_not_found``, ``entity_inactive`` (cancelled or revoked in the legal-entity DB).
    The holder's code is never echoed; ``masked`` is its masked form.
    """

    code = "license-holder-not-eligible"
    title = "The licence holder is not eligible"

    def __init__(
        self, reason: str, detail: str, *, masked: str, required_level: int | None = None, level: int | None = None
    ) -> None:
        self.reason = reason
        extra: dict[str, object] = {"reason": reason, "masked": masked}
        if required_level is not None:
            extra["required_level"] = required_level
            extra["level"] = level
        super().__init__(detail, **extra)


class IssuerNotAllowed(LicenseError, Forbidden):
    """The caller may not issue (or manage) licences for this issuer."""

    code = "license-issuer-not-allowed"
    title = "Not allowed to act for this licence issuer"


class NoIssuingSeal(LicenseError, Conflict):
    """The issuer has no usable seal of the kind the licence type names (``seal_ref``)."""

    code = "license-no-issuing-seal"
    title = "The issuer has no usable licence-issuing seal"

    def __init__(self, issuer_code: str, seal_ref: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"issuer {issuer_code} has no active seal of kind {seal_ref!r}",
            issuer_code=issuer_code,
            seal_ref=seal_ref,
        )


class SealingUnavailable(LicenseError, TryLater):
    """The sealing step could not run (no sealer configured, or the seal service failed)."""

    code = "license-sealing-unavailable"
    title = "Licences cannot be sealed right now; try again later"


class LicenseNotFound(LicenseError, NotFound):
    """No licence with this id or identifier (or none the caller may see)."""

    code = "license-not-found"
    title = "No such licence"


class InvalidStatusChange(LicenseError, Conflict):
    """The status change is not possible from the licence's current status (e.g. resume a revoked one)."""

    code = "license-invalid-status-change"
    title = "This status change is not possible"

    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        super().__init__(f"cannot {action} a licence that is {status}", action=action, current_status=status)


class ShareNotFound(LicenseError, NotFound):
    """No share with this token or id (a wrong token looks exactly like an unknown one)."""

    code = "license-share-not-found"
    title = "No such share"


class ShareExpired(LicenseError, NotFound):
    """The share existed but its time is over (HTTP 410)."""

    code = "license-share-expired"
    title = "The share has expired"


class ShareRevoked(LicenseError, NotFound):
    """The holder withdrew the share (HTTP 410)."""

    code = "license-share-revoked"
    title = "The share was revoked by the holder"


class InvalidQrPayload(LicenseError, InvalidInput):
    """A licence QR payload is not a genuine one.

    ``reason``: ``malformed`` (not a compact JWS / bad encoding / truncated), ``too_long``,
    ``wrong_type`` (not a licence QR token), ``unsupported_alg``, ``unknown_signer`` (no trusted
    certificate matches), ``untrusted_signer`` (certificate not fit for QR signing, or not valid
    at the time), ``bad_signature``, ``bad_claims``.
    """

    code = "license-invalid-qr"
    title = "The QR code is not a genuine licence code"

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail, reason=reason)


class IdempotencyKeyReused(core_errors.IdempotencyKeyReused, LicenseError):
    """The Idempotency-Key was already used by this caller for a licence with other data (422)."""

    used_for = "a licence with other data"


class IdempotentRequestInProgress(LicenseError, TryLater):
    """Another request with the same Idempotency-Key has not finished yet: retry shortly."""

    code = "idempotent-request-in-progress"
    title = "A request with this Idempotency-Key is in progress; retry shortly"
