"""The compliance gate on every path: a blocked draft is never approved (service, console API,
Telegram, auto-approval) nor sent when the rules changed after approval; warnings need an
override with a reason, audited; template edits are per language and validated before saving."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.models import AuditLog, Client, Draft, Manager, OutboxItem
from bot.i18n import t
from bot.services import compliance, review
from bot.services.review import Blocked, NeedsOverride, Reviewer, TemplateRejected
from scheduler.planner import plan_day
from tests.planning import seed

D = date(2027, 3, 1)
PROMISE = "保本保收益，稳赚不赔！"


@pytest.fixture
async def planned(db, settings):  # type: ignore[no-untyped-def]
    """One campaign (a product for a maturing deposit) with a Chinese and an English client, and a
    reminder-only client of a manager who auto-approves reminders."""
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session, telegram_id=9100, auto_approve_reminders=True)
        zh = await seed.add_client(session, m, [seed.deposit("54000.00", D + timedelta(days=5)), seed.pension()])
        en = await seed.add_client(session, m, [seed.deposit("21000.00", D + timedelta(days=5)), seed.pension()],
                                   language="en", salutation="Ms. Cooper", name="Jane Cooper")
        rem = await seed.add_client(session, m, [seed.deposit("9000.00", D + timedelta(days=6))],
                                    marketing_consent=False)
        await plan_day(session, settings, D)
        await session.commit()
        drafts = {c: await session.scalar(select(Draft).where(Draft.client_id == cid))
                  for c, cid in (("zh", zh.id), ("en", en.id), ("rem", rem.id))}
    assert drafts["zh"].campaign_id == drafts["en"].campaign_id and drafts["rem"].kind == "reminder"
    assert not any(d.flags for d in drafts.values())
    return m.id, drafts


async def _edit(db, manager_id: int, draft: Draft, text: str) -> Draft:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        edited = await review.edit_draft(session, Reviewer(manager_id), draft.id, text)
        await session.commit()
        return edited


async def _status(db, draft_id: int) -> str:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return str(await session.scalar(select(Draft.status).where(Draft.id == draft_id)))


async def test_blocked_draft_is_never_approved_by_the_service_or_auto_approval(db, planned) -> None:  # type: ignore[no-untyped-def]
    manager_id, drafts = planned
    zh = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text.replace("到期。", "到期。" + PROMISE, 1))
    assert "promise_words" in zh.flags and compliance.blocking(zh.flags)
    await _edit(db, manager_id, drafts["rem"], drafts["rem"].text.replace("¥9,000.00", "¥90,000.00"))
    me = Reviewer(manager_id)
    async with db.sessions() as session:
        with pytest.raises(Blocked) as exc:
            await review.approve_one(session, me, zh.id, override_reason="the client asked for it")
        assert "promise_words" in exc.value.findings
        # approve all, even with warnings overridden: the blocked draft stays behind
        assert await review.approve_all(session, me, zh.campaign_id, include_flagged=True,
                                        override_reason="checked") == 1
        assert await review.auto_approve(session, D) == 0  # the reminder's amount was changed: blocked
        await session.commit()
    assert await _status(db, zh.id) == "pending" and await _status(db, drafts["en"].id) == "queued"
    assert await _status(db, drafts["rem"].id) == "pending"
    # the manager fixes the text: now it goes
    fixed = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text)
    assert not fixed.flags
    async with db.sessions() as session:
        await review.approve_one(session, me, zh.id)
        await session.commit()
    assert await _status(db, zh.id) == "queued"


async def test_warnings_need_an_override_with_a_reason_audited(db, planned) -> None:  # type: ignore[no-untyped-def]
    manager_id, drafts = planned
    warned = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text.replace("或许适合", "收益稳定，或许适合"))
    assert compliance.warnings(warned.flags) == ["soft_promise"] and not compliance.blocking(warned.flags)
    me = Reviewer(manager_id)
    async with db.sessions() as session:
        with pytest.raises(NeedsOverride):
            await review.approve_one(session, me, warned.id)
        with pytest.raises(review.InvalidInput):
            await review.approve_one(session, me, warned.id, override_reason="   ")
        # approve all without an override leaves it; with include_flagged a reason is required
        assert await review.approve_all(session, me, warned.campaign_id) == 1
        with pytest.raises(review.InvalidInput):
            await review.approve_all(session, me, warned.campaign_id, include_flagged=True)
        await review.approve_one(session, me, warned.id, override_reason="wording agreed with compliance")
        await session.commit()
        row = (await session.scalars(select(AuditLog).where(AuditLog.action == "override"))).one()
    assert row.entity_id == str(warned.id) and row.details == {
        "warnings": ["soft_promise"], "reason": "wording agreed with compliance"}
    assert await _status(db, warned.id) == "queued"


async def test_console_api_refuses_blocked_and_asks_for_override(db, settings, planned) -> None:  # type: ignore[no-untyped-def]
    from bot.web import create_web_app
    from tests.web.conftest import login

    manager_id, drafts = planned
    blocked = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text + PROMISE)
    warned = await _edit(db, manager_id, drafts["en"],
                         drafts["en"].text.replace("may suit", "is a high return, may suit"))
    app = create_web_app(settings, db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        csrf = await login(client, db, manager_id)
        h = {"X-CSRF-Token": csrf}
        r = await client.post(f"/api/drafts/{blocked.id}/approve", headers=h)
        assert r.status_code == 400 and r.json()["code"] == "blocked" and "promise_words" in r.json()["findings"]
        r = await client.post(f"/api/drafts/{blocked.id}/approve", json={"override_reason": "please"}, headers=h)
        assert r.status_code == 400 and r.json()["code"] == "blocked"
        r = await client.post(f"/api/drafts/{warned.id}/approve", headers=h)
        assert r.status_code == 400 and r.json()["code"] == "needs_override"
        r = await client.post(f"/api/campaigns/{blocked.campaign_id}/approve-all",
                              json={"expected": 1, "include_flagged": True, "override_reason": "reviewed"}, headers=h)
        assert r.status_code == 200 and r.json()["count"] == 1
    assert await _status(db, blocked.id) == "pending" and await _status(db, warned.id) == "queued"
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).where(AuditLog.action == "override")) == 1


async def test_telegram_refuses_blocked_and_takes_an_override_reason(db, settings, planned, fake_session) -> None:  # type: ignore[no-untyped-def]
    from bot.app import build_dispatcher
    from handlers.keyboards import ReviewCb
    from tools.fakes.bot_api import callback_update, make_bot, message_update

    manager_id, drafts = planned
    blocked = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text + PROMISE)
    warned = await _edit(db, manager_id, drafts["en"],
                         drafts["en"].text.replace("may suit", "is a high return, may suit"))
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, callback_update(9100, ReviewCb(a="ok", c=blocked.campaign_id, d=blocked.id).pack(),
                                              language_code="en"))
    answers = [r for r in fake_session.requests if r.method_name == "answerCallbackQuery"]
    # the manager's language (zh by default): the finding is named
    assert "合规" in answers[-1].params["text"] and "含承诺收益用语" in answers[-1].params["text"]  # translated
    await dp.feed_update(bot, callback_update(9100, ReviewCb(a="ok", c=warned.campaign_id, d=warned.id).pack(),
                                              language_code="en"))
    assert "请发送批准理由" in fake_session.sent_texts(9100)[-1]
    await dp.feed_update(bot, message_update(9100, "/cancel", language_code="en"))  # not a reason: nothing approved
    assert await _status(db, warned.id) == "pending"
    assert fake_session.sent_texts(9100)[-1] == t("Cancelled.", "zh")
    await dp.feed_update(bot, callback_update(9100, ReviewCb(a="ok", c=warned.campaign_id, d=warned.id).pack(),
                                              language_code="en"))
    await dp.feed_update(bot, message_update(9100, "client asked for the comparison", language_code="en"))
    assert "理由已记录" in fake_session.sent_texts(9100)[-1]
    assert await _status(db, blocked.id) == "pending" and await _status(db, warned.id) == "queued"
    async with db.sessions() as session:
        row = (await session.scalars(select(AuditLog).where(AuditLog.action == "override"))).one()
    assert row.details["reason"] == "client asked for the comparison"



async def test_an_override_reason_must_say_why(db, planned) -> None:  # type: ignore[no-untyped-def]
    """Blank, a command, or a word or two is not a reason an auditor can read; three Chinese
    characters or a few English words are."""
    manager_id, drafts = planned
    warned = await _edit(db, manager_id, drafts["zh"], drafts["zh"].text.replace("或许适合", "收益稳定，或许适合"))
    me = Reviewer(manager_id)
    async with db.sessions() as session:
        for reason in ("", "   ", "ok", "好的", "同意", "yes", "...", "aaaaaa", "ok ok ok", "/stop",
                       "/human the client asked"):
            with pytest.raises(NeedsOverride):
                await review.approve_one(session, me, warned.id, override_reason=reason)
            with pytest.raises(NeedsOverride):  # the console's "approve all, flagged too" needs the same
                await review.approve_all(session, me, warned.campaign_id, include_flagged=True,
                                         override_reason=reason)
        assert await session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "override")) == 0
        assert [review.override_reason_problem(r) for r in ("客户要求", "agreed", "Checked: the wording is compliant",
                                                            "/stop", " ", "好的")] == [
            None, None, None, "command", "blank", "short"]
        await review.approve_one(session, me, warned.id, override_reason="  已核实 ")
        await session.commit()
        row = (await session.scalars(select(AuditLog).where(AuditLog.action == "override"))).one()
    assert row.details["reason"] == "已核实" and await _status(db, warned.id) == "queued"


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_telegram_override_reason_is_never_a_command_nor_a_word(db, settings, planned, fake_session,
                                                                      lang) -> None:  # type: ignore[no-untyped-def]
    """Asked for the reason to approve a draft with warnings, the manager sends /stop, then /today
    and words meant for something else, then "ok": nothing is approved and nothing recorded, until
    a real reason comes; every answer is in the manager's language."""
    from bot.app import build_dispatcher
    from handlers.keyboards import ReviewCb
    from tools.fakes.bot_api import callback_update, make_bot, message_update

    manager_id, drafts = planned
    async with db.sessions() as session:
        (await session.get(Manager, manager_id)).language = lang
        await session.commit()
    warned = await _edit(db, manager_id, drafts["en"],
                         drafts["en"].text.replace("may suit", "is a high return, may suit"))
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    other = "zh" if lang == "en" else "en"  # Telegram's language is not the one the manager chose
    flag = ReviewCb(a="ok", c=warned.campaign_id, d=warned.id).pack()

    async def say(text: str) -> list[str]:
        before = len(fake_session.sent_texts(9100))
        await dp.feed_update(bot, message_update(9100, text, language_code=other))
        return fake_session.sent_texts(9100)[before:]

    await dp.feed_update(bot, callback_update(9100, flag, language_code=other))
    assert (await say("/stop"))[0] == t("Cancelled.", lang)  # then /stop runs as it would have
    await dp.feed_update(bot, callback_update(9100, flag, language_code=other))
    assert (await say("/today"))[0] == t("Cancelled.", lang)
    await say("client asked for the comparison")  # after /today: not the answer to the question before it
    assert await _status(db, warned.id) == "pending"
    await dp.feed_update(bot, callback_update(9100, flag, language_code=other))
    again = t("A reason must say why you approve it despite the warnings, in a few words (for example: the client "
              "asked for this comparison). Send the reason, or /cancel.", lang)
    assert await say("ok") == [again] and await say("好") == [again]  # still waiting for the reason
    assert await _status(db, warned.id) == "pending"
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "override")) == 0
    assert await say("客户要求做产品对比") == [t("Approved with your reason (recorded).", lang)]
    async with db.sessions() as session:
        row = (await session.scalars(select(AuditLog).where(AuditLog.action == "override"))).one()
    assert row.details["reason"] == "客户要求做产品对比" and await _status(db, warned.id) == "queued"


async def _send(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    from scheduler.ratelimit import LocalLimiter
    from scheduler.sender import Sender
    from tools.fakes.bot_api import make_bot

    quiet_free = settings.model_copy(update={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00",
                                             "chat_interval_s": 0.0})
    at_six = db.with_clock(lambda: datetime(2027, 3, 1, 6, 0, tzinfo=UTC))  # the morning the drafts are for
    sender = Sender(quiet_free, at_six.sessions, make_bot(fake_session), LocalLimiter(1000), idle_s=0.05)
    await sender.run(asyncio.Event(), until_idle=True)  # every due row handled, however slow the host


async def test_not_sent_when_the_rules_change_after_approval(db, settings, planned, fake_session,
                                                             monkeypatch) -> None:  # type: ignore[no-untyped-def]
    manager_id, drafts = planned
    async with db.sessions() as session:
        await review.approve_all(session, Reviewer(manager_id), drafts["zh"].campaign_id)
        # after approval: the bank adds a word to the promise list, and the English client's rating drops
        client = await session.get(Client, drafts["en"].client_id)
        client.risk_rating = "C1"
        reminder = drafts["rem"]
        await review.approve_one(session, Reviewer(manager_id), reminder.id)
        (await session.get(Client, reminder.client_id)).language = "en"  # now reads English only
        await session.commit()
    monkeypatch.setattr(compliance, "PROMISE_WORDS", (*compliance.PROMISE_WORDS, "稳享"))
    await _send(db, settings, fake_session)
    assert fake_session.sent_texts() == []
    async with db.sessions() as session:
        errors = dict((await session.execute(select(OutboxItem.draft_id, OutboxItem.last_error))).all())
        assert errors == {drafts["zh"].id: "compliance: promise_words", drafts["en"].id: "compliance: unsuitable",
                          drafts["rem"].id: "compliance: wrong_language"}
        assert await session.scalar(select(func.count()).where(AuditLog.action == "send_blocked")) == 3


async def test_template_edit_is_per_language_and_validated_before_saving(db, planned) -> None:  # type: ignore[no-untyped-def]
    manager_id, drafts = planned
    me = Reviewer(manager_id)
    camp_id = drafts["zh"].campaign_id
    async with db.sessions() as session:
        zh_source = await review.template_source(session, me, camp_id, "zh")
        en_source = await review.template_source(session, me, camp_id, "en")
        assert "{salutation}" in zh_source and "{amount}" in zh_source and "{risk_notice}" in zh_source
        assert en_source.startswith("Dear {salutation},") and "{signature}" in en_source
        # promise words, a dropped risk notice, Chinese in the English template: refused, nothing changes
        for template, lang, code in ((zh_source.replace("或许适合", "保本，或许适合"), None, "promise_words"),
                                     (zh_source.replace("{risk_notice}", ""), "zh", "risk_notice_missing"),
                                     (en_source.replace("may suit", "或许适合"), "en", "wrong_language")):
            with pytest.raises(TemplateRejected) as exc:
                await review.edit_template(session, me, camp_id, template, lang)
            assert code in exc.value.findings
        assert (await session.scalar(select(Draft.text).where(Draft.id == drafts["zh"].id))) == drafts["zh"].text
        # a Chinese edit re-renders the Chinese drafts only
        assert await review.edit_template(session, me, camp_id, zh_source.replace("或许适合", "可能适合")) == 1
        await session.commit()
        zh_text = await session.scalar(select(Draft.text).where(Draft.id == drafts["zh"].id))
        en_text = await session.scalar(select(Draft.text).where(Draft.id == drafts["en"].id))
        manager = await session.get(Manager, manager_id)
    assert "可能适合" in zh_text and "¥54,000.00" in zh_text and en_text == drafts["en"].text
    assert manager is not None
