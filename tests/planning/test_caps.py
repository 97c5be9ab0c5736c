"""The marketing caps: one definition (`rules.marketing_caps`, `rules.cap_problem`) that planning and sending
both count against. The planner counts planned drafts by plan date, the sender counts sent messages by the
client's local day; given the same history they must reach the same verdict."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.db.models import Campaign, Draft, OutboxItem
from bot.services import rules
from scheduler.planner import plan_day
from tests.conftest import make_settings
from tests.planning import seed

D = date(2027, 3, 1)  # an ordinary Monday
TZ = "Asia/Shanghai"
BASE = make_settings(Path("/nonexistent"))


def _breaks_a_cap(daily: int, weekly: int, day: date, others: list[date]) -> str | None:
    """The bank's rule written out by brute force: with the new message, no local day holds more than `daily`
    and no 7 consecutive local days hold more than `weekly`."""
    every = [*others, day]
    if every.count(day) > daily:
        return rules.DAILY_CAP
    for first in range(-6, 1):
        start = day + timedelta(days=first)
        if sum(1 for d in every if start <= d <= start + timedelta(days=6)) > weekly:
            return rules.WEEKLY_CAP
    return None


@given(daily=st.integers(0, 3), weekly=st.integers(0, 5),
       offsets=st.lists(st.integers(-10, 10), max_size=8))
def test_cap_problem_is_the_rule(daily: int, weekly: int, offsets: list[int]) -> None:
    settings = BASE.model_copy(update={"marketing_daily_cap": daily, "marketing_weekly_cap": weekly})
    others = [D + timedelta(days=o) for o in offsets]
    assert rules.cap_problem(rules.marketing_caps(settings), D, others) == _breaks_a_cap(daily, weekly, D, others)


async def test_planning_and_sending_count_the_same(tmp_path, db) -> None:
    """For histories of earlier marketing messages (the days they were planned for = the days they went out),
    the planner's verdict on a greeting for D equals the sender's verdict on sending one on D."""
    rng = random.Random(18)
    # (days before D a marketing message went out, daily cap, weekly cap); not D itself: a client who already
    # has today's message is left out by the one-message-a-morning rule before the caps are counted.
    scenarios = [({1}, 1, 3), ({1, 2}, 1, 2), ({1, 2, 6}, 1, 3), ({1, 2, 7}, 1, 3),
                 ({3, 6}, 1, 2), ({6}, 1, 1), ({7}, 1, 1), (set(), 0, 3), (set(), 1, 0)]
    scenarios += [(set(rng.sample(range(1, 9), rng.randint(0, 5))), rng.randint(0, 2), rng.randint(1, 4))
                  for _ in range(25)]
    verdicts = set()
    async with db.sessions() as session:
        seed.add_products(session)
        for n, (days_back, daily, weekly) in enumerate(scenarios):
            settings = make_settings(tmp_path, marketing_daily_cap=daily, marketing_weekly_cap=weekly)
            m = await seed.add_manager(session, code=f"M{n:03d}")
            c = await seed.add_client(session, m, [], birthday=date(1980, 3, 1), timezone=TZ)
            camp = Campaign(manager_id=m.id, plan_date=D, kind="greeting", occasion="x")
            session.add(camp)
            await session.flush()
            for back in sorted(days_back):
                day = D - timedelta(days=back)
                at = rules.local_time_utc(day, "10:00", TZ)
                session.add(Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=day,
                                  kind="greeting", occasion="x", dedupe_key=f"x:{back}", language="zh", text="x",
                                  scheduled_at=at, status="sent"))
                session.add(OutboxItem(idempotency_key=f"{n}:{back}", client_id=c.id, kind="greeting", text="x",
                                       status="sent", sent_at=at))
            await session.flush()
            planned = await plan_day(session, settings, D, manager_id=m.id, dry_run=True)
            drafted = any("birthday" in d.occasions for d in planned.drafts)
            planner_says = None if drafted else next(
                r for r in (rules.DAILY_CAP, rules.WEEKLY_CAP) if planned.skipped[r])
            when = datetime.combine(D, time(11, 0), rules.zone(TZ)).astimezone(UTC)
            sender_says = await rules.send_problem(session, client=c, kind="greeting", when_utc=when,
                                                   settings=settings)
            assert planner_says == sender_says, (sorted(days_back), daily, weekly)
            history = [D - timedelta(days=back) for back in days_back]
            assert sender_says == _breaks_a_cap(daily, weekly, D, history), (sorted(days_back), daily, weekly)
            verdicts.add(sender_says)
    assert verdicts == {None, rules.DAILY_CAP, rules.WEEKLY_CAP}  # every outcome was reached
