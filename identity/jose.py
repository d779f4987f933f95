"""JOSE for our tokens: compact JWS signed through ``keys/``, and the ``SM2`` algorithm for joserfc.

Signing: :func:`sign_compact` builds a JWS Compact Serialization (RFC 7515 §7.1) and has the
signature made by a :class:`keys.Signer`, so private keys never leave the key store (an HSM
later). The family of the signer decides the algorithm: RSA -> ``RS256`` (RSASSA-PKCS1-v1_5 with
SHA-256, RFC 7518 §3.3), ECDSA P-256 -> ``ES256`` (RFC 7518 §3.4), SM2 -> ``SM2``.

Verification goes through joserfc (a JOSE implementation we did not write) with an explicit
allow-list of algorithms; :func:`register_sm2` adds the ``SM2`` algorithm and :class:`SM2Key` to
it. joserfc's own ``EC`` binding only knows pyca curves, so the SM2 key class keeps the DER
SubjectPublicKeyInfo and verifies with :func:`keys.verify`; for signing it wraps a
:class:`keys.Signer`. tongsuopy is never touched here.

``SM2`` in JOSE (no IANA registration exists; this is our profile, published in the discovery
document and the JWKS):

* JWK: ``{"kty": "EC", "crv": "SM2", "x": b64url(X), "y": b64url(Y)}``, X and Y the 32-byte
  big-endian affine coordinates of the public point on the GB/T 32918.5 curve (sm2p256v1,
  OID 1.2.156.10197.1.301), exactly like an RFC 7518 §6.2.1 EC key; ``alg`` ``SM2``.
* JWS ``alg`` ``SM2``: the SM2 signature of GB/T 32918.2 over the ASCII JWS Signing Input, with
  SM3 as the hash and Z_A computed with the default user ID ``1234567812345678`` (GM/T 0009 §10,
  as OpenSSL/gmssl/tongsuo do); the JWS Signature is ``r || s``, each a 32-byte big-endian
  integer (the same fixed-width layout as ES256, RFC 7518 §3.4), never DER.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar, Final, Literal

from asn1crypto import keys as asn1keys
from joserfc import jws

# joserfc's key-binding base classes are not re-exported publicly; the SM2 key needs them.
from joserfc._rfc7515.model import JWSAlgModel
from joserfc._rfc7517.models import NativeKeyBinding
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, OKPKey, RSAKey
from joserfc.registry import KeyParameter

from keys import Family, KeyFormatError, SignatureScheme, Signer, normalize_spki, verify

__all__ = [
    "ALG_BY_FAMILY",
    "FAMILY_BY_ALG",
    "SCHEME_BY_ALG",
    "SIGNING_ALGS",
    "SM2Algorithm",
    "SM2Key",
    "b64url_decode",
    "b64url_encode",
    "import_jwk",
    "public_jwk",
    "register_sm2",
    "sign_compact",
    "verify_compact",
]

#: The algorithms we sign tokens with, by key family (DESIGN.md: RS256/ES256 default, SM2 per client).
ALG_BY_FAMILY: Final = {Family.RSA: "RS256", Family.ECDSA: "ES256", Family.SM2: "SM2"}
FAMILY_BY_ALG: Final = {v: k for k, v in ALG_BY_FAMILY.items()}
SIGNING_ALGS: Final = tuple(ALG_BY_FAMILY.values())
SCHEME_BY_ALG: Final = {
    "RS256": SignatureScheme.RSA_PKCS1_SHA256,
    "ES256": SignatureScheme.ECDSA_SHA256,
    "SM2": SignatureScheme.SM2_SM3,
}

_SM2_CURVE_OID: Final = "1.2.156.10197.1.301"
_COORD: Final = 32
# GB/T 32918.5 recommended curve: y^2 = x^3 + a x + b over F_p (used to refuse off-curve points).
_P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A: Final = _P - 3
_B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93


# -- base64url and DER helpers --------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """RFC 7515 §2 base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url (RFC 7515 §2 / RFC 4648 §5): no padding, no other alphabet, and only the
    canonical encoding (unused trailing bits zero), so one value has exactly one spelling."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("base64url text must be ASCII") from None
    if len(raw) % 4 == 1 or any(c not in _B64URL for c in raw):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64url_encode(data).encode() != raw:
        raise ValueError("non-canonical base64url")
    return data


_B64URL: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_int(v: int) -> bytes:
    body = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return b"\x02" + _der_len(len(body)) + body


def raw_to_der(sig: bytes, size: int = _COORD) -> bytes:
    """JOSE ``r || s`` -> DER ``SEQ{r, s}`` (for :func:`keys.verify`)."""
    if len(sig) != 2 * size:
        raise ValueError("wrong signature length")
    content = _der_int(int.from_bytes(sig[:size], "big")) + _der_int(int.from_bytes(sig[size:], "big"))
    return b"\x30" + _der_len(len(content)) + content


def der_to_raw(der: bytes, size: int = _COORD) -> bytes:
    """DER ``SEQ{r, s}`` from ``keys/`` -> JOSE fixed-width ``r || s`` (RFC 7518 §3.4)."""
    from asn1crypto.algos import DSASignature

    parsed = DSASignature.load(der, strict=True).native
    r, s = int(parsed["r"]), int(parsed["s"])
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=False).encode("utf-8")


# -- signing through keys/ -------------------------------------------------------------------------


def sign_compact(signer: Signer, header: Mapping[str, Any], payload: bytes) -> str:
    """JWS Compact Serialization signed by ``signer`` (RFC 7515 §5.1); ``alg`` follows the key.

    ``header`` must not carry ``alg`` (the key decides it, so a caller cannot mislabel a token).
    """
    if "alg" in header:
        raise ValueError("the signing key decides alg")
    alg = ALG_BY_FAMILY[signer.algorithm.family]
    protected = {"alg": alg, **header}
    signing_input = b64url_encode(_json(protected)) + "." + b64url_encode(payload)
    signature = signer.sign(signing_input.encode("ascii"), SCHEME_BY_ALG[alg])
    if alg != "RS256":
        signature = der_to_raw(signature)
    return signing_input + "." + b64url_encode(signature)


def verify_compact(token: str, key: Key, alg: str) -> bytes:
    """Verify a compact JWS with joserfc, allowing exactly ``alg``; returns the payload bytes.

    Raises :class:`joserfc.errors.JoseError` (or ``ValueError``) for anything but a valid signature.
    """
    register_sm2()
    obj = jws.deserialize_compact(token, key, algorithms=[alg])
    return bytes(obj.payload)


# -- SM2 for joserfc --------------------------------------------------------------------------------


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0


def _sm2_spki(x: int, y: int) -> bytes:
    if not _on_curve(x, y):
        raise KeyFormatError("the point is not on the SM2 curve")
    point = b"\x04" + x.to_bytes(_COORD, "big") + y.to_bytes(_COORD, "big")
    return bytes(
        asn1keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ec", "parameters": ("named", "sm2p256v1")}, "public_key": point}
        ).dump()
    )


def _sm2_point(spki_der: bytes) -> tuple[int, int]:
    alg, der = normalize_spki(spki_der)
    if alg.family is not Family.SM2:
        raise KeyFormatError("not an SM2 public key")
    point = bytes(asn1keys.PublicKeyInfo.load(der)["public_key"].contents[1:])
    if len(point) != 1 + 2 * _COORD or point[0] != 4:
        raise KeyFormatError("SM2 public point must be uncompressed")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if not _on_curve(x, y):
        raise KeyFormatError("the point is not on the SM2 curve")
    return x, y


def _coord(value: Any, name: str) -> int:
    if not isinstance(value, str):
        raise KeyFormatError(f"'{name}' must be a base64url string")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise KeyFormatError(f"'{name}' is not base64url") from None
    if len(raw) != _COORD:
        raise KeyFormatError(f"'{name}' must be {_COORD} bytes")
    return int.from_bytes(raw, "big")


class SM2Binding(NativeKeyBinding):
    """Raw value of an :class:`SM2Key`: the DER SPKI (public) or a :class:`keys.Signer` (private)."""

    @classmethod
    def convert_raw_key_to_dict(cls, raw_key: Any, private: bool) -> Any:
        spki = raw_key.public_key_der if isinstance(raw_key, Signer) else raw_key
        x, y = _sm2_point(spki)
        # The private scalar stays in the key store: a private SM2Key exports only its public part.
        return {
            "crv": "SM2",
            "x": b64url_encode(x.to_bytes(_COORD, "big")),
            "y": b64url_encode(y.to_bytes(_COORD, "big")),
        }

    @classmethod
    def import_from_dict(cls, value: Any) -> Any:
        if value.get("crv") != "SM2":
            raise KeyFormatError("an SM2 JWK has crv SM2")
        if "d" in value:
            raise KeyFormatError("SM2 private keys are not imported from JWK (they live in the key store)")
        return _sm2_spki(_coord(value.get("x"), "x"), _coord(value.get("y"), "y"))

    @classmethod
    def import_from_bytes(cls, value: bytes, password: str | bytes | None = None) -> Any:
        der = value
        if value.lstrip().startswith(b"-----"):
            from asn1crypto import pem

            _, _, der = pem.unarmor(value.strip())
        _sm2_point(der)
        return normalize_spki(der)[1]


class SM2Key(ECKey):
    """An SM2 key as joserfc sees it: ``kty`` ``EC`` with ``crv`` ``SM2`` (see the module docstring).

    Subclassing :class:`joserfc.jwk.ECKey` lets joserfc accept it wherever a key goes; the
    ``ES256`` algorithm still refuses it (its curve is not P-256), and ``SM2`` refuses every
    other EC key.
    """

    key_type = "EC"
    binding = SM2Binding  # type: ignore[assignment]
    value_registry: ClassVar[dict[str, KeyParameter]] = {
        "crv": KeyParameter("Curve", "str", private=False, required=True),
        "x": KeyParameter("X Coordinate", "str", private=False, required=True),
        "y": KeyParameter("Y Coordinate", "str", private=False, required=True),
    }

    @classmethod
    def from_signer(cls, signer: Signer, parameters: Mapping[str, Any] | None = None) -> SM2Key:
        if signer.algorithm.family is not Family.SM2:
            raise KeyFormatError("not an SM2 signer")
        return cls(signer, None, dict(parameters or {}))  # type: ignore[arg-type]

    @classmethod
    def from_spki(cls, spki_der: bytes, parameters: Mapping[str, Any] | None = None) -> SM2Key:
        return cls(SM2Binding.import_from_bytes(spki_der), None, dict(parameters or {}))  # type: ignore[arg-type]

    @property
    def is_private(self) -> bool:
        return isinstance(self.raw_value, Signer)

    @cached_property
    def public_key(self) -> Any:  # DER SubjectPublicKeyInfo
        raw = self.raw_value
        return raw.public_key_der if isinstance(raw, Signer) else raw

    @property
    def private_key(self) -> Any:  # the Signer, or None
        return self.raw_value if isinstance(self.raw_value, Signer) else None

    @property
    def curve_name(self) -> str:
        return "SM2"

    @property
    def curve_key_size(self) -> int:
        return 256

    def exchange_derive_key(self, key: Any) -> bytes:
        raise JoseError("SM2 keys are for signatures only here")


class SM2Algorithm(JWSAlgModel):
    """JWS ``alg`` ``SM2`` (see the module docstring). Not "recommended" in joserfc's sense, so it is
    only ever used where a caller allows it by name."""

    name = "SM2"
    description = "SM2 signature with SM3 (GB/T 32918.2, default user ID), r || s"
    key_type = "EC"
    algorithm_security = 256

    def check_key(self, key: Any) -> None:
        super().check_key(key)
        if not isinstance(key, SM2Key):
            raise JoseError("algorithm SM2 needs an SM2 key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        signer = key.get_op_key("sign")
        return der_to_raw(signer.sign(msg, SignatureScheme.SM2_SM3))

    def verify(self, msg: bytes, sig: bytes, key: Any) -> bool:
        try:
            der = raw_to_der(sig)
        except ValueError:
            return False
        r, s = int.from_bytes(sig[:_COORD], "big"), int.from_bytes(sig[_COORD:], "big")
        if r == 0 or s == 0:
            return False
        try:
            return verify(key.get_op_key("verify"), SignatureScheme.SM2_SM3, msg, der)
        except KeyFormatError:
            return False


_registered = False


def register_sm2() -> None:
    """Add ``SM2`` to joserfc's JWS algorithm registry (idempotent)."""
    global _registered  # noqa: PLW0603 - one registration per process
    if not _registered:
        jws.JWSRegistry.register(SM2Algorithm())
        _registered = True


register_sm2()


# -- JWK import / export ----------------------------------------------------------------------------

_KTY: Final = {"RSA", "EC", "OKP"}
PublicJwkAlg = Literal["RS256", "ES256", "SM2"]


def import_jwk(data: Mapping[str, Any]) -> Key:
    """A public JWK as a joserfc key: SM2 keys as :class:`SM2Key`, others through joserfc.

    Symmetric (``oct``) keys and private members are refused: a client's or a trusted issuer's
    JWKS holds public keys only.
    """
    if not isinstance(data, Mapping):
        raise KeyFormatError("a JWK is a JSON object")
    kty = data.get("kty")
    if kty not in _KTY:
        raise KeyFormatError(f"unsupported JWK kty {str(kty)[:10]!r}")
    if any(k in data for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise KeyFormatError("a public JWK must not contain private key members")
    try:
        if kty == "EC" and data.get("crv") == "SM2":
            return SM2Key.import_key(dict(data))
        key = JWKRegistry.import_key(dict(data))
    except KeyFormatError:
        raise
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"the JWK does not decode: {type(exc).__name__}") from None
    if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
        raise KeyFormatError("RSA keys must have at least 2048 bits")
    if isinstance(key, OKPKey):
        raise KeyFormatError("OKP keys are not accepted")
    return key


def public_jwk(spki_der: bytes, kid: str, x5c: list[bytes] | None = None) -> dict[str, Any]:
    """Our published JWK for a token-signing key (RFC 7517 §4), with ``x5c`` when given."""
    alg_key, der = normalize_spki(spki_der)
    alg = ALG_BY_FAMILY[alg_key.family]
    if alg == "SM2":
        x, y = _sm2_point(der)
        jwk: dict[str, Any] = {
            "kty": "EC",
            "crv": "SM2",
            "x": b64url_encode(x.to_bytes(_COORD, "big")),
            "y": b64url_encode(y.to_bytes(_COORD, "big")),
        }
    else:
        imported = (RSAKey if alg == "RS256" else ECKey).import_key(der)
        jwk = dict(imported.as_dict(private=False))
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    if x5c:
        jwk["x5c"] = [base64.b64encode(c).decode("ascii") for c in x5c]  # RFC 7517 §4.7: standard base64
    return jwk


def verification_key(spki_der: bytes, kid: str) -> Key:
    """A joserfc public key for one of our own key ids."""
    alg_key, der = normalize_spki(spki_der)
    alg = ALG_BY_FAMILY[alg_key.family]
    params = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "SM2":
        return SM2Key.from_spki(der, params)
    cls = RSAKey if alg == "RS256" else ECKey
    return cls.import_key(der, params)  # type: ignore[arg-type]
