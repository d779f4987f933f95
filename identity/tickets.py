"""Tickets: small encrypted, authenticated, expiring blobs that carry state through a browser.

A pending registration (name, citizen ID number, phone: personal data), a login waiting for its
second factor, a paused authorization request — all travel in hidden form fields or query
parameters as tickets instead of server-side rows. SM4-GCM under a key derived from the master
key, the purpose as associated data (a ticket for one purpose never opens as another), and an
expiry inside, so the browser can neither read nor change nor reuse them beyond their lifetime.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from core import aead, clock
from core.errors import InvalidInput
from core.secrets import MasterKey
from identity.errors import IdentityError
from identity.jose import b64url_decode, b64url_encode

__all__ = ["BadTicket", "Tickets"]


class BadTicket(IdentityError, InvalidInput):
    """A ticket that does not open (tampered, wrong purpose) or has expired."""

    code = "bad-ticket"
    title = "The form has expired or was altered; please start again"


class Tickets:
    def __init__(self, master: MasterKey) -> None:
        self._keys = {aead.AeadAlg.SM4_GCM: master.derive("identity/tickets-sm4", 16)}

    def __repr__(self) -> str:
        return "Tickets(<key redacted>)"

    def seal(self, purpose: str, data: dict[str, Any], ttl: timedelta) -> str:
        body = {"p": data, "exp": int((clock.now() + ttl).timestamp())}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return b64url_encode(aead.seal(self._keys[aead.AeadAlg.SM4_GCM], raw, purpose.encode()))

    def open(self, purpose: str, ticket: str | None) -> dict[str, Any]:
        if not ticket or len(ticket) > 8000:
            raise BadTicket("missing ticket")
        try:
            raw = aead.open_(self._keys, b64url_decode(ticket), purpose.encode())
            body = json.loads(raw)
        except (ValueError, aead.DecryptionFailed):
            raise BadTicket("the ticket does not open") from None
        if not isinstance(body, dict) or not isinstance(body.get("exp"), int) or not isinstance(body.get("p"), dict):
            raise BadTicket("the ticket is malformed")
        if body["exp"] < clock.now().timestamp():
            raise BadTicket("the ticket has expired")
        data: dict[str, Any] = body["p"]
        return data
