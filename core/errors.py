"""Base errors shared by every domain.

Domain packages subclass :class:`YwtError` once (``CaError``, ``SealError``, ...) and then
declare small, data-carrying errors. Errors never hold HTTP status codes: ``api/problems.py``
maps error classes to RFC 9457 problem types in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar


class YwtError(Exception):
    """Root of every error this service raises on purpose.

    ``code`` is a stable, machine-readable slug (it becomes the tail of the problem ``type``
    URI); ``title`` is a short human summary; ``detail`` says what exactly went wrong.
    ``extra`` carries structured data for clients (never personal data in clear).
    """

    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Request could not be processed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra: dict[str, Any] = extra
        super().__init__(self.detail)


class InvalidInput(YwtError):
    code = "invalid-input"
    title = "The input is not valid"


class NotFound(YwtError):
    code = "not-found"
    title = "No such object"


class Conflict(YwtError):
    code = "conflict"
    title = "The request conflicts with the current state"


class IdempotencyKeyReused(Conflict):
    """An ``Idempotency-Key`` this caller already used for a different request
    (draft-ietf-httpapi-idempotency-key-header §2.7: 422 Unprocessable Content). Domains name
    what the key was used for in ``used_for``."""

    code: ClassVar[str] = "idempotency-key-reused"
    title: ClassVar[str] = "The Idempotency-Key was used for a different request"
    used_for: ClassVar[str] = "another request"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"this Idempotency-Key was already used for {self.used_for}; use a new key for a new request",
            idempotency_key=key[:80],
        )


class Forbidden(YwtError):
    code = "forbidden"
    title = "Not allowed"


class Unauthenticated(YwtError):
    code = "unauthenticated"
    title = "Authentication required"


class TooLarge(YwtError):
    code = "too-large"
    title = "The upload is too large"


class TooManyRequests(YwtError):
    """The caller exceeded a rate limit; ``retry_after`` (seconds) says when to come back."""

    code = "too-many-requests"
    title = "Too many requests"


class TryLater(YwtError):
    """An upstream dependency (base-data source, HSM, ...) is unavailable; retrying may work."""

    code = "try-later"
    title = "A dependency is temporarily unavailable; try again later"


class ConfigurationError(YwtError):
    code = "configuration"
    title = "The service is not configured correctly"
