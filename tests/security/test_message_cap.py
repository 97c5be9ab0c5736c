"""Low: a 100,000-character message (Telegram caps at 4,096; a forged update need not) is stored
and handled at most at the cap."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import ChatMessage
from tests.customer.conftest import FakeKnowledge
from tests.kit.fake_bot import make_bot, message_update


async def test_huge_message_is_stored_at_most_at_telegrams_cap(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    dp = build_dispatcher(settings, db.sessions, FakeKnowledge())
    await dp.feed_update(make_bot(fake_session), message_update(4343, "存款" * 50_000))
    async with db.sessions() as session:
        longest = await session.scalar(select(func.max(func.length(ChatMessage.text))))
        stored = await session.scalar(select(func.count()).select_from(ChatMessage))
    assert stored and longest is not None and longest <= 4096
