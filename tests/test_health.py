"""Readiness checks against real services: SQLite, PostgreSQL, Redis, and a Redis that is down."""

from __future__ import annotations

import socket

import pytest

from bot.health import readiness
from bot.workspace import open_database
from tests.conftest import make_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ready_on_migrated_sqlite(db, settings) -> None:  # type: ignore[no-untyped-def]
    ready, parts = await readiness(settings, db.engine)
    assert ready, parts
    assert parts["database"] == "ok"


async def test_unready_when_migrations_are_not_current(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    async with open_database(settings, upgrade=False) as db:
        ready, parts = await readiness(settings, db.engine)
    assert not ready
    assert "migrations not current" in parts["database"]


async def test_unready_when_redis_is_down(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    ready, parts = await readiness(settings, db.engine)
    assert not ready
    assert parts["redis"].startswith("error")


async def test_ready_with_redis(db, tmp_path, redis_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, redis_url=redis_url)
    ready, parts = await readiness(settings, db.engine)
    assert ready and parts["redis"] == "ok", parts


@pytest.mark.postgres
async def test_ready_on_postgres(pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ready, parts = await readiness(make_settings(tmp_path), pg_db.engine)
    assert ready and parts["database"] == "ok", parts
