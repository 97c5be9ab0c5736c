"""Staff notices in the outbox: the priority lane (urgent alerts, then notices, then replies and campaigns)
and a burst for one chat folded into one message, urgent first."""

from __future__ import annotations

import asyncio

from bot.db.models import Manager
from bot.services import notices, outbox
from scheduler.ratelimit import LocalLimiter
from scheduler.sender import Sender
from tools.fakes.bot_api import make_bot


async def test_alerts_are_claimed_before_notices_replies_and_campaigns(db):
    async with db.sessions() as session:
        for key, kind in (("r1", "reply"), ("g1", "greeting"), ("n1", "notice"), ("a1", "alert")):
            await outbox.enqueue_text(session, chat_id=42, text=key, key=key, kind=kind)
        await session.commit()
        order = []
        for _ in range(4):  # one at a time: what a busy sender takes first
            (claimed,) = await outbox.claim(session, worker="w", limit=1)
            order.append(claimed.kind)
    assert order == ["alert", "notice", "reply", "greeting"]


async def test_a_burst_for_one_chat_is_one_message_urgent_first(db, settings, fake_session):
    async with db.sessions() as session:
        session.add(Manager(code="M9", name="王敏", telegram_id=900, language="zh"))
        for i, kind in enumerate(["notice", "alert", "notice", "alert"]):
            await outbox.enqueue_text(session, chat_id=900, text=f"工单 #{i + 1}", key=f"ticket:{i + 1}:zh:open:900",
                                      kind=kind)
        await session.commit()
    sender = Sender(settings.model_copy(update={"chat_interval_s": 0.0}), db.sessions, make_bot(fake_session),
                    LocalLimiter(1000))
    await asyncio.wait_for(sender.run(asyncio.Event(), until_idle=True), 60)
    sent = [r for r in fake_session.requests if r.method_name == "sendMessage"]
    assert len(sent) == 1 and sent[0]["text"].startswith("4 条新通知（其中 2 条紧急）")
    text = sent[0]["text"]
    assert text.index("#2") < text.index("#4") < text.index("#1") < text.index("#3")  # urgent first
    assert sender.stats["sent"] == 4 and sender.stats["coalesced"] == 3
    assert notices.ticket_of("ticket:12:en:open:5") == 12 and notices.language_of("ticket:12:en:open:5") == "en"


async def test_chat_spacing_is_shared_by_senders_through_redis(redis_url):
    from scheduler.ratelimit import RedisLimiter

    one = RedisLimiter(redis_url, 30, key="rmbot:test-notices")
    two = RedisLimiter(redis_url, 30, key="rmbot:test-notices")
    try:
        for chat in (42, 43):
            await one._redis.delete(f"rmbot:test-notices:tat:chat:{chat}")
        await one.space_chat(42, 60.0)  # the chat's slot is taken for a minute
        waiting = asyncio.create_task(two.space_chat(42, 60.0))  # another sender must wait for it
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        assert not done
        waiting.cancel()
        await one.space_chat(43, 60.0)  # another chat is not held up
    finally:
        await one.close()
        await two.close()
