"""Errors of the key store."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, YwtError


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
