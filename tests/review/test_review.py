"""Manager review: decisions, audit rows in the same transaction, outbox hand-off, access."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditLog, Campaign, Client, Draft, Manager, OutboxItem
from bot.services import review
from bot.services.placeholders import TemplateFieldError
from bot.services.review import InvalidInput, NotFound, Reviewer

DAY = date(2026, 12, 1)


async def seed(session, n: int = 6, flagged: int = 1) -> dict:  # type: ignore[no-untyped-def]
    m1, m2 = Manager(code="M1", name="王敏"), Manager(code="M2", name="李强")
    session.add_all([m1, m2])
    await session.flush()
    out = {"m1": m1.id, "m2": m2.id}
    for m in (m1, m2):
        camp = Campaign(manager_id=m.id, plan_date=DAY, kind="greeting", occasion="new_year",
                        template_id="drafts/greeting/new_year_zh.j2")
        session.add(camp)
        await session.flush()
        out[f"camp{m.code}"] = camp.id
        for i in range(n):
            c = Client(client_no=f"{m.code}-{i}", name=f"客户{i}", manager_id=m.id,
                       telegram_chat_id=(1000 if m.code == "M1" else 2000) + i, marketing_consent=True)
            session.add(c)
            await session.flush()
            session.add(Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=DAY, kind="greeting",
                              occasion="new_year", dedupe_key="greeting:new_year:2027", language="zh",
                              text=f"{c.name}您好，新年快乐！", context={"salutation": c.name, "signature": m.name},
                              flags=["promise_words"] if i < flagged else None,
                              scheduled_at=datetime(2026, 12, 1, 2, tzinfo=UTC)))
    await session.commit()
    return out


async def test_approve_all_skips_flagged_and_fills_outbox(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        ids = await seed(session)
        me = Reviewer(ids["m1"])
        [camp] = await review.list_campaigns(session, me, DAY)
        assert (camp["count"], camp["pending"], camp["flagged"]) == (6, 6, 1)
        with pytest.raises(InvalidInput):
            await review.approve_all(session, me, camp["id"], expected=6)  # the confirmed count must match
        assert await review.approve_all(session, me, camp["id"], expected=5) == 5
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(OutboxItem)) == 5
        assert await session.scalar(select(func.count()).where(AuditLog.action == "approve")) == 5
        statuses = dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all())
        assert statuses == {"queued": 5, "pending": 1}


async def test_edit_is_sent_as_edited(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        ids = await seed(session, flagged=0)
        me = Reviewer(ids["m1"])
        page = await review.list_drafts(session, me, ids["campM1"], limit=2)
        draft_id = page["items"][0]["id"]
        await review.edit_draft(session, me, draft_id, "王先生，新年好！我是您的客户经理王敏。")
        await review.approve_one(session, me, draft_id)
        await session.commit()
        item = await session.scalar(select(OutboxItem).where(OutboxItem.draft_id == draft_id))
        assert item.text == "王先生，新年好！我是您的客户经理王敏。"
        actions = (await session.scalars(select(AuditLog.action).where(AuditLog.entity_id == str(draft_id)))).all()
        assert set(actions) >= {"edit", "approve"}
        with pytest.raises(InvalidInput):
            await review.edit_draft(session, me, draft_id, "too late")


async def test_template_edit_rerenders_unedited_pending(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        ids = await seed(session, n=3, flagged=0)
        me = Reviewer(ids["m1"])
        items = (await review.list_drafts(session, me, ids["campM1"]))["items"]
        await review.edit_draft(session, me, items[0]["id"], "手写的祝福")
        n = await review.edit_template(session, me, ids["campM1"], "{salutation}，新年快乐！{signature}")
        assert n == 2
        texts = {d["id"]: d["text"] for d in (await review.list_drafts(session, me, ids["campM1"]))["items"]}
        assert texts[items[0]["id"]] == "手写的祝福"
        assert texts[items[1]["id"]] == "客户1，新年快乐！王敏"
        with pytest.raises(TemplateFieldError, match="missing_value"):
            await review.edit_template(session, me, ids["campM1"], "{missing_value}")


async def test_reject_needs_reason(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        ids = await seed(session, n=2)
        me = Reviewer(ids["m1"])
        with pytest.raises(InvalidInput):
            await review.reject_all(session, me, ids["campM1"], "  ")
        assert await review.reject_all(session, me, ids["campM1"], "wrong season") == 2
        assert await session.scalar(select(func.count()).select_from(OutboxItem)) == 0


async def test_manager_cannot_touch_another_managers_work(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        ids = await seed(session)
        me = Reviewer(ids["m1"])
        other_draft = await session.scalar(select(Draft.id).where(Draft.manager_id == ids["m2"]))
        for call in (
            review.get_campaign(session, me, ids["campM2"]),
            review.list_drafts(session, me, ids["campM2"]),
            review.approve_all(session, me, ids["campM2"]),
            review.reject_all(session, me, ids["campM2"], "x"),
            review.approve_one(session, me, other_draft),
            review.edit_draft(session, me, other_draft, "x"),
            review.edit_template(session, me, ids["campM2"], "x"),
        ):
            with pytest.raises(NotFound):
                await call
        assert [c["id"] for c in await review.list_campaigns(session, me)] == [ids["campM1"]]
        admin = Reviewer(ids["m2"], is_admin=True)
        assert len(await review.list_campaigns(session, admin)) == 2


async def test_auto_approve_only_clean_reminders(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        m = Manager(code="A", name="自动", auto_approve_reminders=True)
        session.add(m)
        await session.flush()
        camp = Campaign(manager_id=m.id, plan_date=DAY, kind="reminder", occasion="deposit_maturity_7d")
        session.add(camp)
        await session.flush()
        for i, (kind, flags, llm) in enumerate([("reminder", None, False), ("reminder", ["amount_mismatch"], False),
                                                ("reminder", None, True), ("greeting", None, False)]):
            c = Client(client_no=f"A{i}", name="x", manager_id=m.id)
            session.add(c)
            await session.flush()
            session.add(Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=DAY, kind=kind,
                              occasion="o", dedupe_key="k", language="zh", text="温馨提示：您的存款即将到期。",
                              flags=flags, llm_rewritten=llm,
                              scheduled_at=datetime.now(UTC) + timedelta(hours=1)))
        await session.commit()
        assert await review.auto_approve(session, DAY) == 1
