"""Errors of the key store."""

from __future__ import annotations

from core.errors import ConfigurationError, Conflict, InvalidInput, NotFound, TryLater, YwtError


class KeyError_(YwtError):
    code = "key-error"
    title = "Key store error"


class KeyNotFound(KeyError_, NotFound):
    code = "key-not-found"
    title = "No key with that id"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key with id {key_id[:64]}", key_id=key_id[:64])


class InvalidKey(KeyError_, InvalidInput):
    code = "invalid-key"
    title = "The key could not be read or is not supported"


class DuplicateKey(KeyError_, Conflict):
    code = "duplicate-key"
    title = "That key is already in the store"


class HsmUnavailable(KeyError_, TryLater):
    """The PKCS#11 module or token cannot be reached or refused an operation (retry may help)."""

    code = "hsm-unavailable"
    title = "The hardware security module is unavailable"


class HsmLoginFailed(KeyError_, ConfigurationError):
    """Login to the token failed (wrong or locked PIN): an operator must fix the configuration."""

    code = "hsm-login-failed"
    title = "Login to the hardware security module failed"


class UnsupportedByToken(KeyError_, InvalidInput):
    """The token cannot hold keys of this algorithm (SM2 in SoftHSM2 and standard PKCS#11)."""

    code = "unsupported-by-token"
    title = "The hardware security module does not support this key algorithm"
