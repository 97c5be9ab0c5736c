"""The demo-date rule on a scaled-down demo workspace: planning 2027-02-04..2027-02-12 day by day
gives no client more than one Spring Festival greeting and never breaks a rule."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import Client, Draft
from scheduler.planner import plan_day
from tests.planning.invariants import rule_violations

demo = pytest.importorskip("tools.demo")


async def test_demo_spring_festival_week(db, settings) -> None:
    await demo.build_demo(settings, db, managers=demo.scaled_managers(0.02), knowledge=False, plan=False)
    day = date(2027, 2, 4)
    drafted = 0
    async with db.sessions() as session:
        clients = await session.scalar(select(func.count(Client.id)))
        while day <= date(2027, 2, 12):
            result = await plan_day(session, settings, day)
            await session.commit()
            drafted += result.drafted
            again = await plan_day(session, settings, day)  # re-planning the same day adds nothing
            assert again.drafted == 0
            day += timedelta(days=1)
        assert drafted == await session.scalar(select(func.count(Draft.id))) > 0
        greeted = (await session.execute(select(Draft.client_id, func.count(Draft.id)).where(
            Draft.occasion == "spring_festival").group_by(Draft.client_id))).all()
        assert greeted and all(n == 1 for _, n in greeted)
        consenting = await session.scalar(select(func.count(Client.id)).where(
            Client.marketing_consent.is_(True), Client.opted_out.is_(False), Client.blocked.is_(False),
            Client.telegram_chat_id.is_not(None)))
        # every consenting client reachable on Telegram greeted exactly once
        assert 0 < len(greeted) == consenting < clients
        assert await rule_violations(session, settings) == []


@pytest.mark.parametrize(("start", "end"), [
    (date(2027, 9, 10), date(2027, 10, 8)),  # Mid-Autumn and National Day
    (date(2026, 12, 26), date(2027, 1, 3)),  # New Year, December pension reminders
    (date(2027, 3, 30), date(2027, 4, 8)),  # Qingming
])
async def test_demo_other_dates(db, settings, start: date, end: date) -> None:
    await demo.build_demo(settings, db, managers=demo.scaled_managers(0.01), knowledge=False, plan=False)
    async with db.sessions() as session:
        day = start
        while day <= end:
            await plan_day(session, settings, day)
            await session.commit()
            day += timedelta(days=1)
        assert await rule_violations(session, settings) == []
        per_client = (await session.execute(select(Draft.client_id, Draft.occasion, func.count(Draft.id)).where(
            Draft.kind == "greeting").group_by(Draft.client_id, Draft.occasion))).all()
        assert per_client and all(n == 1 for _, _, n in per_client)  # one greeting per client per occasion
