"""Sign-in throttling: failed attempts per client address in a sliding window.

One-time links carry 32 random characters, so guessing is hopeless anyway; the limit stops a
client from trying at all after a few failures and keeps the audit log readable. In-process (each
instance counts its own); the address is the client's as uvicorn sees it (FORWARDED_ALLOW_IPS
decides which proxies may tell it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request


class SignInThrottle:
    def __init__(self, limit: int = 10, window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, list[float]] = {}

    @staticmethod
    def key(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _recent(self, key: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def blocked(self, key: str) -> bool:
        if len(self._failures) > 10_000:  # forget idle addresses
            for k in list(self._failures):
                self._recent(k)
        return len(self._recent(key)) >= self.limit

    def failed(self, key: str) -> None:
        self._failures.setdefault(key, []).append(self.clock())
