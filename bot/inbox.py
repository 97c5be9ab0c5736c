"""The update inbox between the webhook and the dispatcher.

Telegram (and the emulator) push webhook updates one at a time and wait for each answer, so the
webhook must answer in milliseconds, yet an update it acknowledged must never be lost, even if
this instance dies a moment later. With Redis configured, the webhook appends the update to a
Redis stream (`XADD`, durable before the 200 goes back) and every bot instance consumes the stream
in one consumer group: each update goes to one instance (`XREADGROUP`), is acknowledged after it
was handled (`XACK`), and updates a dead instance had taken are claimed by a live one once idle
for `claim_idle_ms` (`XAUTOCLAIM`). Without Redis (one process), an in-memory queue does the same
job within the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
STREAM = "rmbot:updates"
GROUP = "bots"


class MemoryInbox:
    """Single-process inbox: the webhook enqueues, `consume` handles with bounded concurrency."""

    def __init__(self, concurrency: int = 32) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._concurrency = concurrency

    async def put(self, update: dict[str, Any]) -> None:
        await self._queue.put(update)

    async def consume(self, handler: Handler, stop: asyncio.Event) -> None:
        sem = asyncio.Semaphore(self._concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def run(update: dict[str, Any]) -> None:
            try:
                await handler(update)
            except Exception:
                log.exception("update handling failed")
            finally:
                sem.release()

        while not stop.is_set():
            try:
                update = await asyncio.wait_for(self._queue.get(), 0.5)
            except TimeoutError:
                continue
            await sem.acquire()
            task = asyncio.create_task(run(update))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=8)

    async def close(self) -> None:
        return None


class RedisInbox:
    """Shared, durable inbox for several bot instances (Redis stream + consumer group)."""

    def __init__(self, url: str, *, consumer: str | None = None, concurrency: int = 32,
                 claim_idle_ms: int = 5_000, stream: str = STREAM, max_len: int = 100_000) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._stream = stream
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._concurrency = concurrency
        self._claim_idle_ms = claim_idle_ms
        self._max_len = max_len
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        from redis.exceptions import ResponseError

        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def put(self, update: dict[str, Any]) -> None:
        # Handled entries stay in a stream until trimmed: keep about the last `max_len` (~70 MB at
        # 100,000). Only a backlog that long could lose an unhandled update, and updates arrive
        # through the bot instances themselves, so none arrive while every instance is down.
        await self._redis.xadd(self._stream, {"u": json.dumps(update, ensure_ascii=False)},
                               maxlen=self._max_len, approximate=True)

    async def consume(self, handler: Handler, stop: asyncio.Event) -> None:
        await self._ensure_group()
        sem = asyncio.Semaphore(self._concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def run(entry_id: bytes, fields: dict[bytes, bytes]) -> None:
            try:
                await handler(json.loads(fields[b"u"]))
            except Exception:
                log.exception("update handling failed")
            finally:
                # Acknowledged even when the handler failed: a poisoned update must not loop forever;
                # the failure is logged with its traceback.
                await self._redis.xack(self._stream, GROUP, entry_id)
                sem.release()

        async def start(entries: list[Any]) -> None:
            for entry_id, fields in entries:
                if not fields:
                    continue
                await sem.acquire()
                task = asyncio.create_task(run(entry_id, fields))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        last_claim = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if loop.time() - last_claim > self._claim_idle_ms / 2000:
                last_claim = loop.time()
                # Take over updates that another (dead) instance had read but never acknowledged.
                claimed = await self._redis.xautoclaim(
                    self._stream, GROUP, self._consumer, self._claim_idle_ms, "0-0", count=100
                )
                await start(list(claimed[1]))  # (next id, entries, deleted ids)
            free = max(1, self._concurrency - len(tasks))
            batch = await self._redis.xreadgroup(GROUP, self._consumer, {self._stream: ">"}, count=free, block=500)
            # RESP2 (what build_inbox asks for): [(stream, [(id, fields), ...])]
            streams = cast("list[tuple[Any, list[Any]]]", batch or [])
            for _stream, entries in streams:
                await start(entries)
        if tasks:
            await asyncio.wait(tasks, timeout=8)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.aclose()


def build_inbox(redis_url: str) -> MemoryInbox | RedisInbox:
    return RedisInbox(redis_url) if redis_url else MemoryInbox()
