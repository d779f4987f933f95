"""Identity domain: persons, legal entities, base-data verification (DESIGN.md, "Identity").

So far the DB-free part: identifying numbers (:mod:`identity.numbers`), the error hierarchy
(:mod:`identity.errors`) and the base-data sources (:mod:`identity.sources`).
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
