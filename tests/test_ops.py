"""Operations: log masking, backup and restore of the embedded workspace."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.backup import BackupError, create_backup, restore_backup
from bot.db.models import Manager
from bot.logs import get_logger, mask_text, setup_logging
from bot.workspace import open_database
from tests.conftest import make_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("call 13812345678 now", "13812345678"),
        ("+86 138-1234-5678", "138-1234-5678"),
        ("ID 110101199003074578", "110101199003074578"),
        ("card 6222021234567890123", "6222021234567890123"),
        (f"https://api.telegram.org/bot{TOKEN}/sendMessage", TOKEN),
    ],
)
def test_mask_text_hides_personal_data_and_tokens(raw: str, secret: str) -> None:
    assert secret not in mask_text(raw)


def test_mask_text_keeps_ordinary_numbers() -> None:
    plain = "deposit 50000.00 matures 2026-12-03, chat 1001"
    assert mask_text(plain) == plain


def test_logs_drop_texts_and_mask_library_lines() -> None:
    buf = io.StringIO()
    setup_logging("json", "INFO", stream=buf)
    try:
        get_logger("t").info("update", chat_id=7, text="我的电话 13812345678", name="王小明", note=TOKEN)
        logging.getLogger("aiogram.event").info("sent to 13812345678 via bot%s", TOKEN)
    finally:
        logging.getLogger().handlers.clear()
    out = buf.getvalue()
    assert '"chat_id": 7' in out
    for secret in ("13812345678", "王小明", TOKEN, "我的电话"):
        assert secret not in out


async def test_backup_and_restore_roundtrip(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "a")
    async with open_database(settings) as db, db.sessions() as session:
        session.add_all([Manager(code=f"M{i}", name=f"经理{i}") for i in range(5)])
        await session.commit()
    settings.chroma_path.mkdir(parents=True)
    (settings.chroma_path / "segment.bin").write_bytes(b"\x00\x01vectors")
    db_path = Path(settings.database_url.split(":///", 1)[1])

    archive = create_backup(db_path, settings.chroma_path, tmp_path / "b.tar.gz").path
    assert tarfile.is_tarfile(archive)

    restored = make_settings(tmp_path / "r")
    r_path = Path(restored.database_url.split(":///", 1)[1])
    restore_backup(archive, r_path, restored.chroma_path)
    assert (restored.chroma_path / "segment.bin").read_bytes() == b"\x00\x01vectors"
    async with open_database(restored) as db, db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Manager)) == 5

    with pytest.raises(BackupError, match="--force"):
        restore_backup(archive, r_path, restored.chroma_path)


def test_restore_rejects_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"not a tar")
    with pytest.raises(BackupError, match="not a readable backup"):
        restore_backup(bogus, tmp_path / "db.sqlite3", None)


async def test_backup_during_delivery_restores_to_a_working_workspace(tmp_path: Path, fake_session) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    from datetime import UTC, datetime, timedelta

    from bot.db.models import Campaign, Client, Draft, OutboxItem
    from bot.services import outbox
    from scheduler.ratelimit import LocalLimiter
    from scheduler.sender import Sender
    from tools.fakes.bot_api import make_bot

    settings = make_settings(tmp_path / "live", quiet_hours_start="00:00", quiet_hours_end="00:00",
                             chat_interval_s=0)
    n = 300
    async with open_database(settings) as db:
        async with db.sessions() as session:
            m = Manager(code="M1", name="王敏")
            session.add(m)
            await session.flush()
            camp = Campaign(manager_id=m.id, plan_date=datetime.now(UTC).date(), kind="reminder", occasion="t")
            session.add(camp)
            await session.flush()
            drafts = []
            for i in range(n):
                c = Client(client_no=f"C{i}", name="x", manager_id=m.id, telegram_chat_id=100 + i)
                session.add(c)
                await session.flush()
                drafts.append(Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=camp.plan_date,
                                    kind="reminder", occasion="t", dedupe_key="k", language="zh", text=f"提醒{i}",
                                    status="approved", scheduled_at=datetime.now(UTC)))
            session.add_all(drafts)
            await session.flush()
            await outbox.enqueue_drafts(session, drafts, actor="test")
            await session.commit()
        sender = Sender(settings, db.sessions, make_bot(fake_session), LocalLimiter(150), idle_s=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        for _ in range(3000):  # backup midway through the run (bounded: a sender that sends nothing fails here)
            if len(fake_session.sent_texts()) >= n // 4:
                break
            await asyncio.sleep(0.02)
        assert len(fake_session.sent_texts()) >= n // 4, "the sender sent nothing"
        db_path = Path(settings.database_url.split(":///", 1)[1])
        archive = (await asyncio.to_thread(create_backup, db_path, settings.chroma_path, tmp_path / "b.tar.gz")).path
        stop.set()
        await task

    restored = make_settings(tmp_path / "restored", quiet_hours_start="00:00", quiet_hours_end="00:00",
                             chat_interval_s=0)
    restore_backup(archive, Path(restored.database_url.split(":///", 1)[1]), restored.chroma_path)
    async with open_database(restored) as db:
        async with db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxItem)) == n
            # the backup's senders are gone: let their leases lapse, as time would
            await session.execute(update(OutboxItem).where(OutboxItem.status == "sending")
                                  .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
            await outbox.recover_expired(session)
            await session.commit()
            already = await session.scalar(select(func.count()).where(OutboxItem.status == "sent"))
        assert 0 < already < n  # a real snapshot of a run in progress
        fresh = type(fake_session)()
        sender = Sender(restored, db.sessions, make_bot(fresh), LocalLimiter(1000), idle_s=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        for _ in range(500):
            async with db.sessions() as session:
                if await session.scalar(select(func.count()).where(OutboxItem.status == "sent")) == n:
                    break
            await asyncio.sleep(0.02)
        stop.set()
        await task
        async with db.sessions() as session:
            assert await session.scalar(select(func.count()).where(OutboxItem.status == "sent")) == n


def test_bench_load_without_a_bot_api_server_says_what_to_start(tmp_path, monkeypatch):
    """No traceback: the error names the address and how to start the emulator; nothing is set up before."""
    import socket

    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(app, ["bench", "load", "--seconds", "1", "--api-base", f"http://127.0.0.1:{port}",
                                      "--redis-url", "redis://127.0.0.1:6379/0"])
    assert result.exit_code == 1, result.output
    assert f"no Bot API server at http://127.0.0.1:{port}" in result.output and "tg_emulator" in result.output
    assert "Traceback" not in result.output
