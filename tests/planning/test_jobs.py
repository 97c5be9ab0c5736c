"""Scheduler jobs: the SQLAlchemy job store on a temp SQLite database, jobs stored by reference with
plain arguments; the planning job plans and notifies managers through the bot registered at run time."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditLog, Draft
from scheduler import jobs
from tests.conftest import make_settings
from tests.planning import seed
from tools.fakes.bot_api import forbidden

D = date(2027, 2, 5)


async def test_scheduler_stores_jobs_by_reference(db, settings) -> None:
    scheduler = await jobs.start_scheduler(settings, db, bot=None)
    try:
        job = scheduler.get_job(jobs.PLAN_JOB_ID)
        assert job is not None and job.func_ref == jobs.PLAN_JOB_REF
        nxt = job.next_run_time
        assert str(nxt.tzinfo) == "Asia/Shanghai" and (nxt.hour, nxt.minute) == (7, 0)
        assert scheduler.get_job(jobs.REMIND_JOB_ID).func_ref == jobs.REMIND_JOB_REF
        assert scheduler.get_job(jobs.SUMMARY_JOB_ID).func_ref == jobs.SUMMARY_JOB_REF
    finally:
        scheduler.shutdown(wait=False)
    path = settings.database_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute(f"SELECT id, job_state FROM {jobs.JOBSTORE_TABLE}").fetchall())
    assert set(rows) == {jobs.PLAN_JOB_ID, jobs.REMIND_JOB_ID, jobs.SUMMARY_JOB_ID}
    state = pickle.loads(rows[jobs.PLAN_JOB_ID])
    assert state["func"] == jobs.PLAN_JOB_REF and state["args"] == () and state["kwargs"] == {}
    # a second start (another process, a restart) replaces the jobs, never duplicates them
    again = jobs.build_scheduler(settings)
    again.start(paused=True)
    try:
        assert {j.id for j in again.get_jobs()} == {jobs.PLAN_JOB_ID, jobs.REMIND_JOB_ID, jobs.SUMMARY_JOB_ID}
    finally:
        again.shutdown(wait=False)


async def test_plan_job_plans_and_notifies(db, settings, fake_bot, fake_session) -> None:
    async with db.sessions() as session:
        seed.add_products(session)
        m = await seed.add_manager(session, telegram_id=777, name="王敏")
        other = await seed.add_manager(session, code="M002", telegram_id=778, name="陈静")
        await seed.add_manager(session, code="M003", name="无账号")
        await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=7))])
        await seed.add_client(session, other, [])
        await session.commit()
    fake_session.script("sendMessage", forbidden())  # the first manager blocked the bot: others still notified
    jobs.register_runtime(settings, db, fake_bot)
    summary = await jobs.plan_day_job(D.isoformat())
    assert summary["drafted"] >= 2 and summary["notified"] == 1  # one message per client
    texts = fake_session.sent_texts(chat_id=778)
    assert len(texts) == 1 and "陈静" in texts[0] and "春节祝福" in texts[0] and "/queue" in texts[0]
    assert "Spring Festival greeting" in texts[0]
    async with db.sessions() as session:
        count = await session.scalar(select(func.count(Draft.id)))
        assert await session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "plan")) == 1
    # the job is idempotent: running it again adds nothing
    again = await jobs.plan_day_job(D.isoformat(), notify=False)
    assert again["drafted"] == 0
    async with db.sessions() as session:
        assert await session.scalar(select(func.count(Draft.id))) == count
    # afternoon reminder: both managers still have pending campaigns
    fake_session.clear()
    assert await jobs.remind_waiting_job(D.isoformat()) == 2
    assert len(fake_session.sent_texts(chat_id=777)) == 1


def test_notice_text_is_bilingual_and_escaped() -> None:
    text = jobs.campaigns_waiting_text("A<b>", D, [{"occasion": "birthday", "pending": 2},
                                                  {"occasion": "loan_due", "pending": 1}], "https://x/console")
    assert "A&lt;b&gt;" in text and "生日祝福：2条" in text and "Loan repayment due: 1" in text
    assert "共3条" in text and "3 drafted messages for 5 Feb 2027" in text and "https://x/console" in text


@pytest.mark.postgres
async def test_one_scheduler_leader_on_postgresql(pg_db, tmp_path) -> None:
    from apscheduler.schedulers.base import STATE_RUNNING

    settings = make_settings(tmp_path, database_url=pg_db.engine.url.render_as_string(hide_password=False))
    first = await jobs.start_scheduler(settings, pg_db, leader_retry_s=0.1)
    second = await jobs.start_scheduler(settings, pg_db, leader_retry_s=0.1)
    try:
        deadline = time.monotonic() + 120  # only a stuck election takes this long, even on a loaded host
        while time.monotonic() < deadline:
            if first.state == STATE_RUNNING or second.state == STATE_RUNNING:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        states = sorted([first.state == STATE_RUNNING, second.state == STATE_RUNNING])
        assert states == [False, True]  # exactly one leader
        leader, follower = (first, second) if first.state == STATE_RUNNING else (second, first)
        assert {j.id for j in leader.get_jobs()} == {jobs.PLAN_JOB_ID, jobs.REMIND_JOB_ID, jobs.SUMMARY_JOB_ID}
        leader.shutdown(wait=False)  # the leader stops: the other takes over
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if follower.state == STATE_RUNNING:
                break
            await asyncio.sleep(0.05)
        assert follower.state == STATE_RUNNING
        assert follower.get_job(jobs.PLAN_JOB_ID).func_ref == jobs.PLAN_JOB_REF
    finally:
        first.shutdown(wait=False)
        second.shutdown(wait=False)
        await asyncio.sleep(0.1)
