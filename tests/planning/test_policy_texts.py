"""Product eligibility and the conservative suitability policy; texts that fit the day and the client."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.db.models import Product
from bot.services import rules
from scheduler.planner import plan_day
from tests.planning import seed

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
D = date(2027, 3, 1)


@pytest.fixture
async def book(db):  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        seed.add_products(session)
        session.add_all([
            Product(code="LCD", name_zh="大额存单(3年)", name_en="Large CD (3 years)", type="deposit", term_days=1095,
                    min_amount=Decimal("200000.00"), segments="affluent,wealth", active=True),
            Product(code="EQ-R5", name_zh="科技成长股票基金", name_en="Tech Growth Equity Fund", type="fund",
                    risk_level="R5", is_investment=True, term_days=0, min_amount=Decimal("10.00"), active=True),
            Product(code="USD-WM", name_zh="美元理财", name_en="USD wealth", type="wealth", risk_level="R2",
                    is_investment=True, term_days=90, min_amount=Decimal("1000.00"), currency="USD", active=True),
        ])
        manager = await seed.add_manager(session, signature="星海银行 南山支行 客户经理 王敏", branch="南山支行")
        await session.commit()
        yield session, manager


def drafts_of(result, client):  # type: ignore[no-untyped-def]
    return [d for d in result.drafts if d.client_no == client.client_no]


async def test_conservative_policy_never_the_riskiest_allowed(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    # C5 with only a deposit: the deposit is renewed, never the R5 equity fund
    only_deposit = await seed.add_client(session, m, [seed.deposit("54000.00", D + timedelta(days=5))],
                                         risk_rating="C5", segment="wealth")
    # C5 holding an R4 product: at most one level above the maturing deposit (R2)
    bolder = await seed.add_client(session, m, [
        seed.deposit("54000.00", D + timedelta(days=5)),
        {"kind": "wealth", "product_code": "WM-R4", "amount": Decimal("30000.00")}], risk_rating="C5")
    result = await plan_day(session, settings, D)
    [a] = drafts_of(result, only_deposit)
    assert a.occasion == "maturity_renewal" and a.product["code"] == "TD1Y" and "理财非存款" not in a.text
    [b] = drafts_of(result, bolder)
    assert b.occasion == "maturity_product" and b.product["code"] == "WM-R2"
    assert "✓ 风险等级 R2 ≤ C5" in b.reasons and "✓ 起购 ¥10,000 ≤ ¥54,000" in b.reasons
    assert any(r.startswith("依据") and "R2" in r for r in b.reasons)
    assert b.product["min_amount"] == "10000.00" and b.amount == Decimal("54000.00")


async def test_minimum_segment_currency_and_term(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    small = await seed.add_client(session, m, [seed.deposit("65000.00", D + timedelta(days=2), code="LCD")],
                                  segment="wealth")
    big_mass = await seed.add_client(session, m, [seed.deposit("500000.00", D + timedelta(days=2), code="LCD")],
                                     segment="mass")
    big = await seed.add_client(session, m, [seed.deposit("500000.00", D + timedelta(days=2), code="LCD")],
                                segment="affluent")
    result = await plan_day(session, settings, D)
    # the large CD needs ¥200,000 and an affluent or wealth client; the USD product never fits CNY money
    assert drafts_of(result, small)[0].product["code"] == "TD1Y"
    assert drafts_of(result, big_mass)[0].product["code"] == "TD1Y"
    assert drafts_of(result, big)[0].product["code"] == "LCD"
    assert all(d.product["code"] != "USD-WM" for d in result.drafts if d.product)
    client = await seed.add_client(session, m, [], segment="mass")
    lcd = await session.get(Product, 6)
    offer = rules.Offer(amount=Decimal("65000"), max_term_days=365)
    verdicts = {v.rule: v for v in rules.product_verdicts(client, lcd, D, offer)}
    assert not verdicts["min_amount"].ok and verdicts["min_amount"].text("zh") == "✗ 起购 ¥200,000 ≤ ¥65,000"
    assert not verdicts["term"].ok and not verdicts["segment"].ok
    assert rules.offer_problem(client, lcd, D, offer) == rules.BELOW_MINIMUM


async def test_english_client_gets_english_only(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    c = await seed.add_client(session, m, [seed.deposit("21000.00", D + timedelta(days=3)), seed.pension()],
                              language="en", name="Emma Cooper", salutation="Ms. Cooper", birthday=date(1990, 3, 1))
    [d] = drafts_of(await plan_day(session, settings, D), c)
    assert d.text.startswith("Dear Ms. Cooper,") and d.text.endswith("Your relationship manager, 王敏")
    assert not CJK.search(d.text.replace("王敏", "")) and not d.flags


@pytest.mark.parametrize(("day", "must", "never"), [
    (date(2027, 2, 5), ["拜个早年", "春节快乐"], []),  # the eve
    (date(2027, 2, 6), ["给您拜年", "春节快乐"], ["拜个早年"]),  # 初一
    (date(2027, 6, 9), ["端午佳节", "端午安康"], ["将至"]),  # the festival day itself
])
async def test_festival_wording_fits_the_day(book, settings, day, must, never) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    c = await seed.add_client(session, m, [seed.pension()], customer_since=date(2020, 1, 1))
    [d] = drafts_of(await plan_day(session, settings, day), c)
    assert all(w in d.text for w in must) and not any(w in d.text for w in never), d.text


async def test_tenure_and_segment_variants(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    day = date(2027, 2, 6)
    new = await seed.add_client(session, m, [seed.pension()], customer_since=date(2026, 11, 1))
    old = await seed.add_client(session, m, [seed.pension()], customer_since=date(2015, 5, 1), segment="wealth")
    result = await plan_day(session, settings, day)
    [n], [o] = drafts_of(result, new), drafts_of(result, old)
    assert "一年来" not in n.text and "感谢您选择我行" in n.text
    assert "11年来" in o.text and "面谈" in o.text and n.text != o.text


async def test_no_happy_on_qingming_for_any_greeting(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    day = date(2027, 4, 5)
    zh = await seed.add_client(session, m, [seed.pension()], birthday=date(1980, 4, 5))
    en = await seed.add_client(session, m, [seed.pension()], birthday=date(1980, 4, 5), language="en",
                               salutation="Mr. Hall", name="Tom Hall")
    result = await plan_day(session, settings, day)
    [z], [e] = drafts_of(result, zh), drafts_of(result, en)
    assert z.occasion == e.occasion == "birthday"
    assert "快乐" not in z.text and "生日" in z.text and "happy" not in e.text.lower() and "birthday" in e.text


async def test_maturity_today_tense(book, settings) -> None:  # type: ignore[no-untyped-def]
    session, m = book
    c = await seed.add_client(session, m, [seed.deposit("30000.00", D), seed.pension()], marketing_consent=False)
    [d] = drafts_of(await plan_day(session, settings, D), c)
    assert d.occasion == "deposit_maturity_today" and "于今天（2027年3月1日）到期" in d.text and "将于" not in d.text


async def test_unreachable_clients_are_counted_not_reviewed(book, settings) -> None:  # type: ignore[no-untyped-def]
    from bot.services.invites import create_invite

    session, m = book
    bound = await seed.add_client(session, m, [seed.deposit("30000.00", D)])
    invited = await seed.add_client(session, m, [seed.deposit("30000.00", D)], telegram_chat_id=None)
    await seed.add_client(session, m, [seed.deposit("30000.00", D)], telegram_chat_id=None)
    await create_invite(session, invited.client_no, bot_username="rm_bot")
    result = await plan_day(session, settings, D, dry_run=True)
    assert {d.client_no for d in result.drafts} == {bound.client_no}
    assert result.skipped["not_reachable"] == 2
    assert dict(result.not_reachable) == {"invited": 1, "not_invited": 1}
    everyone = await plan_day(session, settings, D, dry_run=True, reach=False)
    assert len(everyone.drafts) == 3
