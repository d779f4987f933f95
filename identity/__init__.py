"""Identity domain: persons, legal entities, base-data verification, accounts, the OpenID Connect
provider and mutual recognition with the national IdP (DESIGN.md, "Identity").

The service the API layer talks to is :class:`identity.service.IdentityService` (built in
``api/container.py`` as ``services.identity``). Its parts, one module each:

* :mod:`identity.numbers`, :mod:`identity.errors`, :mod:`identity.sources` — numbers, errors,
  base-data sources (stubs, HTTP adapters, timeouts and circuit breakers);
* :mod:`identity.registry`, :mod:`identity.verification`, :mod:`identity.levels` — persons,
  entities, agents, verifications and assurance levels L1..L4;
* :mod:`identity.accounts`, :mod:`identity.login`, :mod:`identity.sessions`, :mod:`identity.otp`,
  :mod:`identity.totp`, :mod:`identity.tickets`, :mod:`identity.throttle` — accounts and login;
* :mod:`identity.clients`, :mod:`identity.signing`, :mod:`identity.tokens`, :mod:`identity.oauth`,
  :mod:`identity.oidc`, :mod:`identity.jose`, :mod:`identity.jwt` — clients, keys, tokens, the provider;
* :mod:`identity.federation` — brokered login with the national IdP.

This package namespace re-exports only the DB-free number helpers (importing it stays cheap).
"""

from identity.errors import (
    IdentityError,
    InvalidBankCard,
    InvalidIdNumber,
    InvalidNumber,
    InvalidPhone,
    InvalidQuery,
    InvalidUscc,
    NumberRule,
    SourceUnavailable,
    UnavailableReason,
)
from identity.numbers import (
    CitizenId,
    Sex,
    Uscc,
    mask_card_number,
    mask_id_number,
    mask_phone,
    normalize_phone,
    parse_id_number,
    parse_uscc,
    validate_card_number,
    validate_id_number,
    validate_uscc,
)

__all__ = [
    "CitizenId",
    "IdentityError",
    "InvalidBankCard",
    "InvalidIdNumber",
    "InvalidNumber",
    "InvalidPhone",
    "InvalidQuery",
    "InvalidUscc",
    "NumberRule",
    "Sex",
    "SourceUnavailable",
    "UnavailableReason",
    "Uscc",
    "mask_card_number",
    "mask_id_number",
    "mask_phone",
    "normalize_phone",
    "parse_id_number",
    "parse_uscc",
    "validate_card_number",
    "validate_id_number",
    "validate_uscc",
]
