"""Checks every stored draft against the bank's rules (used on fixed books and the demo)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client, Draft, Product
from bot.services import compliance, rules


async def rule_violations(session: AsyncSession, settings) -> list[str]:  # type: ignore[no-untyped-def]
    clients = {c.id: c for c in (await session.scalars(select(Client))).all()}
    products = {p.code: p for p in (await session.scalars(select(Product))).all()}
    drafts = (await session.scalars(select(Draft))).all()
    problems: list[str] = []
    marketing_days: dict[int, list[date]] = defaultdict(list)
    per_day: dict[tuple[int, date], int] = defaultdict(int)
    spring: dict[int, int] = defaultdict(int)
    for d in drafts:
        c = clients[d.client_id]
        per_day[(c.id, d.plan_date)] += 1
        local = d.scheduled_at.astimezone(rules.zone(c.timezone))
        if rules.in_quiet_hours(local.time(), settings.quiet_hours_start, settings.quiet_hours_end):
            problems.append(f"{d.dedupe_key} for {c.client_no} scheduled in quiet hours {local}")
        if c.blocked:
            problems.append(f"{d.dedupe_key} drafted for blocked {c.client_no}")
        if rules.is_marketing(d.kind):
            marketing_days[c.id].append(d.plan_date)
            if c.opted_out or not c.marketing_consent:
                problems.append(f"marketing {d.dedupe_key} to {c.client_no} without consent / opted out")
        elif not c.reminders_enabled:
            problems.append(f"reminder {d.dedupe_key} to {c.client_no} who turned reminders off")
        needed: set[str] = set()
        if d.product_code:
            p = products[d.product_code]
            reason = rules.suitability_problem(c, p, d.plan_date)
            if reason:
                problems.append(f"{d.product_code} to {c.client_no}: {reason}")
            kind = compliance.notice_for_type(p.type) or ("wealth" if p.is_investment else None)
            needed |= {kind} if kind else set()
        needed |= set((d.context or {}).get("notices") or ())
        for kind in needed:
            if compliance.notice_text(kind, d.language) not in d.text:
                problems.append(f"{d.dedupe_key} for {c.client_no} lacks the {kind} risk notice")
        if "wealth" not in needed and "理财非存款" in d.text:
            problems.append(f"{d.dedupe_key} for {c.client_no} carries the wealth notice without a wealth product")
        if d.occasion == "spring_festival":
            spring[c.id] += 1
        blocking = compliance.blocking(compliance.check_stored(d))
        if blocking:
            problems.append(f"{d.dedupe_key} for {c.client_no}: {blocking}")
    problems += [f"client {cid}: {n} spring festival greetings" for cid, n in spring.items() if n > 1]
    problems += [f"client {cid}: {n} messages on {day}" for (cid, day), n in per_day.items() if n > 1]
    for cid, days in marketing_days.items():
        for day in set(days):
            if days.count(day) > settings.marketing_daily_cap:
                problems.append(f"client {cid}: {days.count(day)} marketing drafts on {day}")
            start = day
            in_week = sum(1 for x in days if start <= x <= start + timedelta(days=6))
            if in_week > settings.marketing_weekly_cap:
                problems.append(f"client {cid}: {in_week} marketing drafts in the week from {start}")
    return problems
