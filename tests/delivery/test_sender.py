"""Delivery: the outbox and the sender against Telegram's answers (fake Bot API session)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditLog, Campaign, Client, Draft, Manager, OutboxItem
from bot.services import outbox
from scheduler.ratelimit import LocalLimiter
from scheduler.sender import Sender
from tools.fakes.bot_api import bad_request, forbidden, make_bot, retry_after, server_error


def _settings(settings):  # type: ignore[no-untyped-def]
    # No quiet hours and no spacing, so behaviour does not depend on the time of day the test runs.
    return settings.model_copy(update={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00",
                                       "chat_interval_s": 0.0})


async def _approved(db, n: int = 3, *, kind: str = "reminder", **client_kw) -> list[int]:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        m = Manager(code="M1", name="王敏")
        session.add(m)
        await session.flush()
        camp = Campaign(manager_id=m.id, plan_date=datetime.now(UTC).date(), kind=kind, occasion="t")
        session.add(camp)
        await session.flush()
        drafts = []
        for i in range(n):
            c = Client(client_no=f"C{i}", name="x", manager_id=m.id, telegram_chat_id=5000 + i,
                       marketing_consent=True, **client_kw)
            session.add(c)
            await session.flush()
            d = Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=camp.plan_date, kind=kind,
                      occasion="t", dedupe_key="k", language="zh", text=f"您好 {i}", status="approved",
                      scheduled_at=datetime.now(UTC) - timedelta(minutes=1))
            session.add(d)
            drafts.append(d)
        await session.flush()
        assert await outbox.enqueue_drafts(session, drafts, actor="manager:1") == n
        assert await outbox.enqueue_drafts(session, drafts, actor="manager:1") == 0  # idempotent
        await session.commit()
        return [d.id for d in drafts]


async def _drain(db, settings, bot, *, rounds: int = 1) -> Sender:  # type: ignore[no-untyped-def]
    """Run the sender until nothing is due and nothing is in flight (`rounds` times), whatever the machine's speed."""
    sender = Sender(_settings(settings), db.sessions, bot, LocalLimiter(1000), idle_s=0.05)
    for _ in range(rounds):
        await asyncio.wait_for(sender.run(asyncio.Event(), until_idle=True), 60)
    return sender


async def _states(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return dict((await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all())


async def test_sends_each_approved_message_once(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await _approved(db, 3)
    bot = make_bot(fake_session)
    await _drain(db, settings, bot, rounds=2)
    assert sorted(fake_session.sent_texts()) == ["您好 0", "您好 1", "您好 2"]
    assert await _states(db) == {"sent": 3}
    async with db.sessions() as session:
        assert {d.status for d in (await session.scalars(select(Draft).where(Draft.id.in_(ids)))).all()} == {"sent"}
        assert await session.scalar(select(func.count()).where(AuditLog.action == "send")) == 3


async def test_429_pauses_and_retries_without_losing(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    fake_session.script("sendMessage", retry_after(1))
    sender = await _drain(db, settings, make_bot(fake_session))
    assert sender.stats["429"] == 1
    assert await _states(db) == {"queued": 1}
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
        assert item.attempts == 0 and "429" in item.last_error
        item.next_attempt_at = datetime.now(UTC)
        await session.commit()
    await _drain(db, settings, make_bot(fake_session))
    assert await _states(db) == {"sent": 1}


@pytest.mark.parametrize("error", [server_error("Bad Gateway", 502), TimeoutError])
async def test_5xx_and_timeouts_retry_with_backoff(db, settings, fake_session, error, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(outbox, "backoff", lambda attempts: 60.0)  # the retry is due later, not during the test
    await _approved(db, 1)
    fake_session.script("sendMessage", error)
    sender = await _drain(db, settings, make_bot(fake_session))
    assert sender.stats["retries"] == 1
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
        assert item.status == "queued" and item.attempts == 1 and item.last_error
        assert item.next_attempt_at > datetime.now(UTC) + timedelta(seconds=30)


async def test_gives_up_after_max_attempts(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
        item.attempts = outbox.MAX_ATTEMPTS - 1
        await session.commit()
    fake_session.script("sendMessage", server_error())
    await _drain(db, settings, make_bot(fake_session))
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
        assert item.status == "failed" and "gave up" in item.last_error


async def test_403_marks_blocked_and_cancels_the_rest(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    async with db.sessions() as session:  # a second waiting message to the same client
        first = await session.scalar(select(OutboxItem))
        await outbox.enqueue_text(session, chat_id=first.chat_id, text="later", key="x", kind="reminder",
                                  client_id=first.client_id, manager_id=first.manager_id)
        first_id = first.id
        await session.commit()
    fake_session.script("sendMessage", forbidden())
    sender = Sender(_settings(settings), db.sessions, make_bot(fake_session), LocalLimiter(1000))
    async with db.sessions() as session:
        claimed = await outbox.claim(session, worker=sender.worker, limit=1)
        await session.commit()
    assert claimed[0].id == first_id
    await sender._deliver(claimed[0])
    async with db.sessions() as session:
        client = await session.scalar(select(Client))
        assert client.blocked
        blocked = (await session.scalars(select(AuditLog).where(AuditLog.action == "blocked"))).all()
        assert [(a.client_id, a.details) for a in blocked] == [(client.id, {"source": "send"})]  # through consent
        rows = {i.idempotency_key: (i.status, i.last_error) for i in (await session.scalars(select(OutboxItem))).all()}
    assert rows["x"] == ("cancelled", "blocked")
    assert rows[f"draft:{claimed[0].draft_id}"][0] == "failed"


async def test_400_chat_not_found_fails_with_reason(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    fake_session.script("sendMessage", bad_request("Bad Request: chat not found"))
    await _drain(db, settings, make_bot(fake_session))
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
        draft = await session.get(Draft, item.draft_id)
    assert item.status == "failed" and "chat not found" in item.last_error
    assert draft.status == "failed"


async def test_rules_recheck_cancels_opted_out_marketing(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 2, kind="greeting")
    async with db.sessions() as session:
        client = await session.scalar(select(Client).where(Client.client_no == "C0"))
        client.opted_out = True  # opted out after approval
        await session.commit()
    await _drain(db, settings, make_bot(fake_session))
    assert fake_session.sent_texts() == ["您好 1"]
    async with db.sessions() as session:
        rows = {i.client_id: (i.status, i.last_error) for i in (await session.scalars(select(OutboxItem))).all()}
    assert ("cancelled", "opted_out") in rows.values()


async def test_quiet_hours_postpone_instead_of_sending(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    always_night = settings.model_copy(update={"quiet_hours_start": "00:01", "quiet_hours_end": "00:00"})
    sender = Sender(always_night, db.sessions, make_bot(fake_session), LocalLimiter(1000), idle_s=0.05)
    await asyncio.wait_for(sender.run(asyncio.Event(), until_idle=True), 60)
    assert sender.stats["postponed"] == 1
    assert fake_session.sent_texts() == []
    async with db.sessions() as session:
        item = await session.scalar(select(OutboxItem))
    assert item.status == "queued" and item.last_error == "quiet_hours"
    assert item.next_attempt_at > datetime.now(UTC)


async def test_expired_lease_returns_to_queue(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 2)
    async with db.sessions() as session:  # a sender claims both and dies
        claimed = await outbox.claim(session, worker="dead", limit=10, lease_s=-1)
        await session.commit()
    assert len(claimed) == 2
    async with db.sessions() as session:
        assert await outbox.claim(session, worker="other", limit=10) == []
    await _drain(db, settings, make_bot(fake_session))
    assert sorted(fake_session.sent_texts()) == ["您好 0", "您好 1"]
    assert await _states(db) == {"sent": 2}


async def test_dead_worker_cannot_overwrite_after_recovery(db) -> None:  # type: ignore[no-untyped-def]
    await _approved(db, 1)
    async with db.sessions() as session:
        [item] = await outbox.claim(session, worker="dead", limit=1, lease_s=-1)
        await outbox.recover_expired(session)
        [again] = await outbox.claim(session, worker="live", limit=1)
        assert again.id == item.id
        assert not await outbox.mark_sent(session, item.id, 1, worker="dead")
        assert await outbox.mark_sent(session, item.id, 2, worker="live")
        await session.commit()


@pytest.mark.postgres
async def test_two_claimers_never_share_a_row(pg_db) -> None:  # type: ignore[no-untyped-def]
    await _approved(pg_db, 60)

    async def claimer(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with pg_db.sessions() as session:
                batch = await outbox.claim(session, worker=name, limit=7)
                await session.commit()
            if not batch:
                return got
            got += [c.id for c in batch]

    a, b = await asyncio.gather(claimer("a"), claimer("b"))
    assert len(a) + len(b) == 60
    assert not set(a) & set(b)


async def test_local_limiter_spacing() -> None:
    limiter = LocalLimiter(rate=1000, burst=1)
    for _ in range(5):
        await limiter.acquire()
    await limiter.note_reply()
    # the reply consumed capacity: the broadcast's next reservation starts later
    assert limiter._tat > 0


async def test_redis_limiter_is_shared_between_workers(redis_url: str) -> None:
    import uuid

    from scheduler.ratelimit import RedisLimiter

    key = f"test:send:{uuid.uuid4().hex}"
    a = RedisLimiter(redis_url, rate=1, burst=1, key=key)
    b = RedisLimiter(redis_url, rate=1, burst=1, key=key)
    try:
        assert await a._charge(wait=True) == 0  # first message
        assert await b._charge(wait=True) == 0  # within the burst tolerance
        assert await a._charge(wait=True) > 0.5  # the shared budget is spent: wait about a second
        await b.pause(5)
        assert await a._charge(wait=True) >= 3.5  # a 429 seen by one pauses the other (5 s less the tolerance)
    finally:
        await a._redis.delete(*a._keys)
        await a.close()
        await b.close()
