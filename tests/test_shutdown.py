"""SIGTERM ends `rmbot run` gracefully (issue 8): sends in flight finish, leased rows go back to
the queue, the process exits 0 within the SIGTERM allowance (`bot.app.STOP_WITHIN_S`, on a loaded host
too), and a restarted worker sends the rest, none twice.

`rmbot run --role worker` runs as a real process against a temporary SQLite workspace and a slow
fake Bot API (an aiohttp server in a thread, so the test can block on the process meanwhile)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import insert, select

from bot.app import STOP_WITHIN_S
from bot.db.models import Campaign, Client, Draft, Manager, OutboxItem
from bot.services import outbox
from bot.settings import Settings
from bot.workspace import open_database
from tests.conftest import make_settings

TOKEN = "123456:SHUTDOWNtest"
CHAT_BASE = 7_000_000
MESSAGES = 50
SEND_DELAY_S = 2.0  # every sendMessage takes this long: sends are in flight when SIGTERM comes
RATE_PER_S = 10  # the sender starts at most this many sends a second: most rows wait their turn
ROOT = Path(__file__).resolve().parent.parent
# Only a stuck process takes this long to start or send (never a measure of speed: a loaded host may
# need a minute just to import the application).
STUCK_S = 600.0


class SlowBotAPI:
    """A Bot API that answers sendMessage after SEND_DELAY_S and logs every request it received
    (a request received is a message Telegram delivers, whether or not the answer gets back)."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str]] = []
        self.answered = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = dict(await request.post()) if request.can_read_body else {}
        if method != "sendMessage":
            me = {"id": 123456, "is_bot": True, "first_name": "RM", "username": "rm_bot"}
            return web.json_response({"ok": True, "result": me if method == "getMe" else True})
        chat_id, text = int(str(form["chat_id"])), str(form["text"])
        self.received.append((chat_id, text))
        message_id = len(self.received)
        await asyncio.sleep(SEND_DELAY_S)
        self.answered += 1
        return web.json_response({"ok": True, "result": {
            "message_id": message_id, "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, "type": "private", "first_name": "x"}}})

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def start(self) -> SlowBotAPI:
        self._thread.start()
        self.base = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def api() -> Iterator[SlowBotAPI]:
    server = SlowBotAPI().start()
    try:
        yield server
    finally:
        server.stop()


async def _seed(settings: Settings, n: int) -> None:
    now = datetime.now(UTC)
    async with open_database(settings) as db, db.sessions() as session:
        manager = Manager(code="M1", name="王敏")
        session.add(manager)
        await session.flush()
        camp = Campaign(manager_id=manager.id, plan_date=now.date(), kind="reminder", occasion="t")
        session.add(camp)
        await session.flush()
        await session.execute(insert(Client), [
            {"client_no": f"S{i:04d}", "name": "x", "manager_id": manager.id, "telegram_chat_id": CHAT_BASE + i,
             "marketing_consent": True, "timezone": "Asia/Shanghai"} for i in range(n)])
        ids = (await session.scalars(select(Client.id).order_by(Client.id))).all()
        await session.execute(insert(Draft), [
            {"campaign_id": camp.id, "client_id": cid, "manager_id": manager.id, "plan_date": camp.plan_date,
             "kind": "reminder", "occasion": "t", "dedupe_key": "t", "language": "zh", "text": f"提醒 {i}",
             "status": "approved", "scheduled_at": now - timedelta(minutes=1), "created_at": now}
            for i, cid in enumerate(ids)])
        drafts = (await session.scalars(select(Draft))).all()
        assert await outbox.enqueue_drafts(session, drafts, actor="manager:1") == n
        await session.commit()


async def _rows(settings: Settings) -> list[dict[str, Any]]:
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        rows = (await session.execute(select(OutboxItem.chat_id, OutboxItem.text, OutboxItem.status,
                                             OutboxItem.leased_by, OutboxItem.lease_until,
                                             OutboxItem.attempts))).all()
    return [r._asdict() for r in rows]


def _wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start(settings: Settings, api: SlowBotAPI, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in Settings.model_fields and
           k.lower() not in Settings.model_fields}
    env.update({"DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url, "BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE": api.base, "REDIS_URL": "", "SEND_RATE_PER_S": str(RATE_PER_S),
                # not the client's night, whatever the time the test runs
                "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00", "LOG_LEVEL": "INFO",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)})
    # Run from the workspace, not the project directory: no developer's .env is read.
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--role", "worker"],
                            cwd=settings.data_dir.parent, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _terminate(proc: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM; the process must exit 0 within the allowance it has. Returns how long it took."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {STOP_WITHIN_S:g} s after SIGTERM; log:\n{log.read_text(errors='replace')[-3000:]}")
    assert code == 0, log.read_text(errors="replace")[-3000:]
    return time.monotonic() - t0


def test_sigterm_returns_leases_and_a_restart_sends_the_rest(api: SlowBotAPI, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    asyncio.run(_seed(settings, MESSAGES))
    log = tmp_path / "run.log"
    first = _start(settings, api, log)
    try:
        _wait_for(lambda: len(api.received) >= 3 or first.poll() is not None, STUCK_S, "the first sends")
        assert first.poll() is None, log.read_text(errors="replace")
        took = _terminate(first, log)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    output = log.read_text(errors="replace")
    assert "stopping (SIGTERM)" in output and "Traceback" not in output, output[-3000:]

    # Every request Telegram received was answered and recorded as sent; nothing else was sent;
    # the rows not sent are back in the queue, with no lease held by the stopped process.
    rows = asyncio.run(_rows(settings))
    sent = {(r["chat_id"], r["text"]) for r in rows if r["status"] == "sent"}
    waiting = [r for r in rows if r["status"] != "sent"]
    assert api.answered == len(api.received)
    assert sent == set(api.received)
    assert waiting, "every row went out before SIGTERM: nothing left to check"
    assert {r["status"] for r in waiting} == {"queued"}
    assert all(r["leased_by"] is None and r["lease_until"] is None for r in waiting)
    assert {r["attempts"] for r in waiting} == {0}  # handing a row back is not a failed attempt

    # A restarted process sends the rest at once (no lease to wait for), each message once.
    second = _start(settings, api, log)
    try:
        _wait_for(lambda: api.answered >= MESSAGES or second.poll() is not None, STUCK_S, "the rest to be sent")
        assert second.poll() is None, log.read_text(errors="replace")
        _wait_for(lambda: all(r["status"] == "sent" for r in asyncio.run(_rows(settings))), STUCK_S,
                  "every row marked sent")
        _terminate(second, log)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    counts = Counter(api.received)
    assert len(counts) == MESSAGES and max(counts.values()) == 1, counts.most_common(3)
    assert {(CHAT_BASE + i, f"提醒 {i}") for i in range(MESSAGES)} == set(counts)
    print(f"exited {took:.2f} s after SIGTERM")
