"""`rmbot demo --simulate-days N`: replay the last N days on the demo workspace, so that the
dashboard and `rmbot report` have a week of real records to show.

Each simulated day runs the real services at that day's times: they work on the workspace opened with a
`SimulatedClock` (`db.with_clock`, bot/clock.py) that the simulation moves from moment to moment: 07:00 planning;
09:00-09:2x the managers review their campaigns (open, edit one draft, reject the flagged, approve the rest);
10:00 the sender delivers through an in-process Bot API (a few customers have blocked the bot
or deleted their chat, and Telegram answers so); during the day bound customers reply, ask
questions, ask for a person or opt out; in the afternoon managers answer the handed-off chats.
Everything is deterministic (seeded), and every figure comes from the records the services wrote.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.methods import TelegramMethod
from sqlalchemy import select

from bot.db.models import Campaign, Client, DraftStatus, Manager, OutboxItem, OutboxStatus, Ticket
from bot.services import invites, review, tickets
from bot.services.conversations import Conversations
from bot.settings import Settings
from bot.workspace import Database
from tools.localchat import LOCAL_TOKEN, RecordingSession

SEED = 20261122
BOUND_SHARE = 0.35  # clients who opened the manager's invite in Telegram (when the demo bound none)
BLOCKED_SHARE = 0.01  # of those, blocked the bot since
CHAT_BASE = 5_000_000_000  # as tools.demo.CHAT_BASE
QUESTIONS = ["信用卡年费怎么免？", "大额存单起存金额是多少？", "我的定期什么时候到期？", "三年期定期利率是多少？",
             "How much can I put into the personal pension account each year?", "客服电话是多少？",
             "你们有比特币理财吗？"]
REPLIES = ["谢谢！", "收到，谢谢王经理", "好的", "Thanks!", "谢谢提醒"]


class SimulatedTelegram(RecordingSession):
    """The in-process Bot API, answering like Telegram: 403 for chats that blocked the bot."""

    def __init__(self, blocked: set[int]) -> None:
        super().__init__()
        self.blocked = blocked

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        chat_id = getattr(method, "chat_id", None)
        if method.__api_method__ == "sendMessage" and chat_id in self.blocked:
            content = json.dumps({"ok": False, "error_code": 403,
                                  "description": "Forbidden: bot was blocked by the user"})
            self.check_response(bot, method, 403, content)
        return await super().make_request(bot, method, timeout)


class SimulatedClock:
    """The simulation's clock: the moment the simulation has reached (it moves it with `set`)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


def _at(day: date, hh: int, mm: int, tz: Any) -> datetime:
    return datetime.combine(day, time(hh, mm), tz).astimezone(UTC)


async def _bind_clients(settings: Settings, db: Database, rng: random.Random) -> list[int]:
    """A share of each manager's clients opens their invite (real invites, redeemed)."""
    async with db.sessions() as session:
        rows = (await session.execute(select(Client.id, Client.client_no, Client.telegram_chat_id))).all()
    unbound = [r for r in rows if r.telegram_chat_id is None]
    already = [r.telegram_chat_id for r in rows if r.telegram_chat_id is not None]
    if already:
        return already
    chosen = [r for r in unbound if rng.random() < BOUND_SHARE]
    chats = []
    async with db.sessions() as session:
        for r in chosen:
            invite = await invites.create_invite(session, r.client_no, bot_username="rm_assistant_bot")
            await invites.redeem_invite(session, invite.token, CHAT_BASE + r.id)
            chats.append(CHAT_BASE + r.id)
        await session.commit()
    return chats


async def _review_day(db: Database, clock: SimulatedClock, day: date, tz: Any, rng: random.Random) -> dict[str, int]:
    counts = {"approved": 0, "edited": 0, "rejected": 0}
    async with db.sessions() as session:
        managers = (await session.scalars(select(Manager).order_by(Manager.id))).all()
        for m_index, manager in enumerate(managers):
            me = review.Reviewer(manager.id)
            start = _at(day, 9, 5 * m_index, tz)
            camps = await review.list_campaigns(session, me, day, only_waiting=True)
            for c_index, camp in enumerate(camps):
                clock.set(start + timedelta(minutes=2 * c_index))
                await review.open_campaign(session, me, camp["id"])
                page = await review.list_drafts(session, me, camp["id"], status=DraftStatus.PENDING, limit=20)
                items = page["items"]
                if items and rng.random() < 0.5:
                    first = items[-1]
                    if not first["flags"]:
                        await review.edit_draft(session, me, first["id"], first["text"].replace("。", "！", 1))
                        counts["edited"] += 1
                clock.set(start + timedelta(minutes=2 * c_index + 1))
                for d in items:
                    if d["flags"]:
                        await review.reject_one(session, me, d["id"], "needs a rewrite / 需改写")
                        counts["rejected"] += 1
                counts["approved"] += await review.approve_all(session, me, camp["id"])
            await session.commit()
    return counts


async def _send_day(settings: Settings, db: Database, clock: SimulatedClock, day: date, tz: Any,
                    blocked: set[int]) -> None:
    from scheduler.ratelimit import LocalLimiter
    from scheduler.sender import Sender

    bot = Bot(LOCAL_TOKEN, session=SimulatedTelegram(blocked), default=DefaultBotProperties(parse_mode="HTML"))
    fast = settings.model_copy(update={"chat_interval_s": 0.0})
    sender = Sender(fast, db.sessions, bot, LocalLimiter(10_000), batch=200, idle_s=0.01)
    for hour in (10, 13, 16, 19):  # the day's sending windows (drafts wait for their scheduled time)
        clock.set(_at(day, hour, 0, tz))
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        while True:
            await asyncio.sleep(0.05)
            async with db.sessions() as session:
                due = await session.scalar(select(OutboxItem.id).where(
                    OutboxItem.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                    OutboxItem.next_attempt_at <= clock()).limit(1))
            if due is None:
                break
        stop.set()
        await task


async def _customers_day(settings: Settings, db: Database, clock: SimulatedClock, day: date, tz: Any,
                         rng: random.Random, conversations: Conversations) -> dict[str, int]:
    counts = {"replies": 0, "questions": 0, "opt_outs": 0, "handoffs": 0, "manager_replies": 0}
    start, end = _at(day, 0, 0, tz), _at(day + timedelta(days=1), 0, 0, tz)
    async with db.sessions() as session:
        received = (await session.execute(
            select(Client.id, Client.telegram_chat_id).join(OutboxItem, OutboxItem.client_id == Client.id)
            .where(OutboxItem.status == OutboxStatus.SENT, OutboxItem.sent_at >= start, OutboxItem.sent_at < end)
        )).all()
        bound = (await session.execute(select(Client.id, Client.telegram_chat_id).where(
            Client.telegram_chat_id.is_not(None), Client.blocked.is_(False)))).all()
    actions: list[tuple[int, int, str, str]] = []
    for client_id, chat_id in received:
        if chat_id is None:  # unbound since
            continue
        roll = rng.random()
        if roll < 0.12:
            actions.append((client_id, chat_id, "replies", rng.choice(REPLIES)))
        elif roll < 0.13:
            actions.append((client_id, chat_id, "opt_outs", "退订"))
    for client_id, chat_id in rng.sample(bound, min(len(bound), 40)):
        if chat_id is None:
            continue
        roll = rng.random()
        text = "转人工" if roll < 0.1 else rng.choice(QUESTIONS)
        actions.append((client_id, chat_id, "handoffs" if roll < 0.1 else "questions", text))
    rng.shuffle(actions)
    for i, (client_id, chat_id, kind, text) in enumerate(actions):
        clock.set(_at(day, 10, 30, tz) + timedelta(seconds=int(9 * 3600 * i / max(len(actions), 1))))
        async with db.sessions() as session:
            client = await session.get(Client, client_id)
            turn = await conversations.handle_text(session, chat_id=chat_id, client=client,
                                                   lang=client.language if client else "zh", text=text)
            if kind == "questions" and turn.answer_id and rng.random() < 0.2:
                await conversations.feedback(session, chat_id=chat_id, message_id=turn.answer_id,
                                             value=rng.choice([1, 1, 1, -1]))
            await session.commit()
        counts[kind] += 1
    # Managers answer most handed-off chats in the afternoon.
    async with db.sessions() as session:
        waiting = (await session.scalars(select(Ticket).where(
            Ticket.first_reply_at.is_(None), Ticket.created_at >= start, Ticket.created_at < end))).all()
        for n, ticket in enumerate(waiting):
            if ticket.manager_id is None or rng.random() < 0.2:
                continue
            manager = await session.get(Manager, ticket.manager_id)
            if manager is None:
                continue
            clock.set(max(ticket.created_at + timedelta(minutes=5 + 7 * n), _at(day, 15, 0, tz)))
            await tickets.reply(session, ticket.id, manager, "您好，我是您的客户经理，我来为您处理。")
            counts["manager_replies"] += 1
        await session.commit()
    return counts


async def simulate_days(settings: Settings, db: Database, days: int, *, knowledge: Any = None,
                        today: date | None = None) -> dict[str, Any]:
    """Simulate the `days` days ending today (bank time). Returns what was done, per day."""
    from bot.app import build_knowledge
    from scheduler.planner import plan_day

    tz = settings.tz
    today = today or datetime.now(tz).date()
    rng = random.Random(SEED)
    if knowledge is None:
        knowledge = await build_knowledge(settings, db.sessions)
    conversations = Conversations(knowledge)
    clock = SimulatedClock(_at(today - timedelta(days=days), 20, 0, tz))
    db = db.with_clock(clock)
    chats = await _bind_clients(settings, db, rng)
    blocked = {c for c in chats if rng.random() < BLOCKED_SHARE}
    per_day = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        clock.set(_at(day, 7, 0, tz))
        async with db.sessions() as session:
            planned = await plan_day(session, settings, day, collect=False)
            await session.commit()
        decisions = await _review_day(db, clock, day, tz, rng)
        await _send_day(settings, db, clock, day, tz, blocked)
        talk = await _customers_day(settings, db, clock, day, tz, rng, conversations)
        per_day.append({"date": day.isoformat(), "planned": planned.drafted, **decisions, **talk})
    async with db.sessions() as session:
        sent = await session.scalar(select(OutboxItem.id).where(OutboxItem.status == OutboxStatus.SENT).limit(1))
    return {"days": days, "bound_chats": len(chats), "per_day": per_day, "anything_sent": sent is not None,
            "campaigns": await _campaign_count(db)}


async def _campaign_count(db: Database) -> int:
    from sqlalchemy import func

    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Campaign)) or 0)

