"""Item 3: another process holding the SQLite write lock past the busy timeout ends nothing.

A second process takes the write lock (`BEGIN IMMEDIATE`) and holds it. Meanwhile the real sender
(with an approved message due) and the real dispatcher (with a customer's message arriving) run:
both wait with backoff instead of raising, `/readyz` says which parts wait, and once the lock is
released the message is sent and the customer's message is stored and answered.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import ChatMessage, OutboxItem
from bot.db.retry import PartsHealth
from bot.web import create_web_app
from bot.workspace import open_database
from scheduler.ratelimit import LocalLimiter
from scheduler.sender import Sender
from tests.conftest import make_settings
from tests.delivery.test_sender import _approved
from tests.security.conftest import client_for
from tools.fakes.bot_api import make_bot, message_update

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


async def _until(check: Callable[[], object]) -> None:
    deadline = time.monotonic() + 300  # only a stuck run takes this long, even on a loaded host
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_sqlite_lock_held_by_another_process(tmp_path, fake_session) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, sqlite_busy_timeout_s=0.2, quiet_hours_start="00:00",
                             quiet_hours_end="00:00", chat_interval_s=0.0)
    async with open_database(settings) as db:
        await _approved(db, 1)
        path = settings.database_url.split(":///", 1)[1]
        health = PartsHealth()
        bot = make_bot(fake_session)
        locker = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, path,
                                                      stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        stop = asyncio.Event()
        sender_task = feed = None
        try:
            assert locker.stdout is not None
            assert (await asyncio.wait_for(locker.stdout.readline(), 30)).strip() == b"locked"
            sender = Sender(settings, db.sessions, bot, LocalLimiter(1000), idle_s=0.05, health=health)
            sender_task = asyncio.create_task(sender.run(stop))
            dp = build_dispatcher(settings, db.sessions, None, health=health)
            feed = asyncio.create_task(dp.feed_update(bot, message_update(4242, "你好", language_code="zh")))
            await _until(lambda: {"sender", "updates"} <= set(health.snapshot()))
            assert not sender_task.done() and not feed.done()

            app = create_web_app(settings, db)
            app.state.health = health
            async with client_for(app) as client:
                r = await client.get("/readyz")
                assert r.status_code == 503
                checks = r.json()["checks"]
                assert "locked" in checks["sender"] and "locked" in checks["updates"]

                assert locker.stdin is not None
                locker.stdin.write(b"\n")
                await locker.stdin.drain()
                await asyncio.wait_for(locker.wait(), 10)

                await asyncio.wait_for(feed, 30)
                await _until(lambda: fake_session.sent_texts(5000) == ["您好 0"])
                await _until(lambda: not health.snapshot())
                assert (await client.get("/readyz")).status_code == 200
            async with db.sessions() as session:
                assert await session.scalar(select(func.count()).where(ChatMessage.text == "你好")) == 1
                assert await session.scalar(select(OutboxItem.status)) == "sent"
            assert fake_session.sent_texts(4242)  # the customer got an answer
            assert not sender_task.done()  # still running
        finally:
            stop.set()
            if locker.returncode is None:
                locker.kill()
                await locker.wait()
            if sender_task is not None:
                await asyncio.wait_for(sender_task, 10)
