"""Reach before review: counts by Telegram reach, bulk invitations (links + QR codes in .xlsx) from the
CLI and the console, and invite -> bound conversion in the manager's report."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app, load_commands
from bot.db.models import AuditLog, Client, InviteToken, Manager
from bot.services import invites
from bot.services.invite_export import write_xlsx
from bot.workspace import open_database
from tests.conftest import make_settings
from tests.planning import seed


async def _book(session) -> Manager:  # type: ignore[no-untyped-def]
    m = await seed.add_manager(session, code="RM7")
    await seed.add_client(session, m, client_no="B1")  # bound
    await seed.add_client(session, m, client_no="B2", blocked=True)  # bound, blocked the bot since
    invited = await seed.add_client(session, m, client_no="I1", telegram_chat_id=None)
    expired = await seed.add_client(session, m, client_no="E1", telegram_chat_id=None)
    await seed.add_client(session, m, client_no="N1", telegram_chat_id=None, phone="13800000000")
    await invites.create_invite(session, invited.client_no, bot_username="rm_bot")
    await invites.create_invite(session, expired.client_no, bot_username="rm_bot",
                                now=datetime.now(UTC) - timedelta(days=30))
    await session.commit()
    return m


async def test_reach_counts_and_bulk_export(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        m = await _book(session)
        assert await invites.reach_counts(session, m.id) == {
            "book": 5, "bound": 1, "blocked": 1, "invited": 1, "invite_expired": 1, "not_invited": 1}
        rows = await invites.bulk_invites(session, m, bot_username="rm_bot")
        await session.commit()
        assert sorted(r.client_no for r in rows) == ["E1", "I1", "N1"]  # unbound and not blocked
        assert all(r.link.startswith("https://t.me/rm_bot?start=") for r in rows)
        assert (await session.scalar(select(func.count()).where(AuditLog.action == "invite_bulk"))) == 1
        assert (await invites.reach_counts(session, m.id))["invited"] == 3
    path = tmp_path / "invites.xlsx"
    write_xlsx(rows, path)
    ws = load_workbook(path).active
    assert ws.max_row == 4 and ws["A1"].value == "客户号" and ws["E2"].hyperlink.target == rows[0].link
    assert len([n for n in zipfile.ZipFile(path).namelist() if n.startswith("xl/media/")]) == 3  # QR codes
    from zoneinfo import ZoneInfo

    write_xlsx(rows, path, tz=ZoneInfo("Asia/Shanghai"), qr=False)  # as the console and the CLI call it
    assert load_workbook(path).active["F2"].value.endswith(" 北京时间")  # the bank's time, labelled
    # a redeemed invite: the client is bound and the report shows the conversion
    async with db.sessions() as session:
        await invites.redeem_invite(session, rows[0].link.rsplit("=", 1)[1], 777_001)
        await session.commit()
        from bot.services.reports import Period, manager_report

        today = datetime.now(UTC).date()
        report = await manager_report(session, m.id, Period(today - timedelta(days=1), today + timedelta(days=1),
                                                            UTC))
    assert report["invites"]["invited"] == 4 and report["invites"]["bound"] == 1  # the old one is outside
    assert report["reach"]["telegram"]["bound"] == 2


def test_cli_invite_manager_unbound_xlsx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BOT_USERNAME", "rm_bot")

    async def build() -> None:
        async with open_database(make_settings(tmp_path)) as db, db.sessions() as session:
            await _book(session)

    asyncio.run(build())
    out = tmp_path / "book.xlsx"
    result = CliRunner().invoke(app, ["invite", "--manager", "RM7", "--unbound", "--xlsx", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 invites created" in result.output and "bound 1" in result.output and out.is_file()
    assert load_workbook(out).active.max_row == 4
    bad = CliRunner().invoke(app, ["invite", "--manager", "NOPE", "--unbound", "--xlsx", str(out)])
    assert bad.exit_code == 1 and "not found" in bad.output
    none = CliRunner().invoke(app, ["invite"])
    assert none.exit_code == 2


async def test_console_reach_and_export(db, settings) -> None:  # type: ignore[no-untyped-def]
    from bot.web import create_web_app
    from tests.web.conftest import login

    async with db.sessions() as session:
        m = await _book(session)
    app_ = create_web_app(settings.model_copy(update={"bot_username": "rm_bot"}), db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_), base_url="http://console") as client:
        csrf = await login(client, db, m.id)
        r = await client.get("/api/reach")
        assert r.status_code == 200 and r.json()["not_invited"] == 1
        r = await client.post("/api/invites/export", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert load_workbook(io.BytesIO(r.content)).active.max_row == 4
    async with db.sessions() as session:
        assert await session.scalar(select(func.count(InviteToken.id))) == 5
        assert await session.scalar(select(func.count(Client.id)).where(Client.telegram_chat_id.is_(None))) == 3
