"""Raw private-key operations for RSA, ECDSA P-256 (pyca/cryptography) and SM2 (tongsuopy).

This is the only module that touches key objects of either library. SM2 signing follows
GB/T 32918.2: ``e = SM3(ZA || M)`` with ZA over the default ID ``1234567812345678``;
tongsuopy's ``sign(msg, ECDSA(SM3()))`` computes ZA itself, and :func:`sm2_za` recomputes it
for tests. Signatures are returned DER-encoded (``SEQ{r, s}`` for ECDSA and SM2).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from asn1crypto import core as asn1core
from asn1crypto import keys as asn1keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_serialization
from tongsuopy.crypto.asymciphers import ec as ts_ec

from keys import oids
from keys.algorithms import KeyAlgorithm, SignatureScheme

SM2_DEFAULT_ID = b"1234567812345678"

# GB/T 32918.5 recommended curve parameters (for ZA recomputation).
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_SM2_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_SM2_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

PrivateKey = Any  # rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | tongsuopy SM2 key (untyped)


class KeyFormatError(ValueError):
    """The bytes are not a key (or not one of the supported algorithms)."""


def key_id(spki_der: bytes) -> str:
    """Stable key id: SHA-256 over the DER SubjectPublicKeyInfo, lowercase hex."""
    return hashlib.sha256(spki_der).hexdigest()


def generate(alg: KeyAlgorithm) -> PrivateKey:
    if alg.family.value == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=alg.rsa_bits)
    if alg is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    return ts_ec.generate_private_key(ts_ec.SM2())


def to_pkcs8(key: PrivateKey) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return bytes(
        key.private_bytes(
            ts_serialization.Encoding.DER, ts_serialization.PrivateFormat.PKCS8, ts_serialization.NoEncryption()
        )
    )


def _curve_of_pkcs8(der: bytes) -> str | None:
    try:
        info = asn1keys.PrivateKeyInfo.load(der)
        algo = info["private_key_algorithm"]
        if algo["algorithm"].dotted == oids.SM2_CURVE:
            return oids.SM2_CURVE
        if algo["algorithm"].native == "ec":
            return str(algo["parameters"].chosen.dotted)
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError("not a PKCS#8 private key") from exc


def load_private(der_or_pem: bytes, password: bytes | None = None) -> tuple[KeyAlgorithm, PrivateKey]:
    """Load an unencrypted or password-protected PKCS#8 key (DER or PEM) of a supported kind."""
    der = der_or_pem
    if der_or_pem.lstrip().startswith(b"-----"):
        try:
            key = serialization.load_pem_private_key(der_or_pem, password)
            return _classify(key), key
        except (ValueError, TypeError, Exception):
            try:
                tkey = ts_serialization.load_pem_private_key(der_or_pem, password)
            except Exception as exc:
                raise KeyFormatError("PEM data is not a supported private key") from exc
            der = to_pkcs8(tkey)
    if password is not None and not der_or_pem.lstrip().startswith(b"-----"):
        try:
            key = serialization.load_der_private_key(der, password)
            return _classify(key), key
        except Exception as exc:
            raise KeyFormatError("DER data is not a supported private key") from exc
    if _curve_of_pkcs8(der) == oids.SM2_CURVE:
        try:
            return KeyAlgorithm.SM2, ts_serialization.load_der_private_key(der, None)
        except Exception as exc:
            raise KeyFormatError("malformed SM2 private key") from exc
    try:
        key = serialization.load_der_private_key(der, None)
    except Exception as exc:
        raise KeyFormatError("not a supported private key") from exc
    return _classify(key), key


def _classify(key: object) -> KeyAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        try:
            return KeyAlgorithm(f"rsa-{key.key_size}")
        except ValueError as exc:
            raise KeyFormatError(f"RSA-{key.key_size} is not supported (2048, 3072, 4096)") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return KeyAlgorithm.EC_P256
    raise KeyFormatError("unsupported key type (RSA, ECDSA P-256 and SM2 are supported)")


def spki_of(key: PrivateKey) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return bytes(
        key.public_key().public_bytes(ts_serialization.Encoding.DER, ts_serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def sign(key: PrivateKey, scheme: SignatureScheme, data: bytes) -> bytes:
    """Sign ``data`` (the message, not a digest) and return a DER signature."""
    if scheme is SignatureScheme.SM2_SM3:
        return bytes(key.sign(data, ts_ec.ECDSA(ts_hashes.SM3())))
    if scheme is SignatureScheme.ECDSA_SHA256:
        return bytes(key.sign(data, ec.ECDSA(hashes.SHA256())))
    if scheme is SignatureScheme.RSA_PSS_SHA256:
        return bytes(key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()))
    return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))


# --- public keys -------------------------------------------------------------------------------


def normalize_spki(spki_der: bytes) -> tuple[KeyAlgorithm, bytes]:
    """Classify a SubjectPublicKeyInfo and return its canonical DER.

    Some SM2 producers put the SM2 curve OID itself in place of id-ecPublicKey (STANDARDS.md);
    such keys are re-encoded into the GM/T 0015 form ``{id-ecPublicKey, sm2p256v1}``.
    """
    try:
        raw = _RawSpki.load(spki_der, strict=True)
        algo_oid = raw["algorithm"]["algorithm"].dotted
        if algo_oid == oids.SM2_CURVE:
            fixed = asn1keys.PublicKeyInfo(
                {
                    "algorithm": {"algorithm": "ec", "parameters": ("named", "sm2p256v1")},
                    "public_key": bytes(raw["public_key"].contents[1:]),
                }
            )
            return KeyAlgorithm.SM2, fixed.dump()
        info = asn1keys.PublicKeyInfo.load(spki_der, strict=True)
        if algo_oid == "1.2.840.10045.2.1":
            params = info["algorithm"]["parameters"]
            if params.name != "named":
                raise KeyFormatError("explicit EC parameters are not accepted")
            curve = params.chosen.dotted
            if curve == oids.SM2_CURVE:
                return KeyAlgorithm.SM2, spki_der
            if curve == "1.2.840.10045.3.1.7":
                return KeyAlgorithm.EC_P256, spki_der
            raise KeyFormatError(f"unsupported EC curve {curve}")
        if algo_oid == "1.2.840.113549.1.1.1":
            bits = info["public_key"].parsed["modulus"].native.bit_length()
            for alg in (KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072, KeyAlgorithm.RSA_4096):
                if alg.rsa_bits == bits:
                    return alg, spki_der
            return KeyAlgorithm.RSA_2048 if bits < 2048 else KeyAlgorithm.RSA_4096, spki_der
    except KeyFormatError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise KeyFormatError("not a DER SubjectPublicKeyInfo") from exc
    raise KeyFormatError(f"unsupported public key algorithm {algo_oid}")


class _RawAlgorithm(asn1core.Sequence):
    _fields = [("algorithm", asn1core.ObjectIdentifier), ("parameters", asn1core.Any, {"optional": True})]


class _RawSpki(asn1core.Sequence):
    """SPKI read without asn1crypto's per-algorithm spec (which rejects unknown algorithm OIDs)."""

    _fields = [("algorithm", _RawAlgorithm), ("public_key", asn1core.BitString)]


@functools.lru_cache(maxsize=4096)
def load_public(spki_der: bytes) -> tuple[KeyAlgorithm, Any]:
    """Parse a public key once: verification is hot (tokens, OCSP, PDFs) and parsing is not free."""
    alg, der = normalize_spki(spki_der)
    try:
        if alg is KeyAlgorithm.SM2:
            return alg, ts_serialization.load_der_public_key(der)
        return alg, serialization.load_der_public_key(der)
    except Exception as exc:
        raise KeyFormatError("public key does not decode (bad point or modulus)") from exc


#: Verification sees the same few keys again and again (our CAs, token keys, a seal's certificate):
#: parsed key objects are immutable and safe to share between threads. A key that does not
#: decode raises and is not cached.
_load_public_cached = functools.lru_cache(maxsize=1024)(load_public)

# Padding and hash descriptors are immutable: built once instead of on every verification.
_SHA256 = hashes.SHA256()
_PKCS1V15 = padding.PKCS1v15()
_PSS_SHA256 = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SM2_SM3 = ts_ec.ECDSA(ts_hashes.SM3())


def _strict_der_ecdsa(signature: bytes) -> bool:
    """ECDSA/SM2 signatures must be exactly DER ``SEQ{r, s}`` with 0 < r, s (X9.62, GB/T 32918.2).

    A strict hand check (both curves here are 256-bit, so every length is short-form): it rejects
    BER leniencies — long-form or wrong lengths, padded or negative integers, trailing bytes —
    that some verifiers accept and Wycheproof tests for, without a general ASN.1 parser on the hot path.
    """
    n = len(signature)
    if n < 8 or n > 72 or signature[0] != 0x30 or signature[1] != n - 2:
        return False
    pos = 2
    for _ in range(2):
        if pos + 2 > n or signature[pos] != 0x02:
            return False
        length = signature[pos + 1]
        body = signature[pos + 2 : pos + 2 + length]
        if length == 0 or length > 33 or len(body) != length:
            return False
        if body[0] & 0x80:  # negative
            return False
        if length > 1 and body[0] == 0 and not body[1] & 0x80:  # non-minimal padding
            return False
        if not any(body):  # zero
            return False
        pos += 2 + length
    return pos == n


def ecdsa_der(r: int, s: int) -> bytes:
    """DER ``ECDSA-Sig-Value`` / SM2 ``SEQ{r, s}`` with minimal integers (RFC 5480 §2.2), as pyca writes it;
    HSMs return the raw ``r || s`` and backends re-encode through this."""
    return _der_int_seq(r, s)


def _der_int_seq(r: int, s: int) -> bytes:
    def enc_int(v: int) -> bytes:
        body = v.to_bytes((v.bit_length() + 8) // 8, "big")
        return b"\x02" + _der_len(len(body)) + body

    content = enc_int(r) + enc_int(s)
    return b"\x30" + _der_len(len(content)) + content


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def verify(spki_der: bytes, scheme: SignatureScheme, data: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid ``scheme`` signature of ``data`` under the key.

    Never raises for a bad signature or a key that does not fit the scheme; raises
    :class:`KeyFormatError` only when ``spki_der`` is not a public key at all.
    """
    alg, pub = _load_public_cached(spki_der)
    if alg.family is not scheme.family:
        return False
    try:
        if scheme is SignatureScheme.SM2_SM3:
            if not _strict_der_ecdsa(signature):
                return False
            pub.verify(signature, data, _SM2_SM3)
        elif scheme is SignatureScheme.ECDSA_SHA256:
            if not _strict_der_ecdsa(signature):
                return False
            pub.verify(signature, data, _ECDSA_SHA256)
        elif scheme is SignatureScheme.RSA_PSS_SHA256:
            pub.verify(signature, data, _PSS_SHA256, _SHA256)
        else:
            pub.verify(signature, data, _PKCS1V15, _SHA256)
    except (InvalidSignature, ValueError, TypeError):
        return False
    except Exception:  # tongsuopy raises its own InvalidSignature class
        return False
    return True


def sm2_za(public_point: bytes, ident: bytes = SM2_DEFAULT_ID) -> bytes:
    """ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA) per GB/T 32918.2 §5.5."""
    if len(public_point) != 65 or public_point[0] != 4:
        raise KeyFormatError("SM2 public point must be uncompressed (65 bytes)")
    entl = (len(ident) * 8).to_bytes(2, "big")
    parts = [entl, ident] + [v.to_bytes(32, "big") for v in (_SM2_A, _SM2_B, _SM2_GX, _SM2_GY)]
    parts.append(public_point[1:])
    return hashlib.new("sm3", b"".join(parts)).digest()


def spki_point(spki_der: bytes) -> bytes:
    """The raw public key bytes of an EC/SM2 SPKI (``04 || X || Y``)."""
    info = asn1keys.PublicKeyInfo.load(normalize_spki(spki_der)[1])
    return bytes(info["public_key"].contents[1:])
