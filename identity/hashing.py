"""Hashes of secrets we must check but never keep: passwords, client secrets, tokens.

* Passwords and caller-chosen client secrets: argon2id (RFC 9106). Parameters: the RFC's second
  recommended option ("memory-constrained": t=3, m=64 MiB, p=4), argon2-cffi's defaults, 16-byte
  salt, 32-byte tag. ``bench/identity.py`` measures what a login costs with them.
* Client secrets we generate (256 random bits): HMAC-SM3 under a key derived from the master key.
  Guessing 256 bits is hopeless whatever the hash, so a slow hash buys nothing and would cap the
  token endpoint at a few requests per second per core; the key means a database dump alone does
  not even allow checking a guess. Stored strings are self-describing (``$hmac-sm3$...`` or
  ``$argon2id$...``), so both kinds live in one column.
* Tokens, codes and session ids (random, 256 bits): SHA-256, for lookup by hash.

A successful argon2id check of a *client secret* is memoised for :data:`MEMO_SECONDS`: the memo
is keyed by an HMAC (per-process random key) of the stored hash and the candidate, so it only
ever skips recomputing the same pure function — a rotated secret has a new stored hash and misses
at once in every process, a disabled client is refused before the secret is looked at, and a
memory dump yields nothing usable offline. Failures are never memoised. Passwords are not memoised.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.secrets import MasterKey

__all__ = ["ARGON2_PARAMETERS", "SecretHasher", "new_secret", "token_hash"]

_argon2 = PasswordHasher()  # argon2id; RFC 9106 §4 second recommended option
ARGON2_PARAMETERS: Final = {
    "type": "argon2id",
    "time_cost": _argon2.time_cost,
    "memory_cost_kib": _argon2.memory_cost,
    "parallelism": _argon2.parallelism,
}
_HMAC_PREFIX: Final = "$hmac-sm3$"
#: Generated secrets have this many random bytes; only those may use the fast keyed hash.
GENERATED_SECRET_BYTES: Final = 32
_DUMMY = _argon2.hash("ywt-dummy-password-for-equal-timing")
MEMO_SECONDS: Final = 600.0
MEMO_MAX: Final = 10_000


def new_secret() -> str:
    """A fresh 256-bit secret, base64url (43 characters)."""
    return secrets.token_urlsafe(GENERATED_SECRET_BYTES)


def token_hash(value: str) -> str:
    """SHA-256 hex of a random token, for lookup (the token itself is never stored)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SecretHasher:
    """Hashes and checks passwords and client secrets (see the module docstring)."""

    def __init__(self, master: MasterKey) -> None:
        self._key = master.derive("identity/client-secret-hmac-sm3", 32)
        self._memo_key = secrets.token_bytes(32)
        self._memo: dict[bytes, float] = {}
        self._memo_lock = threading.Lock()

    def __repr__(self) -> str:
        return "SecretHasher(<key redacted>)"

    def hash_password(self, password: str) -> str:
        return _argon2.hash(password)

    def hash_generated(self, secret: str) -> str:
        """Keyed fast hash; only for secrets from :func:`new_secret`."""
        return _HMAC_PREFIX + hmac.new(self._key, secret.encode("utf-8"), "sm3").hexdigest()

    def verify(self, stored: str | None, candidate: str) -> bool:
        """Constant-time check of ``candidate`` against a stored hash of either kind.

        With no stored hash (unknown user) an argon2 verification still runs, so the answer takes
        as long as for a real account.
        """
        if stored is None:
            self._burn(candidate)
            return False
        if stored.startswith(_HMAC_PREFIX):
            expected = self.hash_generated(candidate)
            return hmac.compare_digest(expected.encode(), stored.encode())
        try:
            return bool(_argon2.verify(stored, candidate))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_client_secret(self, stored: str | None, candidate: str) -> bool:
        """:meth:`verify`, with successful argon2id checks memoised (see the module docstring)."""
        if stored is None or stored.startswith(_HMAC_PREFIX):
            return self.verify(stored, candidate)
        tag = hmac.new(self._memo_key, stored.encode() + b"\x00" + candidate.encode("utf-8"), "sha256").digest()
        now = time.monotonic()
        with self._memo_lock:
            seen = self._memo.get(tag)
            if seen is not None and now - seen < MEMO_SECONDS:
                return True
        ok = self.verify(stored, candidate)
        if ok:
            with self._memo_lock:
                if len(self._memo) >= MEMO_MAX:
                    self._memo.clear()
                self._memo[tag] = now
        return ok

    def needs_rehash(self, stored: str) -> bool:
        return not stored.startswith(_HMAC_PREFIX) and _argon2.check_needs_rehash(stored)

    @staticmethod
    def _burn(candidate: str) -> None:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            _argon2.verify(_DUMMY, candidate)
