"""One sending rate for the whole deployment.

Telegram allows about 30 messages a second across chats (bulk), about one a second in one chat.
The limiter is a GCRA (generic cell rate algorithm): each message advances a "theoretical arrival
time" by 1/rate, and a sender waits until that time is within `burst` intervals of now. In any
sliding second at most rate + burst messages go out, never the 2x a fixed per-second window allows.

- `LocalLimiter`: in-process, for the single-process default.
- `RedisLimiter`: the same algorithm in one Lua script on Redis, shared by every worker, so
  several senders together stay under the limit; a 429's `retry_after` pauses all of them.

Replies first: a customer's answer is never delayed by a broadcast. `note_reply()` charges the
shared budget without waiting, so the broadcast (which waits in `acquire`) yields the capacity
the replies used, and the total still stays under the limit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Limiter(Protocol):
    async def acquire(self) -> None: ...
    async def note_reply(self) -> None: ...
    async def pause(self, seconds: float) -> None: ...
    async def space_chat(self, chat_id: int, interval_s: float) -> None: ...
    async def close(self) -> None: ...


class LocalLimiter:
    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.interval = 1.0 / rate
        self.tolerance = self.interval * burst
        self._tat = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _reserve(self, now: float, wait: bool) -> float:
        """Charge one message; return how long the caller must wait before sending it."""
        start = max(self._tat, now, self._paused_until)
        if wait and start - now > self.tolerance:
            return start - now - self.tolerance
        self._tat = start + self.interval
        return 0.0

    async def acquire(self) -> None:
        while True:
            async with self._lock:
                delay = self._reserve(time.monotonic(), wait=True)
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    async def note_reply(self) -> None:
        self._reserve(time.monotonic(), wait=False)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def space_chat(self, chat_id: int, interval_s: float) -> None:
        return None  # one process: the sender's own per-chat spacing is the whole story

    async def close(self) -> None:
        return None


# KEYS[1] = tat key, KEYS[2] = pause key; ARGV = interval_ms, tolerance_ms, wait (1/0)
# Returns the milliseconds to wait (0 = the message was charged and may go now).
_GCRA = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
local start = math.max(tat, now, paused)
if ARGV[3] == '1' and start - now > tolerance then
  return math.max(1, math.ceil(start - now - tolerance))
end
redis.call('SET', KEYS[1], start + interval, 'PX', 60000)
return 0
"""
_PAUSE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local untill = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or 0)
if untill > cur then redis.call('SET', KEYS[1], untill, 'PX', tonumber(ARGV[1]) + 1000) end
return 0
"""


class RedisLimiter:
    def __init__(self, url: str, rate: float, burst: float = 1.0, key: str = "rmbot:send") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._interval_ms = 1000.0 / rate
        self._tolerance_ms = self._interval_ms * burst
        self._keys = [f"{key}:tat", f"{key}:pause"]
        self._gcra = self._redis.register_script(_GCRA)
        self._pause = self._redis.register_script(_PAUSE)

    async def _charge(self, wait: bool) -> float:
        ms = await self._gcra(keys=self._keys, args=[self._interval_ms, self._tolerance_ms, "1" if wait else "0"])
        return float(ms) / 1000.0

    async def acquire(self) -> None:
        while True:
            delay = await self._charge(wait=True)
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    async def note_reply(self) -> None:
        await self._charge(wait=False)

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self._keys[1]], args=[int(seconds * 1000)])

    async def space_chat(self, chat_id: int, interval_s: float) -> None:
        """Wait for this chat's next slot, shared by every sender: several workers sending staff notices to
        one manager's chat must not add up to more than Telegram's one message a second there."""
        keys = [f"{self._keys[0]}:chat:{chat_id}", self._keys[1]]
        while True:
            ms = await self._gcra(keys=keys, args=[interval_s * 1000.0, 0, "1"])
            if float(ms) <= 0:
                return
            await asyncio.sleep(float(ms) / 1000.0)

    async def close(self) -> None:
        await self._redis.aclose()


def build_limiter(redis_url: str, rate: float) -> LocalLimiter | RedisLimiter:
    return RedisLimiter(redis_url, rate) if redis_url else LocalLimiter(rate)
