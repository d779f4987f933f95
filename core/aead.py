"""Authenticated encryption for data at rest (private keys, personal data).

Ciphertexts are self-describing: ``version(1) || alg(1) || nonce(12) || ciphertext+tag`` so the
algorithm can change (SM4-GCM <-> AES-256-GCM) without re-encrypting old rows.
"""

from __future__ import annotations

import os
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tongsuopy.crypto.ciphers.aead import SM4GCM

from core.errors import ConfigurationError

_VERSION = 1
_NONCE = 12


class AeadAlg(IntEnum):
    AES_256_GCM = 1
    SM4_GCM = 2


class DecryptionFailed(ConfigurationError):
    code = "decryption-failed"
    title = "Stored data could not be decrypted (wrong master key or tampered data)"


def _cipher(alg: AeadAlg, key: bytes) -> AESGCM | SM4GCM:
    if alg is AeadAlg.AES_256_GCM:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        return AESGCM(key)
    if len(key) != 16:
        raise ValueError("SM4-GCM needs a 16-byte key")
    return SM4GCM(key)


def seal(key: bytes, plaintext: bytes, aad: bytes, alg: AeadAlg = AeadAlg.SM4_GCM) -> bytes:
    nonce = os.urandom(_NONCE)
    return bytes([_VERSION, alg]) + nonce + _cipher(alg, key).encrypt(nonce, plaintext, aad)


def open_(keys: dict[AeadAlg, bytes], blob: bytes, aad: bytes) -> bytes:
    """Decrypt ``blob`` with the key for its algorithm; raises :class:`DecryptionFailed`."""
    if len(blob) < 2 + _NONCE + 16 or blob[0] != _VERSION:
        raise DecryptionFailed("ciphertext has an unknown format")
    try:
        alg = AeadAlg(blob[1])
    except ValueError as exc:
        raise DecryptionFailed("ciphertext names an unknown algorithm") from exc
    nonce, body = blob[2 : 2 + _NONCE], blob[2 + _NONCE :]
    try:
        return _cipher(alg, keys[alg]).decrypt(nonce, body, aad)
    except (InvalidTag, Exception) as exc:
        raise DecryptionFailed() from exc
