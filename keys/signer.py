"""The signing abstraction every other package uses.

A :class:`Signer` knows one key and one thing: produce a DER signature over data. Callers never
see key material, so a key can move from the soft store to an HSM without touching them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import anyio.to_thread

from keys import crypto
from keys.algorithms import KeyAlgorithm, SignatureScheme


@runtime_checkable
class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> KeyAlgorithm: ...

    @property
    def scheme(self) -> SignatureScheme:
        """The default signature scheme for this key."""
        ...

    @property
    def public_key_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        ...

    def sign(self, data: bytes, scheme: SignatureScheme | None = None) -> bytes:
        """DER signature over ``data`` (the message; hashing is part of the scheme)."""
        ...


class SchemeMismatch(ValueError):
    pass


def check_scheme(algorithm: KeyAlgorithm, scheme: SignatureScheme) -> None:
    if scheme.family is not algorithm.family:
        raise SchemeMismatch(f"{scheme} cannot be used with a {algorithm} key")


class LocalSigner:
    """A signer over an in-memory private key (the soft store hands these out)."""

    __slots__ = ("_algorithm", "_key", "_key_id", "_spki")

    def __init__(self, algorithm: KeyAlgorithm, key: crypto.PrivateKey) -> None:
        self._algorithm = algorithm
        self._key = key
        self._spki = crypto.spki_of(key)
        self._key_id = crypto.key_id(self._spki)

    def __repr__(self) -> str:
        return f"LocalSigner({self._algorithm}, key_id={self._key_id[:16]}…)"

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    @property
    def scheme(self) -> SignatureScheme:
        return self._algorithm.default_scheme

    @property
    def public_key_der(self) -> bytes:
        return self._spki

    def sign(self, data: bytes, scheme: SignatureScheme | None = None) -> bytes:
        sch = scheme or self.scheme
        check_scheme(self._algorithm, sch)
        return crypto.sign(self._key, sch, data)


async def async_sign(signer: Signer, data: bytes, scheme: SignatureScheme | None = None) -> bytes:
    """Sign off the event loop (RSA-3072 takes milliseconds)."""
    return await anyio.to_thread.run_sync(signer.sign, data, scheme)


def verify(spki_der: bytes, scheme: SignatureScheme, data: bytes, signature: bytes) -> bool:
    """Verify a DER signature with a DER SubjectPublicKeyInfo (see :func:`keys.crypto.verify`)."""
    return crypto.verify(spki_der, scheme, data, signature)
