"""Personal data at rest: SM4-GCM encryption plus an HMAC-SM3 blind index.

ID numbers, phone numbers and bank-card numbers are stored as ``encrypt(kind, value)`` and found
with ``index(kind, value)`` (keyed hash: equality search without storing the value). Both keys
are derived from the master key and differ per purpose; the kind ("id_number", "phone", ...) is
bound as associated data / hash prefix so a phone ciphertext can never be read back as an ID.
"""

from __future__ import annotations

import hmac

from core import aead
from core.secrets import MasterKey


class PiiVault:
    def __init__(self, master: MasterKey) -> None:
        self._enc = {aead.AeadAlg.SM4_GCM: master.derive("pii/sm4", 16)}
        self._idx = master.derive("pii/index-hmac-sm3", 32)

    def __repr__(self) -> str:
        return "PiiVault(<keys redacted>)"

    def encrypt(self, kind: str, value: str) -> bytes:
        return aead.seal(self._enc[aead.AeadAlg.SM4_GCM], value.encode("utf-8"), kind.encode())

    def decrypt(self, kind: str, blob: bytes) -> str:
        return aead.open_(self._enc, blob, kind.encode()).decode("utf-8")

    def index(self, kind: str, value: str) -> str:
        """Blind index: HMAC-SM3(key, kind || 0x00 || value), hex. Normalise ``value`` first."""
        return hmac.new(self._idx, kind.encode() + b"\x00" + value.encode("utf-8"), "sm3").hexdigest()
