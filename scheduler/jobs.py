"""Scheduled jobs: APScheduler 3 (`AsyncIOScheduler`) with a persistent SQLAlchemy job store in
the project's database, in the bank's time zone.

Jobs are stored by reference ("scheduler.jobs:plan_day_job") with plain values as arguments;
they resolve the settings, the database and the bot from a small runtime registry when they run
(`register_runtime`, done by `start_scheduler`), so nothing unpicklable reaches the job store.

- `plan_day_job` at PLAN_AT (default 07:00): plans the day (idempotent) and tells each manager
  with a Telegram account which campaigns wait for review.
- `remind_waiting_job` at REMIND_AT (13:30): tells managers again about campaigns still pending.

With PostgreSQL, several processes may be started with a scheduler: only the one holding a
session advisory lock (on a connection it keeps open) runs the scheduler; the others retry every
LEADER_RETRY_S seconds and take over when the leader stops or loses its connection. (APScheduler 3
must not share a job store between running schedulers.) With SQLite there is one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, text

from bot.db.engine import sync_url
from bot.db.models import Manager
from bot.db.retry import retry_transient
from bot.services.formats import fmt_date, fmt_day_month
from bot.settings import Settings, parse_hhmm
from bot.workspace import Database
from prompts import render
from scheduler.occasions import OCCASION_LABELS

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.services.reports import ManagerReport

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
PLAN_JOB_ID = "plan_day"
REMIND_JOB_ID = "remind_waiting"
PLAN_JOB_REF = "scheduler.jobs:plan_day_job"
REMIND_JOB_REF = "scheduler.jobs:remind_waiting_job"
REMIND_AT = "13:30"
SUMMARY_JOB_ID = "daily_summary"
SUMMARY_JOB_REF = "scheduler.jobs:daily_summary_job"
SUMMARY_AT = "20:30"
PLAN_LOCK_KEY = 5_120_001  # pg advisory lock id of the planning job
LEADER_LOCK_KEY = 5_120_002  # pg advisory lock id of the scheduler leader
LEADER_RETRY_S = 15.0


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bot: Bot | None = None  # None: no notifications


_runtime: Runtime | None = None


def register_runtime(settings: Settings, db: Database, bot: Bot | None = None) -> Runtime:
    """Make the settings, database and bot available to jobs in this process."""
    global _runtime
    _runtime = Runtime(settings=settings, db=db, bot=bot)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("scheduler runtime not registered: call start_scheduler() or register_runtime() first")
    return _runtime


def _day(rt: Runtime, plan_date: str | None) -> date:
    """The given ISO day, or today in the bank's zone by the database's clock."""
    return date.fromisoformat(plan_date) if plan_date else rt.db.clock().astimezone(rt.settings.tz).date()


async def plan_day_job(plan_date: str | None = None, notify: bool = True) -> dict[str, Any]:
    """Plan `plan_date` (ISO; default today in the bank's zone), then notify the managers."""
    from bot.services.drafting import personaliser_from_settings
    from scheduler.planner import plan_day

    rt = runtime()
    day = _day(rt, plan_date)

    async def plan() -> tuple[dict[str, Any], Any]:
        async with rt.db.sessions() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PLAN_LOCK_KEY})
                if not locked:
                    log.info("plan %s: another scheduler is planning; skipped", day)
                    return {"plan_date": day.isoformat(), "skipped": "locked"}, None
            result = await plan_day(session, rt.settings, day, now=rt.db.clock(),
                                    personaliser=personaliser_from_settings(rt.settings))
            from bot.services.review import auto_approve

            auto = await auto_approve(session, day)  # managers who chose it: clean service reminders
            summary = {"plan_date": day.isoformat(), "clients": result.clients, "drafted": result.drafted,
                       "auto_approved": auto,
                       "campaigns": len(result.campaigns), "skipped": dict(result.skipped),
                       "seconds": round(result.seconds, 2)}
            await session.commit()
        return summary, result

    # A passing database error (a lock held elsewhere) must not cost the day's plan: planning is
    # idempotent (dedupe keys), so it is simply run again after a backoff.
    summary, result = await retry_transient("scheduler", plan, attempts=12)
    if result is None:
        return summary
    log.info("planned %s: %s drafts for %s clients", day, result.drafted, result.clients)
    if notify:
        summary["notified"] = await notify_managers(day)
    return summary


async def remind_waiting_job(plan_date: str | None = None) -> int:
    """Remind managers of today's campaigns still waiting for review."""
    rt = runtime()
    return await notify_managers(_day(rt, plan_date))


def campaigns_waiting_text(manager_name: str, day: date, campaigns: list[dict[str, Any]],
                           console_url: str = "") -> str:
    """The manager's notice, Chinese then English (prompts/notify/)."""
    items = []
    for c in campaigns:
        zh, en = OCCASION_LABELS.get(c["occasion"], (c["occasion"], c["occasion"]))
        items.append({"title_zh": html.escape(zh), "title_en": html.escape(en), "pending": c["pending"]})
    total = sum(c["pending"] for c in campaigns)
    values = {"manager_name": html.escape(manager_name), "campaigns": items, "total": total,
              "console_url": html.escape(console_url)}
    zh_text = render("notify/campaigns_waiting_zh.j2", plan_date=fmt_day_month(day, "zh"), **values)
    en_text = render("notify/campaigns_waiting_en.j2", plan_date=fmt_date(day, "en"), **values)
    return f"{zh_text}\n\n{en_text}"


async def notify_managers(day: date) -> int:
    """Send each manager with a Telegram account the list of `day`'s campaigns waiting for them.
    Returns how many managers were notified; a failed send is logged and does not stop the others."""
    from scheduler.planner import waiting_campaigns

    rt = runtime()
    if rt.bot is None:
        return 0
    async with rt.db.sessions() as session:
        waiting = await waiting_campaigns(session, day)
        if not waiting:
            return 0
        managers = (await session.scalars(select(Manager).where(
            Manager.id.in_(list(waiting)), Manager.telegram_id.is_not(None), Manager.active.is_(True)))).all()
    console_url = rt.settings.public_url.rstrip("/") + "/console" if rt.settings.public_url else ""
    sent = 0
    for manager in managers:
        if manager.telegram_id is None:  # not selected: the query asks for a Telegram account
            continue
        body = campaigns_waiting_text(manager.name, day, waiting[manager.id], console_url)
        try:
            await rt.bot.send_message(manager.telegram_id, body)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one manager's failure must not stop the rest
            log.warning("could not notify manager %s: %s", manager.id, type(exc).__name__)
    return sent


def _hhmm(value: str) -> tuple[int, int]:
    at = parse_hhmm(value)
    return at.hour, at.minute


@dataclass
class LeaderScheduler:
    """The APScheduler scheduler (an untyped library) and, on PostgreSQL, the leadership it runs under: it
    runs only while this process holds the leader lock; `shutdown` also gives the lock up."""

    scheduler: AsyncIOScheduler
    leader_task: asyncio.Task[None] | None = None
    lock_conn: Any = None

    @property
    def state(self) -> int:
        return int(self.scheduler.state)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def get_job(self, job_id: str) -> Any:
        return self.scheduler.get_job(job_id)

    def get_jobs(self) -> list[Any]:
        return list(self.scheduler.get_jobs())

    def shutdown(self, wait: bool = True) -> None:
        if self.leader_task is not None:
            self.leader_task.cancel()
        if self.lock_conn is not None:
            conn, self.lock_conn = self.lock_conn, None
            with contextlib.suppress(RuntimeError):  # no running loop: the process exit releases it
                asyncio.get_running_loop().create_task(_close(conn))
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


async def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        await conn.close()


def daily_summary_text(manager_name: str, day: date, report: ManagerReport) -> str:
    """The end-of-day summary for a manager (prompts/notify/daily_summary_*.j2), Chinese then English."""
    values = {
        "manager_name": html.escape(manager_name), "planned": report["drafts"]["planned"],
        "approved": report["drafts"]["approved"], "edited": report["drafts"]["edited"],
        "rejected": report["drafts"]["rejected"], "review_minutes": round(report["review"]["seconds"] / 60, 1),
        "sent": report["messages"]["sent"], "failed": report["messages"]["failed"],
        "skipped": report["messages"]["skipped"], "replies": report["messages"]["replies_within_48h"],
        "opt_outs": report["messages"]["opt_outs_after_message"],
        "bot_conversations": report["conversations"]["handled_by_bot"],
        "handed_off": report["conversations"]["handed_off"], "answered": report["conversations"]["answered_by_manager"],
    }
    zh_text = render("notify/daily_summary_zh.j2", day=fmt_day_month(day, "zh"), **values)
    en_text = render("notify/daily_summary_en.j2", day=fmt_day_month(day, "en"), **values)
    return f"{zh_text}\n\n{en_text}"


async def daily_summary_job(day: str | None = None) -> int:
    """At the end of the day, each manager with a Telegram account gets the day's figures."""
    from bot.services.reports import Period, manager_report

    rt = runtime()
    if rt.bot is None:
        return 0
    target = _day(rt, day)
    sent = 0
    async with rt.db.sessions() as session:
        managers = (await session.scalars(select(Manager).where(
            Manager.telegram_id.is_not(None), Manager.active.is_(True)))).all()
        for manager in managers:
            if manager.telegram_id is None:  # not selected: the query asks for a Telegram account
                continue
            report = await manager_report(session, manager.id, Period(target, target, rt.settings.tz))
            try:
                await rt.bot.send_message(manager.telegram_id, daily_summary_text(manager.name, target, report))
                sent += 1
            except Exception as exc:  # noqa: BLE001 - one manager's failure must not stop the rest
                log.warning("could not send the daily summary to manager %s: %s", manager.id, type(exc).__name__)
    return sent


def build_scheduler(settings: Settings) -> AsyncIOScheduler:
    """The scheduler with its SQLAlchemy job store on the project database and the daily jobs
    (replacing stored ones with the same ids, so a changed PLAN_AT takes effect). Not started."""
    store = SQLAlchemyJobStore(url=sync_url(settings.database_url), tablename=JOBSTORE_TABLE)
    scheduler = AsyncIOScheduler(
        jobstores={"default": store}, timezone=settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3 * 3600},
    )
    hour, minute = _hhmm(settings.plan_at)
    scheduler.add_job(PLAN_JOB_REF, CronTrigger(hour=hour, minute=minute, timezone=settings.tz),
                      id=PLAN_JOB_ID, name="Plan the day's drafts", replace_existing=True)
    hour, minute = _hhmm(REMIND_AT)
    scheduler.add_job(REMIND_JOB_REF, CronTrigger(hour=hour, minute=minute, timezone=settings.tz),
                      id=REMIND_JOB_ID, name="Remind managers of waiting campaigns", replace_existing=True)
    hour, minute = _hhmm(SUMMARY_AT)
    scheduler.add_job(SUMMARY_JOB_REF, CronTrigger(hour=hour, minute=minute, timezone=settings.tz),
                      id=SUMMARY_JOB_ID, name="Send managers their day's figures", replace_existing=True)
    return scheduler


async def _try_lock(db: Database) -> Any:
    """A connection holding the leader lock, or None."""
    conn = await db.engine.connect()
    try:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}):
            return conn
    except Exception as exc:  # noqa: BLE001 - the database may be away; try again later
        log.warning("scheduler leader lock: %s", type(exc).__name__)
    await _close(conn)
    return None


async def _lead(leader: LeaderScheduler, db: Database, retry_s: float) -> None:
    """Become the leader when the lock is free; pause when the lock's connection is lost."""
    while True:
        conn = await _try_lock(db)
        if conn is None:
            await asyncio.sleep(retry_s)
            continue
        leader.lock_conn = conn
        if leader.running:
            leader.scheduler.resume()
        else:
            leader.scheduler.start()
        log.info("scheduler leader: this process runs the scheduled jobs")
        while True:
            await asyncio.sleep(retry_s)
            try:
                await conn.scalar(text("SELECT 1"))
            except Exception:  # noqa: BLE001 - lost the connection, and with it the lock
                log.warning("scheduler leader lost its database connection; pausing")
                break
        leader.lock_conn = None
        leader.scheduler.pause()
        await _close(conn)


async def start_scheduler(settings: Settings, db: Database, bot: Bot | None = None, *,
                          leader_retry_s: float = LEADER_RETRY_S) -> LeaderScheduler:
    """Register the runtime and start the scheduler on the running event loop (on PostgreSQL,
    as soon as this process holds the leader lock)."""
    register_runtime(settings, db, bot)
    scheduler = LeaderScheduler(build_scheduler(settings))
    if db.engine.dialect.name == "postgresql":
        scheduler.leader_task = asyncio.create_task(_lead(scheduler, db, leader_retry_s), name="scheduler-leader")
        await asyncio.sleep(0)  # the first attempt starts now
        log.info("scheduler waiting for leadership (planning daily at %s, %s)", settings.plan_at, settings.timezone)
    else:
        scheduler.scheduler.start()
        log.info("scheduler started: planning daily at %s (%s)", settings.plan_at, settings.timezone)
    return scheduler
