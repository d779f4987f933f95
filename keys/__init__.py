"""Key custody and the signing abstraction (RSA, ECDSA P-256, SM2).

Public surface: :class:`KeyStore` (generate / import / list / signer by key id),
:class:`Signer` (``sign(data) -> DER``), :func:`verify`, algorithm enums and OIDs.
"""

from keys import oids
from keys.algorithms import Family, KeyAlgorithm, SignatureScheme
from keys.crypto import KeyFormatError, key_id, normalize_spki, sm2_za
from keys.errors import DuplicateKey, InvalidKey, KeyNotFound
from keys.signer import LocalSigner, Signer, async_sign, verify
from keys.store import KeyInfo, KeyStore

__all__ = [
    "DuplicateKey",
    "Family",
    "InvalidKey",
    "KeyAlgorithm",
    "KeyFormatError",
    "KeyInfo",
    "KeyNotFound",
    "KeyStore",
    "LocalSigner",
    "SignatureScheme",
    "Signer",
    "async_sign",
    "key_id",
    "normalize_spki",
    "oids",
    "sm2_za",
    "verify",
]
