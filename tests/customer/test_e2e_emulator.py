"""End to end through ../shared/tg_emulator (skipped when absent): the bot polls the emulator
in-process; the emulator plays the customer and the manager."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_bot, build_dispatcher, notice_markup
from bot.db.models import Client, Ticket
from handlers.keyboards import ConsentCb
from knowledge import build_knowledge_service
from scheduler.ratelimit import LocalLimiter
from scheduler.sender import Sender
from tests.conftest import make_settings, shared_path
from tests.customer.conftest import ADMIN_TG, MANAGER_A_TG, USER_A

CORPUS = Path(__file__).parent / "corpus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def emulator():
    server = shared_path("tg_emulator", "server.py")
    spec = importlib.util.spec_from_file_location("tg_emulator_client", server.parent / "client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(server), "--port", str(port), "--bot-username", "rm_e2e_bot"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # only a stuck emulator takes this long, even on a loaded host
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the Bot API emulator did not start")
            time.sleep(0.1)
    try:
        yield module.EmulatorClient(f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def _until(predicate, within: float = 300.0):  # a bound for a stuck run, not a speed
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_conversation_end_to_end(emulator, db, bank, tmp_path):
    emu, base = emulator
    settings = make_settings(tmp_path, admin_ids=str(ADMIN_TG), bot_token="123456:TESTTOKEN",
                             telegram_api_base=base)
    await asyncio.to_thread(emu.add_users, [
        {"id": USER_A, "first_name": "张伟", "language_code": "zh-hans"},
        {"id": MANAGER_A_TG, "first_name": "王敏", "language_code": "zh-hans"},
    ])
    knowledge = build_knowledge_service(chroma_path=tmp_path / "chroma", embedding="lexical", use_llm=False)
    await knowledge.ingest([CORPUS])
    bot = build_bot(settings)
    dp = build_dispatcher(settings, db.sessions, knowledge)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    # notices to the manager go through the outbox: its sender runs beside the bot, as in `rmbot run`
    sender_bot = build_bot(settings, retry_429=False)
    sender_stop = asyncio.Event()
    sender = asyncio.create_task(Sender(settings, db.sessions, sender_bot, LocalLimiter(30), idle_s=0.05,
                                        notice_markup=notice_markup).run(sender_stop))

    async def say(chat_id, text, reply_to=None):
        return await asyncio.to_thread(emu.say, chat_id, text, reply_to)

    async def reply(chat_id, within=20.0):
        msg = await asyncio.to_thread(emu.wait_reply, chat_id, within)
        assert msg is not None, f"no reply in chat {chat_id}"
        return msg

    async def client_a():
        async with db.sessions() as s:
            return await s.get(Client, bank["a"])

    try:
        # /start <invite> binds; consent question with buttons; "yes" is recorded
        await say(USER_A, f"/start {bank['invite_a']}")
        welcome = await reply(USER_A)
        assert "王敏" in welcome["text"]
        question = await reply(USER_A)
        assert (await client_a()).telegram_chat_id == USER_A
        await asyncio.to_thread(emu.press, USER_A, question["message_id"], ConsentCb(yes=True).pack())

        async def consent_recorded():
            return (await client_a()).marketing_consent
        await _until(consent_recorded)

        # a product question answered with a source
        await say(USER_A, "180天定期存款利率是多少?")
        answer = await reply(USER_A)
        assert "1.45%" in answer["text"] and "定期存款产品说明" in answer["text"]

        # a personal question: this client's own maturity date
        await say(USER_A, "我的定期什么时候到期?")
        personal = await reply(USER_A)
        assert "2026年12月3日" in personal["text"] and "50,000.00" in personal["text"]

        # 转人工: the manager is notified; their Telegram reply reaches the customer
        await say(USER_A, "转人工")
        told = await reply(USER_A)
        assert "王敏" in told["text"]
        notice = await reply(MANAGER_A_TG)
        assert "张伟" in notice["text"] and "转人工" in notice["text"]

        async def notice_linked():  # the sender links its message to the ticket right after Telegram accepts it
            async with db.sessions() as s:
                return await s.scalar(select(Ticket.notify_message_id).where(Ticket.chat_id == USER_A))
        assert await _until(notice_linked) == notice["message_id"]
        await say(MANAGER_A_TG, "张先生您好,我是王敏,这就为您处理。", reply_to=notice["message_id"])
        relayed = await reply(USER_A)
        assert "王敏" in relayed["text"] and "这就为您处理" in relayed["text"]
        confirmation = await reply(MANAGER_A_TG)
        assert "已发送" in confirmation["text"]

        # 退订 opts out at once and is confirmed
        await say(USER_A, "退订")
        done = await reply(USER_A)
        assert "退订" in done["text"]
        client = await client_a()
        assert client.opted_out is True and client.marketing_consent is False
        stats = await asyncio.to_thread(emu.stats)
        assert stats["bad_requests"] == 0
    finally:
        sender_stop.set()
        await asyncio.wait_for(sender, 10)
        await sender_bot.session.close()
        await dp.stop_polling()
        await asyncio.wait_for(polling, 10)
        await bot.session.close()

    async with db.sessions() as s:
        assert (await s.scalar(select(Client.opted_out).where(Client.id == bank["a"]))) is True
