"""Transient database errors: recognise them, wait with backoff, and say so in /readyz.

A writer in another process holding the SQLite lock past the busy timeout, a PostgreSQL restart, a
full connection pool: each is an error that goes away on its own. The part of the application that
hits one (the sender, the handling of one update) waits and tries again; it never ends the process.
`PartsHealth` remembers which parts are waiting, and why, for `/readyz`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite reports a lock, a busy file or a passing I/O problem as OperationalError; so does a schema
# mistake ("no such table"), which is not transient and must not be retried for ever.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy", "disk i/o error",
                     "unable to open database")
MAX_DELAY_S = 30.0


def is_transient(exc: BaseException) -> bool:
    """True for database errors that pass by themselves (locks, lost connections, pool timeouts)."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no free connection in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            text = str(exc.orig).lower()
            is_sqlite = type(exc.orig).__module__.startswith(("sqlite3", "aiosqlite"))
            return not is_sqlite or any(word in text for word in _SQLITE_TRANSIENT)
    return False


def backoff(attempt: int, base: float = 0.5, cap: float = MAX_DELAY_S) -> float:
    """Exponential backoff with full jitter: attempt 0 waits up to `base`, then doubling, capped."""
    return random.uniform(base / 2, min(cap, base * 2 ** attempt))  # noqa: S311 - not for security


class PartsHealth:
    """Which parts of this process are waiting out a transient error (for `/readyz`)."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}

    def failing(self, part: str, exc: BaseException) -> None:
        if part not in self._failing:
            log.warning("%s: database unavailable, retrying with backoff: %s", part, _short(exc))
        self._failing[part] = _short(exc)

    def recovered(self, part: str) -> None:
        if self._failing.pop(part, None) is not None:
            log.info("%s: database available again", part)

    def snapshot(self) -> dict[str, str]:
        return dict(self._failing)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}"[:200]


async def retry_transient(part: str, fn: Callable[[], Awaitable[T]], *, health: PartsHealth | None = None,
                          stop: asyncio.Event | None = None, attempts: int | None = None) -> T:
    """`await fn()` until it does not raise a transient database error (at most `attempts` times
    when given; until `stop` is set otherwise). Other errors propagate at once."""
    attempt = 0
    while True:
        try:
            result = await fn()
        except Exception as exc:
            if not is_transient(exc) or (attempts is not None and attempt + 1 >= attempts) \
                    or (stop is not None and stop.is_set()):
                raise
            if health is not None:
                health.failing(part, exc)
            await _sleep(backoff(attempt), stop)
            attempt += 1
            continue
        if health is not None and attempt:
            health.recovered(part)
        return result


async def _sleep(delay: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(delay)
        return
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        pass
