"""E-licences (电子证照): types, identifiers, issuance, QR codes, library, sharing, import.

The pure part: identifiers (national scheme, ISO/IEC 7064 MOD 37,36 check character), licence
types as data, validation of licence data, GB/T 36903 metadata, PDF rendering, the CSV parser.
On top of it: the type registry (:mod:`license.registry`), issuance and the library
(:class:`LicenseService`), the signed QR payload with offline verification and live status
(:mod:`license.qr`), sharing with consent (:class:`Shares`) and bulk import
(:func:`run_import`). Sealing goes through seal/ behind :class:`PdfSealer`.
"""

from license.errors import (
    DuplicateLicenseNumber,
    DuplicateLicenseType,
    FieldError,
    HolderNotEligible,
    ImportFileError,
    InvalidLicenseData,
    InvalidLicenseType,
    InvalidQrPayload,
    InvalidStatusChange,
    IssuerNotAllowed,
    LicenseError,
    LicenseNotFound,
    LicenseRenderError,
    MalformedIdentifier,
    NoIssuingSeal,
    SealingUnavailable,
    ShareExpired,
    ShareNotFound,
    ShareRevoked,
    UnknownLicenseType,
)
from license.holders import HolderKindRef, HolderRef, PersonDirectory, RegisteredPerson
from license.identifier import (
    IDENTIFIER_PREFIX,
    IdentifierParts,
    build_identifier,
    check_char,
    is_valid_identifier,
    parse_identifier,
)
from license.importcsv import CsvImport, ImportedLicense, RowResult, decode_csv_bytes, open_csv_import
from license.importer import ImportOutcome, ImportProgress, run_import
from license.layout import Box, Layout, Placement, RecordSlot, StaticText
from license.metadata import HolderCodeType, LicenseMetadata, LicenseRecord, build_metadata
from license.qr import LicenseStatus, LiveStatus, QrClaims, lookup_status, signing_certificates, verify_payload
from license.render import render_license
from license.sealing import IssuingSeal, PdfSealer, SealBox
from license.service import Caller, LicenseService, LicenseView, SearchFilters, SearchPage
from license.shares import ShareAccess, Shares, ShareView
from license.types import (
    FieldKind,
    FieldSpec,
    HolderKind,
    LicenseType,
    Validity,
    ValidityKind,
    ValidityRule,
    builtin_types,
    compute_validity,
    get_builtin_type,
    validate_data,
)

__all__ = [
    "IDENTIFIER_PREFIX",
    "Box",
    "Caller",
    "CsvImport",
    "DuplicateLicenseNumber",
    "DuplicateLicenseType",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "HolderCodeType",
    "HolderKind",
    "HolderKindRef",
    "HolderNotEligible",
    "HolderRef",
    "IdentifierParts",
    "ImportFileError",
    "ImportOutcome",
    "ImportProgress",
    "ImportedLicense",
    "InvalidLicenseData",
    "InvalidLicenseType",
    "InvalidQrPayload",
    "InvalidStatusChange",
    "IssuerNotAllowed",
    "IssuingSeal",
    "Layout",
    "LicenseError",
    "LicenseMetadata",
    "LicenseNotFound",
    "LicenseRecord",
    "LicenseRenderError",
    "LicenseService",
    "LicenseStatus",
    "LicenseType",
    "LicenseView",
    "LiveStatus",
    "MalformedIdentifier",
    "NoIssuingSeal",
    "PdfSealer",
    "PersonDirectory",
    "Placement",
    "QrClaims",
    "RecordSlot",
    "RegisteredPerson",
    "RowResult",
    "SealBox",
    "SealingUnavailable",
    "SearchFilters",
    "SearchPage",
    "ShareAccess",
    "ShareExpired",
    "ShareNotFound",
    "ShareRevoked",
    "ShareView",
    "Shares",
    "StaticText",
    "UnknownLicenseType",
    "Validity",
    "ValidityKind",
    "ValidityRule",
    "build_identifier",
    "build_metadata",
    "builtin_types",
    "check_char",
    "compute_validity",
    "decode_csv_bytes",
    "get_builtin_type",
    "is_valid_identifier",
    "lookup_status",
    "open_csv_import",
    "parse_identifier",
    "render_license",
    "run_import",
    "signing_certificates",
    "validate_data",
    "verify_payload",
]
