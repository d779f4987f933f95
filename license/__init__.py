"""E-licences (电子证照): the pure domain part.

Identifiers (national scheme, ISO/IEC 7064 MOD 37,36 check character), licence types as data,
validation of licence data, GB/T 36903 metadata, PDF rendering and the CSV import parser. No
database, no keys, no signing here: issuance, sealing, storage and revocation build on these.
"""

from license.errors import (
    FieldError,
    ImportFileError,
    InvalidLicenseData,
    InvalidLicenseType,
    LicenseError,
    LicenseRenderError,
    MalformedIdentifier,
    UnknownLicenseType,
)
from license.identifier import (
    IDENTIFIER_PREFIX,
    IdentifierParts,
    build_identifier,
    check_char,
    is_valid_identifier,
    parse_identifier,
)
from license.importcsv import CsvImport, ImportedLicense, RowResult, decode_csv_bytes, open_csv_import
from license.layout import Box, Layout, Placement, RecordSlot, StaticText
from license.metadata import HolderCodeType, LicenseMetadata, LicenseRecord, build_metadata
from license.render import render_license
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
    "CsvImport",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "HolderCodeType",
    "HolderKind",
    "IdentifierParts",
    "ImportFileError",
    "ImportedLicense",
    "InvalidLicenseData",
    "InvalidLicenseType",
    "Layout",
    "LicenseError",
    "LicenseMetadata",
    "LicenseRecord",
    "LicenseRenderError",
    "LicenseType",
    "MalformedIdentifier",
    "Placement",
    "RecordSlot",
    "RowResult",
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
    "open_csv_import",
    "parse_identifier",
    "render_license",
    "validate_data",
]
