"""`rmbot bench load`: the scale-out topology under customer load, on this machine.

Starts what compose.yaml describes, without Docker: a Chroma server (`chroma run`), a webhook
proxy (round robin, fails over to the other instance), `--instances` bot processes in webhook
mode (`rmbot run --role bot`), `--workers` senders (`rmbot worker`) and two schedulers (only the
advisory-lock holder runs jobs), all on the PostgreSQL and Redis given. Then emulated customers
ask questions through the Bot API server (../shared/tg_emulator, started with `--global-rate 200`)
at a fixed rate; each customer waits for the answer before asking again. The latency of an answer
is measured from the customer's message to the Bot API server accepting the bot's reply: the bot
instances reach the emulator through a tap in this process (`ReplyTap`, one more local hop) that
notes each sendMessage the emulator answers with 200, to the millisecond and without polling.
`--chaos` kills (SIGKILL) one bot instance and one worker halfway through and starts them again, as
compose's restart policy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import ClientSession, ClientTimeout, web
from sqlalchemy import insert, select, text

from bot.db.models import Client, Holding, Manager
from bot.settings import Settings, load_settings
from bot.workspace import open_database
from tools.bench.delivery import drop_database, scratch_database

TOKEN = "700000002:LOADloadLOADloadLOADloadLOADload"
SECRET = "bench-load-secret-0123456789abcdefghij"  # WEBHOOK_SECRET needs 32+ characters
CHAT_BASE = 8_000_000
MANAGER_CHAT = 7_999_999
# Questions the bot answers itself (documents, or the client's own records). Handoffs (lost card,
# passwords, "转人工") notify a manager, whose one chat Telegram limits to about a message a second:
# they are exercised by the end-to-end tests, not by this throughput run.
QUESTIONS = [
    "信用卡年费怎么免？", "大额存单起存金额是多少？", "活期利率是多少", "个人养老金每年最多存多少？",
    "客服电话是多少？", "What is the annual fee of the gold card?", "定期存款提前支取怎么算利息？",
    "ATM吞卡了怎么办？", "我的定期什么时候到期？", "消费贷款利率多少？", "三年期定期利率是多少？",
    "How much can I put into the personal pension account each year?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LoadResult:
    customers: int
    rate: float
    seconds: float
    asked: int = 0
    answered: int = 0
    lost: int = 0
    errors: int = 0
    throughput: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    chaos: dict[str, Any] = field(default_factory=dict)
    scheduler_leaders: int = 0
    emulator: dict[str, Any] = field(default_factory=dict)
    # p95 (ms) of the answers to questions asked in each 10-second window of the run: a slow start shows here
    p95_by_10s: list[float] = field(default_factory=list)


class Proxy:
    """Round-robin HTTP proxy in front of the bot instances (what nginx does in compose.yaml)."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = itertools.cycle(range(len(upstreams)))
        self.failovers = 0
        # nginx's passive health check (deploy/nginx.conf: max_fails=2 fail_timeout=5s): after two
        # failures an upstream is skipped for 5 s instead of costing every other update a failover
        self._fails: dict[str, int] = dict.fromkeys(upstreams, 0)
        self._down_until: dict[str, float] = dict.fromkeys(upstreams, 0.0)
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, port: int) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=5))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        first = next(self._next)
        assert self._session is not None
        now = time.monotonic()
        ordered = [self.upstreams[(first + i) % len(self.upstreams)] for i in range(len(self.upstreams))]
        live = [u for u in ordered if self._down_until[u] <= now]
        for upstream in live or ordered:  # every upstream down: try them all anyway
            try:
                async with self._session.request(request.method, upstream + request.path_qs, data=body,
                                                 headers=headers) as resp:
                    payload = await resp.read()
                    if resp.status >= 500:
                        raise OSError(f"upstream {resp.status}")
                    self._fails[upstream] = 0
                    return web.Response(status=resp.status, body=payload, content_type=resp.content_type)
            except (OSError, asyncio.TimeoutError):  # noqa: UP041 - aiohttp raises both
                self.failovers += 1
                self._fails[upstream] += 1
                if self._fails[upstream] >= 2:
                    self._fails[upstream] = 0
                    self._down_until[upstream] = time.monotonic() + 5
                continue
        return web.Response(status=502)

    async def stop(self) -> None:
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()


class ReplyTap:
    """Pass-through to the Bot API server for the bot instances; calls `on_reply(chat_id)` when the
    server accepted a sendMessage (its answer carries the chat). Measuring here instead of polling
    the emulator keeps the load generator's own CPU small and the timing exact."""

    def __init__(self, upstream: str, on_reply: Any) -> None:
        self.upstream = upstream
        self.on_reply = on_reply
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, port: int) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as resp:
            payload = await resp.read()
        if resp.status == 200 and request.path.lower().endswith("/sendmessage"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.on_reply(int(json.loads(payload)["result"]["chat"]["id"]))
        return web.Response(status=resp.status, body=payload, content_type=resp.content_type)

    async def stop(self) -> None:
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()


def _doc_files(docs: Path) -> list[Path]:
    wanted = {".md", ".html", ".txt", ".csv"}
    return sorted(p for p in docs.iterdir() if p.suffix in wanted and p.name != "products.csv")


async def _seed(settings: Settings, customers: int, docs: Path) -> None:
    from bot.services.documents import SqlDocumentRegistry
    from knowledge import build_knowledge_service

    async with open_database(settings) as db, db.sessions() as session:
        manager = Manager(code="LOAD", name="压测经理", telegram_id=MANAGER_CHAT)
        session.add(manager)
        await session.flush()
        await session.execute(insert(Client), [
            {"client_no": f"L{i:06d}", "name": f"客户{i}", "salutation": "客户", "manager_id": manager.id,
             "telegram_chat_id": CHAT_BASE + i, "marketing_consent": True, "language": "zh",
             "timezone": "Asia/Shanghai"} for i in range(customers)])
        ids = (await session.scalars(select(Client.id))).all()
        from datetime import date, timedelta
        from decimal import Decimal

        await session.execute(insert(Holding), [
            {"client_id": cid, "kind": "deposit", "product_code": "TD1Y", "amount": Decimal("50000.00"),
             "currency": "CNY", "start_date": date(2025, 12, 3),
             "maturity_date": date(2026, 12, 3) + timedelta(days=i % 60)}
            for i, cid in enumerate(ids)])
        await session.commit()
        service = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions))
        files = _doc_files(docs)
        await service.ingest(files, loaded_by="bench")


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "CHROMA_URL": settings.chroma_url,
        "DATA_DIR": str(settings.data_dir), "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": settings.telegram_api_base,
        "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
    })
    env.update(extra)
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


async def _wait_http(url: str, within_s: float = 90) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {within_s:.0f} s")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run_load(*, customers: int, rate: float, seconds: float, api_base: str, database_url: str,
                   redis_url: str, instances: int, workers: int, chaos: bool, workdir: Path,
                   docs: Path, progress: Any = None) -> LoadResult:
    if not redis_url:
        raise ValueError("--redis-url is required: the bot instances share their inbox and state through Redis")
    async with httpx.AsyncClient(timeout=5) as probe:
        try:
            await probe.get(f"{api_base}/_emu/stats")
        except httpx.HTTPError as exc:
            raise RuntimeError(f"no Bot API server at {api_base} ({type(exc).__name__}); start one first: python "
                               "../shared/tg_emulator/server.py --port 8091 --global-rate 200") from None
    url, admin = scratch_database(database_url) if database_url else ("", None)
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    for key in await redis.keys("rmbot:*"):
        await redis.delete(key)  # a scratch run: forget earlier runs' inbox and limiter state
    chroma_port, proxy_port = free_port(), free_port()
    chroma_cmd = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(workdir / "chroma"),
                  "--host", "127.0.0.1", "--port", str(chroma_port)]
    chroma = subprocess.Popen(chroma_cmd, stdout=(workdir / "chroma.log").open("ab"),  # noqa: ASYNC220
                              stderr=subprocess.STDOUT)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    taps: list[ReplyTap] = []
    result = LoadResult(customers=customers, rate=rate, seconds=seconds)
    try:
        await _wait_http(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat")
        settings = load_settings(_env_file=None, data_dir=workdir, database_url=url or "", redis_url=redis_url,
                                 chroma_url=f"http://127.0.0.1:{chroma_port}", bot_token=TOKEN,
                                 telegram_api_base=api_base)
        await _seed(settings, customers, docs)
        async with httpx.AsyncClient(base_url=api_base, timeout=30) as control:
            await control.post("/_emu/reset", json={})
            users = [{"id": CHAT_BASE + i, "first_name": f"客户{i}", "language_code": "zh"} for i in range(customers)]
            users.append({"id": MANAGER_CHAT, "first_name": "经理", "language_code": "zh"})
            for start in range(0, len(users), 1000):
                await control.post("/_emu/users", json=users[start:start + 1000])

        # the bot instances answer through the tap, which times each answer (workers and schedulers,
        # which answer nobody, talk to the Bot API server directly)
        crowd = Customers(customers, random.Random(7))
        tap = ReplyTap(api_base, crowd.answered)
        tap_port = free_port()
        await tap.start(tap_port)
        taps.append(tap)
        ports = [free_port() for _ in range(instances)]
        # The proxy runs in its own process, as nginx would: the emulator pushes webhook updates one
        # at a time, so every millisecond on this hop caps the whole deployment's intake.
        proxy_proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "tools.bench.load", str(proxy_port), *[f"http://127.0.0.1:{p}" for p in ports]],
            stdout=(workdir / "proxy.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        procs["proxy"] = proxy_proc
        hook = f"http://127.0.0.1:{proxy_port}/telegram/webhook"
        log = workdir / "processes.log"
        commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        for i, port in enumerate(ports):
            commands[f"bot{i}"] = (["run", "--role", "bot"], _env(settings, WEB_PORT=str(port), WEBHOOK_URL=hook,
                                                                  TELEGRAM_API_BASE=f"http://127.0.0.1:{tap_port}"))
        for i in range(workers):
            commands[f"worker{i}"] = (["worker"], _env(settings))
        for i in range(2):
            commands[f"scheduler{i}"] = (["run", "--role", "scheduler"], _env(settings))
        for name, (args, env) in commands.items():
            procs[name] = _spawn(args, env, log)
        for port in ports:
            await _wait_http(f"http://127.0.0.1:{port}/healthz", within_s=180)
        await asyncio.sleep(2)  # the webhook is set by each instance on start

        result = await _drive(api_base, crowd, rate, seconds, procs if chaos else None,
                              lambda name: _spawn(*commands[name], log), result, progress)
        async with open_database(settings, upgrade=False) as db, db.sessions() as session:
            if settings.database_url.startswith("postgresql"):
                result.scheduler_leaders = int(await session.scalar(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")) or 0)
        async with httpx.AsyncClient(base_url=api_base, timeout=30) as control:
            stats = (await control.get("/_emu/stats")).json()
        result.emulator = {k: stats.get(k) for k in ("requests", "bad_requests", "served_429", "served_5xx",
                                                      "peak_per_second", "pending_updates")}
        return result
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for tap in taps:
            await tap.stop()
        result.chaos["proxy_failovers"] = _read_failovers(workdir / "proxy.log")
        chroma.terminate()
        chroma.wait(15)
        await redis.aclose()
        if admin is not None:
            drop_database(url, admin)


class Customers:
    """The emulated customers, closed loop: one asks again only after the answer came."""

    def __init__(self, count: int, rng: random.Random) -> None:
        self.idle = list(range(count))
        rng.shuffle(self.idle)
        self.waiting: dict[int, float] = {}  # chat -> when the question was asked
        self.latencies: list[float] = []
        self.asked_at: list[float] = []  # when each answered question was asked, in the order of `latencies`
        self.none_waiting = asyncio.Event()

    def next_chat(self) -> int | None:
        return CHAT_BASE + self.idle.pop(0) if self.idle else None

    def asked(self, chat: int) -> None:
        self.waiting[chat] = time.monotonic()
        self.none_waiting.clear()

    def answered(self, chat: int) -> None:
        asked_at = self.waiting.pop(chat, None)
        if asked_at is None:  # a later part of a long answer, or not a customer of this run
            return
        self.latencies.append(time.monotonic() - asked_at)
        self.asked_at.append(asked_at)
        self.idle.append(chat - CHAT_BASE)
        if not self.waiting:
            self.none_waiting.set()


async def _drive(api_base: str, customers: Customers, rate: float, seconds: float,
                 chaos_procs: dict[str, subprocess.Popen[bytes]] | None, restart: Any, result: LoadResult,
                 progress: Any) -> LoadResult:
    rng = random.Random(7)
    errors = 0
    from aiohttp import ClientError, TCPConnector

    async with ClientSession(base_url=api_base, timeout=ClientTimeout(total=10),
                             connector=TCPConnector(limit=64)) as client:
        t0 = time.monotonic()
        total = int(rate * seconds)
        killed = False
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if chaos_procs is not None and not killed and time.monotonic() - t0 >= seconds / 2:
                for name in ("bot0", "worker0"):
                    os.killpg(chaos_procs[name].pid, signal.SIGKILL)
                    chaos_procs[name].wait()
                    # the supervisor's restart (compose.yaml: restart: unless-stopped)
                    chaos_procs[name] = restart(name)
                result.chaos = {"killed": ["bot0", "worker0"], "at_s": round(time.monotonic() - t0, 1),
                                "restarted": True}
                killed = True
            chat = customers.next_chat()
            if chat is None:
                errors += 1  # every customer is still waiting: the bot is not keeping up
                continue
            try:
                customers.asked(chat)
                async with client.post("/_emu/message", json={"chat_id": chat, "text": rng.choice(QUESTIONS)}) as r:
                    r.raise_for_status()
                result.asked += 1
            except (ClientError, asyncio.TimeoutError):  # noqa: UP041
                errors += 1
            if progress is not None and i % 50 == 0:
                progress(i)
        elapsed = time.monotonic() - t0
        if customers.waiting:  # the last answers, for up to 30 s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(customers.none_waiting.wait(), 30)
    latencies = customers.latencies
    result.answered = len(latencies)
    result.lost = len(customers.waiting)
    result.errors = errors
    result.throughput = round(result.answered / elapsed, 2)
    result.latency_ms = {f"p{int(q * 100)}": round(_percentile(latencies, q) * 1000, 1) for q in (0.5, 0.95, 0.99)}
    windows: dict[int, list[float]] = {}
    for asked_at, latency in zip(customers.asked_at, latencies, strict=True):
        windows.setdefault(int((asked_at - t0) // 10), []).append(latency)
    result.p95_by_10s = [round(_percentile(windows.get(w, []), 0.95) * 1000, 1)
                         for w in range(max(windows, default=-1) + 1)]
    result.latency_ms["mean"] = round(statistics.fmean(latencies) * 1000, 1) if latencies else 0.0
    return result


def _read_failovers(log: Path) -> int:
    text_ = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    lines = [line for line in text_.splitlines() if line.startswith("failovers ")]
    return int(lines[-1].split()[1]) if lines else 0


async def _serve_proxy(port: int, upstreams: list[str]) -> None:
    proxy = Proxy(upstreams)
    await proxy.start(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        print(f"failovers {proxy.failovers}", flush=True)  # noqa: T201 - read back by the benchmark
        await proxy.stop()


if __name__ == "__main__":
    asyncio.run(_serve_proxy(int(sys.argv[1]), sys.argv[2:]))
