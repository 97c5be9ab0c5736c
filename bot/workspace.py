"""Opening the workspace: settings -> migrated database -> engine and sessions.

Every entry point (CLI command, `rmbot run`, tests) goes through `open_database`, so the schema
is always at the Alembic head before anything reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, clock_of, with_clock
from bot.db.engine import create_engine, session_factory
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def migration_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def clock(self) -> Clock:
        """What time it is for this database's records (bot/clock.py)."""
        return clock_of(self.engine)

    def with_clock(self, clock: Clock) -> Database:
        """The same database (engine and pool shared) whose sessions and column defaults read `clock`."""
        engine = with_clock(self.engine, clock)
        return Database(engine=engine, sessions=session_factory(engine))


@asynccontextmanager
async def open_database(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Database]:
    if upgrade:
        await asyncio.to_thread(migrate, settings.database_url)
    engine = create_engine(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)
    try:
        yield Database(engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()
