"""The assembly: build_bot / build_storage / run() by polling and by webhook (through the emulator)."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from aiogram.fsm.storage.memory import MemoryStorage

from bot.app import build_bot, build_storage, run
from tests.conftest import make_settings
from tests.customer.conftest import USER_A, FakeKnowledge
from tests.customer.test_e2e_emulator import _free_port, emulator  # noqa: F401 - fixture


def test_build_bot_needs_a_token_and_uses_the_api_base(tmp_path):
    assert build_bot(make_settings(tmp_path)) is None
    bot = build_bot(make_settings(tmp_path, bot_token="123:ABC", telegram_api_base="http://127.0.0.1:9"))
    assert bot.session.api.base.startswith("http://127.0.0.1:9") and bot.default.parse_mode == "HTML"


def test_storage_by_settings(tmp_path):
    assert isinstance(build_storage(make_settings(tmp_path)), MemoryStorage)
    from aiogram.fsm.storage.redis import RedisStorage

    assert isinstance(build_storage(make_settings(tmp_path, redis_url="redis://127.0.0.1:6379/0")), RedisStorage)


async def test_run_without_token_and_nothing_else_returns(settings, db):
    await asyncio.wait_for(run(settings, "bot", knowledge=FakeKnowledge()), 30)


async def test_run_rejects_unknown_role(settings):
    with pytest.raises(ValueError, match="unknown role"):
        await run(settings, "nonsense")


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_run_talks_to_the_bot_api(emulator, db, bank, tmp_path, mode):  # noqa: F811
    emu, base = emulator
    extra = {}
    if mode == "webhook":
        port = _free_port()
        extra = {"webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
                 "webhook_secret": "s3cret-token-for-the-webhook-tests", "web_port": port}
    settings = make_settings(tmp_path, bot_token="123456:TESTTOKEN", telegram_api_base=base, **extra)
    await asyncio.to_thread(emu.add_users, [{"id": USER_A, "first_name": "张伟", "language_code": "zh-hans"}])
    started = asyncio.Event()
    info = {}

    async def ready(parts):
        info.update(parts)
        started.set()

    task = asyncio.create_task(run(settings, "bot", knowledge=FakeKnowledge(), ready=ready))
    try:
        await asyncio.wait_for(started.wait(), 60)
        assert any(p.startswith("bot (" + mode) for p in info["running"]), info["running"]
        if mode == "webhook":  # a caller without the secret token is turned away
            import aiohttp

            async with aiohttp.ClientSession() as http:
                resp = await http.post(extra["webhook_url"], json={"update_id": 1})
                assert resp.status == 403
        await asyncio.to_thread(emu.say, USER_A, f"/start {bank['invite_a']}")
        welcome = await asyncio.to_thread(emu.wait_reply, USER_A, 20)
        assert welcome is not None and "王敏" in welcome["text"]
        await asyncio.to_thread(emu.say, USER_A, "我的定期什么时候到期?")
        for _ in range(3):
            msg = await asyncio.to_thread(emu.wait_reply, USER_A, 20)
            if msg and "2026年12月3日" in msg["text"]:
                break
        else:
            pytest.fail("no personal answer")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_starts_the_scheduler_when_present(settings, db):
    pytest.importorskip("scheduler.jobs")
    started = asyncio.Event()
    info = {}

    async def ready(parts):
        info.update(parts)
        started.set()

    task = asyncio.create_task(run(settings, "scheduler", ready=ready))
    try:
        await asyncio.wait_for(started.wait(), 60)
        assert info["running"] == ["scheduler"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_all_starts_every_available_part(emulator, db, bank, tmp_path):  # noqa: F811
    emu, base = emulator
    settings = make_settings(tmp_path, bot_token="123456:TESTTOKEN", telegram_api_base=base,
                             web_port=_free_port())
    await asyncio.to_thread(emu.add_users, [{"id": USER_A, "first_name": "张伟", "language_code": "zh-hans"}])
    started = asyncio.Event()
    info = {}

    async def ready(parts):
        info.update(parts)
        started.set()

    task = asyncio.create_task(run(settings, "all", knowledge=FakeKnowledge(), ready=ready))
    try:
        await asyncio.wait_for(started.wait(), 60)
        running = " ".join(info["running"])
        assert "bot (polling" in running
        for module, part in (("scheduler.jobs", "scheduler"), ("scheduler.sender", "sender")):
            if importlib.util.find_spec(module) is not None:
                assert part in running
        await asyncio.to_thread(emu.say, USER_A, "/start")
        hello = await asyncio.to_thread(emu.wait_reply, USER_A, 20)
        assert hello is not None and "您好" in hello["text"]
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_no_filter_or_handler_of_the_dispatcher_runs_in_a_thread(settings, db):
    """aiogram sends every sync filter (magic `F...` included) and sync handler through
    asyncio.to_thread; the project's filters are async (`handlers.filters.Magic`) so an update
    makes no thread hops on its way to its handler."""
    from bot.app import build_dispatcher

    dp = build_dispatcher(settings, db.sessions, FakeKnowledge(), storage=MemoryStorage())
    in_thread = []

    def walk(router):
        for name, observer in router.observers.items():
            for flt in observer._handler.filters or []:  # the router's own filters
                if not flt.awaitable:
                    in_thread.append(f"{router.name}.{name} filter {flt.callback!r}")
            for handler in observer.handlers:
                if not handler.awaitable:
                    in_thread.append(f"{router.name}.{name} handler {handler.callback!r}")
                in_thread.extend(f"{router.name}.{name} {handler.callback.__name__} filter {flt.callback!r}"
                                 for flt in handler.filters or [] if not flt.awaitable)
        for sub in router.sub_routers:
            walk(sub)

    walk(dp)
    assert in_thread == []


@pytest.mark.parametrize("settle", [False, True])
async def test_run_settles_the_loaded_heap_only_when_asked(settings, db, settle):
    """`rmbot run` (settle=True) puts what it loaded out of the collector's reach before serving, so no full
    collection walks the libraries and the index under traffic; in-process callers (tests) keep their heap."""
    import gc

    gc.unfreeze()
    frozen = {}

    async def ready(parts):
        frozen["count"] = gc.get_freeze_count()

    task = asyncio.create_task(run(settings, "scheduler", ready=ready, settle=settle))
    try:
        for _ in range(600):
            if frozen:
                break
            await asyncio.sleep(0.1)
        assert (frozen["count"] > 0) is settle
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gc.unfreeze()
