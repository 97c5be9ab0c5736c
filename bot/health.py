"""Readiness: is every part this process depends on reachable right now?

`/healthz` only says the process is alive; `/readyz` runs these checks on each call (no caching),
so it turns unready when PostgreSQL or Redis stops and ready again when it returns, without a
restart. Each check is bounded by a short timeout. Parts of this process that are waiting out a
database error (`bot.db.retry.PartsHealth`: the sender, the handling of updates) show as errors
too, e.g. while another process holds the SQLite write lock (reads still answer then).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.retry import PartsHealth
from bot.settings import Settings

if TYPE_CHECKING:
    from aiogram import Bot

CHECK_TIMEOUT_S = 2.0


async def _database(engine: AsyncEngine) -> str:
    from alembic.migration import MigrationContext

    from bot.workspace import migration_heads

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        current = await conn.run_sync(lambda sync: set(MigrationContext.configure(sync).get_current_heads()))
    heads = migration_heads()
    if current != heads:
        raise RuntimeError(f"migrations not current (at {sorted(current) or 'none'}, head {sorted(heads)})")
    return "ok"


async def _redis(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


async def _chroma(settings: Settings) -> str:
    if not settings.chroma_url:
        path = settings.chroma_path
        assert path is not None  # set by Settings
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise RuntimeError(f"embedded Chroma directory {path} is not writable")
        return "embedded"
    import httpx

    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
        for probe in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
            response = await client.get(settings.chroma_url.rstrip("/") + probe)
            if response.status_code == 200:
                return "ok"
    raise RuntimeError(f"Chroma server answered {response.status_code}")


async def _bot_api(bot: Bot) -> str:
    me = await bot.get_me(request_timeout=int(CHECK_TIMEOUT_S) + 1)
    return f"ok (@{me.username})"


async def readiness(settings: Settings, engine: AsyncEngine, bot: Bot | None = None,
                    health: PartsHealth | None = None) -> tuple[bool, dict[str, str]]:
    """Run every check; returns (ready, {part: "ok" | "error: ..." | "not configured"})."""
    checks: dict[str, Callable[[], Awaitable[str]]] = {"database": lambda: _database(engine)}
    checks["chroma"] = lambda: _chroma(settings)
    if settings.redis_url:
        checks["redis"] = lambda: _redis(settings.redis_url)
    if bot is not None:
        checks["bot_api"] = lambda: _bot_api(bot)

    async def run(fn: Callable[[], Awaitable[str]]) -> str:
        try:
            return await asyncio.wait_for(fn(), CHECK_TIMEOUT_S + 1)
        except Exception as exc:  # any failure means "not ready", with its reason
            return f"error: {type(exc).__name__}: {exc}"[:300]

    results = dict(zip(checks, await asyncio.gather(*(run(fn) for fn in checks.values())), strict=True))
    if not settings.redis_url:
        results["redis"] = "not configured"
    if bot is None:
        results["bot_api"] = "not configured"
    for part, reason in (health.snapshot() if health is not None else {}).items():
        results[part] = f"error: waiting for the database ({reason})"
    ready = not any(value.startswith("error") for value in results.values())
    return ready, results
