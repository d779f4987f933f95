"""Electronic seals and e-signatures per GB/T 38540-2020 (v4), reading GM/T 0031-2014 (v1) too.

Three jobs, all pure (no database, no key store):

* **make** a v4 ``SES_Seal`` (the seal-making authority signs ``SES_SealInfo``) and a v4
  ``SES_Signature`` over a document (the seal holder signs ``TBS_Sign``). Private keys never
  come here: signing is a callable returning a DER ``SEQUENCE{r, s}`` SM2-with-SM3 signature
  (computed with the default distinguishing ID ``1234567812345678``), later provided by ``keys/``.
* **parse** v4 and v1 blobs into frozen dataclasses. Parsing is bounded (4 MiB) and converts
  any decoding failure into :class:`~seal.errors.MalformedSes` with the path of the bad field.
* **verify** in the order of GB/T 38540-2020 §8 (as summarised in STANDARDS.md), as far as pure
  code can go. Signatures are checked over the bytes *as received* (real seals encode
  ``critical FALSE`` explicitly, which a re-encoding would drop). Certificate chains and
  revocation are delegated to a ``check_cert`` callback, timestamps to ``check_timestamp``.
  Verification returns a :class:`SesReport`; it raises only for malformed input.

The v1 layout differs from v4 in four places: ``SES_Seal`` is ``{sealInfo, signInfo}`` and
the maker signs ``SEQUENCE{sealInfo, cert, signatureAlgorithm}`` (not ``sealInfo`` alone);
the property info has no ``certListType`` and uses UTCTime; ``TBS_Sign`` carries
``timeInfo`` as a BIT STRING plus the signer cert and algorithm; ``SES_Signature`` is
``{toSign, signature}``. See :mod:`seal._ses_asn1` for sources and confidence.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Final

from asn1crypto import algos, core, x509

from core import clock
from core.errors import YwtError
from seal import _ses_asn1 as asn
from seal.errors import (
    InvalidSealSpec,
    MalformedSes,
    SealNotValidAt,
    SesTooLarge,
    SignerNotInSeal,
    SignerOutputInvalid,
    UnsupportedSesVersion,
)

__all__ = [
    "MAX_SES_BYTES",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "CertCheck",
    "CertDigest",
    "CertListType",
    "Check",
    "CheckCertFn",
    "CheckName",
    "CheckStatus",
    "CheckTimestampFn",
    "ExtData",
    "Indication",
    "SealInfoSpec",
    "SealPicture",
    "SesHeader",
    "SesReport",
    "SesSeal",
    "SesSignature",
    "SesVersion",
    "SignFn",
    "TimestampCheck",
    "TimestamperFn",
    "VerifyFn",
    "make_seal",
    "make_signature",
    "parse_seal",
    "parse_signature",
    "verify_seal",
    "verify_signature",
]

OID_SM2_WITH_SM3: Final = "1.2.156.10197.1.501"
OID_SM3: Final = "1.2.156.10197.1.401"
OID_SM2_CURVE: Final = "1.2.156.10197.1.301"
OID_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"

MAX_SES_BYTES: Final = 4 * 1024 * 1024
"""Upper bound for any SES blob we parse or build (a seal with a 2 MiB picture fits)."""

MAX_SEAL_INFO_BYTES: Final = 3 * 1024 * 1024
"""What we build: leaves room in MAX_SES_BYTES for the certificates and a timestamp token."""

SM3_LEN: Final = 32
CLOCK_SKEW: Final = timedelta(minutes=5)
"""Tolerance for a signing time slightly ahead of the validation time."""

V1_HEADER_VERSIONS: Final = frozenset({1, 2, 3})
"""Header versions accepted with the v1 layout. Seen: 1 (ofdrw, dms360.cn). 2 and 3 are
accepted because GM/T 0031-2014 predates v4 and some readers call its types "v2" [L]."""

SignFn = Callable[[bytes], bytes]
"""``sign(data) -> DER SEQUENCE{r, s}``: SM2-with-SM3 over ``data`` with the default ID."""
VerifyFn = Callable[[bytes, bytes, bytes], bool]
"""``verify(cert_der, data, signature_der) -> bool``: SM2-with-SM3 with the cert's public key.
Only ``True`` counts as verified; an exception is reported as a failed verification."""
TimestamperFn = Callable[[bytes], bytes]
"""``timestamper(signature_value) -> DER TimeStampToken`` (RFC 3161) over the signature value."""


class SesVersion(IntEnum):
    """Which layout a blob uses (not the raw header number: v1 headers say 1, sometimes more)."""

    V1 = 1  # GM/T 0031-2014
    V4 = 4  # GB/T 38540-2020


class CertListType(IntEnum):
    """``certListType`` of GB/T 38540 ``SES_ESPropertyInfo``."""

    CERTS = 1
    DIGESTS = 2


@dataclass(frozen=True)
class SesHeader:
    id: str
    version: int
    vendor_id: str


@dataclass(frozen=True)
class ExtData:
    """A vendor extension (``ExtData``); same shape as an X.509 extension."""

    oid: str
    value: bytes
    critical: bool = False


@dataclass(frozen=True)
class CertDigest:
    """``CertDigestObj``: ``type`` is free text in the standard; we write and understand ``sm3``."""

    type: str
    value: bytes


@dataclass(frozen=True)
class SealPicture:
    """``SES_ESPictrueInfo``: image type (``png``, ``gif``, ``ofd``...), bytes, display size in mm."""

    type: str
    data: bytes = field(repr=False)
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class SesSeal:
    """A parsed ``SES_Seal`` (v4 or v1). ``signed_data`` is exactly what the maker signed,
    taken from the received bytes; ``der`` is the whole blob as received."""

    version: SesVersion
    header: SesHeader
    es_id: str
    seal_type: int
    name: str
    cert_list_type: CertListType
    certs: tuple[bytes, ...] = field(repr=False)
    cert_digests: tuple[CertDigest, ...]
    created: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    ext_datas: tuple[ExtData, ...]
    maker_cert: bytes = field(repr=False)
    sign_alg_oid: str
    signed_value: bytes = field(repr=False)
    signed_data: bytes = field(repr=False)
    der: bytes = field(repr=False)


@dataclass(frozen=True)
class SesSignature:
    """A parsed ``SES_Signature`` (v4 or v1).

    ``time_info`` is None when a v1 ``timeInfo`` BIT STRING holds no time we can read (some
    producers put a timestamp token there); ``time_info_raw`` keeps its bytes. ``signed_data``
    is the ``TBS_Sign`` as received.
    """

    version: SesVersion
    tbs_version: int
    seal: SesSeal
    time_info: datetime | None
    time_info_raw: bytes = field(repr=False)
    data_hash: bytes
    property_info: str
    ext_datas: tuple[ExtData, ...]
    signer_cert: bytes = field(repr=False)
    signature_alg_oid: str
    signature: bytes = field(repr=False)
    timestamp: bytes | None = field(repr=False)
    signed_data: bytes = field(repr=False)
    der: bytes = field(repr=False)


# ---------------------------------------------------------------------------- reports


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"
    SKIPPED = "skipped"  # not applicable (e.g. no timestamp present)


class Indication(StrEnum):
    """ETSI EN 319 102-1 main indications."""

    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


class CheckName(StrEnum):
    HEADER = "header"
    SIGNATURE = "signature"
    SIGNER_IN_SEAL = "signer-in-seal"
    MAKER_SIGNATURE = "maker-signature"
    MAKER_CERT = "maker-cert"
    SEAL_VALIDITY = "seal-validity"
    SIGNING_TIME = "signing-time"
    SIGNER_CERT = "signer-cert"
    TIMESTAMP = "timestamp"
    DATA_HASH = "data-hash"


@dataclass(frozen=True)
class Check:
    name: CheckName
    status: CheckStatus
    message: str
    sub_indication: str | None = None


@dataclass(frozen=True)
class CertCheck:
    """What ``check_cert`` says about one certificate (chain to the trust list, validity at the
    given time, revocation, key usage). ``sub_indication`` uses ETSI names (``REVOKED``,
    ``NO_CERTIFICATE_CHAIN_FOUND``, ``OUT_OF_BOUNDS_NO_POE``, ``TRY_LATER``...)."""

    status: CheckStatus
    message: str
    sub_indication: str | None = None

    @classmethod
    def passed(cls, message: str = "certificate is trusted and valid") -> CertCheck:
        return cls(CheckStatus.PASSED, message)

    @classmethod
    def failed(cls, message: str, sub_indication: str | None = None) -> CertCheck:
        return cls(CheckStatus.FAILED, message, sub_indication)

    @classmethod
    def indeterminate(cls, message: str, sub_indication: str | None = None) -> CertCheck:
        return cls(CheckStatus.INDETERMINATE, message, sub_indication)


@dataclass(frozen=True)
class TimestampCheck:
    """What ``check_timestamp`` says about the ``timeStamp`` token; ``time`` is its genTime."""

    status: CheckStatus
    message: str
    time: datetime | None = None
    sub_indication: str | None = None


CheckCertFn = Callable[[bytes, datetime], CertCheck]
"""``check_cert(cert_der, at) -> CertCheck``; wired later to the CA / trust list."""
CheckTimestampFn = Callable[[bytes, bytes], TimestampCheck]
"""``check_timestamp(token_der, signature_value) -> TimestampCheck``."""


@dataclass(frozen=True)
class SesReport:
    """Outcome of verifying a seal or a signature: every check, in the standard's order.

    ``indication`` is TOTAL-FAILED if any check failed, INDETERMINATE if any could not be
    decided, TOTAL-PASSED otherwise (SKIPPED checks do not count); ``ok`` is TOTAL-PASSED.
    """

    subject: str  # "SES_Seal" | "SES_Signature"
    version: SesVersion
    es_id: str
    seal_name: str
    checks: tuple[Check, ...]
    validation_time: datetime
    signing_time: datetime | None = None

    @property
    def indication(self) -> Indication:
        statuses = {c.status for c in self.checks}
        if CheckStatus.FAILED in statuses:
            return Indication.TOTAL_FAILED
        if CheckStatus.INDETERMINATE in statuses:
            return Indication.INDETERMINATE
        return Indication.TOTAL_PASSED

    @property
    def sub_indication(self) -> str | None:
        wanted = {
            Indication.TOTAL_FAILED: CheckStatus.FAILED,
            Indication.INDETERMINATE: CheckStatus.INDETERMINATE,
        }.get(self.indication)
        return next((c.sub_indication for c in self.checks if c.status is wanted), None)

    @property
    def ok(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED

    def check(self, name: CheckName | str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def text(self) -> str:
        """Plain-text summary, one line per check."""
        head = f"{self.indication.value}"
        if self.sub_indication:
            head += f" / {self.sub_indication}"
        lines = [
            f"{head}: {self.subject} (v{self.version.value}) of seal {self.seal_name!r} esID {self.es_id!r}"
        ]
        lines += [f"  [{c.status.value}] {c.name.value}: {c.message}" for c in self.checks]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- building


_ASCII_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")
_DOTTED_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def _spec_ascii(name: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not _ASCII_PRINTABLE.fullmatch(value) or len(value) > max_len:
        raise InvalidSealSpec(name, f"must be 1 to {max_len} printable ASCII characters (IA5String)")
    return value


def _spec_time(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidSealSpec(name, "must be a timezone-aware datetime")
    return _to_second(value)


def _to_second(value: datetime) -> datetime:
    """UTC, whole seconds: DER GeneralizedTime has no fraction we would want to sign."""
    return value.astimezone(UTC).replace(microsecond=0)


def _spec_ext_datas(name: str, value: object) -> tuple[ExtData, ...]:
    items = tuple(value) if isinstance(value, Iterable) else None
    if items is None or not all(isinstance(e, ExtData) for e in items):
        raise InvalidSealSpec(name, "must be a sequence of ExtData")
    for e in items:
        if not isinstance(e.oid, str) or not _DOTTED_OID.fullmatch(e.oid):
            raise InvalidSealSpec(name, f"{e.oid!r} is not a dotted object identifier")
        if not isinstance(e.value, bytes) or not isinstance(e.critical, bool):
            raise InvalidSealSpec(name, "value must be bytes and critical a bool")
    return items


def _check_cert_der(name: str, der: object, *, sm2_only: bool = True) -> bytes:
    if not isinstance(der, bytes) or not der:
        raise InvalidSealSpec(name, "must be DER bytes of an X.509 certificate")
    problem = _cert_problem(der, sm2_only=sm2_only)
    if problem:
        raise InvalidSealSpec(name, problem)
    return der


@dataclass(frozen=True)
class SealInfoSpec:
    """Everything the seal-making authority puts into ``SES_SealInfo`` (GB/T 38540 §5.2).

    ``signer_certs`` are the seal holder's signing certificates (DER); with
    ``CertListType.DIGESTS`` their SM3 digests are listed instead (``CertDigestObj`` type
    ``"sm3"``). ``created`` defaults to the time :func:`make_seal` runs. ``seal_type`` is the
    standard's integer type code (its code list is not in our sources; we pass it through).
    """

    es_id: str
    name: str
    seal_type: int
    signer_certs: tuple[bytes, ...]
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    created: datetime | None = None
    vendor_id: str = "YWT"
    cert_list_type: CertListType = CertListType.CERTS
    ext_datas: tuple[ExtData, ...] = ()
    #: GB/T 38540 e-signatures are SM2-with-SM3, so by default every listed certificate must hold
    #: an SM2 key. A seal that signs PDFs with RSA or ECDSA (PAdES) can still be described by an
    #: SES_Seal that binds its certificate; such a seal cannot make an SES_Signature.
    allow_non_sm2_signers: bool = False

    def __post_init__(self) -> None:
        _spec_ascii("es_id", self.es_id, 128)
        _spec_ascii("vendor_id", self.vendor_id, 64)
        if not isinstance(self.name, str):
            raise InvalidSealSpec("name", "must be a string")
        name = unicodedata.normalize("NFC", self.name).strip()
        if not 1 <= len(name) <= 100 or any(unicodedata.category(c)[0] == "C" for c in name):
            raise InvalidSealSpec("name", "must be 1 to 100 characters without control characters")
        object.__setattr__(self, "name", name)
        if (
            isinstance(self.seal_type, bool)
            or not isinstance(self.seal_type, int)
            or not 0 < self.seal_type < 2**31
        ):
            raise InvalidSealSpec("seal_type", "must be a positive integer")
        if isinstance(self.signer_certs, bytes | str) or not isinstance(self.signer_certs, Iterable):
            raise InvalidSealSpec("signer_certs", "must be a sequence of DER certificates")
        certs = tuple(self.signer_certs)
        if not 1 <= len(certs) <= 16:
            raise InvalidSealSpec("signer_certs", "must list 1 to 16 certificates")
        for i, der in enumerate(certs):
            _check_cert_der(f"signer_certs[{i}]", der, sm2_only=not self.allow_non_sm2_signers)
        object.__setattr__(self, "signer_certs", certs)
        try:
            object.__setattr__(self, "cert_list_type", CertListType(self.cert_list_type))
        except ValueError:
            raise InvalidSealSpec("cert_list_type", "must be 1 (certificates) or 2 (digests)") from None
        start = _spec_time("valid_start", self.valid_start)
        end = _spec_time("valid_end", self.valid_end)
        if start >= end:
            raise InvalidSealSpec("valid_end", "must be after valid_start")
        object.__setattr__(self, "valid_start", start)
        object.__setattr__(self, "valid_end", end)
        if self.created is not None:
            created = _spec_time("created", self.created)
            if created > end:
                raise InvalidSealSpec("created", "must not be after valid_end")
            object.__setattr__(self, "created", created)
        pic = self.picture
        if not isinstance(pic, SealPicture):
            raise InvalidSealSpec("picture", "must be a SealPicture")
        _spec_ascii("picture.type", pic.type, 16)
        if not isinstance(pic.data, bytes) or not pic.data:
            raise InvalidSealSpec("picture.data", "must be non-empty bytes")
        if pic.type.lower() == "png" and not pic.data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise InvalidSealSpec("picture.data", "is not a PNG although the type says png")
        for dim in ("width_mm", "height_mm"):
            v = getattr(pic, dim)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000:
                raise InvalidSealSpec(f"picture.{dim}", "must be an integer number of millimetres, 1 to 1000")
        object.__setattr__(self, "ext_datas", _spec_ext_datas("ext_datas", self.ext_datas))


def _ext_datas_asn1(items: Sequence[ExtData]) -> Any:
    return asn.ExtensionDatas(
        [{"extn_id": e.oid, "critical": e.critical, "extn_value": e.value} for e in items]
    )


def _checked_signature(sig: object) -> bytes:
    """The signer's output must be a canonical DER SEQUENCE{r, s} with positive r, s."""
    if not isinstance(sig, bytes):
        raise SignerOutputInvalid(f"sign() returned {type(sig).__name__}, not bytes")
    try:
        parsed = algos.DSASignature.load(sig, strict=True)
        r, s = parsed["r"].native, parsed["s"].native
        canonical = algos.DSASignature({"r": r, "s": s}).dump() == sig
    except (ValueError, TypeError, KeyError) as exc:
        raise SignerOutputInvalid(f"sign() did not return DER SEQUENCE{{r, s}}: {exc}") from exc
    if not canonical or r <= 0 or s <= 0:
        raise SignerOutputInvalid("sign() returned a non-canonical or non-positive (r, s)")
    return sig


def make_seal(info: SealInfoSpec, maker_cert_der: bytes, sign: SignFn) -> bytes:
    """Build a v4 ``SES_Seal`` (GB/T 38540-2020 §5.2): the maker signs the DER ``SES_SealInfo``.

    ``maker_cert_der`` is the seal-making authority's signing certificate; ``sign`` computes
    SM2-with-SM3 with its key. ``signAlgID`` is the bare OID 1.2.156.10197.1.501 and
    ``signedValue`` a BIT STRING holding the DER ``SEQUENCE{r, s}``.
    """
    _check_cert_der("maker_cert_der", maker_cert_der)
    created = info.created or _to_second(clock.now())
    if created > info.valid_end:
        raise InvalidSealSpec("valid_end", f"the seal would be expired when made ({created.isoformat()})")
    if info.cert_list_type is CertListType.CERTS:
        cert_list = asn.CertOctets(list(info.signer_certs))
    else:
        cert_list = asn.CertDigestList([{"type": "sm3", "value": _sm3(c)} for c in info.signer_certs])
    seal_info: dict[str, Any] = {
        "header": {"id": "ES", "version": 4, "vid": info.vendor_id},
        "es_id": info.es_id,
        "property": {
            "type": info.seal_type,
            "name": info.name,
            "cert_list_type": int(info.cert_list_type),
            "cert_list": core.Any(cert_list),
            "create_date": created,
            "valid_start": info.valid_start,
            "valid_end": info.valid_end,
        },
        "picture": {
            "type": info.picture.type,
            "data": info.picture.data,
            "width": info.picture.width_mm,
            "height": info.picture.height_mm,
        },
    }
    if info.ext_datas:
        seal_info["ext_datas"] = _ext_datas_asn1(info.ext_datas)
    seal_info_der = asn.SealInfoV4(seal_info).dump()
    if len(seal_info_der) > MAX_SEAL_INFO_BYTES:
        raise InvalidSealSpec("picture.data", f"SES_SealInfo would exceed {MAX_SEAL_INFO_BYTES} bytes")
    signed_value = _checked_signature(sign(seal_info_der))
    seal = asn.SesSealV4(
        {
            # Embed the very bytes that were signed.
            "e_seal_info": asn.SealInfoV4.load(seal_info_der),
            "cert": maker_cert_der,
            "sign_alg_id": OID_SM2_WITH_SM3,
            "signed_value": signed_value,
        }
    )
    der: bytes = seal.dump()
    return der


def make_signature(
    seal: bytes,
    document: bytes,
    signer_cert_der: bytes,
    sign: SignFn,
    *,
    property_info: str,
    signing_time: datetime | None = None,
    ext_datas: Sequence[ExtData] = (),
    timestamper: TimestamperFn | None = None,
) -> bytes:
    """Build a v4 ``SES_Signature`` over ``document`` (GB/T 38540-2020 §6).

    ``TBS_Sign`` = version 4, the seal exactly as given, ``timeInfo`` (default: now, whole
    seconds), ``dataHash`` = SM3(document), ``propertyInfo`` (e.g. the document's path or id),
    optional ``extDatas``; the seal holder signs its DER. With ``timestamper``, the
    signature value is timestamped into ``timeStamp [0]``.

    Refuses (rather than producing something that cannot verify) when the seal is not v4,
    when ``signer_cert_der`` is not in the seal's certList, or when the seal is not valid at
    the signing time.
    """
    parsed = parse_seal(seal)
    if parsed.version is not SesVersion.V4:
        raise UnsupportedSesVersion(int(parsed.version), "only GB/T 38540-2020 (v4) seals can sign")
    _check_cert_der("signer_cert_der", signer_cert_der)
    if not _cert_in_list(parsed, signer_cert_der)[0]:
        raise SignerNotInSeal(parsed.es_id)
    if signing_time is not None and (not isinstance(signing_time, datetime) or signing_time.tzinfo is None):
        raise InvalidSealSpec("signing_time", "must be a timezone-aware datetime")
    when = _to_second(signing_time if signing_time is not None else clock.now())
    if not parsed.valid_start <= when <= parsed.valid_end:
        raise SealNotValidAt(parsed.es_id, when, parsed.valid_start, parsed.valid_end)
    _spec_ascii("property_info", property_info, 1024)
    if not isinstance(document, bytes | bytearray | memoryview):
        raise InvalidSealSpec("document", "must be bytes")
    exts = _spec_ext_datas("ext_datas", ext_datas)

    tbs: dict[str, Any] = {
        "version": 4,
        "eseal": asn.SesSealV4.load(parsed.der),
        "time_info": when,
        "data_hash": _sm3(bytes(document)),
        "property_info": property_info,
    }
    if exts:
        tbs["ext_datas"] = _ext_datas_asn1(exts)
    tbs_der = asn.TbsSignV4(tbs).dump()
    signature = _checked_signature(sign(tbs_der))
    out: dict[str, Any] = {
        "to_sign": asn.TbsSignV4.load(tbs_der),
        "cert": signer_cert_der,
        "signature_alg_id": OID_SM2_WITH_SM3,
        "signature": signature,
    }
    if timestamper is not None:
        token = timestamper(signature)
        if not isinstance(token, bytes) or not token:
            raise SignerOutputInvalid("the timestamper returned no token bytes")
        out["time_stamp"] = token
    der: bytes = asn.SesSignatureV4(out).dump()
    if len(der) > MAX_SES_BYTES:
        raise InvalidSealSpec("seal", f"the signature would exceed {MAX_SES_BYTES} bytes")
    return der


# ---------------------------------------------------------------------------- parsing


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _top_level(data: bytes, where: str) -> list[tuple[int, int, int]]:
    """Children (tag, start, end) of the outer SEQUENCE, with DER length rules enforced.

    Done by hand before asn1crypto runs so that the version can be told from the shape and
    so that indefinite lengths and trailing bytes are refused with a clear message.
    """

    def header(pos: int, limit: int, at: str) -> tuple[int, int, int]:
        if pos + 2 > limit:
            raise MalformedSes(at, "truncated before a tag and length")
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise MalformedSes(at, f"unexpected high tag number at offset {pos}")
        first = data[pos + 1]
        if first == 0x80:
            raise MalformedSes(at, "indefinite length (BER) is not allowed; DER is required")
        if first < 0x80:
            length, body = first, pos + 2
        else:
            count = first & 0x7F
            if count > 4:
                raise MalformedSes(at, f"length of {count} bytes at offset {pos} is absurd")
            if pos + 2 + count > limit:
                raise MalformedSes(at, "truncated inside a length")
            length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
            body = pos + 2 + count
        if body + length > limit:
            raise MalformedSes(at, f"declares {length} bytes at offset {pos} but only {limit - body} remain")
        return tag, body, body + length

    tag, start, end = header(0, len(data), where)
    if tag != 0x30:
        raise MalformedSes(where, f"expected a SEQUENCE (tag 0x30), found tag 0x{tag:02x}")
    if end != len(data):
        raise MalformedSes(where, f"{len(data) - end} bytes of trailing data after the SEQUENCE")
    children = []
    pos = start
    while pos < end:
        child_tag, _body, child_end = header(pos, end, where)
        children.append((child_tag, pos, child_end))
        pos = child_end
    return children


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class _Reader:
    """Accesses asn1crypto fields with a path, turning any decoding error into MalformedSes."""

    def __init__(self, root: str) -> None:
        self.root = root

    def node(self, obj: Any, path: str) -> Any:
        """``obj[a][b]...`` for ``path`` "a.b", parsed (but not necessarily its leaves)."""
        cur = obj
        done: list[str] = []
        for part in path.split("."):
            done.append(part)
            try:
                cur = cur[int(part)] if part.isdigit() else cur[part]
                if isinstance(cur, core.Sequence | core.SequenceOf):
                    len(cur)  # parses the children, detecting extra or missing elements
            except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, ...
                raise MalformedSes(f"{self.root}.{'.'.join(done)}", _reason(exc)) from exc
        return cur

    def value(self, obj: Any, path: str) -> Any:
        node = self.node(obj, path)
        try:
            return node.native
        except Exception as exc:
            raise MalformedSes(f"{self.root}.{path}", _reason(exc)) from exc

    def text(self, obj: Any, path: str) -> str:
        v = self.value(obj, path)
        if not isinstance(v, str):
            raise MalformedSes(f"{self.root}.{path}", "expected a string")
        return v

    def integer(self, obj: Any, path: str) -> int:
        v = self.value(obj, path)
        if not isinstance(v, int) or isinstance(v, bool) or abs(v) >= 2**63:
            raise MalformedSes(f"{self.root}.{path}", "expected a reasonably small INTEGER")
        return v

    def octets(self, obj: Any, path: str) -> bytes:
        v = self.value(obj, path)
        if not isinstance(v, bytes):
            raise MalformedSes(f"{self.root}.{path}", "expected an OCTET STRING or whole-byte BIT STRING")
        return v

    def time(self, obj: Any, path: str) -> datetime:
        v = self.value(obj, path)
        if not isinstance(v, datetime):
            raise MalformedSes(f"{self.root}.{path}", "expected a time")
        # GeneralizedTime without "Z" is local time of an unknown zone; we read it as UTC [L].
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    def raw(self, obj: Any, path: str) -> bytes:
        """The element's bytes exactly as received (asn1crypto keeps them unless modified)."""
        node = self.node(obj, path)
        try:
            der: bytes = node.dump()  # an ``Any`` parses its content here
        except Exception as exc:
            raise MalformedSes(f"{self.root}.{path}", _reason(exc)) from exc
        return der

    def ext_datas(self, obj: Any, path: str) -> tuple[ExtData, ...]:
        node = self.node(obj, path)
        if isinstance(node, core.Void):
            return ()
        out = []
        for i in range(len(node)):
            p = f"{path}.{i}"
            out.append(
                ExtData(
                    oid=self.value(obj, f"{p}.extn_id"),
                    critical=bool(self.value(obj, f"{p}.critical")),
                    value=self.octets(obj, f"{p}.extn_value"),
                )
            )
        return tuple(out)


def _check_size(data: object, where: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedSes(where, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise MalformedSes(where, "empty input")
    if len(data) > MAX_SES_BYTES:
        raise SesTooLarge(where, size=len(data), limit=MAX_SES_BYTES)
    return data


def _load(cls: Any, data: bytes, where: str) -> Any:
    try:
        obj = cls.load(data, strict=True)
        len(obj)
    except Exception as exc:
        raise MalformedSes(where, _reason(exc)) from exc
    return obj


def parse_seal(data: bytes) -> SesSeal:
    """Parse an ``SES_Seal`` of either version; raises :class:`MalformedSes` on any defect."""
    where = "SES_Seal"
    data = _check_size(data, where)
    children = _top_level(data, where)
    if len(children) == 4:
        return _seal_v4(_load(asn.SesSealV4, data, where), where)
    if len(children) == 2:
        return _seal_v1(_load(asn.SesSealV1, data, where), where)
    raise MalformedSes(where, f"has {len(children)} elements; v4 has 4 and v1 (GM/T 0031-2014) has 2")


def parse_signature(data: bytes) -> SesSignature:
    """Parse an ``SES_Signature`` of either version; raises :class:`MalformedSes` on any defect."""
    where = "SES_Signature"
    data = _check_size(data, where)
    children = _top_level(data, where)
    if len(children) in (4, 5):
        return _signature_v4(_load(asn.SesSignatureV4, data, where), where)
    if len(children) == 2:
        if children[0][0] == 0x06:  # OBJECT IDENTIFIER first: a ContentInfo, not an SES_Signature
            raise MalformedSes(
                where, "this is a CMS/PKCS #7 ContentInfo (e.g. GB/T 35275 SignedData), not an SES_Signature"
            )
        if children[0][0] == children[1][0] == 0x02:
            raise MalformedSes(where, "this is a bare signature SEQUENCE{r, s}, not an SES_Signature")
        return _signature_v1(_load(asn.SesSignatureV1, data, where), where)
    raise MalformedSes(where, f"has {len(children)} elements; v4 has 4 or 5 and v1 (GM/T 0031-2014) has 2")


def _header(r: _Reader, obj: Any, prefix: str) -> SesHeader:
    return SesHeader(
        id=r.text(obj, f"{prefix}.header.id"),
        version=r.integer(obj, f"{prefix}.header.version"),
        vendor_id=r.text(obj, f"{prefix}.header.vid"),
    )


def _picture(r: _Reader, obj: Any, prefix: str) -> SealPicture:
    return SealPicture(
        type=r.text(obj, f"{prefix}.picture.type"),
        data=r.octets(obj, f"{prefix}.picture.data"),
        width_mm=r.integer(obj, f"{prefix}.picture.width"),
        height_mm=r.integer(obj, f"{prefix}.picture.height"),
    )


def _seal_v4(obj: Any, where: str, prefix: str = "") -> SesSeal:
    r = _Reader(where)
    p = f"{prefix}e_seal_info"
    prop = f"{p}.property"
    list_type_raw = r.integer(obj, f"{prop}.cert_list_type")
    cert_list_raw = r.raw(obj, f"{prop}.cert_list")
    certs: tuple[bytes, ...] = ()
    digests: tuple[CertDigest, ...] = ()
    if list_type_raw == CertListType.CERTS:
        lst = _load(asn.CertOctets, cert_list_raw, f"{where}.{prop}.cert_list")
        certs = tuple(_Reader(f"{where}.{prop}.cert_list").octets(lst, str(i)) for i in range(len(lst)))
    elif list_type_raw == CertListType.DIGESTS:
        lst = _load(asn.CertDigestList, cert_list_raw, f"{where}.{prop}.cert_list")
        lr = _Reader(f"{where}.{prop}.cert_list")
        digests = tuple(
            CertDigest(type=lr.text(lst, f"{i}.type"), value=lr.octets(lst, f"{i}.value"))
            for i in range(len(lst))
        )
    else:
        raise MalformedSes(f"{where}.{prop}.cert_list_type", f"must be 1 or 2, is {list_type_raw}")
    return SesSeal(
        version=SesVersion.V4,
        header=_header(r, obj, p),
        es_id=r.text(obj, f"{p}.es_id"),
        seal_type=r.integer(obj, f"{prop}.type"),
        name=r.text(obj, f"{prop}.name"),
        cert_list_type=CertListType(list_type_raw),
        certs=certs,
        cert_digests=digests,
        created=r.time(obj, f"{prop}.create_date"),
        valid_start=r.time(obj, f"{prop}.valid_start"),
        valid_end=r.time(obj, f"{prop}.valid_end"),
        picture=_picture(r, obj, p),
        ext_datas=r.ext_datas(obj, f"{p}.ext_datas"),
        maker_cert=r.octets(obj, f"{prefix}cert"),
        sign_alg_oid=r.value(obj, f"{prefix}sign_alg_id"),
        signed_value=r.octets(obj, f"{prefix}signed_value"),
        # GB/T 38540: the maker signs the DER of SES_SealInfo only.
        signed_data=r.raw(obj, p),
        der=r.raw(obj, prefix[:-1]) if prefix else obj.dump(),
    )


def _seal_v1(obj: Any, where: str, prefix: str = "") -> SesSeal:
    r = _Reader(where)
    p = f"{prefix}e_seal_info"
    prop = f"{p}.property"
    n = len(r.node(obj, f"{prop}.cert_list"))
    certs = tuple(r.octets(obj, f"{prop}.cert_list.{i}") for i in range(n))
    # GM/T 0031-2014 (per ofdrw's SES_SignInfo and its v1 test): the maker signs
    # SEQUENCE { sealInfo, cert, signatureAlgorithm }, each element as received.
    body = (
        r.raw(obj, p)
        + r.raw(obj, f"{prefix}sign_info.cert")
        + r.raw(obj, f"{prefix}sign_info.signature_algorithm")
    )
    return SesSeal(
        version=SesVersion.V1,
        header=_header(r, obj, p),
        es_id=r.text(obj, f"{p}.es_id"),
        seal_type=r.integer(obj, f"{prop}.type"),
        name=r.text(obj, f"{prop}.name"),
        cert_list_type=CertListType.CERTS,
        certs=certs,
        cert_digests=(),
        created=r.time(obj, f"{prop}.create_date"),
        valid_start=r.time(obj, f"{prop}.valid_start"),
        valid_end=r.time(obj, f"{prop}.valid_end"),
        picture=_picture(r, obj, p),
        ext_datas=r.ext_datas(obj, f"{p}.ext_datas"),
        maker_cert=r.octets(obj, f"{prefix}sign_info.cert"),
        sign_alg_oid=r.value(obj, f"{prefix}sign_info.signature_algorithm"),
        signed_value=r.octets(obj, f"{prefix}sign_info.sign_data"),
        signed_data=b"\x30" + _der_length(len(body)) + body,
        der=r.raw(obj, prefix[:-1]) if prefix else obj.dump(),
    )


def _signature_v4(obj: Any, where: str) -> SesSignature:
    r = _Reader(where)
    seal = _seal_v4(obj, where, prefix="to_sign.eseal.")
    ts_node = r.node(obj, "time_stamp")
    return SesSignature(
        version=SesVersion.V4,
        tbs_version=r.integer(obj, "to_sign.version"),
        seal=seal,
        time_info=r.time(obj, "to_sign.time_info"),
        time_info_raw=r.node(obj, "to_sign.time_info").contents,
        data_hash=r.octets(obj, "to_sign.data_hash"),
        property_info=r.text(obj, "to_sign.property_info"),
        ext_datas=r.ext_datas(obj, "to_sign.ext_datas"),
        signer_cert=r.octets(obj, "cert"),
        signature_alg_oid=r.value(obj, "signature_alg_id"),
        signature=r.octets(obj, "signature"),
        timestamp=None if isinstance(ts_node, core.Void) else r.octets(obj, "time_stamp"),
        signed_data=r.raw(obj, "to_sign"),
        der=obj.dump(),
    )


def _v1_bits(r: _Reader, obj: Any, path: str) -> bytes:
    """A v1 field that should be a BIT STRING (ofdrw also reads OCTET STRING there)."""
    der = r.raw(obj, path)
    cls = {0x03: core.OctetBitString, 0x04: core.OctetString}.get(der[0]) if der else None
    if cls is None:
        raise MalformedSes(f"{r.root}.{path}", "expected a BIT STRING (or OCTET STRING)")
    try:
        value = cls.load(der, strict=True).native
    except Exception as exc:  # e.g. a BIT STRING with unused bits
        raise MalformedSes(f"{r.root}.{path}", _reason(exc)) from exc
    if not isinstance(value, bytes):
        raise MalformedSes(f"{r.root}.{path}", "expected whole bytes")
    return value


_V1_TIME_FORMATS: Final = ("%y%m%d%H%M%SZ", "%Y%m%d%H%M%SZ", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S")


def _v1_time(raw: bytes) -> datetime | None:
    """Read the time in a v1 ``timeInfo`` BIT STRING, if it holds one.

    GM/T 0031-2014 leaves the content open ("时间戳或 UTCTime", per ofdrw). Seen: a DER
    UTCTime TLV (ofdrw's generator) and ISO 8601 text such as ``2020-01-25T07:31:56.377Z``
    (dms360.cn). Anything else (e.g. a timestamp token) yields None: we never trust a time
    we had to guess.
    """
    if raw[:1] in (b"\x17", b"\x18"):
        try:
            t = core.load(raw, strict=True).native
        except Exception:  # not a DER time after all: fall through to text
            t = None
        if isinstance(t, datetime):
            return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    for fmt in _V1_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _signature_v1(obj: Any, where: str) -> SesSignature:
    r = _Reader(where)
    seal = _seal_v1(obj, where, prefix="to_sign.eseal.")
    time_raw = _v1_bits(r, obj, "to_sign.time_info")
    return SesSignature(
        version=SesVersion.V1,
        tbs_version=r.integer(obj, "to_sign.version"),
        seal=seal,
        time_info=_v1_time(time_raw),
        time_info_raw=time_raw,
        data_hash=_v1_bits(r, obj, "to_sign.data_hash"),
        property_info=r.text(obj, "to_sign.property_info"),
        ext_datas=(),
        signer_cert=r.octets(obj, "to_sign.cert"),
        signature_alg_oid=r.value(obj, "to_sign.signature_algorithm"),
        signature=r.octets(obj, "signature"),
        timestamp=None,
        signed_data=r.raw(obj, "to_sign"),
        der=obj.dump(),
    )


# ---------------------------------------------------------------------------- verification


def _cert_problem(der: bytes, *, sm2_only: bool = True) -> str | None:
    """Pure profile checks of a seal-related certificate: X.509, SM2 key, signing key usage."""
    try:
        cert = x509.Certificate.load(der, strict=True)
        spki = cert["tbs_certificate"]["subject_public_key_info"]
        alg = spki["algorithm"]["algorithm"].dotted
        params = spki["algorithm"]["parameters"]
        curve = params.chosen.dotted if alg == OID_EC_PUBLIC_KEY and params.name == "named" else None
        usage_value = cert.key_usage_value
        usage = None if usage_value is None else set(usage_value.native)
    except Exception as exc:  # any defect of an untrusted certificate
        return f"not a well-formed X.509 certificate: {_reason(exc)}"
    if sm2_only and not (alg == OID_SM2_CURVE or (alg == OID_EC_PUBLIC_KEY and curve == OID_SM2_CURVE)):
        return f"its public key is not SM2 (algorithm {alg}, curve {curve})"
    if usage is not None and not ({"digital_signature", "non_repudiation"} & usage):
        return f"its key usage {sorted(usage)} allows no signatures"
    return None


def _cert_label(der: bytes) -> str:
    """For messages only. Names in GBK inside TeletexString (seen in the field) do not decode."""
    try:
        cert = x509.Certificate.load(der)
        serial = f"serial {cert.serial_number:x}"
    except Exception:
        return f"a certificate of {len(der)} bytes"
    try:
        return f"{cert.subject.human_friendly} ({serial})"
    except Exception:
        return f"a certificate with an undecodable subject ({serial})"


def _signature_der(value: bytes) -> tuple[bytes, str]:
    """The signature as DER for ``verify``; a bare 64-byte r||s (seen in the field) is converted."""
    try:
        parsed = algos.DSASignature.load(value, strict=True)
        parsed.native  # noqa: B018
        return value, ""
    except Exception:  # not DER: maybe raw r||s
        if len(value) == 64:
            r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
            return algos.DSASignature({"r": r, "s": s}).dump(), " (encoded as raw r||s, not DER)"
        return value, ""


def _verify_sm2(
    name: CheckName, what: str, verify: VerifyFn, *, cert: bytes, alg: str, data: bytes, sig: bytes
) -> Check:
    if alg != OID_SM2_WITH_SM3:
        return Check(name, CheckStatus.FAILED, f"{what}: unsupported algorithm {alg}", "SIG_CRYPTO_FAILURE")
    problem = _cert_problem(cert)
    if problem:
        return Check(
            name, CheckStatus.FAILED, f"{what}: the certificate is unusable: {problem}", "SIG_CRYPTO_FAILURE"
        )
    sig_der, note = _signature_der(sig)
    try:
        good = verify(cert, data, sig_der)
    except Exception as exc:
        # The signature bytes are the attacker's: a verifier that chokes on them (tongsuopy
        # raises InternalError for some out-of-range values) has not verified anything.
        reason = f"{type(exc).__name__}: {_reason(exc)}"
        return Check(
            name, CheckStatus.FAILED, f"{what}: the verifier refused it ({reason})", "SIG_CRYPTO_FAILURE"
        )
    if good is True:
        return Check(name, CheckStatus.PASSED, f"{what} verifies with {_cert_label(cert)}{note}")
    return Check(
        name, CheckStatus.FAILED, f"{what} does not verify with {_cert_label(cert)}", "SIG_CRYPTO_FAILURE"
    )


_DIGESTS: Final = {"sm3": "sm3", OID_SM3: "sm3", "sha256": "sha256", "sha-256": "sha256", "sha1": "sha1"}


def _cert_in_list(seal: SesSeal, cert: bytes) -> tuple[bool, str]:
    if seal.cert_list_type is CertListType.CERTS:
        if cert in seal.certs:
            return True, f"listed among the seal's {len(seal.certs)} certificate(s)"
        return False, f"not among the seal's {len(seal.certs)} certificate(s)"
    unknown = set()
    for d in seal.cert_digests:
        algo = _DIGESTS.get(d.type.strip().lower())
        if algo is None:
            unknown.add(d.type)
            continue
        if hmac.compare_digest(hashlib.new(algo, cert).digest(), d.value):
            return True, f"its {algo} digest is in the seal's certDigestList"
    extra = f"; unknown digest types {sorted(unknown)}" if unknown else ""
    return False, f"its digest is not in the seal's certDigestList{extra}"


def _cert_status(
    name: CheckName, what: str, check_cert: CheckCertFn, *, cert: bytes, at: datetime, why: str
) -> Check:
    problem = _cert_problem(cert)
    if problem:
        return Check(name, CheckStatus.FAILED, f"{what}: {problem}", "CHAIN_CONSTRAINTS_FAILURE")
    try:
        result = check_cert(cert, at)
    except YwtError as exc:
        return Check(name, CheckStatus.INDETERMINATE, f"{what}: status unavailable: {exc}", "TRY_LATER")
    label = f"{what} {_cert_label(cert)} at {at.isoformat()} ({why})"
    return Check(name, CheckStatus(result.status), f"{label}: {result.message}", result.sub_indication)


def _header_checks(seal: SesSeal, problems: list[str]) -> None:
    h = seal.header
    if h.id != "ES":
        problems.append(f"header id is {h.id!r}, not 'ES'")
    if seal.version is SesVersion.V4 and h.version != 4:
        problems.append(
            f"header version {h.version} with the v4 layout (5 would be GM/T 0031-2025, unsupported)"
        )
    if seal.version is SesVersion.V1 and h.version not in V1_HEADER_VERSIONS:
        problems.append(f"header version {h.version} with the v1 (GM/T 0031-2014) layout")
    if seal.valid_start > seal.valid_end:
        problems.append("validStart is after validEnd")
    if seal.cert_list_type is CertListType.CERTS and not seal.certs:
        problems.append("the certList is empty")
    if seal.cert_list_type is CertListType.DIGESTS and not seal.cert_digests:
        problems.append("the certDigestList is empty")
    if not seal.picture.data:
        problems.append("the picture is empty")


def _header_check(seal: SesSeal, extra: Iterable[str] = ()) -> Check:
    problems: list[str] = []
    _header_checks(seal, problems)
    problems += extra
    standard = "GB/T 38540-2020" if seal.version is SesVersion.V4 else "GM/T 0031-2014"
    if problems:
        return Check(CheckName.HEADER, CheckStatus.FAILED, "; ".join(problems), "FORMAT_FAILURE")
    return Check(CheckName.HEADER, CheckStatus.PASSED, f"{standard} layout, vendor {seal.header.vendor_id!r}")


def _validity_check(seal: SesSeal, at: datetime | None, what: str) -> Check:
    span = f"{seal.valid_start.isoformat()} .. {seal.valid_end.isoformat()}"
    if at is None:
        return Check(
            CheckName.SEAL_VALIDITY, CheckStatus.INDETERMINATE, f"{what} is unknown; seal valid {span}"
        )
    if at < seal.valid_start:
        return Check(
            CheckName.SEAL_VALIDITY,
            CheckStatus.FAILED,
            f"{what} {at.isoformat()} is before the seal's validity {span}",
            "NOT_YET_VALID",
        )
    if at > seal.valid_end:
        return Check(
            CheckName.SEAL_VALIDITY,
            CheckStatus.FAILED,
            f"{what} {at.isoformat()} is after the seal's validity {span}",
            "EXPIRED",
        )
    return Check(CheckName.SEAL_VALIDITY, CheckStatus.PASSED, f"{what} {at.isoformat()} within {span}")


def _coerce_seal(seal: SesSeal | bytes) -> SesSeal:
    return seal if isinstance(seal, SesSeal) else parse_seal(seal)


def _coerce_signature(sig: SesSignature | bytes) -> SesSignature:
    return sig if isinstance(sig, SesSignature) else parse_signature(sig)


def _validation_time(at: datetime | None) -> datetime:
    if at is None:
        return clock.now()
    if at.tzinfo is None:
        raise InvalidSealSpec("at", "must be a timezone-aware datetime")
    return at.astimezone(UTC)


def verify_seal(
    seal: SesSeal | bytes, *, verify: VerifyFn, check_cert: CheckCertFn, at: datetime | None = None
) -> SesReport:
    """Verify a seal on its own (e.g. when it is imported): header, the maker's signature over
    ``SES_SealInfo`` as received, the maker certificate at ``at``, the validity window at ``at``
    (default: now). GB/T 38540-2020 §8, the seal part."""
    s = _coerce_seal(seal)
    when = _validation_time(at)
    checks = (
        _header_check(s),
        _verify_sm2(
            CheckName.MAKER_SIGNATURE,
            "the maker's signature over SES_SealInfo",
            verify,
            cert=s.maker_cert,
            alg=s.sign_alg_oid,
            data=s.signed_data,
            sig=s.signed_value,
        ),
        _cert_status(
            CheckName.MAKER_CERT,
            "maker certificate",
            check_cert,
            cert=s.maker_cert,
            at=when,
            why="validation time",
        ),
        _validity_check(s, when, "validation time"),
    )
    return SesReport("SES_Seal", s.version, s.es_id, s.name, checks, when)


def verify_signature(
    signature: SesSignature | bytes,
    *,
    verify: VerifyFn,
    check_cert: CheckCertFn,
    document: bytes | None = None,
    check_timestamp: CheckTimestampFn | None = None,
    at: datetime | None = None,
) -> SesReport:
    """Verify an e-signature in the order of GB/T 38540-2020 §8 (STANDARDS.md):

    1. header (``ES``, version vs layout, ``TBS_Sign.version`` = header version);
    2. the e-signature over ``TBS_Sign`` as received, with the signer certificate;
    3. the signer certificate is in the seal's certList (or its digest in certDigestList);
    4. the maker's signature over ``SES_SealInfo`` as received (v1: over
       ``SEQUENCE{sealInfo, cert, alg}``), then the maker certificate via ``check_cert``;
    5. the seal's validity window contains ``timeInfo``; ``timeInfo`` is not in the future;
    6. the signer certificate via ``check_cert`` at the signing time (the timestamp's time
       when ``check_timestamp`` vouched for it, else ``timeInfo``; note that ``timeInfo`` is
       the signer's own claim);
    7. the timestamp, if present (INDETERMINATE when present but no checker is given);
    8. SM3(``document``) equals ``dataHash`` (INDETERMINATE without a document).

    All checks run, so the report shows every problem, not just the first.
    """
    sig = _coerce_signature(signature)
    seal = sig.seal
    when = _validation_time(at)

    extra = []
    if sig.tbs_version != seal.header.version:
        extra.append(
            f"TBS_Sign version {sig.tbs_version} differs from the seal header version {seal.header.version}"
        )
    checks: list[Check] = [
        _header_check(seal, extra),
        _verify_sm2(
            CheckName.SIGNATURE,
            "the e-signature over TBS_Sign",
            verify,
            cert=sig.signer_cert,
            alg=sig.signature_alg_oid,
            data=sig.signed_data,
            sig=sig.signature,
        ),
    ]

    listed, how = _cert_in_list(seal, sig.signer_cert)
    checks.append(
        Check(CheckName.SIGNER_IN_SEAL, CheckStatus.PASSED, f"the signer certificate is {how}")
        if listed
        else Check(
            CheckName.SIGNER_IN_SEAL,
            CheckStatus.FAILED,
            f"the signer certificate is {how}: this seal was not issued to it",
            "SIG_CONSTRAINTS_FAILURE",
        )
    )

    # Timestamp first (its time, when vouched for, is the best signing time), reported later.
    ts_time: datetime | None = None
    if sig.timestamp is None:
        ts_check = Check(CheckName.TIMESTAMP, CheckStatus.SKIPPED, "no timestamp")
    elif check_timestamp is None:
        ts_check = Check(
            CheckName.TIMESTAMP,
            CheckStatus.INDETERMINATE,
            f"a timestamp of {len(sig.timestamp)} bytes is present but no timestamp checker was given",
        )
    else:
        try:
            ts = check_timestamp(sig.timestamp, sig.signature)
            ts_check = Check(CheckName.TIMESTAMP, CheckStatus(ts.status), ts.message, ts.sub_indication)
            if ts.status is CheckStatus.PASSED and ts.time is not None:
                ts_time = ts.time.astimezone(UTC)
        except YwtError as exc:
            ts_check = Check(
                CheckName.TIMESTAMP, CheckStatus.INDETERMINATE, f"cannot check: {exc}", "TRY_LATER"
            )

    if ts_time is not None:
        cert_time, why = ts_time, "timestamp time"
    elif sig.time_info is not None:
        cert_time, why = sig.time_info, "claimed signing time"
    else:
        cert_time, why = when, "validation time: the signing time is unreadable"

    checks.append(
        _verify_sm2(
            CheckName.MAKER_SIGNATURE,
            "the maker's signature over SES_SealInfo",
            verify,
            cert=seal.maker_cert,
            alg=seal.sign_alg_oid,
            data=seal.signed_data,
            sig=seal.signed_value,
        )
    )
    checks.append(
        _cert_status(
            CheckName.MAKER_CERT, "maker certificate", check_cert, cert=seal.maker_cert, at=cert_time, why=why
        )
    )
    checks.append(_validity_check(seal, sig.time_info, "signing time (timeInfo)"))

    if sig.time_info is None:
        raw = sig.time_info_raw[:40]
        checks.append(
            Check(
                CheckName.SIGNING_TIME, CheckStatus.INDETERMINATE, f"timeInfo holds no readable time: {raw!r}"
            )
        )
    elif sig.time_info > when + CLOCK_SKEW:
        checks.append(
            Check(
                CheckName.SIGNING_TIME,
                CheckStatus.FAILED,
                f"timeInfo {sig.time_info.isoformat()} is later than the validation time {when.isoformat()}",
                "SIG_CONSTRAINTS_FAILURE",
            )
        )
    else:
        checks.append(
            Check(CheckName.SIGNING_TIME, CheckStatus.PASSED, f"signed at {sig.time_info.isoformat()}")
        )

    checks.append(
        _cert_status(
            CheckName.SIGNER_CERT,
            "signer certificate",
            check_cert,
            cert=sig.signer_cert,
            at=cert_time,
            why=why,
        )
    )
    checks.append(ts_check)
    checks.append(_data_hash_check(sig, document))
    return SesReport("SES_Signature", sig.version, seal.es_id, seal.name, tuple(checks), when, sig.time_info)


def _data_hash_check(sig: SesSignature, document: bytes | None) -> Check:
    if document is None:
        return Check(
            CheckName.DATA_HASH,
            CheckStatus.INDETERMINATE,
            "no document given: dataHash not compared",
            "SIGNED_DATA_NOT_FOUND",
        )
    if len(sig.data_hash) != SM3_LEN:
        return Check(
            CheckName.DATA_HASH,
            CheckStatus.FAILED,
            f"dataHash has {len(sig.data_hash)} bytes; an SM3 digest has {SM3_LEN}",
            "HASH_FAILURE",
        )
    if hmac.compare_digest(_sm3(bytes(document)), sig.data_hash):
        return Check(
            CheckName.DATA_HASH, CheckStatus.PASSED, f"SM3 of the {len(document)}-byte document matches"
        )
    return Check(
        CheckName.DATA_HASH,
        CheckStatus.FAILED,
        "SM3 of the document differs from dataHash: the document was altered or is not the signed one",
        "HASH_FAILURE",
    )
