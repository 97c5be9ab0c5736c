"""A simulated week on a small demo workspace: the report's figures equal counts taken straight
from the records (drafts, outbox, conversations, tickets, audit log), and `rmbot report --json`
prints the same figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.services.documents import SqlDocumentRegistry
from bot.services.reports import Period, manager_report
from knowledge import build_knowledge_service
from tools.demo import build_demo, scaled_managers
from tools.simulate import simulate_days


@pytest.fixture
async def week(db, settings):  # type: ignore[no-untyped-def]
    await build_demo(settings, db, managers=scaled_managers(0.03), embedding="hash")
    knowledge = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), embedding="hash")
    today = datetime.now(settings.tz).date()
    summary = await simulate_days(settings, db, 7, knowledge=knowledge, today=today)
    return summary, Period(today - timedelta(days=6), today, settings.tz)


async def _one(session, sql: str, **params) -> int:  # type: ignore[no-untyped-def]
    return int((await session.execute(text(sql), params)).scalar() or 0)


async def test_report_figures_match_the_records(db, settings, week) -> None:  # type: ignore[no-untyped-def]
    summary, period = week
    assert summary["anything_sent"]
    async with db.sessions() as session:
        manager_id = await _one(session, "SELECT min(id) FROM managers")
        r = await manager_report(session, manager_id, period)
        p = {"m": manager_id, "d0": period.start.isoformat(), "d1": period.end.isoformat(),
             "t0": period.start_utc.replace(tzinfo=None).isoformat(" "),
             "t1": period.end_utc.replace(tzinfo=None).isoformat(" ")}
        drafts = "FROM drafts WHERE manager_id = :m AND plan_date BETWEEN :d0 AND :d1"
        assert r["drafts"]["planned"] == await _one(session, f"SELECT count(*) {drafts}", **p) > 0
        assert r["drafts"]["rejected"] == await _one(session, f"SELECT count(*) {drafts} AND status = 'rejected'", **p)
        assert r["drafts"]["edited"] == await _one(session, f"SELECT count(*) {drafts} AND edited", **p) > 0
        assert r["drafts"]["approved"] == await _one(
            session, f"SELECT count(*) {drafts} AND status NOT IN ('pending', 'rejected')", **p)
        out = ("FROM outbox WHERE manager_id = :m AND kind != 'reply' AND created_at >= :t0 AND created_at < :t1")
        assert r["messages"]["sent"] == await _one(session, f"SELECT count(*) {out} AND status = 'sent'", **p) > 0
        assert r["messages"]["failed"] == await _one(session, f"SELECT count(*) {out} AND status = 'failed'", **p)
        assert r["messages"]["replies_within_48h"] == await _one(session, f"""
            SELECT count(*) {out} AND status = 'sent' AND EXISTS (
              SELECT 1 FROM chat_messages c WHERE c.client_id = outbox.client_id AND c.direction = 'in'
              AND c.created_at >= outbox.sent_at AND julianday(c.created_at) < julianday(outbox.sent_at) + 2)""", **p)
        assert r["messages"]["opt_outs_after_message"] == await _one(session, """
            SELECT count(DISTINCT a.client_id) FROM audit_log a WHERE a.action = 'opt_out' AND EXISTS (
              SELECT 1 FROM outbox o WHERE o.client_id = a.client_id AND o.manager_id = :m AND o.status = 'sent'
              AND o.kind != 'reply' AND o.created_at >= :t0 AND o.created_at < :t1
              AND o.sent_at <= a.at AND julianday(o.sent_at) > julianday(a.at) - 2)""", **p)
        book = "SELECT id FROM clients WHERE manager_id = :m"
        answers = ("FROM chat_messages WHERE author = 'bot' "
                   "AND outcome IN ('grounded', 'personal', 'declined', 'handoff') "
                   f"AND created_at >= :t0 AND created_at < :t1 AND client_id IN ({book})")
        assert r["conversations"]["questions"] == await _one(session, f"SELECT count(*) {answers}", **p) > 0
        assert r["conversations"]["handled_by_bot"] == await _one(
            session, f"SELECT count(DISTINCT conversation_id) {answers}", **p)
        tickets = "FROM tickets WHERE manager_id = :m AND created_at >= :t0 AND created_at < :t1"
        assert r["conversations"]["handed_off"] == await _one(session, f"SELECT count(*) {tickets}", **p) > 0
        assert r["conversations"]["answered_by_manager"] == await _one(
            session, f"SELECT count(*) {tickets} AND first_reply_at IS NOT NULL", **p)
        assert r["reach"]["book"] == await _one(session, "SELECT count(*) FROM clients WHERE manager_id = :m", **p)
        assert r["review"]["seconds"] > 0 and r["review"]["days_reviewed"] >= 1


async def test_records_carry_the_simulated_days(db, settings, week) -> None:  # type: ignore[no-untyped-def]
    """The services wrote the times of the simulation's clock (bot/clock.py), not the machine's: what was sent,
    said and audited is spread over the simulated days, at the simulated hours."""
    _, period = week
    days = {(period.start + timedelta(days=n)).isoformat() for n in range(7)}
    tz = settings.tz
    async with db.sessions() as session:
        def local(rows):  # type: ignore[no-untyped-def]
            return [datetime.fromisoformat(str(r[0])).replace(tzinfo=UTC).astimezone(tz) for r in rows]

        sent = local((await session.execute(text("SELECT sent_at FROM outbox WHERE status = 'sent'"))).all())
        said = local((await session.execute(text("SELECT created_at FROM chat_messages"))).all())
        approved = local((await session.execute(text("SELECT at FROM audit_log WHERE action = 'approve'"))).all())
    sent_days = {t.date().isoformat() for t in sent}
    assert sent_days <= days and len(sent_days) >= 4  # sent on the simulated days, not all at once
    assert {t.hour for t in sent} <= {10, 13, 16, 19}  # in the day's sending windows
    assert len({t.date() for t in said}) > 1 and len({t.date() for t in approved}) > 1
    assert all(t.hour == 9 for t in approved)  # the managers review at 09:xx


async def test_cli_report_prints_the_same_figures(db, settings, week, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    _, period = week
    async with db.sessions() as session:
        manager_id = await _one(session, "SELECT min(id) FROM managers")
        expected = await manager_report(session, manager_id, period)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    load_commands()
    import asyncio

    args = ["report", "--manager", str(manager_id), "--from", period.start.isoformat(), "--to",
            period.end.isoformat(), "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)  # the CLI runs its own event loop
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    for section in ("drafts", "messages", "conversations", "funnel"):
        assert printed[section] == expected[section]


async def test_daily_summary_in_telegram(db, settings, week, fake_session) -> None:  # type: ignore[no-untyped-def]
    from bot.db.models import Manager
    from scheduler import jobs
    from tools.fakes.bot_api import make_bot

    _, period = week
    async with db.sessions() as session:
        manager_id = await _one(session, "SELECT min(id) FROM managers")
        (await session.get(Manager, manager_id)).telegram_id = 77001
        await session.commit()
        day = Period(period.end, period.end, settings.tz)
        report = await manager_report(session, manager_id, day)
    jobs.register_runtime(settings, db, make_bot(fake_session))
    assert await jobs.daily_summary_job(period.end.isoformat()) == 1
    [text] = fake_session.sent_texts(77001)
    assert f"已发送 {report['messages']['sent']} 条" in text
    assert f"{report['drafts']['planned']} drafts" in text
