"""Errors of the identity domain.

Every error the identity package raises on purpose derives from :class:`IdentityError`. The
errors carry data (which rule failed, which source is down) so ``api/problems.py`` can map them to
RFC 9457 problems without parsing messages.

Personal data rule (DESIGN.md, "Data and state"): no message, ``extra`` value or ``repr`` of these
errors ever contains a full ID number, phone number or bank-card number; at most the masked form
(``1201**********123X``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from core.errors import Conflict, Forbidden, InvalidInput, NotFound, TryLater, Unauthenticated, YwtError


class IdentityError(YwtError):
    """Root of the identity domain's errors."""

    code = "identity-error"
    title = "The identity request could not be processed"


class NumberRule(StrEnum):
    """The rule an identifying number broke (machine-readable; goes into the problem's ``extra``)."""

    LENGTH = "length"
    CHARSET = "charset"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    BIRTH_DATE_IN_FUTURE = "birth_date_in_future"
    REGISTRATION_AUTHORITY = "registration_authority"
    ORGANISATION_CLASS = "organisation_class"
    ORGANISATION_CODE_CHECK = "organisation_code_check"
    PREFIX = "prefix"
    CHECK_CHARACTER = "check_character"


_RULE_TEXT: dict[NumberRule, str] = {
    NumberRule.LENGTH: "has the wrong length",
    NumberRule.CHARSET: "contains characters that are not allowed",
    NumberRule.REGION: "has an unknown region code",
    NumberRule.BIRTH_DATE: "has a birth date that is not a calendar date",
    NumberRule.BIRTH_DATE_IN_FUTURE: "has a birth date in the future",
    NumberRule.REGISTRATION_AUTHORITY: "has an unknown registration-authority code",
    NumberRule.ORGANISATION_CLASS: "has an organisation-class code its registration authority does not use",
    NumberRule.ORGANISATION_CODE_CHECK: "embeds an organisation code whose check character is wrong",
    NumberRule.PREFIX: "does not start like a mainland mobile number",
    NumberRule.CHECK_CHARACTER: "has a wrong check character",
}


class InvalidNumber(IdentityError, InvalidInput):
    """An identifying number failed a format or check-character rule.

    ``rule`` says which rule; ``masked`` is the masked input (safe to log and to show). The
    message names the kind of number and the rule, never the number.
    """

    code = "invalid-number"
    title = "The number is not valid"
    kind: ClassVar[str] = "number"

    def __init__(self, rule: NumberRule, masked: str, detail: str | None = None) -> None:
        self.rule = rule
        self.masked = masked
        super().__init__(detail or f"{self.kind} {_RULE_TEXT[rule]}", rule=rule.value, masked=masked)


class InvalidIdNumber(InvalidNumber):
    """A citizen ID number broke a GB 11643-1999 rule."""

    code = "invalid-id-number"
    title = "The citizen ID number is not valid"
    kind = "citizen ID number"


class InvalidUscc(InvalidNumber):
    """A unified social credit code broke a GB 32100-2015 (or embedded GB 11714) rule."""

    code = "invalid-uscc"
    title = "The unified social credit code is not valid"
    kind = "unified social credit code"


class InvalidPhone(InvalidNumber):
    """A phone number is not a mainland mobile number."""

    code = "invalid-phone"
    title = "The phone number is not valid"
    kind = "mobile phone number"


class InvalidBankCard(InvalidNumber):
    """A bank-card number broke the length or Luhn rule."""

    code = "invalid-bank-card"
    title = "The bank-card number is not valid"
    kind = "bank-card number"


class InvalidQuery(IdentityError, InvalidInput):
    """A query to a base-data source has a bad field (empty name, oversized image, ...)."""

    code = "invalid-identity-query"
    title = "The identity query is not valid"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", field=field)


class UnavailableReason(StrEnum):
    """Why a base-data source gave no answer."""

    TIMEOUT = "timeout"
    ERROR = "error"
    BAD_RESPONSE = "bad_response"
    CIRCUIT_OPEN = "circuit_open"


class SourceUnavailable(IdentityError, TryLater):
    """A base-data source (人口库, 法人库, ...) gave no trustworthy answer: try again later.

    Raised instead of any answer whenever the source timed out, failed, answered something we
    cannot parse, or its circuit breaker is open. Callers must never turn this into "not found"
    or "mismatch".
    """

    code = "source-unavailable"
    title = "A base-data source is temporarily unavailable; try again later"

    def __init__(self, source: str, reason: UnavailableReason, detail: str | None = None) -> None:
        self.source = source
        self.reason = reason
        text = f"base-data source '{source}' is unavailable ({reason.value}); try again later"
        super().__init__(f"{text}: {detail}" if detail else text, source=str(source), reason=reason.value)


# -- OAuth 2.0 / OpenID Connect ----------------------------------------------------------------------


class OAuthError(IdentityError):
    """An error of an OAuth endpoint, with its RFC 6749 §5.2 ``error`` code.

    The token, introspection and revocation endpoints answer these as RFC 6749 JSON (``error``,
    ``error_description``) *and* with the problem members (``type``, ``title``, ``status``): the
    RFC requires ``application/json`` there, and certified relying parties refuse anything else.
    """

    oauth_error: ClassVar[str] = "invalid_request"
    oauth_status: ClassVar[int] = 400


class InvalidRequest(OAuthError, InvalidInput):
    code = "invalid-request"
    title = "The OAuth request is malformed"
    oauth_error = "invalid_request"


class InvalidClient(OAuthError, Unauthenticated):
    """Client authentication failed (unknown client, wrong secret, bad assertion, wrong method).

    RFC 6749 §5.2: 401, with ``WWW-Authenticate`` when the client tried HTTP Basic. The message
    never says which part was wrong.
    """

    code = "invalid-client"
    title = "Client authentication failed"
    oauth_error = "invalid_client"
    oauth_status = 401
    #: a registered client id the failed attempt named (for the journal; never in the response)
    attempted: str | None = None


class InvalidGrant(OAuthError, InvalidInput):
    code = "invalid-grant"
    title = "The grant is invalid, expired, revoked or was issued to another client"
    oauth_error = "invalid_grant"


class UnauthorizedClient(OAuthError, InvalidInput):
    code = "unauthorized-client"
    title = "The client may not use this grant type"
    oauth_error = "unauthorized_client"


class UnsupportedGrantType(OAuthError, InvalidInput):
    code = "unsupported-grant-type"
    title = "The grant type is not supported"
    oauth_error = "unsupported_grant_type"


class InvalidScope(OAuthError, InvalidInput):
    code = "invalid-scope"
    title = "The requested scope is invalid or not allowed for this client"
    oauth_error = "invalid_scope"


class UnsupportedTokenType(OAuthError, InvalidInput):
    code = "unsupported-token-type"
    title = "The token type is not supported"
    oauth_error = "unsupported_token_type"


class InvalidToken(IdentityError, Unauthenticated):
    """A bearer token was refused (RFC 6750 §3.1 ``invalid_token``); ``reason`` says why."""

    code = "invalid-token"
    title = "The access token is not valid"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        text = detail or f"token refused: {reason}"
        super().__init__(
            text,
            reason=reason,
            www_authenticate=f'Bearer error="invalid_token", error_description="{reason}"',
        )


class UnknownClient(IdentityError, NotFound):
    code = "unknown-client"
    title = "No such client"

    def __init__(self, client_id: str) -> None:
        super().__init__(f"no client {client_id[:64]!r}", client_id=client_id[:64])


class ClientExists(IdentityError, Conflict):
    code = "client-exists"
    title = "A client with this id exists"

    def __init__(self, client_id: str) -> None:
        super().__init__(f"client {client_id!r} exists", client_id=client_id)


class InvalidClientMetadata(IdentityError, InvalidInput):
    """A client registration that contradicts itself or the rules (RFC 7591 §3.2.2)."""

    code = "invalid-client-metadata"
    title = "The client metadata is not valid"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", field=field)


# -- registry and verification -------------------------------------------------------------------------


class VerificationFailed(IdentityError, InvalidInput):
    """A base-data source answered, and the answer is "no" (HTTP 422).

    ``outcome``: ``mismatch`` (the elements do not belong together, or the record is unknown:
    not told apart, so nobody can probe which ID numbers exist), ``not_eligible`` (a deceased
    person), ``face_failed``, or for entities ``name_mismatch``, ``legal_rep_mismatch``,
    ``cancelled``, ``revoked``.
    """

    code = "verification-failed"
    title = "The identity could not be verified against the base data"

    def __init__(self, method: str, outcome: str, detail: str | None = None) -> None:
        self.method = method
        self.outcome = outcome
        super().__init__(detail or f"{method}: {outcome}", method=method, outcome=outcome)


class LevelTooLow(IdentityError, Forbidden):
    code = "level-too-low"
    title = "The account's assurance level is too low for this"

    def __init__(self, needed: str, current: str | None) -> None:
        super().__init__(
            f"this needs assurance level {needed} (the account has {current or 'none'})", needed=needed, current=current
        )


class AlreadyRegistered(IdentityError, Conflict):
    """The citizen ID number belongs to another account, or this account already has a person."""

    code = "already-registered"
    title = "This identity is already registered"


class NotLegalRepresentative(IdentityError, Forbidden):
    code = "not-legal-representative"
    title = "Only the entity's legal representative may do this"


class UnknownPerson(IdentityError, NotFound):
    code = "unknown-person"
    title = "No registered person matches"


class UnknownEntity(IdentityError, NotFound):
    code = "unknown-entity"
    title = "No registered legal entity with this code"


class UnknownAuthorisation(IdentityError, NotFound):
    code = "unknown-authorisation"
    title = "No such authorisation"


class Throttled(IdentityError, TryLater):
    """Too many attempts (logins from one address, codes for one phone): HTTP 429 with Retry-After."""

    code = "throttled"
    title = "Too many attempts; wait a moment and try again"
