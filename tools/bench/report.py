"""Benchmark data for reports: a year of synthetic history for one manager's book, then the time
to compute that manager's full report (what the dashboard and `rmbot report` show)."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.db.models import ChatMessage, Client, Conversation, Draft, Manager, OutboxItem, Ticket
from bot.services.reports import Period, manager_report
from bot.settings import Settings
from bot.workspace import open_database

CHUNK = 20_000


async def build_history(settings: Settings, *, outbox_rows: int, clients: int, days: int, end: date,
                        progress: Any = None) -> dict[str, int]:
    rng = random.Random(42)
    tz = settings.tz
    async with open_database(settings) as db, db.sessions() as session:
        m = Manager(code="BENCH", name="基准经理")
        other = Manager(code="OTHER", name="其他经理")
        session.add_all([m, other])
        await session.flush()
        await session.execute(insert(Client), [
            {"client_no": f"B{i:07d}", "name": "x", "manager_id": m.id if i % 10 else other.id,
             "risk_rating": "C3", "marketing_consent": True} for i in range(clients)
        ])
        await session.flush()
        await session.execute(insert(Conversation), [{"chat_id": 10_000 + i, "client_id": i + 1}
                                                      for i in range(clients)])
        from bot.db.models import Campaign

        camp_ids = []
        for d in range(days):
            day = end - timedelta(days=days - 1 - d)
            c = Campaign(manager_id=m.id, plan_date=day, kind="reminder", occasion="bench",
                         first_opened_at=datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)
                         + timedelta(hours=9),
                         last_decided_at=datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)
                         + timedelta(hours=9, minutes=20))
            session.add(c)
            await session.flush()
            camp_ids.append((c.id, day))
        await session.commit()

        start_day = end - timedelta(days=days - 1)
        written = 0
        per_day = outbox_rows // days
        statuses = ["sent"] * 90 + ["failed"] * 3 + ["cancelled"] * 7
        while written < outbox_rows:
            drafts, items, msgs, tickets = [], [], [], []
            for _ in range(min(CHUNK, outbox_rows - written)):
                day_index = min(written // max(per_day, 1), days - 1)
                camp_id, day = camp_ids[day_index]
                client_id = rng.randrange(1, clients + 1)
                created = datetime.combine(day, datetime.min.time(), tz).astimezone(UTC) + timedelta(hours=8)
                status = rng.choice(statuses)
                sent_at = created + timedelta(minutes=rng.randint(60, 600)) if status == "sent" else None
                drafts.append({"id": written + 1, "campaign_id": camp_id, "client_id": client_id, "manager_id": m.id,
                               "plan_date": day, "kind": "reminder", "occasion": "bench",
                               "dedupe_key": f"b{written}", "language": "zh", "text": "t",
                               "scheduled_at": created, "status": status if status != "cancelled" else "cancelled",
                               "edited": rng.random() < 0.02})
                items.append({"idempotency_key": f"draft:{written + 1}", "draft_id": written + 1,
                              "client_id": client_id, "manager_id": m.id, "chat_id": 10_000 + client_id,
                              "kind": "reminder", "text": "t", "status": status, "created_at": created,
                              "next_attempt_at": created, "sent_at": sent_at,
                              "last_error": None if status == "sent" else rng.choice(["blocked", "quiet_hours"])})
                if sent_at is not None and rng.random() < 0.08:
                    msgs.append({"conversation_id": client_id, "client_id": client_id, "direction": "in",
                                 "author": "customer", "text": "q", "created_at": sent_at + timedelta(hours=3)})
                    msgs.append({"conversation_id": client_id, "client_id": client_id, "direction": "out",
                                 "author": "bot", "text": "a", "outcome": rng.choice(["grounded", "declined"]),
                                 "created_at": sent_at + timedelta(hours=3, seconds=1)})
                    if rng.random() < 0.05:
                        tickets.append({"conversation_id": client_id, "client_id": client_id, "manager_id": m.id,
                                        "chat_id": 10_000 + client_id, "reason": "request", "summary": "s",
                                        "created_at": sent_at + timedelta(hours=3),
                                        "first_reply_at": sent_at + timedelta(hours=4)})
                written += 1
            await session.execute(insert(Draft), drafts)
            await session.execute(insert(OutboxItem), items)
            if msgs:
                await session.execute(insert(ChatMessage), msgs)
            if tickets:
                await session.execute(insert(Ticket), tickets)
            await session.commit()
            if progress is not None:
                progress(len(items))
        return {"manager_id": m.id, "start": start_day.toordinal(), "outbox": written}


async def time_report(settings: Settings, manager_id: int, start: date, end: date, runs: int = 3) -> list[float]:
    timings = []
    async with open_database(settings) as db:
        for _ in range(runs):
            async with db.sessions() as session:
                t0 = time.perf_counter()
                await manager_report(session, manager_id, Period(start, end, settings.tz))
                timings.append(time.perf_counter() - t0)
    return timings
