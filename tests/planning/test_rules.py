"""The bank's rules (bot/services/rules.py) on fixed dates and times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.db.models import Client, Manager, OutboxItem
from bot.services import rules


def client_ns(**kw: object) -> SimpleNamespace:
    base = dict(id=1, risk_rating="C3", risk_assessed_on=date(2026, 6, 1), marketing_consent=True,
                opted_out=False, reminders_enabled=True, blocked=False, telegram_chat_id=100,
                timezone="Asia/Shanghai")
    base.update(kw)
    return SimpleNamespace(**base)


def product_ns(**kw: object) -> SimpleNamespace:
    base = dict(code="W1", type="wealth", risk_level="R2", is_investment=True, active=True)
    base.update(kw)
    return SimpleNamespace(**base)


def test_marketing_kinds() -> None:
    assert rules.is_marketing("greeting") and rules.is_marketing("recommendation")
    assert not rules.is_marketing("reminder") and not rules.is_marketing("reply")


def test_quiet_hours_wrap_and_plain() -> None:
    assert rules.in_quiet_hours(time(21, 0), "21:00", "08:00")
    assert rules.in_quiet_hours(time(2, 30), "21:00", "08:00")
    assert not rules.in_quiet_hours(time(8, 0), "21:00", "08:00")
    assert not rules.in_quiet_hours(time(20, 59), "21:00", "08:00")
    assert rules.in_quiet_hours(time(13, 0), "12:00", "14:00")
    assert not rules.in_quiet_hours(time(14, 0), "12:00", "14:00")
    assert not rules.in_quiet_hours(time(3, 0), "08:00", "08:00")


def test_next_send_time_in_client_zone() -> None:
    # 22:00 Shanghai = 14:00 UTC -> next 08:00 Shanghai = 00:00 UTC next day
    now = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    expected = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert rules.next_send_time(now, "Asia/Shanghai", "21:00", "08:00") == expected
    # 03:00 Shanghai (19:00 UTC prev day) -> 08:00 same local day
    now = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    expected = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert rules.next_send_time(now, "Asia/Shanghai", "21:00", "08:00") == expected
    # daytime: unchanged
    now = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    assert rules.next_send_time(now, "Asia/Shanghai", "21:00", "08:00") == now
    # London in summer (UTC+1): 21:30 local = 20:30 UTC -> 08:00 local = 07:00 UTC
    now = datetime(2026, 7, 1, 20, 30, tzinfo=UTC)
    got = rules.next_send_time(now, "Europe/London", "21:00", "08:00")
    assert got == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    assert not rules.in_quiet_hours(got.astimezone(rules.zone("Europe/London")).time(), "21:00", "08:00")


def test_assessment_expiry_twelve_months() -> None:
    c = client_ns(risk_assessed_on=date(2025, 3, 10))
    assert not rules.assessment_expired(c, date(2026, 3, 9))
    assert rules.assessment_expired(c, date(2026, 3, 10))
    assert rules.assessment_expired(client_ns(risk_assessed_on=None), date(2026, 1, 1))
    leap = client_ns(risk_assessed_on=date(2024, 2, 29))
    assert rules.assessment_expires_on(leap) == date(2025, 2, 28)


def test_suitability() -> None:
    today = date(2026, 9, 1)
    assert rules.suitability_problem(client_ns(), product_ns(risk_level="R3"), today) is None
    assert rules.suitability_problem(client_ns(), product_ns(risk_level="R4"), today) == rules.RISK_TOO_HIGH
    expired = client_ns(risk_assessed_on=date(2025, 8, 1))
    assert rules.suitability_problem(expired, product_ns(risk_level="R1"), today) == rules.ASSESSMENT_EXPIRED
    assert rules.suitability_problem(client_ns(risk_rating=None), product_ns(), today) == rules.NO_RISK_RATING
    deposit = product_ns(type="deposit", risk_level=None, is_investment=False)
    assert rules.suitability_problem(expired, deposit, today) is None
    assert rules.suitability_problem(client_ns(), product_ns(active=False), today) == rules.PRODUCT_INACTIVE
    unknown_level = product_ns(risk_level=None, type="fund")
    assert rules.suitability_problem(client_ns(risk_rating="C4"), unknown_level, today) == rules.RISK_TOO_HIGH


async def test_send_problem_order_and_caps(db, settings) -> None:
    noon_sh = datetime(2026, 5, 6, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
    async with db.sessions() as s:
        m = Manager(code="M1", name="王敏")
        s.add(m)
        await s.flush()
        c = Client(client_no="C1", manager_id=m.id, name="张三", marketing_consent=True, telegram_chat_id=555,
                   timezone="Asia/Shanghai")
        s.add(c)
        await s.flush()
        kw = dict(when_utc=noon_sh, settings=settings)
        assert await rules.send_problem(s, client=c, kind="greeting", **kw) is None
        # quiet hours at 22:00 local, for reminders too
        night = datetime(2026, 5, 6, 14, 0, tzinfo=UTC)
        assert await rules.send_problem(s, client=c, kind="reminder", when_utc=night, settings=settings) == \
            rules.QUIET_HOURS
        # daily cap: one marketing already sent today (local day)
        s.add(OutboxItem(idempotency_key="a", client_id=c.id, kind="greeting", text="x", status="sent",
                         sent_at=noon_sh - timedelta(hours=2)))
        await s.flush()
        assert await rules.send_problem(s, client=c, kind="recommendation", **kw) == rules.DAILY_CAP
        assert await rules.send_problem(s, client=c, kind="reminder", **kw) is None  # exempt
        # next day: 2 more in the week -> 3 in 7 days -> weekly cap the day after
        for i, days in enumerate((1, 2)):
            s.add(OutboxItem(idempotency_key=f"b{i}", client_id=c.id, kind="greeting", text="x",
                             status="sent", sent_at=noon_sh + timedelta(days=days)))
        await s.flush()
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=noon_sh + timedelta(days=3),
                                        settings=settings) == rules.WEEKLY_CAP
        # 7 local days later the first one no longer counts
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=noon_sh + timedelta(days=7),
                                        settings=settings) is None
        # queued (not sent) items do not count
        s.add(OutboxItem(idempotency_key="q", client_id=c.id, kind="greeting", text="x", status="queued"))
        await s.flush()
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=noon_sh + timedelta(days=7),
                                        settings=settings) is None
        c.opted_out = True
        assert await rules.send_problem(s, client=c, kind="greeting", **kw) == rules.OPTED_OUT
        c.opted_out, c.marketing_consent = False, False
        assert await rules.send_problem(s, client=c, kind="greeting", **kw) == rules.NO_CONSENT
        assert await rules.send_problem(s, client=c, kind="reminder", **kw) is None
        c.reminders_enabled = False
        assert await rules.send_problem(s, client=c, kind="reminder", **kw) == rules.REMINDERS_OFF
        c.telegram_chat_id = None
        assert await rules.send_problem(s, client=c, kind="reminder", **kw) == rules.UNBOUND
        c.blocked = True
        assert await rules.send_problem(s, client=c, kind="reply", **kw) == rules.BLOCKED


_ZONES = ["Asia/Shanghai", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    zone_name=st.sampled_from(_ZONES),
    start=st.sampled_from(["21:00", "22:30", "00:00", "12:00"]),
    end=st.sampled_from(["08:00", "07:15", "09:00", "13:00"]),
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_next_send_time_is_the_earliest_allowed_instant(moment, zone_name, start, end) -> None:
    got = rules.next_send_time(moment, zone_name, start, end)
    assert got >= moment and got.tzinfo is not None
    tz = rules.zone(zone_name)
    assert not rules.in_quiet_hours(got.astimezone(tz).time(), start, end)
    if got > moment:  # nothing earlier (minute by minute back to `moment`) was allowed
        probe = got - timedelta(minutes=1)
        while probe > moment:
            assert rules.in_quiet_hours(probe.astimezone(tz).time(), start, end)
            probe -= timedelta(minutes=37)
        assert rules.in_quiet_hours(moment.astimezone(tz).time(), start, end)


async def test_stale_greeting_is_not_sent(db, settings) -> None:
    from bot.db.models import Campaign, Draft

    async with db.sessions() as s:
        m = Manager(code="M1", name="王敏")
        s.add(m)
        await s.flush()
        c = Client(client_no="C1", manager_id=m.id, name="张三", marketing_consent=True, telegram_chat_id=555)
        s.add(c)
        await s.flush()
        camp = Campaign(manager_id=m.id, plan_date=date(2027, 2, 5), kind="greeting", occasion="spring_festival")
        s.add(camp)
        await s.flush()
        d = Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=date(2027, 2, 5), kind="greeting",
                  occasion="spring_festival", dedupe_key="greeting:spring_festival:2027", language="zh", text="x",
                  scheduled_at=datetime(2027, 2, 5, 1, 30, tzinfo=UTC))
        s.add(d)
        await s.flush()
        item = OutboxItem(idempotency_key="d1", draft_id=d.id, client_id=c.id, kind="greeting", text="x")
        s.add(item)
        await s.flush()
        on_day_one = datetime(2027, 2, 6, 4, 0, tzinfo=UTC)  # 12:00 Shanghai, the festival day
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=on_day_one, settings=settings,
                                        outbox_id=item.id) is None
        later = datetime(2027, 2, 7, 4, 0, tzinfo=UTC)
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=later, settings=settings,
                                        outbox_id=item.id) == rules.STALE
        # without an outbox item (no draft to look at) the greeting is not judged stale
        assert await rules.send_problem(s, client=c, kind="greeting", when_utc=later, settings=settings) is None


def test_contact_rules_read_the_client_without_defaults() -> None:
    """A renamed column fails loudly instead of reading as "not opted out"."""

    class Renamed:  # `opted_out` renamed to `unsubscribed`
        blocked, marketing_consent, reminders_enabled, unsubscribed = False, True, True, True

    with pytest.raises(AttributeError):
        rules.contact_problem(Renamed(), "greeting")  # type: ignore[arg-type]
