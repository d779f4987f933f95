"""In-process sliding-window throttle (per client address) for login and code requests.

NIST SP 800-63B §5.2.2 asks for rate limiting of failed authentication; account lockout
(:mod:`identity.accounts`) covers one account, this covers one address trying many accounts.
It is per process: with several workers behind a proxy, a shared store (Redis, DESIGN.md
"Scale") replaces it behind the same two methods.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Final

from identity.errors import Throttled

__all__ = ["Throttle"]

MAX_KEYS: Final = 100_000


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one attempt for ``key``; raise :class:`Throttled` beyond ``limit`` per window."""
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > MAX_KEYS:
                self._hits.clear()  # bounded memory under a flood of addresses
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] > self.window:
                q.popleft()
            if len(q) >= self.limit:
                retry = int(self.window - (now - q[0])) + 1
                raise Throttled(f"too many attempts; try again in {retry} s", retry_after=retry)
            q.append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
