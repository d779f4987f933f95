"""The seal domain's vocabulary: types, statuses, the application spec and the views we hand out.

Specs are frozen dataclasses validated at construction (STYLE.md "Specs are frozen
dataclasses"): a contradictory application cannot exist.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from keys import Family
from seal.errors import InvalidSealRequest
from seal.images import SealShape

__all__ = [
    "USCC_RE",
    "GrantInfo",
    "GrantStatus",
    "SealApplication",
    "SealInfo",
    "SealStatus",
    "SealType",
    "SignedPdf",
    "uscc_is_valid",
]


class SealType(StrEnum):
    """Kinds of seal an organisation holds (DESIGN.md "Seals")."""

    OFFICIAL = "official"  # 公章
    CONTRACT = "contract"  # 合同专用章
    FINANCE = "finance"  # 财务专用章
    APPROVAL = "approval"  # 行政审批专用章
    LICENCE = "licence"  # 电子证照专用章 (licence issuing)

    @property
    def gb_code(self) -> int:
        """``SES_ESPropertyInfo.type``. GB/T 38540 leaves the code list to the platform; these
        values are ours [L] and are written into every SES_Seal we make."""
        return _GB_CODES[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def bottom_text(self) -> str | None:
        """Text under the star on a generated image (none on the official seal)."""
        return None if self is SealType.OFFICIAL else _LABELS[self]


_GB_CODES: Final = {
    SealType.OFFICIAL: 1,
    SealType.CONTRACT: 2,
    SealType.FINANCE: 3,
    SealType.APPROVAL: 4,
    SealType.LICENCE: 5,
}
_LABELS: Final = {
    SealType.OFFICIAL: "公章",
    SealType.CONTRACT: "合同专用章",
    SealType.FINANCE: "财务专用章",
    SealType.APPROVAL: "行政审批专用章",
    SealType.LICENCE: "电子证照专用章",
}


class SealStatus(StrEnum):
    """Lifecycle: applied -> approved -> active -> suspended / revoked / expired.

    ``suspended`` is a certificateHold on the seal certificate (RFC 5280 §5.3.1) and can be
    lifted; ``revoked`` is final; ``expired`` follows from the validity window.
    """

    APPLIED = "applied"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class GrantStatus(StrEnum):
    PENDING = "pending"  # a sensitive seal's grant waiting for a second operator
    ACTIVE = "active"
    REVOKED = "revoked"


USCC_RE: Final = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_is_valid(code: str) -> bool:
    """GB 32100-2015 unified social credit code with its check character (STANDARDS.md)."""
    if not isinstance(code, str) or not USCC_RE.fullmatch(code):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def _text(field: str, value: object, max_len: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidSealRequest(field, "must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if not text and not required:
        return None
    if not 1 <= len(text) <= max_len or any(unicodedata.category(c)[0] == "C" for c in text):
        raise InvalidSealRequest(field, f"must be 1 to {max_len} printable characters")
    return text


@dataclass(frozen=True)
class SealApplication:
    """What an operator asks for when applying for a seal for an organisation.

    ``name`` defaults to the owner's name followed by the type label (the official seal is just
    the owner's name). ``valid_days`` counts from approval; the seal never outlives its
    certificate. ``sensitive`` seals need a second operator for approval and for every grant.
    """

    owner_uscc: str
    owner_name: str
    seal_type: SealType
    family: Family
    department: str | None = None
    name: str | None = None
    valid_days: int = 3 * 365
    shape: SealShape = SealShape.ROUND
    width_mm: float = 42.0
    sensitive: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.owner_uscc, str) or not uscc_is_valid(self.owner_uscc.strip().upper()):
            raise InvalidSealRequest("owner_uscc", "is not a valid unified social credit code (GB 32100)")
        object.__setattr__(self, "owner_uscc", self.owner_uscc.strip().upper())
        object.__setattr__(self, "owner_name", _text("owner_name", self.owner_name, 60))
        object.__setattr__(self, "department", _text("department", self.department, 60, required=False))
        try:
            object.__setattr__(self, "seal_type", SealType(self.seal_type))
        except ValueError:
            raise InvalidSealRequest("seal_type", f"must be one of {[t.value for t in SealType]}") from None
        try:
            object.__setattr__(self, "family", Family(self.family))
        except ValueError:
            raise InvalidSealRequest("family", f"must be one of {[f.value for f in Family]}") from None
        try:
            object.__setattr__(self, "shape", SealShape(self.shape))
        except ValueError:
            raise InvalidSealRequest("shape", f"must be one of {[s.value for s in SealShape]}") from None
        default_name = (
            self.owner_name if self.seal_type is SealType.OFFICIAL else self.owner_name + self.seal_type.label
        )
        name = _text("name", self.name, 60, required=False) or default_name
        object.__setattr__(self, "name", name[:60])
        if (
            isinstance(self.valid_days, bool)
            or not isinstance(self.valid_days, int)
            or not 1 <= self.valid_days <= 1825
        ):
            raise InvalidSealRequest("valid_days", "must be a whole number of days from 1 to 1825 (5 years)")
        if isinstance(self.sensitive, str) or not isinstance(self.sensitive, bool):
            raise InvalidSealRequest("sensitive", "must be true or false")
        if isinstance(self.width_mm, bool) or not isinstance(self.width_mm, int | float):
            raise InvalidSealRequest("width_mm", "must be a number")


@dataclass(frozen=True)
class SealInfo:
    """A seal as operators and clients see it (no key material, no personal data)."""

    id: str
    es_id: str
    owner_uscc: str
    owner_name: str
    department: str | None
    seal_type: SealType
    name: str
    family: Family
    key_algorithm: str | None
    signature_algorithm: str
    status: SealStatus
    sensitive: bool
    valid_from: datetime
    valid_to: datetime
    width_mm: float
    height_mm: float
    image_sha256: str
    image_source: str
    cert_serial: str | None
    has_ses_seal: bool
    applied_by: str
    applied_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    status_reason: str | None


@dataclass(frozen=True)
class GrantInfo:
    id: str
    seal_id: str
    client_id: str
    document_types: tuple[str, ...]
    not_after: datetime | None
    status: GrantStatus
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None


@dataclass(frozen=True)
class SignedPdf:
    """The result of sealing a document. ``replayed`` is True when an Idempotency-Key found
    the stored result of an earlier identical request (nothing was signed this time)."""

    pdf: bytes
    use_id: str
    seal_id: str
    sha256: str
    input_sha256: str
    level: str
    field_name: str
    page: int
    replayed: bool
    created_at: datetime
