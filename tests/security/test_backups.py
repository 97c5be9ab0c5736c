"""Item 4: backups hold no working invite, are 0600, encrypted with BACKUP_KEY, refused without one
(outside the demo); invite tokens are stored hashed, including rows written before the change."""

from __future__ import annotations

import asyncio
import stat
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.backup import generate_key
from bot.cli import load_commands
from bot.cli.app import app
from bot.db.models import Client, Manager
from bot.services.invites import create_invite, redeem_invite
from bot.workspace import migrate, open_database
from tests.conftest import make_settings

NAME, PHONE = "欧阳娜娜", "13987654321"


async def _workspace(tmp_path: Path, monkeypatch) -> tuple[object, str]:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    settings = make_settings(tmp_path)
    async with open_database(settings) as db, db.sessions() as session:
        m = Manager(code="M1", name="王敏")
        session.add(m)
        await session.flush()
        session.add(Client(client_no="C0001", name=NAME, phone=PHONE, manager_id=m.id))
        await session.flush()
        invite = await create_invite(session, "C0001", bot_username="bank_bot")
        await session.commit()
    return settings, invite.token


async def test_invite_tokens_are_stored_hashed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, token = await _workspace(tmp_path, monkeypatch)
    db_file = Path(settings.database_url.split(":///", 1)[1])
    async with open_database(settings) as db:
        async with db.engine.connect() as conn:
            stored = [r[0] for r in (await conn.execute(sa.text("SELECT token_hash FROM invite_tokens"))).all()]
        assert stored and token not in stored
        async with db.sessions() as session:  # the link still works
            assert (await redeem_invite(session, token, 555)).client_no == "C0001"
    assert token.encode() not in await asyncio.to_thread(db_file.read_bytes)


async def test_existing_plain_invites_are_hashed_by_the_migration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    url = settings.database_url
    migrate(url, "0004")  # before invite tokens were hashed
    async with open_database(settings, upgrade=False) as db, db.sessions() as session:
        m = Manager(code="M1", name="x")
        session.add(m)
        await session.flush()
        session.add(Client(client_no="C1", name="y", manager_id=m.id))
        await session.flush()
        await session.execute(sa.text(
            "INSERT INTO invite_tokens (token, client_id, created_at, expires_at) VALUES "
            "('plain-old-token-123', :c, '2026-12-01 00:00:00.000000', '2099-01-01 00:00:00.000000')"),
            {"c": (await session.scalar(sa.select(Client.id)))})
        await session.commit()
    migrate(url)
    async with open_database(settings) as db:
        async with db.engine.connect() as conn:
            [stored] = (await conn.execute(sa.text("SELECT token_hash FROM invite_tokens"))).scalars().all()
        assert stored != "plain-old-token-123" and len(stored) == 64
        async with db.sessions() as session:  # a link sent before the upgrade still binds
            assert (await redeem_invite(session, "plain-old-token-123", 777)).client_no == "C1"


async def test_backup_is_encrypted_private_and_refused_without_a_key(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, token = await _workspace(tmp_path, monkeypatch)
    load_commands()
    runner = CliRunner()
    refused = runner.invoke(app, ["backup", "--out", str(tmp_path / "plain.tar.gz")])
    assert refused.exit_code != 0 and "BACKUP_KEY" in refused.output
    assert not (tmp_path / "plain.tar.gz").exists()

    key = generate_key()
    monkeypatch.setenv("BACKUP_KEY", key)
    out = tmp_path / "b.enc"
    result = runner.invoke(app, ["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = out.read_bytes()
    assert not tarfile.is_tarfile(out)
    for secret in (NAME.encode(), PHONE.encode(), token.encode(), b"SQLite format 3"):
        assert secret not in data

    restored = tmp_path / "restored"
    monkeypatch.setenv("DATA_DIR", str(restored))
    monkeypatch.setenv("BACKUP_KEY", generate_key())  # the wrong key opens nothing
    wrong = runner.invoke(app, ["restore", str(out)])
    assert wrong.exit_code != 0 and "BACKUP_KEY" in wrong.output
    monkeypatch.setenv("BACKUP_KEY", key)
    ok = runner.invoke(app, ["restore", str(out)])
    assert ok.exit_code == 0, ok.output
    async with open_database(make_settings(tmp_path, data_dir=restored)) as db, db.sessions() as session:
        assert await session.scalar(sa.select(Client.name)) == NAME


def test_tampered_backup_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.backup import BackupError, create_backup, restore_backup

    db_file = tmp_path / "db.sqlite3"
    import sqlite3

    sqlite3.connect(db_file).execute("CREATE TABLE t (x)").connection.commit()
    key = generate_key()
    out = create_backup(db_file, None, tmp_path / "b.enc", key=key).path
    cut = tmp_path / "cut.enc"
    cut.write_bytes(out.read_bytes()[:-10])
    with pytest.raises(BackupError):
        restore_backup(cut, tmp_path / "r.sqlite3", None, key=key)
