"""Foundation: settings, migrations on SQLite and PostgreSQL, models match migrations, the CLI."""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select

from bot.db.base import Base
from bot.db.engine import sync_url
from bot.db.models import AuditLog, AuditLogIsAppendOnly, Manager
from bot.services import audit
from bot.settings import SettingsError, load_settings
from bot.workspace import alembic_config
from tests.conftest import make_settings


def test_settings_defaults(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.timezone == "Asia/Shanghai"
    assert s.chroma_path == tmp_path / "var" / "chroma"
    assert not s.llm_enabled


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("timezone", "Mars/Olympus", "TIMEZONE"),
        ("quiet_hours_start", "25:00", "QUIET_HOURS_START"),
        ("bot_token", "not-a-token", "BOT_TOKEN"),
        ("admin_ids", "12,abc", "ADMIN_IDS"),
        ("web_port", "0", "WEB_PORT"),
    ],
)
def test_bad_setting_names_the_setting(field: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None, **{field: value})
    assert named in str(err.value)
    assert "\n" not in str(err.value)


def test_admin_ids_and_postgres_url(tmp_path: Path) -> None:
    s = make_settings(tmp_path, admin_ids="1, 2;3", database_url="postgresql://u@h/db")
    assert s.admin_ids == [1, 2, 3]
    assert s.database_url == "postgresql+asyncpg://u@h/db"


def _stairway(url: str) -> None:
    cfg = alembic_config(url)
    revisions = list(ScriptDirectory.from_config(cfg).walk_revisions("base", "heads"))
    assert revisions, "no migrations"
    for rev in reversed(revisions):
        command.upgrade(cfg, rev.revision)
        command.downgrade(cfg, rev.down_revision or "base")
        command.upgrade(cfg, rev.revision)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


def _models_match(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={"compare_type": False,
                  "include_object": lambda o, n, t, r, c: not (t == "table" and n == "apscheduler_jobs")},
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_stairway_sqlite(tmp_path: Path) -> None:
    url = make_settings(tmp_path).database_url
    _stairway(url)
    _models_match(url)


@pytest.mark.postgres
def test_migrations_stairway_postgres(pg_url: str) -> None:
    _stairway(pg_url)
    _models_match(pg_url)


def test_single_migration_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several Alembic heads: {heads}"


async def _audit_roundtrip(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        session.add(Manager(code="M1", name="王敏"))
        row = audit.record(session, actor="system", action="test", entity="manager", entity_id=1)
        await session.commit()
        row_id = row.id
        fetched = await session.scalar(select(AuditLog).where(AuditLog.id == row_id))
        assert fetched is not None and fetched.at.tzinfo is not None
        assert fetched.at <= datetime.now(UTC)
        fetched.action = "tampered"
        with pytest.raises(AuditLogIsAppendOnly):
            await session.flush()
        await session.rollback()
        await session.delete(await session.get(AuditLog, row_id))
        with pytest.raises(AuditLogIsAppendOnly):
            await session.flush()


async def test_audit_log_is_append_only_sqlite(db) -> None:  # type: ignore[no-untyped-def]
    await _audit_roundtrip(db)


@pytest.mark.postgres
async def test_audit_log_is_append_only_postgres(pg_db) -> None:  # type: ignore[no-untyped-def]
    await _audit_roundtrip(pg_db)


def test_every_console_script_resolves() -> None:
    scripts = [ep for ep in importlib.metadata.entry_points(group="console_scripts")
               if ep.value.startswith(("bot.", "handlers.", "knowledge.", "scheduler."))]
    assert scripts, "the rmbot console script is not installed (pip install -e .)"
    for ep in scripts:
        assert callable(ep.load())


def test_cli_help_lists_commands() -> None:
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "manager" in result.output
