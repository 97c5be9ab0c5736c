"""The customer side over the real knowledge service (lexical index over a tiny corpus, no LLM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import build_dispatcher
from handlers.middlewares import ThrottlingMiddleware
from knowledge import build_knowledge_service
from tests.customer.conftest import USER_A, USER_B, Chat
from tools.fakes.bot_api import FakeSession, message_update

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture
async def real_chat(settings, db, tmp_path, fake_bot: Bot, fake_session: FakeSession) -> Chat:
    service = build_knowledge_service(chroma_path=tmp_path / "chroma", embedding="lexical", use_llm=False)
    report = await service.ingest([CORPUS])
    assert sorted(report.loaded) == ["deposits.md", "hotline.md"]
    dp = build_dispatcher(settings, db.sessions, service, throttling=ThrottlingMiddleware(limit=1000))
    return Chat(dp, fake_bot, fake_session)


async def test_answer_with_source_and_follow_up(real_chat, bank):
    texts = await real_chat.texts(message_update(USER_A, "180天定期存款利率是多少?"))
    assert "1.45%" in texts[0] and "资料来源" in texts[0] and "定期存款产品说明 — 180天定期存款" in texts[0]
    texts = await real_chat.texts(message_update(USER_A, "那90天的呢?"))
    assert "1.25%" in texts[0]


async def test_english_question(real_chat, bank):
    texts = await real_chat.texts(message_update(USER_B, "What is the rate of the 180-day time deposit?",
                                                 language_code="en"))
    assert "1.45%" in texts[0] and "Sources" in texts[0]


@pytest.mark.parametrize(("lang", "text"), [("en", "I lost my card"), ("zh", "我被骗了怎么办")])
async def test_emergency_number_comes_from_the_documents(real_chat, bank, lang, text):
    await real_chat.feed(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    texts = await real_chat.texts(message_update(USER_A, text, language_code=lang), chat_id=USER_A)
    assert "95599-8888" in texts[0] and "服务热线与挂失" in texts[0]
    assert "王敏" in texts[-1]


@pytest.mark.parametrize(("lang", "personal", "returns", "rule"), [
    ("en", "What do I hold?", "Which product earns the most?", "risk rating (C1–C5)"),
    ("zh", "我有哪些产品?", "哪个理财产品收益最高?", "风险承受能力评级"),
])
async def test_a_returns_question_after_a_personal_answer_gets_the_compliance_reply(real_chat, bank, lang, personal,
                                                                                     returns, rule):
    """Right after an answer from the customer's records, a follow-up leans personal ("那利率呢?"), but a
    question about returns has its own subject: it gets the compliance reply, not "no matching products"."""
    await real_chat.feed(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    first = await real_chat.texts(message_update(USER_A, personal, language_code=lang), chat_id=USER_A)
    assert "50,000.00" in first[0]  # the customer's own deposit: the next message follows a personal answer
    texts = await real_chat.texts(message_update(USER_A, returns, language_code=lang), chat_id=USER_A)
    assert rule in texts[0], texts
