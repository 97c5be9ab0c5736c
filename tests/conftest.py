"""Shared fixtures: settings in a temporary workspace, a migrated SQLite database, and a fresh
PostgreSQL database (skipped where none is reachable; required when RMBOT_REQUIRE_POSTGRES=1,
as in CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from bot.workspace import Database, open_database

pytest_plugins = ["tests.kit.fixtures"]

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
PG_HOST = os.environ.get("RMBOT_TEST_PG_HOST", "127.0.0.1")


def _clean_env() -> None:
    # Tests never read the developer's .env or environment for app settings.
    for name in list(os.environ):
        if name in Settings.model_fields or name.lower() in Settings.model_fields:
            os.environ.pop(name, None)


_clean_env()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "var", "_env_file": None}
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with open_database(settings) as database:
        yield database


def _pg_admin_url() -> str | None:
    import psycopg

    for user in ("postgres", "root"):
        url = f"postgresql://{user}@{PG_HOST}:5432/test"
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = _pg_admin_url()
    if url is None:
        if os.environ.get("RMBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (RMBOT_REQUIRE_POSTGRES=1) but {PG_HOST}:5432 is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:5432 (database test); skipping PostgreSQL tests")
    return url


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"rmbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin_url.rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pg_db(tmp_path: Path, pg_url: str) -> AsyncIterator[Database]:
    async with open_database(make_settings(tmp_path, database_url=pg_url)) as database:
        yield database


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis at 127.0.0.1:6379 (database 15, for tests), or skip when none is reachable."""
    import redis

    url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    finally:
        client.close()
    return url


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when the shared material is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not checked out beside the project)")
    return path
