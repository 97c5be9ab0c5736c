"""Item 8: manager and admin commands and buttons work in private chats only; the one-time console
link goes out without a link preview (Low: a preview fetcher must not spend it)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import Draft, LoginToken, Manager
from handlers.keyboards import ReviewCb
from tests.kit.fake_bot import callback_update, make_bot, message_update
from tests.security.conftest import seed_console

MANAGER_TG = 9100
GROUP = -100123


async def test_manager_commands_and_buttons_do_nothing_in_a_group(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=2)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = MANAGER_TG
        await session.commit()
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    for text in ("/console", "/queue", "/today", "/invite M1-00000"):
        await dp.feed_update(bot, message_update(MANAGER_TG, text, chat_id=GROUP))
    approve = ReviewCb(a="ok", c=ids["camp_M1"], d=ids["draft_M1"]).pack()
    await dp.feed_update(bot, callback_update(MANAGER_TG, approve, chat_id=GROUP))
    assert fake_session.sent_texts(GROUP) == []
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LoginToken)) == 0
        assert await session.scalar(select(Draft.status).where(Draft.id == ids["draft_M1"])) == "pending"

    # in private the same command answers, with the preview off
    await dp.feed_update(bot, message_update(MANAGER_TG, "/console"))
    [sent] = [r for r in fake_session.requests if r.method_name == "sendMessage" and r.get("chat_id") == MANAGER_TG]
    assert "/login/" in sent.params["text"]
    assert sent.params.get("disable_web_page_preview") is True or \
        (sent.params.get("link_preview_options") or {}).get("is_disabled") is True
