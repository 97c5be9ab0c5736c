"""The update inbox: every accepted update is handled once, also when an instance dies mid-way."""

from __future__ import annotations

import asyncio
import uuid

from bot.inbox import MemoryInbox, RedisInbox


async def test_memory_inbox_handles_each_update() -> None:
    inbox, seen, stop = MemoryInbox(concurrency=4), [], asyncio.Event()

    async def handler(update: dict) -> None:
        seen.append(update["update_id"])
        if len(seen) == 20:
            stop.set()

    for i in range(20):
        await inbox.put({"update_id": i})
    await asyncio.wait_for(inbox.consume(handler, stop), 10)
    assert sorted(seen) == list(range(20))


async def test_redis_inbox_survives_a_dead_consumer(redis_url: str) -> None:
    url = redis_url
    stream = f"test:updates:{uuid.uuid4().hex}"
    dead = RedisInbox(url, consumer="dead", stream=stream, claim_idle_ms=200)
    live = RedisInbox(url, consumer="live", stream=stream, claim_idle_ms=200)
    try:
        for i in range(10):
            await dead.put({"update_id": i})
        # "dead" reads 4 updates and dies before acknowledging them.
        await dead._ensure_group()
        taken = await dead._redis.xreadgroup("bots", "dead", {stream: ">"}, count=4)
        assert len(taken[0][1]) == 4

        seen: list[int] = []
        stop = asyncio.Event()

        async def handler(update: dict) -> None:
            seen.append(update["update_id"])
            if len(seen) >= 10:
                stop.set()

        await asyncio.wait_for(live.consume(handler, stop), 20)
        assert sorted(seen) == list(range(10))
        pending = await live._redis.xpending(stream, "bots")
        assert pending["pending"] == 0
    finally:
        await live._redis.delete(stream)
        await dead.close()
        await live.close()


async def test_redis_inbox_keeps_the_stream_bounded(redis_url: str) -> None:
    stream = f"test:updates:{uuid.uuid4().hex}"
    inbox = RedisInbox(redis_url, stream=stream, max_len=50)
    try:
        for i in range(1000):
            await inbox.put({"update_id": i})
        # approximate trimming works in whole stream nodes (100 entries by default)
        assert await inbox._redis.xlen(stream) <= 200
        newest = await inbox._redis.xrevrange(stream, count=1)
        assert b'"update_id": 999' in newest[0][1][b"u"]
    finally:
        await inbox._redis.delete(stream)
        await inbox.close()
