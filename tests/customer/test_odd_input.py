"""Throttling, odd input (stickers, photos, voice, files, edits, long text), admin document upload."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import build_dispatcher
from bot.db.models import AuditLog, ChatMessage
from handlers.middlewares import ThrottlingMiddleware
from tests.customer.conftest import ADMIN_TG, STRANGER, USER_A, Chat
from tools.fakes.bot_api import (
    document_update,
    edited_message_update,
    message_update,
    photo_update,
    sticker_update,
    voice_update,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("lang", "expect"), [("zh", "太快"), ("en", "very quickly")])
async def test_throttling_answers_once_then_drops(settings, db, knowledge, fake_bot, fake_session, lang, expect):
    clock = Clock()
    dp = build_dispatcher(settings, db.sessions, knowledge,
                          throttling=ThrottlingMiddleware(limit=3, window=10.0, clock=clock))
    chat = Chat(dp, fake_bot, fake_session)
    answered = []
    for i in range(6):
        answered.append(await chat.texts(message_update(STRANGER, f"180天定期 {i}", language_code=lang)))
    assert all(len(a) == 1 for a in answered[:3])
    assert len(answered[3]) == 1 and expect in answered[3][0]
    assert answered[4] == [] and answered[5] == []
    async with db.sessions() as s:  # dropped messages did not reach the conversation service
        assert len((await s.scalars(select(ChatMessage).where(ChatMessage.author == "customer"))).all()) == 3
    clock.now += 11  # the window passed: answered again
    assert len(await chat.texts(message_update(STRANGER, "180天定期 again", language_code=lang))) == 1
    # another user is not affected by this one's flood
    assert len(await chat.texts(message_update(USER_A, "/help", language_code=lang))) == 1


@pytest.mark.parametrize(("lang", "update", "expect"), [
    ("zh", lambda lang: sticker_update(STRANGER, language_code=lang), "文字"),
    ("en", lambda lang: sticker_update(STRANGER, language_code=lang), "type your question"),
    ("zh", lambda lang: photo_update(STRANGER, language_code=lang), "图片"),
    ("en", lambda lang: photo_update(STRANGER, language_code=lang), "pictures"),
    ("zh", lambda lang: voice_update(STRANGER, language_code=lang), "语音"),
    ("en", lambda lang: voice_update(STRANGER, language_code=lang), "voice"),
    ("zh", lambda lang: document_update(STRANGER, language_code=lang), "无法接收文件"),
    ("en", lambda lang: document_update(STRANGER, language_code=lang), "cannot accept files"),
    ("zh", lambda lang: edited_message_update(STRANGER, "改了", message_id=5, language_code=lang), "编辑"),
    ("en", lambda lang: edited_message_update(STRANGER, "edit", message_id=5, language_code=lang), "edits"),
    ("zh", lambda lang: message_update(STRANGER, "长" * 3000, language_code=lang), "太长"),
    ("en", lambda lang: message_update(STRANGER, "long " * 700, language_code=lang), "too long"),
])
async def test_odd_input_gets_a_short_polite_answer(chat, bank, knowledge, lang, update, expect):
    texts = await chat.texts(update(lang))
    assert len(texts) == 1 and expect in texts[0] and len(texts[0]) < 300
    assert knowledge.calls == [] and knowledge.ingested == []


async def test_admin_document_is_loaded(chat, db, knowledge):
    update = document_update(ADMIN_TG, file_name="credit_card_faq.md", mime_type="text/markdown", file_size=30,
                             language_code="en")
    chat.session.add_file(update.message.document.file_id, b"# Card FAQ\nAnnual fee waived after 6 uses.")
    texts = await chat.texts(update)
    assert texts == ["Loaded credit_card_faq.md: 3 passages are now searchable."]
    assert knowledge.ingested == [("credit_card_faq.md", f"admin:{ADMIN_TG}",
                                   b"# Card FAQ\nAnnual fee waived after 6 uses.")]
    async with db.sessions() as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "kb_ingest"))
        assert row.details["status"] == "loaded"


@pytest.mark.parametrize(("kwargs", "content", "expect"), [
    ({"file_name": "big.pdf", "file_size": 50 * 1024 * 1024}, b"x", "larger than"),
    ({"file_name": "virus.exe", "file_size": 10}, b"MZ", "unsupported file type"),
    ({"file_name": "empty.txt", "file_size": 1}, b" ", "no text to index"),
])
async def test_admin_document_failures_have_a_reason(chat, knowledge, kwargs, content, expect):
    update = document_update(ADMIN_TG, language_code="en", **kwargs)
    chat.session.add_file(update.message.document.file_id, content)
    texts = await chat.texts(update)
    assert len(texts) == 1 and texts[0].startswith("Failed to load") and expect in texts[0]


async def test_admin_document_in_chinese(chat, knowledge):
    update = document_update(ADMIN_TG, file_name="挂失.txt", file_size=20, language_code="zh")
    chat.session.add_file(update.message.document.file_id, "挂失热线 95599".encode())
    assert await chat.texts(update) == ["已加载 挂失.txt：3 个段落现在可以检索。"]


async def test_redis_throttling_is_shared_between_instances(settings, db, knowledge, fake_bot, fake_session):
    import uuid

    from redis.asyncio import Redis

    from handlers.middlewares import RedisThrottlingMiddleware

    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await redis.ping()
    except Exception:  # noqa: BLE001
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    clock = Clock()
    prefix = f"rmbot:test:{uuid.uuid4().hex}"
    instances = [build_dispatcher(settings, db.sessions, knowledge, throttling=RedisThrottlingMiddleware(
        redis, limit=2, window=10.0, clock=clock, prefix=prefix)) for _ in range(2)]
    answered = []
    for i in range(4):  # alternate between two bot instances
        chat = Chat(instances[i % 2], fake_bot, fake_session)
        answered.append(await chat.texts(message_update(STRANGER, f"180天定期 {i}", language_code="en")))
    assert [len(a) for a in answered] == [1, 1, 1, 0]
    assert "very quickly" in answered[2][0]
    clock.now += 10
    chat = Chat(instances[0], fake_bot, fake_session)
    assert "1.45%" in (await chat.texts(message_update(STRANGER, "180天定期 again", language_code="en")))[0]
    await redis.aclose()


@pytest.mark.parametrize(("lang", "expect"), [("zh", "不认识这个命令"), ("en", "do not know that command")])
async def test_unknown_command(chat, knowledge, lang, expect):
    texts = await chat.texts(message_update(STRANGER, "/frobnicate", language_code=lang))
    assert len(texts) == 1 and expect in texts[0] and knowledge.calls == []
