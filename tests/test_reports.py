"""Reports: every figure checked against counts taken straight from the records."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.db.models import (
    AuditLog,
    Campaign,
    ChatMessage,
    Client,
    Conversation,
    Draft,
    Manager,
    OutboxItem,
    Ticket,
)
from bot.services.reports import Period, bot_quality, manager_report, report_tables, to_csv, to_xlsx

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 16)
STATUSES = ["pending", "approved", "rejected", "queued", "sent", "failed", "cancelled"]
OUT_STATUS = ["sent", "sent", "sent", "failed", "cancelled", "queued"]
ERRORS = {"failed": ["chat not found", "blocked"], "cancelled": ["opted_out", "quiet_hours"]}


def at(day_offset: int, hour: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=TZ).astimezone(UTC) + timedelta(days=day_offset)


async def _seed(session, rng: random.Random) -> dict:  # type: ignore[no-untyped-def]
    m1, m2 = Manager(code="M1", name="王敏"), Manager(code="M2", name="李强")
    session.add_all([m1, m2])
    await session.flush()
    clients = []
    for i in range(40):
        c = Client(client_no=f"C{i:04d}", name=f"客户{i}", manager_id=(m1 if i < 30 else m2).id,
                   risk_rating="C3", marketing_consent=True)
        clients.append(c)
    session.add_all(clients)
    await session.flush()
    facts: dict = {"drafts": [], "outbox": [], "answers": [], "tickets": [], "inbound": [], "optouts": []}
    for mgr in (m1, m2):
        for d in range(7):
            camp = Campaign(manager_id=mgr.id, plan_date=DAY + timedelta(days=d), kind="reminder", occasion="x",
                            first_opened_at=at(d, 9), last_decided_at=at(d, 9) + timedelta(minutes=7 + d))
            session.add(camp)
            await session.flush()
            for c in [c for c in clients if c.manager_id == mgr.id]:
                if rng.random() < 0.5:
                    continue
                status = rng.choice(STATUSES)
                draft = Draft(campaign_id=camp.id, client_id=c.id, manager_id=mgr.id, plan_date=camp.plan_date,
                              kind=rng.choice(["greeting", "reminder", "recommendation"]), occasion="x",
                              dedupe_key=f"k{d}", language="zh", text="t", scheduled_at=at(d, 10),
                              status=status, edited=rng.random() < 0.2)
                session.add(draft)
                facts["drafts"].append((mgr.id, status, draft.edited))
                ostatus = rng.choice(OUT_STATUS)
                sent_at = at(d, 10) + timedelta(minutes=rng.randint(0, 50)) if ostatus == "sent" else None
                err = rng.choice(ERRORS[ostatus]) if ostatus in ERRORS else None
                session.add(OutboxItem(idempotency_key=f"{mgr.id}:{d}:{c.id}", client_id=c.id, manager_id=mgr.id,
                                       chat_id=c.id, kind="reminder", text="t", status=ostatus, created_at=at(d, 8),
                                       sent_at=sent_at, last_error=err))
                facts["outbox"].append((mgr.id, c.id, ostatus, sent_at, err))
    # conversations: customers write, the bot answers with outcomes; some reply after a message
    for c in clients:
        conv = Conversation(chat_id=1000 + c.id, client_id=c.id)
        session.add(conv)
        await session.flush()
        for _ in range(rng.randint(0, 3)):
            when = at(rng.randint(0, 6), rng.randint(8, 20))
            q = ChatMessage(conversation_id=conv.id, client_id=c.id, direction="in", author="customer",
                            text=rng.choice(["年费怎么免", "天气如何", "定期利率"]), created_at=when)
            session.add(q)
            await session.flush()
            outcome = rng.choice(["grounded", "declined", "handoff", "personal"])
            fb = rng.choice([None, 1, -1])
            session.add(ChatMessage(conversation_id=conv.id, client_id=c.id, direction="out", author="bot", text="a",
                                    outcome=outcome, feedback=fb, created_at=when + timedelta(seconds=1)))
            facts["inbound"].append((c.id, when))
            facts["answers"].append((c.manager_id, conv.id, outcome, fb, q.text))
        if rng.random() < 0.3:
            created = at(rng.randint(0, 6), 12)
            reply = created + timedelta(minutes=rng.randint(1, 90)) if rng.random() < 0.7 else None
            session.add(Ticket(conversation_id=conv.id, client_id=c.id, manager_id=c.manager_id, chat_id=conv.chat_id,
                               reason="request", summary="s", created_at=created, first_reply_at=reply))
            facts["tickets"].append((c.manager_id, created, reply))
        if rng.random() < 0.15:
            when = at(rng.randint(0, 6), 11)
            session.add(AuditLog(actor=f"client:{c.client_no}", action="opt_out", entity="client",
                                 entity_id=str(c.id), client_id=c.id, at=when))
            facts["optouts"].append((c.id, when))
    await session.commit()
    return {"m1": m1.id, "m2": m2.id, "clients": clients, **facts}


@pytest.fixture
async def seeded(db):  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return await _seed(session, random.Random(7))


async def test_manager_report_matches_records(db, seeded) -> None:  # type: ignore[no-untyped-def]
    m1 = seeded["m1"]
    period = Period(DAY, DAY + timedelta(days=6), TZ)
    async with db.sessions() as session:
        r = await manager_report(session, m1, period, as_of=at(7, 0))

    mine = [d for d in seeded["drafts"] if d[0] == m1]
    assert r["drafts"]["planned"] == len(mine)
    assert r["drafts"]["rejected"] == sum(1 for d in mine if d[1] == "rejected")
    assert r["drafts"]["pending"] == sum(1 for d in mine if d[1] == "pending")
    assert r["drafts"]["approved"] == sum(1 for d in mine if d[1] not in ("pending", "rejected"))
    assert r["drafts"]["edited"] == sum(1 for d in mine if d[2])
    assert r["review"]["seconds"] == sum((7 + d) * 60 for d in range(7))

    out = [o for o in seeded["outbox"] if o[0] == m1]
    assert r["messages"]["sent"] == sum(1 for o in out if o[2] == "sent")
    assert r["messages"]["failed"] == sum(1 for o in out if o[2] == "failed")
    assert r["messages"]["skipped"] == sum(1 for o in out if o[2] == "cancelled")
    for reason in ERRORS["failed"]:
        assert r["messages"]["failed_reasons"].get(reason, 0) == sum(1 for o in out if o[4] == reason)
    sent = [o for o in out if o[2] == "sent"]
    replied = sum(
        1 for o in sent
        if any(cid == o[1] and o[3] <= when < o[3] + timedelta(hours=48) for cid, when in seeded["inbound"])
    )
    assert r["messages"]["replies_within_48h"] == replied
    opted = {cid for cid, when in seeded["optouts"]
             if any(o[1] == cid and o[3] <= when and o[3] > when - timedelta(hours=48) for o in sent)}
    assert r["messages"]["opt_outs_after_message"] == len(opted)

    answers = [a for a in seeded["answers"] if a[0] == m1]
    assert r["conversations"]["questions"] == len(answers)
    for outcome in ("grounded", "declined", "handoff", "personal"):
        assert r["conversations"]["outcomes"][outcome] == sum(1 for a in answers if a[2] == outcome)
    assert r["conversations"]["handled_by_bot"] == len({a[1] for a in answers})
    tickets = [t for t in seeded["tickets"] if t[0] == m1]
    assert r["conversations"]["handed_off"] == len(tickets)
    assert r["conversations"]["answered_by_manager"] == sum(1 for t in tickets if t[2])

    book = [c for c in seeded["clients"] if c.manager_id == m1]
    assert r["reach"]["book"] == len(book)
    reached = {o[1] for o in sent}
    assert r["reach"]["reached_week"] == len(reached)
    assert r["reach"]["not_contacted_90d"] == len(book) - len(reached)
    assert r["funnel"] == {"planned": len(mine), "approved": r["drafts"]["approved"],
                           "sent": len(sent), "replied": replied}
    assert sum(d["planned"] for d in r["daily"]) == len(mine)
    # daily volumes are by plan day: a draft's status follows its delivery
    assert sum(d["sent"] for d in r["daily"]) == sum(1 for d in mine if d[1] == "sent")


async def test_manager_sees_only_their_book(db, seeded) -> None:  # type: ignore[no-untyped-def]
    period = Period(DAY, DAY + timedelta(days=6), TZ)
    async with db.sessions() as session:
        r1 = await manager_report(session, seeded["m1"], period)
        r2 = await manager_report(session, seeded["m2"], period)
    assert r1["drafts"]["planned"] + r2["drafts"]["planned"] == len(seeded["drafts"])
    assert r2["reach"]["book"] == 10


async def test_bot_quality_and_exports(db, seeded) -> None:  # type: ignore[no-untyped-def]
    period = Period(DAY, DAY + timedelta(days=6), TZ)
    async with db.sessions() as session:
        q = await bot_quality(session, period)
        r = await manager_report(session, seeded["m1"], period)
    answers = seeded["answers"]
    assert q["questions"] == len(answers)
    declined = [a[4] for a in answers if a[2] == "declined"]
    if declined:
        top = q["top_declined"][0]
        assert top["count"] == max(declined.count(t) for t in set(declined))
    assert q["feedback"] == {"up": sum(1 for a in answers if a[3] == 1), "down": sum(1 for a in answers if a[3] == -1)}
    tables = report_tables(r)
    csv_text = to_csv(*tables["daily"])
    assert csv_text.splitlines()[0].lstrip("\ufeff") == "date,planned,approved,sent"
    assert len(csv_text.splitlines()) == 8
    assert to_xlsx(tables)[:2] == b"PK"


async def test_unknown_manager(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        with pytest.raises(LookupError):
            await manager_report(session, 999, Period(DAY, DAY, TZ))


@pytest.mark.postgres
async def test_manager_report_on_postgres(pg_db) -> None:  # type: ignore[no-untyped-def]
    async with pg_db.sessions() as session:
        seeded = await _seed(session, random.Random(11))
    period = Period(DAY, DAY + timedelta(days=6), TZ)
    async with pg_db.sessions() as session:
        r = await manager_report(session, seeded["m1"], period, as_of=at(7, 0))
    out = [o for o in seeded["outbox"] if o[0] == seeded["m1"]]
    sent = [o for o in out if o[2] == "sent"]
    replied = sum(
        1 for o in sent
        if any(cid == o[1] and o[3] <= when < o[3] + timedelta(hours=48) for cid, when in seeded["inbound"])
    )
    assert r["messages"]["sent"] == len(sent)
    assert r["messages"]["replies_within_48h"] == replied
    assert r["drafts"]["planned"] == sum(1 for d in seeded["drafts"] if d[0] == seeded["m1"])
