"""`rmbot bench delivery`: approved messages through a Bot API server, measured.

Creates a scratch workspace (temporary SQLite, or a scratch database on the PostgreSQL server
given), N clients with approved reminders in the outbox, registers their chats with the emulator
when the server is ../shared/tg_emulator, runs the sender (in-process, or W `rmbot worker`
processes sharing one Redis rate limit), optionally kills one worker with SIGKILL midway and
starts a new one, and reports what arrived.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from bot.db.models import Campaign, Client, Draft, Manager, OutboxItem
from bot.services import outbox
from bot.settings import Settings, load_settings
from bot.workspace import open_database

TOKEN = "700000001:BENCHbenchBENCHbenchBENCHbench"
CHAT_BASE = 9_000_000


@dataclass
class DeliveryResult:
    messages: int
    workers: int
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    served_429: int = 0
    requests: int = 0
    ratio_to_30: float = 0.0
    emulator: dict[str, Any] = field(default_factory=dict)
    killed: int = 0
    leased_at_kill: int = 0  # rows the killed worker held: an upper bound of its requests in flight


def scratch_database(base_url: str) -> tuple[str, str | None]:
    """(url, admin url to drop it afterwards) — a new database on a PostgreSQL server, or the URL as is."""
    if not base_url.startswith(("postgresql", "postgres")):
        return base_url, None
    import psycopg

    plain = "postgresql://" + base_url.split("://", 1)[1]
    name = f"rmbot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return plain.rsplit("/", 1)[0] + f"/{name}", plain


def drop_database(url: str, admin: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed(settings: Settings, n: int) -> None:
    now = datetime.now(UTC)
    async with open_database(settings) as db, db.sessions() as session:
        manager = Manager(code="BENCH", name="基准经理")
        session.add(manager)
        await session.flush()
        camp = Campaign(manager_id=manager.id, plan_date=now.date(), kind="reminder", occasion="bench")
        session.add(camp)
        await session.flush()
        await session.execute(insert(Client), [
            {"client_no": f"BD{i:06d}", "name": "x", "manager_id": manager.id, "telegram_chat_id": CHAT_BASE + i,
             "marketing_consent": True, "timezone": "Asia/Shanghai"} for i in range(n)])
        ids = (await session.scalars(select(Client.id).order_by(Client.id))).all()
        await session.execute(insert(Draft), [
            {"campaign_id": camp.id, "client_id": cid, "manager_id": manager.id, "plan_date": camp.plan_date,
             "kind": "reminder", "occasion": "bench", "dedupe_key": "bench", "language": "zh",
             "text": f"您好，您的定期存款将于12月3日到期。（第{i + 1}条）", "status": "approved",
             "scheduled_at": now - timedelta(minutes=1), "created_at": now} for i, cid in enumerate(ids)])
        drafts = (await session.scalars(select(Draft))).all()
        await outbox.enqueue_drafts(session, drafts, actor="bench")
        await session.commit()


async def _counts(settings: Settings) -> dict[str, int]:
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        return dict((await session.execute(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all())


async def _span(settings: Settings) -> float:
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        first, last = (await session.execute(select(func.min(OutboxItem.sent_at), func.max(OutboxItem.sent_at)))).one()
    return (last - first).total_seconds() if first and last else 0.0


async def _leased_by_pid(settings: Settings, pid: int) -> int:
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        return int(await session.scalar(select(func.count()).where(
            OutboxItem.status == "sending", OutboxItem.leased_by.like(f"%-{pid}"))) or 0)


def _emulator(api_base: str) -> bool:
    try:
        return httpx.get(f"{api_base}/_emu/stats", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_env(settings: Settings, api_base: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir), "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": api_base, "REDIS_URL": settings.redis_url,
        "QUIET_HOURS_START": settings.quiet_hours_start, "QUIET_HOURS_END": settings.quiet_hours_end,
        "SEND_RATE_PER_S": str(settings.send_rate_per_s), "LOG_LEVEL": "WARNING",
    })
    return env


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def run_bench(*, messages: int, api_base: str, workers: int, database_url: str, redis_url: str,
                    kill_after: float | None, workdir: Path, timeout_s: float = 600,
                    progress: Any = None) -> DeliveryResult:
    url, admin = scratch_database(database_url) if database_url else ("", None)
    overrides: dict[str, Any] = {"data_dir": workdir, "_env_file": None, "bot_token": TOKEN,
                                 "telegram_api_base": api_base, "redis_url": redis_url,
                                 # a benchmark is not a client's night: measure the sender, not the clock
                                 "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}
    if url:
        overrides["database_url"] = url
    settings = load_settings(**overrides)
    result = DeliveryResult(messages=messages, workers=workers)
    emulator = _emulator(api_base)
    try:
        await seed(settings, messages)
        if emulator:
            users = [{"id": CHAT_BASE + i, "first_name": f"客户{i}", "language_code": "zh"} for i in range(messages)]
            async with httpx.AsyncClient(base_url=api_base, timeout=30) as control:
                await control.post("/_emu/reset", json={})
                for start in range(0, len(users), 1000):
                    await control.post("/_emu/users", json=users[start:start + 1000])
        t0 = time.monotonic()
        procs: list[subprocess.Popen[bytes]] = []
        stop = asyncio.Event()
        inproc: asyncio.Task[None] | None = None
        env = _worker_env(settings, api_base)
        log = workdir / "workers.log"
        if workers <= 1 and kill_after is None:
            from bot.app import build_bot
            from scheduler.ratelimit import build_limiter
            from scheduler.sender import Sender

            bot = build_bot(settings, retry_429=False)
            assert bot is not None
            limiter = build_limiter(settings.redis_url, settings.send_rate_per_s)
            db_cm = open_database(settings, upgrade=False)
            db = await db_cm.__aenter__()
            sender = Sender(settings, db.sessions, bot, limiter)
            inproc = asyncio.create_task(sender.run(stop))
        else:
            procs = [_start_worker(env, log) for _ in range(max(1, workers))]
        killed = False
        done = 0
        while time.monotonic() - t0 < timeout_s:
            await asyncio.sleep(0.5)
            counts = await _counts(settings)
            done = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("cancelled", 0)
            if progress is not None:
                progress(done)
            if kill_after is not None and not killed and time.monotonic() - t0 >= kill_after:
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()
                result.leased_at_kill = await _leased_by_pid(settings, procs[0].pid)
                procs[0] = _start_worker(env, log)
                killed = True
                result.killed = 1
            if done >= messages:
                break
        result.seconds = round(await _span(settings), 2)
        stop.set()
        if inproc is not None:
            await inproc
            result.served_429 = sender.stats.get("429", 0)
            await sender.bot.session.close()
            await limiter.close()
            await db_cm.__aexit__(None, None, None)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        counts = await _counts(settings)
        result.sent = counts.get("sent", 0)
        result.failed = counts.get("failed", 0)
        result.cancelled = counts.get("cancelled", 0)
        result.per_second = round(result.sent / result.seconds, 2) if result.seconds else 0.0
        result.ratio_to_30 = round(result.per_second / 30.0, 3)
        if emulator:
            async with httpx.AsyncClient(base_url=api_base, timeout=30) as control:
                stats = (await control.get("/_emu/stats")).json()
            result.emulator = {k: stats.get(k) for k in ("requests", "delivered", "served_429", "served_5xx",
                                                          "lost_answers", "duplicates", "peak_per_second",
                                                          "chats_reached", "delivery_span_s")}
            result.served_429 = stats.get("served_429", 0)
            result.requests = stats.get("requests", 0)
            result.lost = messages - int(stats.get("chats_reached", 0))
        else:
            result.lost = messages - result.sent - result.failed - result.cancelled
        return result
    finally:
        if admin is not None:
            drop_database(url, admin)
