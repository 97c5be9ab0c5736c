"""Low: upload names ".", ".." or 300 characters gave 500 in the console and a generic apology in
Telegram: now a clear refusal (both languages), audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import AuditLog, Manager
from bot.web import create_web_app
from tests.customer.conftest import FakeKnowledge
from tests.kit.fake_bot import document_update, make_bot
from tests.security.conftest import client_for, login, seed_console

BAD_NAMES = [".", "..", "a" * 300 + ".md", "../..", "   "]


async def _refusals(db) -> int:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).where(AuditLog.action == "kb_upload_refused")))


async def test_console_refuses_bad_upload_names(db, settings) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).is_admin = True
        await session.commit()
    app = create_web_app(settings, db, knowledge=FakeKnowledge())
    async with client_for(app) as client:
        csrf = await login(client, db, ids["m1"])
        for name in BAD_NAMES:
            r = await client.post("/api/documents", files={"file": (name, b"# x", "text/markdown")},
                                  headers={"X-CSRF-Token": csrf})
            assert r.status_code == 400, (name, r.status_code, r.text)
            assert "file name" in r.json()["detail"] and "文件名" in r.json()["detail"]
    assert await _refusals(db) == len(BAD_NAMES)


@pytest.mark.parametrize(("lang", "expected"), [("zh", "文件名"), ("en", "file name")])
async def test_telegram_refuses_bad_upload_names(db, settings, fake_session, lang, expected) -> None:  # type: ignore[no-untyped-def]
    admin = 7000
    settings = settings.model_copy(update={"admin_ids": [admin]})
    dp = build_dispatcher(settings, db.sessions, FakeKnowledge())
    bot = make_bot(fake_session)
    for name in ("..", "b" * 300 + ".md"):
        await dp.feed_update(bot, document_update(admin, file_name=name, mime_type="text/markdown",
                                                  language_code=lang))
        assert expected in fake_session.sent_texts(admin)[-1]
    assert await _refusals(db) == 2
