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

from core.errors import YwtError

__all__ = [
    "FieldError",
    "ImportFileError",
    "InvalidLicenseData",
    "InvalidLicenseType",
    "LicenseError",
    "LicenseRenderError",
    "MalformedIdentifier",
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


class MalformedIdentifier(LicenseError):
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


class InvalidLicenseType(LicenseError):
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


class UnknownLicenseType(LicenseError):
    """No licence type with this type code is known."""

    code = "license-unknown-type"
    title = "Unknown licence type"

    def __init__(self, type_code: str) -> None:
        self.type_code = type_code
        super().__init__(f"no licence type with code {type_code!r}", type_code=type_code)


class InvalidLicenseData(LicenseError):
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


class LicenseRenderError(LicenseError):
    """The licence PDF cannot be produced (text does not fit its box, glyph missing, QR too dense)."""

    code = "license-render"
    title = "The licence could not be rendered"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason, field=field, reason=reason)


class ImportFileError(LicenseError):
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
