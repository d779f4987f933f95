"""The licence QR code: a compact signed token, verifiable offline, and the live status behind it.

The QR code holds the URL ``{YWT_BASE_URL}/v/{payload}`` (DESIGN.md, "Licences"). ``payload`` is a
JWS in compact serialisation (RFC 7515 §7.1) signed with ES256 (RFC 7518 §3.4) by a QR-signing
key of the ECDSA Service CA (certificate purpose ``qr``, profile ``token-signing``).

Why JWS/ES256 and not COSE_Sign1 + base45:

- the payload travels in a URL path: base64url is URL-safe as is, while base45's alphabet
  (space, ``$ % * + / :``) must be percent-encoded in a URL, which undoes its density gain;
- every platform has a JOSE library (the third party's phone app, a bank's server, python-jose,
  node's ``jose``), so a relying party can check the signature with the trust list and no
  code of ours; COSE would need a CBOR + COSE stack most of them lack;
- ES256 signatures are 64 bytes (86 characters), which keeps the whole token under 400
  characters, and the QR code at version <= 15 (module >= 0.4 mm in the layout's QR box).

The header is fixed: ``{"alg":"ES256","kid":K}``. ``kid`` is the first 8 base64url characters
of SHA-256 over the signing certificate (a lookup hint: the signature decides). There is no
``typ`` header (RFC 8725 §3.11 explicit typing would cost 20 of the 400 characters); type
confusion is prevented instead by key separation (the QR key signs nothing else, its own
certificate, purpose ``qr``) and by the strict claim set: a JWS with any other header or claim
(an OIDC token's ``iss``, ``sub``, ``aud`` ...) is refused as ``wrong_type`` / ``bad_claims``.

Claims (short names: every character counts):

======  =============================================================================
``id``  the licence identifier (type code, issuer USCC, serial, version and check inside)
``n``   the holder's masked name (张* / 天津**公司): the only personal data, and masked
``vf``  valid from, the number ``YYYYMMDD``
``vt``  valid to, the number ``YYYYMMDD``; absent for an open-ended (长期) licence
``h``   base64url SHA-256 of the ``metadata.json`` embedded in the licence PDF (GB/T 36903
        elements); that file carries a random salt (``KZ_YWT_SALT``), so the hash cannot be
        brute-forced back to the holder's ID number from the QR code alone
``iat`` signing time (seconds since the epoch): the signing certificate must have been valid then
======  =============================================================================

The type code is the identifier's sixth arc (:attr:`QrClaims.type_code`); repeating it would
cost 37 of the 400 characters.

Offline verification (:func:`verify_payload`) needs the signing certificate in the caller's
trusted certificates, as EU digital COVID certificates need their signer certificates in the
trust list: the certificate itself does not fit in a QR code. :func:`signing_certificates` lists
the certificates to publish. Live status (:func:`lookup_status`) reads the registry directly,
so a revocation, suspension or correction is visible the moment it commits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final

from asn1crypto import algos, x509
from sqlmodel import Session, col, select

from ca import oids as ca_oids
from core import clock
from keys import SignatureScheme, Signer, verify
from license.errors import InvalidQrPayload, MalformedIdentifier
from license.identifier import IdentifierParts, parse_identifier
from license.models import LicenceRow, LicenseTypeRow
from license.values import today_in_china

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "QR_CREDENTIAL_PURPOSE",
    "QR_PATH",
    "LicenseStatus",
    "LiveStatus",
    "QrClaims",
    "QrContent",
    "kid_for",
    "lookup_status",
    "make_payload",
    "mask_holder_name",
    "payload_from_text",
    "qr_url",
    "signing_certificates",
    "verify_payload",
]

MAX_PAYLOAD_CHARS: Final = 400
QR_ALG: Final = "ES256"
QR_PATH: Final = "/v/"
#: ``purpose`` of the QR-signing credential in the CA's certificate table.
QR_CREDENTIAL_PURPOSE: Final = "qr"
_KID_LEN: Final = 8
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_KEYS: Final = frozenset({"alg", "kid"})
_CLAIM_KEYS: Final = frozenset({"id", "n", "vf", "vt", "h", "iat"})
_MAX_MASKED: Final = 12
#: P-256 group order (FIPS 186-4 D.1.2.3): r and s must lie in [1, n-1].
_P256_N: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class LicenseStatus(StrEnum):
    """Status of a licence as a verifier sees it (``expired`` is derived from the end date)."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


# ------------------------------------------------------------------------------------ helpers


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str, what: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): canonical encodings only."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidQrPayload("malformed", f"the {what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidQrPayload("malformed", f"the {what} is not base64url") from None
    if _b64e(raw) != text:  # non-zero padding bits: a second spelling of the same bytes
        raise InvalidQrPayload("malformed", f"the {what} is not canonical base64url")
    return raw


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def kid_for(cert_der: bytes) -> str:
    """Key id of a QR-signing certificate: base64url SHA-256 of its DER, first 8 characters."""
    return _b64e(hashlib.sha256(cert_der).digest())[:_KID_LEN]


def mask_holder_name(name: str, *, entity: bool) -> str:
    """The holder name as the QR code and public pages show it.

    Persons keep the first character (the family name in most names): 张三 -> 张*, 欧阳娜娜 -> 欧***.
    Entities keep the first two and last two characters: 天津示例科技有限公司 -> 天津**公司.
    At most 3 asterisks, so the masked form does not even tell the length of a long name.
    """
    name = name.strip()
    if not name:
        return ""
    if entity and len(name) > 5:
        return f"{name[:2]}**{name[-2:]}"
    if len(name) == 1:
        return "*"
    return name[0] + "*" * min(len(name) - 1, 3)


def qr_url(base_url: str, payload: str) -> str:
    """The text encoded in the QR code."""
    return f"{base_url.rstrip('/')}{QR_PATH}{payload}"


def payload_from_text(text: str) -> str:
    """The payload from what a scanner read: a full ``…/v/{payload}`` URL or the bare payload."""
    text = text.strip()
    marker = text.rfind(QR_PATH)
    if "://" in text and marker != -1:
        text = text[marker + len(QR_PATH) :]
    return text.split("?", 1)[0].split("#", 1)[0]


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _parse_ymd(value: object, what: str) -> date:
    if isinstance(value, bool) or not isinstance(value, int) or not 10000101 <= value <= 99991231:
        raise InvalidQrPayload("bad_claims", f"{what} must be a date written as the number YYYYMMDD")
    try:
        return date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:
        raise InvalidQrPayload("bad_claims", f"{what} is not a calendar date") from None


# ------------------------------------------------------------------------------------ signing


@dataclass(frozen=True, slots=True)
class QrContent:
    """What a licence QR code says, before signing."""

    identifier: str
    holder_masked: str
    valid_from: date
    valid_to: date | None
    data_hash: bytes
    signed_at: datetime

    def __post_init__(self) -> None:
        parse_identifier(self.identifier)
        if len(self.data_hash) != 32:
            raise ValueError("data_hash must be a SHA-256 digest")
        if not self.holder_masked or len(self.holder_masked) > _MAX_MASKED:
            raise ValueError("holder_masked must be a short masked name")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to before valid_from")

    def claims(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.identifier,
            "n": self.holder_masked,
            "vf": _ymd(self.valid_from),
        }
        if self.valid_to is not None:
            out["vt"] = _ymd(self.valid_to)
        out["h"] = _b64e(self.data_hash)
        out["iat"] = int(clock.utc(self.signed_at).timestamp())
        return out


def make_payload(content: QrContent, signer: Signer, cert_der: bytes) -> str:
    """Sign ``content`` into a compact JWS with the QR key (through keys/: the key never leaves it).

    ``signer`` must be an ECDSA P-256 key; its DER signature is converted to the fixed-length
    R || S form JWS uses (RFC 7518 §3.4). Raises ``ValueError`` if the result would exceed
    :data:`MAX_PAYLOAD_CHARS` (it cannot, for names masked by :func:`mask_holder_name` and
    serials of up to 32 digits).
    """
    if signer.scheme is not SignatureScheme.ECDSA_SHA256:
        raise ValueError("QR payloads are signed with ECDSA P-256 (ES256)")
    header = _b64e(_json({"alg": QR_ALG, "kid": kid_for(cert_der)}))
    body = _b64e(_json(content.claims()))
    signing_input = f"{header}.{body}".encode("ascii")
    der = signer.sign(signing_input, SignatureScheme.ECDSA_SHA256)
    raw = algos.DSASignature.load(der).to_p1363()
    raw = raw.rjust(64, b"\x00") if len(raw) < 64 else raw
    payload = f"{header}.{body}.{_b64e(raw)}"
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise ValueError(f"QR payload of {len(payload)} characters exceeds {MAX_PAYLOAD_CHARS}")
    return payload


# ------------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class QrClaims:
    """A verified licence QR payload: what the issuer signed, and which certificate signed it."""

    identifier: str
    holder_masked: str
    valid_from: date
    valid_to: date | None
    data_hash: str  # lower-case hex SHA-256 of the embedded metadata.json
    signed_at: datetime
    signer_cert_der: bytes
    signer_subject: str

    @property
    def parts(self) -> IdentifierParts:
        return parse_identifier(self.identifier)

    @property
    def type_code(self) -> str:
        return self.parts.type_code

    @property
    def issuer_code(self) -> str:
        return self.parts.issuer_code

    @property
    def version(self) -> int:
        return self.parts.version

    def expired_on(self, day: date) -> bool:
        """Whether the licence's validity (as signed) is over on ``day``."""
        return self.valid_to is not None and day > self.valid_to


@dataclass(frozen=True)
class _Candidate:
    der: bytes
    cert: x509.Certificate


def _load_certs(trusted_certs: Iterable[bytes]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for der in trusted_certs:
        try:
            cert = x509.Certificate.load(bytes(der))
            cert.native  # noqa: B018 - force a full parse: a broken entry is skipped, not trusted
        except (ValueError, TypeError):
            continue
        out.append(_Candidate(bytes(der), cert))
    return out


def _fit_for_qr(cert: x509.Certificate, at: datetime) -> str | None:
    """Why ``cert`` cannot have signed a licence QR code at ``at``, or ``None``."""
    if cert.public_key.algorithm != "ec" or cert.public_key.curve[1] != "secp256r1":
        return "the certificate is not an ECDSA P-256 certificate"
    if cert.ca:
        return "a CA certificate cannot sign licence codes"
    eku = cert.extended_key_usage_value
    if eku is None or ca_oids.EKU_TOKEN_SIGNING not in [p.dotted for p in eku]:
        return "the certificate is not a token-signing certificate"
    ku = cert.key_usage_value
    if ku is not None and "digital_signature" not in ku.native:
        return "the certificate's key usage does not allow signatures"
    if not cert.not_valid_before <= at <= cert.not_valid_after:
        return "the certificate was not valid when the code was signed"
    return None


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    algo = child["signature_algorithm"]
    try:
        scheme = SignatureScheme.from_x509_oid(algo["algorithm"].dotted)
    except KeyError:
        return False
    return verify(parent.public_key.dump(), scheme, child["tbs_certificate"].dump(), child["signature_value"].native)


def _chain_ok(leaf: _Candidate, pool: Sequence[_Candidate]) -> bool:
    """If the leaf's issuer is among the trusted certificates, its signature must check out.

    The leaf itself is the trust anchor (it is in the list); this only refuses a leaf that
    claims an issuer in the same list but was not signed by it (a forged look-alike).
    """
    issuers = [c for c in pool if c.cert.subject == leaf.cert.issuer and c.der != leaf.der]
    if not issuers:
        return True
    return any(_issued_by(leaf.cert, c.cert) for c in issuers)


def verify_payload(payload: str, trusted_certs: Iterable[bytes], *, at: datetime | None = None) -> QrClaims:
    """Check a licence QR payload offline; return its claims or raise :class:`InvalidQrPayload`.

    ``payload`` is the token (or the scanned URL: :func:`payload_from_text` is applied);
    ``trusted_certs`` DER certificates from the trust list, which must include the QR-signing
    certificate (:func:`signing_certificates`). The signer must be a P-256 token-signing
    end-entity certificate valid at the signing time ``iat``, which must not lie after ``at``
    (default now). Nothing is looked up online: the licence's live status is
    :func:`lookup_status`'s business.
    """
    if not isinstance(payload, str):
        raise InvalidQrPayload("malformed", "the payload must be text")
    token = payload_from_text(payload)
    if len(token) > MAX_PAYLOAD_CHARS:
        raise InvalidQrPayload("too_long", f"a licence code has at most {MAX_PAYLOAD_CHARS} characters")
    pieces = token.split(".")
    if len(pieces) != 3 or not all(pieces):
        raise InvalidQrPayload("malformed", "not a compact JWS (header.payload.signature): truncated or garbled")
    header_b64, body_b64, sig_b64 = pieces
    header = _decode_json(_b64d(header_b64, "header"), "header")
    if "alg" in header and header["alg"] != QR_ALG:
        raise InvalidQrPayload("unsupported_alg", f"licence codes are signed with {QR_ALG} only")
    if set(header) != _HEADER_KEYS:
        raise InvalidQrPayload("wrong_type", "the header must hold exactly alg and kid: not a licence code")
    if header["alg"] != QR_ALG:
        raise InvalidQrPayload("unsupported_alg", f"licence codes are signed with {QR_ALG} only")
    kid = header["kid"]
    if not isinstance(kid, str) or len(kid) != _KID_LEN:
        raise InvalidQrPayload("malformed", "the key id is malformed")
    body_raw = _b64d(body_b64, "claims")
    signature = _b64d(sig_b64, "signature")
    if len(signature) != 64:
        raise InvalidQrPayload("malformed", "an ES256 signature has 64 bytes: truncated or garbled")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _P256_N and 0 < s < _P256_N):
        raise InvalidQrPayload("bad_signature", "the signature values are out of range")
    der_sig = algos.DSASignature({"r": r, "s": s}).dump()
    signing_input = f"{header_b64}.{body_b64}".encode("ascii")

    pool = _load_certs(trusted_certs)
    candidates = [c for c in pool if kid_for(c.der) == kid]
    if not candidates:
        raise InvalidQrPayload("unknown_signer", "no trusted certificate matches the code's signing key")
    signer: _Candidate | None = None
    for cand in candidates:
        if verify(cand.cert.public_key.dump(), SignatureScheme.ECDSA_SHA256, signing_input, der_sig):
            signer = cand
            break
    if signer is None:
        raise InvalidQrPayload("bad_signature", "the signature does not match: the code was altered or forged")

    claims = _decode_json(body_raw, "claims")
    content = _parse_claims(claims)
    now = clock.utc(at) if at is not None else clock.now()
    if content.signed_at > now:
        raise InvalidQrPayload("bad_claims", "the code claims to be signed in the future")
    why = _fit_for_qr(signer.cert, content.signed_at)
    if why is not None:
        raise InvalidQrPayload("untrusted_signer", why)
    if not _chain_ok(signer, pool):
        raise InvalidQrPayload("untrusted_signer", "the signing certificate was not issued by the CA it names")
    return QrClaims(
        identifier=content.identifier,
        holder_masked=content.holder_masked,
        valid_from=content.valid_from,
        valid_to=content.valid_to,
        data_hash=content.data_hash.hex(),
        signed_at=content.signed_at,
        signer_cert_der=signer.der,
        signer_subject=signer.cert.subject.human_friendly,
    )


def _decode_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidQrPayload("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidQrPayload("malformed", f"the {what} must be a JSON object")
    return value


def _parse_claims(claims: dict[str, Any]) -> QrContent:
    unknown = set(claims) - _CLAIM_KEYS
    missing = {"id", "n", "vf", "h", "iat"} - set(claims)
    if unknown or missing:
        raise InvalidQrPayload("bad_claims", "the claims are not those of a licence code")
    identifier = claims["id"]
    if not isinstance(identifier, str):
        raise InvalidQrPayload("bad_claims", "the identifier must be text")
    try:
        parse_identifier(identifier)
    except MalformedIdentifier as exc:
        raise InvalidQrPayload("bad_claims", f"the identifier is malformed ({exc.detail})") from None
    name = claims["n"]
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_MASKED:
        raise InvalidQrPayload("bad_claims", "the holder name must be a short masked name")
    valid_from = _parse_ymd(claims["vf"], "valid from")
    valid_to = _parse_ymd(claims["vt"], "valid to") if "vt" in claims else None
    if valid_to is not None and valid_to < valid_from:
        raise InvalidQrPayload("bad_claims", "the validity ends before it starts")
    h = claims["h"]
    if not isinstance(h, str):
        raise InvalidQrPayload("bad_claims", "the data hash must be text")
    try:
        digest = _b64d(h, "data hash")
    except InvalidQrPayload:
        raise InvalidQrPayload("bad_claims", "the data hash is not base64url") from None
    if len(digest) != 32:
        raise InvalidQrPayload("bad_claims", "the data hash must be a SHA-256 digest")
    iat = claims["iat"]
    if isinstance(iat, bool) or not isinstance(iat, int) or not 0 < iat < 2**33:
        raise InvalidQrPayload("bad_claims", "the signing time must be a positive integer")
    return QrContent(
        identifier=identifier,
        holder_masked=name,
        valid_from=valid_from,
        valid_to=valid_to,
        data_hash=digest,
        signed_at=datetime.fromtimestamp(iat, UTC),
    )


# -------------------------------------------------------------------------------- live status


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the registry says about an identifier right now.

    ``data_hash`` is the hash the registry holds for this version: a verifier compares it with
    the QR code's (:meth:`matches`). ``current_identifier`` is the newest version of the same
    licence (differs from ``identifier`` once it has been corrected).
    """

    identifier: str
    status: LicenseStatus
    checked_at: datetime
    type_code: str | None = None
    type_name: str | None = None
    issuer_code: str | None = None
    issuer_name: str | None = None
    number: str | None = None
    holder_masked: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    data_hash: str | None = None
    status_reason: str | None = None
    status_changed_at: datetime | None = None
    current_identifier: str | None = None
    digitised: bool = False
    seal_id: str | None = None  # the seal (seal/'s registry id) that sealed this version
    seal_name: str | None = None
    signing_time: datetime | None = None

    @property
    def found(self) -> bool:
        return self.status is not LicenseStatus.UNKNOWN

    def matches(self, claims: QrClaims) -> bool:
        """Whether the registry's record is the one the QR code was signed for."""
        return self.found and self.identifier == claims.identifier and self.data_hash == claims.data_hash


def effective_status(row: LicenceRow, today: date) -> LicenseStatus:
    """Stored status, with ``valid`` turned into ``expired`` after the last valid day (Beijing date)."""
    stored = LicenseStatus(row.status)
    if stored is LicenseStatus.VALID and row.valid_to is not None and today > row.valid_to:
        return LicenseStatus.EXPIRED
    return stored


def lookup_status(session: Session, identifier: str, *, today: date | None = None) -> LiveStatus:
    """The live status of a licence version by its identifier (``unknown`` if we never issued it).

    Reads the registry in the caller's transaction, so it reflects every committed revocation,
    suspension or correction at once. Never raises for an unknown or malformed identifier.
    """
    checked_at = clock.now()
    if not isinstance(identifier, str) or len(identifier) > 120:
        return LiveStatus(str(identifier)[:120], LicenseStatus.UNKNOWN, checked_at)
    row = session.exec(select(LicenceRow).where(LicenceRow.identifier == identifier)).first()
    if row is None:
        return LiveStatus(identifier, LicenseStatus.UNKNOWN, checked_at)
    type_row = session.get(LicenseTypeRow, row.type_code)
    current = row
    if row.superseded_by is not None:
        newest = session.exec(
            select(LicenceRow).where(LicenceRow.lineage_id == row.lineage_id).order_by(col(LicenceRow.version).desc())
        ).first()
        current = newest or row
    return LiveStatus(
        identifier=row.identifier,
        status=effective_status(row, today or today_in_china()),
        checked_at=checked_at,
        type_code=row.type_code,
        type_name=type_row.name if type_row else None,
        issuer_code=row.issuer_code,
        issuer_name=row.issuer_name,
        number=row.number,
        holder_masked=mask_holder_name(row.holder_name, entity=row.holder_kind == "entity"),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        data_hash=row.data_hash,
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        current_identifier=current.identifier,
        digitised=row.digitised,
        seal_id=row.seal_id,
        seal_name=row.seal_name,
        signing_time=row.signing_time,
    )


def signing_certificates(session: Session) -> list[bytes]:
    """DER certificates of every QR-signing credential ever issued and not revoked.

    This is what a trust list must carry for offline verification. Expired ones stay: a
    licence signed while its certificate was valid keeps verifying (``iat`` is checked against
    the certificate's validity); a revoked certificate is left out, so its codes stop verifying.
    """
    from ca.models import CertRecord

    rows = session.exec(
        select(CertRecord)
        .where(CertRecord.purpose == QR_CREDENTIAL_PURPOSE, CertRecord.status == "valid")
        .order_by(col(CertRecord.created_at))
    ).all()
    return [bytes(r.cert_der) for r in rows]
