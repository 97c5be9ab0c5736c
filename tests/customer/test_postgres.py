"""The main customer flow on PostgreSQL (skipped when no server is reachable)."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import build_dispatcher
from bot.db.models import AuditLog, Client, Ticket
from handlers.middlewares import ThrottlingMiddleware
from tests.customer.conftest import MANAGER_A_TG, USER_A, USER_B, Chat, FakeKnowledge, seed_bank
from tools.fakes.bot_api import message_update


async def test_flow_on_postgres(settings, pg_db, fake_bot, fake_session):
    bank = await seed_bank(pg_db)
    dp = build_dispatcher(settings, pg_db.sessions, FakeKnowledge(), throttling=ThrottlingMiddleware(limit=1000))
    chat = Chat(dp, fake_bot, fake_session)
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}"))
    await chat.feed(message_update(USER_B, f"/start {bank['invite_b']}", language_code="en"))
    texts = await chat.texts(message_update(USER_A, "我的定期什么时候到期?"), chat_id=USER_A)
    assert "2026年12月3日" in texts[0] and "2027年3月9日" not in texts[0]
    await chat.feed_and_deliver(message_update(USER_A, "转人工"))
    async with pg_db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    texts = await chat.texts(message_update(MANAGER_A_TG, "您好", reply_to_message_id=ticket.notify_message_id),
                             chat_id=USER_A)
    assert "王敏" in texts[0]
    await chat.feed(message_update(USER_A, "TD"))
    async with pg_db.sessions() as s:
        assert (await s.get(Client, bank["a"])).opted_out is True
        actions = set((await s.scalars(select(AuditLog.action))).all())
    assert {"bind", "handoff", "ticket_reply", "opt_out"} <= actions


async def test_concurrent_updates_on_postgres(settings, pg_db, fake_bot, fake_session):
    import asyncio

    from sqlalchemy import func

    from bot.db.models import ChatMessage, Conversation

    await seed_bank(pg_db)
    dp = build_dispatcher(settings, pg_db.sessions, FakeKnowledge(), throttling=ThrottlingMiddleware(limit=1000))
    users = list(range(30_000, 30_015))
    updates = [message_update(u, text) for u in users for text in ("180天定期利率是多少?", "下个月要还多少?")]
    await asyncio.gather(*(dp.feed_update(fake_bot, u) for u in updates))
    async with pg_db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Conversation)) == len(users)
        assert await s.scalar(select(func.count()).select_from(ChatMessage)) == 2 * len(updates)


async def test_concurrent_handoffs_open_one_ticket(settings, pg_db, fake_bot, fake_session):
    import asyncio

    bank = await seed_bank(pg_db)
    dp = build_dispatcher(settings, pg_db.sessions, FakeKnowledge(), throttling=ThrottlingMiddleware(limit=1000))
    await dp.feed_update(fake_bot, message_update(USER_A, f"/start {bank['invite_a']}"))
    await dp.feed_update(fake_bot, message_update(USER_A, "180天定期利率是多少?"))
    await asyncio.gather(*(dp.feed_update(fake_bot, message_update(USER_A, text))
                           for text in ("转人工", "人工客服", "/human", "我要投诉") * 4))
    async with pg_db.sessions() as s:
        assert len((await s.scalars(select(Ticket))).all()) == 1
    assert not [t for t in fake_session.sent_texts(USER_A) if "出了点问题" in t]  # no deadlock, no failed update
