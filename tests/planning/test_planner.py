"""The planning engine on fixed books and fixed dates: each occasion, each rule, each collision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.db.models import Campaign, Draft
from bot.services import rules
from scheduler.planner import plan_day
from tests.conftest import make_settings
from tests.planning import seed
from tests.planning.invariants import rule_violations

D = date(2027, 3, 1)  # an ordinary Monday: no festival


@pytest.fixture
async def book(db):
    async with db.sessions() as session:
        seed.add_products(session)
        manager = await seed.add_manager(session, signature="招行南山支行 王敏 138xxxx")
        await session.commit()
        yield session, manager


def by_client(result, client):
    """occasion -> the client's draft that carries it (one message may carry several)."""
    return {occ: d for d in result.drafts if d.client_no == client.client_no for occ in d.occasions or [d.occasion]}


async def test_deposit_maturity_reminders_and_recommendation(book, settings) -> None:
    session, m = book
    c = await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=7)), seed.pension()])
    result = await plan_day(session, settings, D)
    got = by_client(result, c)
    # the reminder and the pitch about the same deposit are one message: the pitch says it matures
    assert "deposit_maturity_7d" not in got and len([d for d in result.drafts if d.client_no == c.client_no]) == 1
    rec = got["maturity_product"]
    assert "¥50,000.00" in rec.text and "2027年3月8日" in rec.text and "8841" in rec.text and "将于" in rec.text
    assert rec.text.startswith("张先生") and rec.text.endswith("招行南山支行 王敏 138xxxx")
    # C3 client holding an R2 pension product: nearest the holdings' risk, at most one level above a deposit
    assert rec.product["code"] == "WM-R2" and rec.product["risk_level"] == "R2"
    assert rec.product["min_amount"] == "10000.00" and rec.amount == Decimal("50000.00")
    assert rec.as_json()["amount"] == 50000.0 and rec.as_json()["product"]["min_amount"] == "10000.00"
    assert "理财非存款、产品有风险、投资须谨慎" in rec.text and not rec.flags
    assert any("¥50,000.00" in r and "2027年3月8日" in r for r in rec.reasons)
    assert "✓ 风险等级 R2 ≤ C3" in rec.reasons and "✓ 起购 ¥10,000 ≤ ¥50,000" in rec.reasons
    assert rec.context["amount"] == "¥50,000.00" and rec.context["maturity_date"] == "2027年3月8日"
    # on the day: the "today" reminder (a new key), no second recommendation
    await session.commit()
    again = by_client(await plan_day(session, settings, D + timedelta(days=7)), c)
    assert set(again) == {"deposit_maturity_today"}


async def test_english_client_dates_amounts_and_zone(book, settings) -> None:
    session, m = book
    c = await seed.add_client(session, m, [seed.deposit("1234.50", D)], language="en", salutation="Ms Li",
                              timezone="Europe/London")
    got = by_client(await plan_day(session, settings, D), c)
    r = got["maturity_renewal"]  # the maturity reminder and the renewal pitch: one message
    assert "¥1,234.50" in r.text and "matures today, 1 Mar 2027" in r.text and r.text.startswith("Dear Ms Li")
    assert r.text.endswith("Your relationship manager, 王敏") and not r.flags  # an English signature
    local = r.scheduled_at.astimezone(rules.zone("Europe/London"))
    assert (local.date(), local.hour, local.minute) == (D, 9, 0)
    assert r.as_json()["scheduled_at"] == "2027-03-01T09:00:00+00:00"


async def test_wealth_card_loan_assessment_id_reminders(book, settings) -> None:
    session, m = book
    holdings = [
        {"kind": "wealth", "product_code": "WM-R2", "amount": Decimal("20000.00"), "maturity_date": D},
        {"kind": "card", "product_code": "CARD", "amount": Decimal(0), "maturity_date": date(2027, 4, 30),
         "account_tail": "1234"},
        {"kind": "loan", "product_code": "LOAN", "amount": Decimal("300000"), "next_due_date": D + timedelta(days=3),
         "next_due_amount": Decimal("2500.00"), "account_tail": "0019"},
        seed.pension(),
    ]
    c = await seed.add_client(session, m, holdings, risk_assessed_on=date(2026, 3, 20), id_expiry=date(2027, 3, 15))
    got = by_client(await plan_day(session, settings, D), c)
    assert {"wealth_maturity_today", "card_expiry", "loan_due", "assessment_expiry", "id_expiry"} <= set(got)
    assert "理财非存款" in got["wealth_maturity_today"].text
    assert "2027年4月30日" in got["card_expiry"].text and "1234" in got["card_expiry"].text
    assert "¥2,500.00" in got["loan_due"].text and "2027年3月4日" in got["loan_due"].text
    assert "2027年3月20日" in got["assessment_expiry"].text
    assert "2027年3月15日" in got["id_expiry"].text
    # a loan due in 4 days or a card expiring in two months is not an occasion yet
    c2 = await seed.add_client(session, m, [
        {"kind": "loan", "product_code": "LOAN", "amount": Decimal(1), "next_due_date": D + timedelta(days=4)},
        {"kind": "card", "product_code": "CARD", "amount": Decimal(0), "maturity_date": date(2027, 5, 31)},
        seed.pension()])
    assert not {"loan_due", "card_expiry"} & set(by_client(await plan_day(session, settings, D), c2))


async def test_greetings_birthday_anniversary_festival(book, settings) -> None:
    session, m = book
    c = await seed.add_client(session, m, [seed.pension()], birthday=date(1985, 3, 1),
                              customer_since=date(2020, 3, 1))
    got = by_client(await plan_day(session, settings, D), c)
    assert "birthday" in got and "anniversary" not in got  # one marketing message a day: birthday first
    assert "生日快乐" in got["birthday"].text
    assert "一年来" not in got["birthday"].text
    later = await seed.add_client(session, m, [seed.pension()], customer_since=date(2020, 3, 1))
    ann = by_client(await plan_day(session, settings, D), later)["anniversary"]
    assert "7周年" in ann.text
    fest = by_client(await plan_day(session, settings, date(2027, 9, 15)), later)
    assert "中秋快乐" in fest["mid_autumn"].text


async def test_pension_and_activation_recommendations(book, settings) -> None:
    session, m = book
    no_pension = await seed.add_client(session, m, [seed.deposit("80000.00", D + timedelta(days=60))])
    zero = await seed.add_client(session, m, [], risk_rating="C1")
    end = date(2027, 3, 28)  # every client's review day has come by the 28th
    result = await plan_day(session, settings, end)
    pen = by_client(result, no_pension)["pension"]
    assert pen.product["code"] == "PEN-R2" and "未持有个人养老金账户" in pen.reasons
    assert pen.amount == Decimal("80000.00")
    assert set(by_client(result, zero)) == {"activation"}  # zero assets: activation, not a pension pitch
    await session.commit()
    # once a month: nothing more on the following days of March; again in a later month
    assert not by_client(await plan_day(session, settings, end + timedelta(days=1)), no_pension)
    assert "pension" in by_client(await plan_day(session, settings, date(2027, 5, 28)), no_pension)


async def test_recurring_recommendations_spread_over_the_month(book, settings) -> None:
    from scheduler.occasions import review_day

    session, m = book
    clients = [await seed.add_client(session, m, [seed.deposit("1000.00", D + timedelta(days=90))])
               for _ in range(30)]
    day = date(2027, 3, 10)
    got = {d.client_no for d in (await plan_day(session, settings, day)).drafts if d.occasion == "pension"}
    assert got == {c.client_no for c in clients if review_day(c.id) <= 10}
    assert 0 < len(got) < len(clients)


async def test_activation_for_zero_assets(book, settings) -> None:
    session, m = book
    c = await seed.add_client(session, m, [seed.pension("0.00")], risk_rating="C1")
    got = by_client(await plan_day(session, settings, date(2027, 3, 28)), c)
    act = got["activation"]
    # no money to match a product's minimum against: the manager introduces themself, names no product
    assert act.kind == "greeting" and act.product is None and act.amount is None and "王敏" in act.text
    assert any("零资产" in r for r in act.reasons) and not act.flags


async def test_suitability_and_expired_assessment(book, settings) -> None:
    session, m = book
    low = await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=3)), seed.pension()],
                                risk_rating="C1")
    expired = await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=3))],
                                    risk_assessed_on=date(2025, 12, 1))
    result = await plan_day(session, settings, D)
    # C1 holding a deposit and an R2 pension product: R1 is the nearest level the rating allows, and
    # on a tie the client's own product (a renewal) comes first
    assert by_client(result, low)["maturity_renewal"].product["code"] == "TD1Y"
    got = by_client(result, expired)
    assert "maturity_product" not in got and "pension" not in got
    assert got["maturity_renewal"].product["code"] == "TD1Y"  # a deposit is not an investment
    assert "risk_reassessment" in got and "2026年12月1日" in got["risk_reassessment"].text
    await session.commit()
    assert not await rule_violations(session, settings)


async def test_consent_opt_out_block_reminders_off(book, settings) -> None:
    session, m = book
    holdings = [seed.deposit("50000.00", D + timedelta(days=7))]
    bday = {"birthday": date(1990, 3, 1)}
    opted = await seed.add_client(session, m, holdings, opted_out=True, **bday)
    no_consent = await seed.add_client(session, m, [seed.deposit("1.00", D)], marketing_consent=False, **bday)
    blocked = await seed.add_client(session, m, [seed.deposit("2.00", D)], blocked=True, **bday)
    off = await seed.add_client(session, m, [seed.deposit("3.00", D)], reminders_enabled=False, **bday)
    result = await plan_day(session, settings, D)
    assert {d.kind for d in result.drafts if d.client_no == opted.client_no} == {"reminder"}
    assert {d.kind for d in result.drafts if d.client_no == no_consent.client_no} == {"reminder"}
    assert not [d for d in result.drafts if d.client_no == blocked.client_no]
    assert {d.kind for d in result.drafts if d.client_no == off.client_no} == {"greeting"}
    for reason in (rules.OPTED_OUT, rules.NO_CONSENT, rules.BLOCKED, rules.REMINDERS_OFF):
        assert result.skipped[reason] >= 1


async def test_collisions_service_greeting_recommendation(book, settings) -> None:
    session, m = book
    eve = date(2027, 2, 5)
    c = await seed.add_client(session, m, [seed.deposit("50000.00", eve + timedelta(days=2))],
                              birthday=date(1980, 2, 5))
    first = await plan_day(session, settings, eve)
    got = by_client(first, c)
    # reminders always; one marketing part: the birthday before the festival and the recommendation
    assert set(got) == {"deposit_maturity_7d", "birthday"} and len({id(d) for d in got.values()}) == 1
    assert got["birthday"].text.index("到期") < got["birthday"].text.index("生日")  # reminders first
    assert first.skipped["one_message_a_day"] == 1
    await session.commit()
    # Spring Festival day: the festival greeting is still due (eve or day); the recommendation waits
    second = by_client(await plan_day(session, settings, eve + timedelta(days=1)), c)
    assert set(second) == {"spring_festival"}
    await session.commit()
    third = by_client(await plan_day(session, settings, eve + timedelta(days=2)), c)
    # the day: reminder and pitch on the same deposit are one message, in the present tense
    assert set(third) == {"maturity_renewal"} and "于今天（2027年2月7日）到期" in third["maturity_renewal"].text


async def test_weekly_cap_counts_planned_drafts(book, settings) -> None:
    session, m = book
    c = await seed.add_client(session, m, [seed.pension()], birthday=date(1980, 3, 1))
    camp = Campaign(manager_id=m.id, plan_date=D - timedelta(days=3), kind="greeting", occasion="x")
    session.add(camp)
    await session.flush()
    for i, status in enumerate(("sent", "approved", "pending")):
        session.add(Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=D - timedelta(days=i + 1),
                          kind="recommendation", occasion="x", dedupe_key=f"x:{i}", language="zh", text="x",
                          scheduled_at=datetime(2027, 2, 27, 2, tzinfo=UTC), status=status))
    await session.flush()
    result = await plan_day(session, settings, D)
    assert not by_client(result, c)
    assert result.skipped[rules.WEEKLY_CAP] == 1
    # a rejected draft does not count
    rejected = (await session.scalars(select(Draft).where(Draft.dedupe_key == "x:0"))).one()
    rejected.status = "rejected"
    await session.flush()
    assert "birthday" in by_client(await plan_day(session, settings, D), c)


async def test_quiet_hours_move_the_slot(tmp_path, db) -> None:
    settings = make_settings(tmp_path, quiet_hours_start="20:00", quiet_hours_end="10:00")
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        c = await seed.add_client(session, m, [seed.deposit("5.00", D), seed.pension()], birthday=date(1990, 3, 1))
        result = await plan_day(session, settings, D)
        for d in by_client(result, c).values():
            local = d.scheduled_at.astimezone(rules.zone(c.timezone))
            assert not rules.in_quiet_hours(local.time(), "20:00", "10:00")
            assert local.date() == D


async def test_replan_is_idempotent_and_dry_run_stores_nothing(book, settings) -> None:
    session, m = book
    for i in range(5):
        await seed.add_client(session, m, [seed.deposit(f"{i + 1}000.00", D + timedelta(days=i))],
                              birthday=date(1990, 3, 1) if i % 2 else None)
    dry = await plan_day(session, settings, D, dry_run=True)
    assert dry.drafted > 0 and all(c["id"] is None for c in dry.campaigns.values())
    assert await session.scalar(select(func.count(Draft.id))) == 0
    first = await plan_day(session, settings, D)
    await session.commit()
    stored = await session.scalar(select(func.count(Draft.id)))
    assert stored == first.drafted == dry.drafted
    assert all(d.id is not None and d.campaign_id is not None for d in first.drafts)
    second = await plan_day(session, settings, D)
    await session.commit()
    assert second.drafted == 0 and second.skipped["already_planned"] >= 1
    assert await session.scalar(select(func.count(Draft.id))) == stored
    campaigns = (await session.scalars(select(Campaign))).all()
    assert len(campaigns) == len({(c.kind, c.occasion) for c in campaigns})
    assert not await rule_violations(session, settings)


async def test_spring_festival_week_day_by_day(book, settings) -> None:
    session, m = book
    for i in range(40):
        await seed.add_client(
            session, m,
            [seed.deposit(f"{(i + 1) * 1000}.00", date(2027, 2, 4) + timedelta(days=i % 9))] if i % 3 else [],
            opted_out=i % 7 == 0, marketing_consent=i % 5 != 0, risk_rating=f"C{1 + i % 5}",
            risk_assessed_on=date(2026, 1, 1) if i % 4 == 0 else date(2026, 12, 1),
            birthday=date(1980, 2, 4 + i % 9) if i % 6 == 0 else None,
            language="en" if i % 4 == 1 else "zh", timezone="Europe/London" if i % 8 == 1 else "Asia/Shanghai")
    await session.commit()
    day = date(2027, 2, 4)
    while day <= date(2027, 2, 12):
        await plan_day(session, settings, day)
        await session.commit()
        day += timedelta(days=1)
    assert not await rule_violations(session, settings)
    greetings = (await session.execute(select(Draft.client_id, Draft.plan_date).where(
        Draft.occasion == "spring_festival"))).all()
    assert greetings and len({g.client_id for g in greetings}) == len(greetings)
    assert {g.plan_date for g in greetings} <= {date(2027, 2, 5), date(2027, 2, 6)}


@pytest.mark.postgres
async def test_plan_on_postgresql(pg_db, tmp_path) -> None:
    settings = make_settings(tmp_path)
    async with pg_db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=7))], birthday=date(1990, 3, 1))
        first = await plan_day(session, settings, D)
        await session.commit()
        second = await plan_day(session, settings, D)
        await session.commit()
        assert first.drafted == 1 and second.drafted == 0  # reminder + birthday in one message
        assert await session.scalar(select(func.count(Draft.id))) == 1


async def test_campaign_overview(book, settings) -> None:
    from scheduler.planner import campaign_overview

    session, m = book
    for i in range(12):
        await seed.add_client(session, m, [seed.deposit(f"{i + 1}000.00", D + timedelta(days=7))])
    result = await plan_day(session, settings, D)
    await session.commit()
    camp = next(c for c in result.campaigns.values() if c["occasion"] == "maturity_renewal")
    draft = (await session.scalars(select(Draft).where(Draft.campaign_id == camp["id"]).limit(1))).one()
    draft.flags = ["promise_words"]
    await session.commit()
    view = await campaign_overview(session, camp["id"], sample=4)
    assert view["count"] == 12 and view["by_status"] == {"pending": 12} and view["flagged"] == 1
    assert view["sample"][0]["id"] == draft.id and len(view["sample"]) == 4
    assert len({s["id"] for s in view["sample"]}) == 4
    assert view["top_reasons"][0]["count"] == 12
    assert await campaign_overview(session, 999_999) is None


@pytest.mark.parametrize(("day", "occasion", "zh_word", "en_word"), [
    (date(2027, 1, 1), "new_year", "元旦快乐", "Happy New Year"),
    (date(2027, 2, 5), "spring_festival", "春节快乐", "Spring Festival"),
    (date(2027, 2, 20), "lantern", "元宵节快乐", "Lantern Festival"),
    (date(2027, 4, 5), "qingming", "清明安康", "peace"),
    (date(2027, 6, 9), "dragon_boat", "端午安康", "Dragon Boat"),
    (date(2027, 9, 15), "mid_autumn", "中秋快乐", "Mid-Autumn"),
    (date(2027, 10, 1), "national_day", "国庆快乐", "National Day"),
])
async def test_each_festival_greeting(book, settings, day, occasion, zh_word, en_word) -> None:
    session, m = book
    zh = await seed.add_client(session, m, [seed.pension()])
    en = await seed.add_client(session, m, [seed.pension()], language="en", salutation="Mr Smith")
    result = await plan_day(session, settings, day)
    assert zh_word in by_client(result, zh)[occasion].text
    en_text = by_client(result, en)[occasion].text
    assert en_word in en_text and en_text.startswith("Dear Mr Smith")
    assert by_client(result, zh)[occasion].dedupe_key == f"greeting:{occasion}:{day.year}"
    # the day after is no occasion
    assert occasion not in by_client(await plan_day(session, settings, day + timedelta(days=2)), zh)


async def test_qingming_off_by_setting(tmp_path, db) -> None:
    settings = make_settings(tmp_path, qingming_greeting=False)
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        c = await seed.add_client(session, m, [seed.pension()])
        assert "qingming" not in by_client(await plan_day(session, settings, date(2027, 4, 5)), c)


async def test_december_pension_contribution_and_wealth_7d(book, settings) -> None:
    session, m = book
    day = date(2026, 12, 1)
    c = await seed.add_client(session, m, [
        seed.pension("6000.00"),
        {"kind": "wealth", "product_code": "WM-R2", "amount": Decimal("30000.00"), "maturity_date": date(2026, 12, 6)}],
        risk_assessed_on=date(2026, 6, 1))
    got = by_client(await plan_day(session, settings, day), c)
    assert "2026年12月31日" in got["pension_contribution"].text and "2026年度" in got["pension_contribution"].text
    w = got["wealth_maturity_7d"]
    assert "稳享90天理财" in w.text and "¥30,000.00" in w.text and "2026年12月6日" in w.text
    assert "理财非存款、产品有风险、投资须谨慎" in w.text
    c2 = await seed.add_client(session, m, [seed.pension("6000.00")])
    assert "pension_contribution" not in by_client(await plan_day(session, settings, date(2026, 11, 30)), c2)
    assert "pension_contribution" in by_client(await plan_day(session, settings, date(2026, 12, 31)), c2)


async def test_caps_from_settings(tmp_path, db) -> None:
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session)
        c = await seed.add_client(session, m, [seed.deposit("5.00", D + timedelta(days=2))], birthday=date(1990, 3, 1))
        none = await plan_day(session, make_settings(tmp_path, marketing_daily_cap=0), D, dry_run=True)
        assert {d.kind for d in none.drafts} == {"reminder"} and none.skipped[rules.DAILY_CAP] == 1
        two = await plan_day(session, make_settings(tmp_path, marketing_daily_cap=2), D, dry_run=True)
        # a higher cap still means one message a morning, with at most one greeting or recommendation
        assert set(by_client(two, c)) == {"deposit_maturity_7d", "birthday"} and len(two.drafts) == 1
