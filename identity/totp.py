"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30 s.

Those are the parameters every authenticator app implements (the otpauth URI format of Google
Authenticator). A code is accepted for the current step and one step either side (RFC 6238
§5.2 "one time step of network delay"); a step once used is refused afterwards (§5.2: the
verifier MUST NOT accept the second attempt of the same OTP).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import urllib.parse
from datetime import datetime
from typing import Final

__all__ = ["DIGITS", "STEP", "hotp", "new_secret", "otpauth_uri", "verify"]

STEP: Final = 30
DIGITS: Final = 6
WINDOW: Final = 1


def new_secret() -> str:
    """160 random bits (RFC 4226 §4 R6 recommends 160), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    s = secret.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def hotp(secret: str, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: dynamic truncation of HMAC-SHA-1(K, C)."""
    mac = hmac.new(_key(secret), struct.pack(">Q", counter), "sha1").digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def verify(secret: str, code: str, now: datetime, last_step: int) -> int | None:
    """The time step ``code`` is valid for (within the window and after ``last_step``), else None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int(now.timestamp()) // STEP
    for step in range(current - WINDOW, current + WINDOW + 1):
        if step > last_step and hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def otpauth_uri(secret: str, account: str, issuer: str = "一网通办") -> str:
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP}
    )
    return f"otpauth://totp/{label}?{query}"
