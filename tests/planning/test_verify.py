"""The invariants checker (`rmbot bench plan-days`) on a scaled-down demo over a sample of days of
2027, and proof that it catches what it checks."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from scheduler.verify import VerifyReport, check_day, verify_days

demo = pytest.importorskip("tools.demo")

FIXED = [date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 20), date(2027, 4, 5),
         date(2027, 6, 9), date(2027, 9, 15), date(2027, 10, 1), date(2027, 12, 1), date(2027, 12, 31)]


async def test_sample_of_2027_days_has_no_violation(db, settings) -> None:  # type: ignore[no-untyped-def]
    await demo.build_demo(settings, db, managers=demo.scaled_managers(0.03), knowledge=False, plan=False)
    rng = random.Random(2027)
    days = sorted(set(FIXED + [date(2027, 1, 1) + timedelta(days=rng.randrange(365)) for _ in range(6)]))
    total = VerifyReport()
    async with db.sessions() as session:
        for day in days:
            report = await verify_days(session, settings, day, day)
            assert not report.violations, (day, dict(report.violations), report.examples)
            total.drafts += report.drafts
            total.recommendations += report.recommendations
            total.kinds.update(report.kinds)
    assert total.drafts > 0 and total.recommendations > 0 and set(total.kinds) == {
        "greeting", "reminder", "recommendation"}


def test_the_checker_catches_violations() -> None:
    from types import SimpleNamespace

    from scheduler.planner import PlannedDraft

    def draft(client_id: int, text: str, **kw):  # type: ignore[no-untyped-def]
        base = dict(client_id=client_id, client_no=f"C{client_id}", manager_id=1, manager_code="M", language="zh",
                    kind="reminder", occasion="deposit_maturity_7d", dedupe_key="k", text=text, template_text=text,
                    context={"notices": [], "names": []}, reasons=[], flags=[], scheduled_at=None,
                    local_tz="Asia/Shanghai", client={})
        base.update(kw)
        return PlannedDraft(**base)

    day = date(2027, 4, 5)  # Qingming
    clients = {1: SimpleNamespace(segment="mass"), 2: SimpleNamespace(segment="mass")}
    report = VerifyReport()
    check_day(report, day, [
        draft(1, "您的定期存款将于2027年4月8日到期。\n理财非存款、产品有风险、投资须谨慎"),
        draft(1, "清明快乐"),
        draft(2, "Dear Ms Li, 您好", language="en"),
    ], clients, {})
    assert set(report.violations) >= {"more_than_one_message", "wealth_notice_on_deposit", "festive_on_qingming",
                                      "chinese_in_english_draft"}
