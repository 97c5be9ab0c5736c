"""Many customers at once: concurrent updates (as polling handles them) all get answered and recorded."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.db.models import ChatMessage, Conversation
from tools.fakes.bot_api import message_update


async def test_concurrent_customers_on_sqlite(chat, db, bank):
    users = list(range(20_000, 20_040))
    updates = [message_update(u, "180天定期利率是多少?") for u in users]
    updates += [message_update(u, "下个月要还多少?") for u in users]
    await asyncio.gather(*(chat.dp.feed_update(chat.bot, u) for u in updates))
    async with db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Conversation)) == len(users)
        assert await s.scalar(select(func.count()).select_from(ChatMessage)) == 2 * len(updates)
    assert len(chat.session.sent_messages()) == len(updates)
