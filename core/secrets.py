"""The master key: root of every at-rest secret (key store, personal data).

In production it comes from ``YWT_MASTER_KEY`` (64 hex chars = 32 bytes). In development it is
generated once into ``$YWT_HOME/master.key`` with mode 0600. Sub-keys are derived with HKDF so
that the key-store key, the personal-data key and the blind-index key are independent.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigurationError
from core.settings import Environment, Settings

_CHECK_LABEL = b"ywt/master-key-check/v1"


class MasterKeyError(ConfigurationError):
    code = "master-key"
    title = "The master key is missing, malformed or does not match this installation"


class MasterKey:
    """32 secret bytes; never printed (repr is redacted)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyError("the master key must be 32 bytes (64 hex characters)")
        self._key = key

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    def derive(self, label: str, length: int = 32) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode()).derive(self._key)

    def check_value(self) -> str:
        """A value stored in the DB so a wrong key is refused at start instead of corrupting data."""
        return hmac.new(self.derive("check"), _CHECK_LABEL, "sha256").hexdigest()

    @staticmethod
    def parse(text: str) -> MasterKey:
        try:
            raw = bytes.fromhex(text.strip())
        except ValueError as exc:
            raise MasterKeyError("YWT_MASTER_KEY must be 64 hexadecimal characters") from exc
        return MasterKey(raw)


def load_master_key(settings: Settings, *, create: bool = True) -> MasterKey:
    """From settings, else from the dev key file (created with 0600 if allowed and missing)."""
    if settings.master_key is not None:
        return MasterKey.parse(settings.master_key.get_secret_value())
    path: Path = settings.master_key_file
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise MasterKeyError(f"{path} must not be readable by group or others (mode {mode:o})")
        return MasterKey.parse(path.read_text())
    if settings.env is Environment.PRODUCTION or not create:
        raise MasterKeyError("no master key: set YWT_MASTER_KEY")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return MasterKey.parse(path.read_text())
