"""Campaign review in Telegram (manager role) through the real Dispatcher and the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import Draft, Manager, OutboxItem
from handlers.keyboards import ReviewCb
from tests.kit.fake_bot import callback_update, make_bot, message_update
from tests.web.conftest import seed_console

MANAGER_TG = 9100


def test_callback_data_fits_64_bytes_with_huge_ids() -> None:
    for action in ("open", "all", "allok", "ok", "ed", "no", "tpl"):
        packed = ReviewCb(a=action, c=2**53, d=2**53, o=1_000_000).pack()
        assert len(packed.encode()) <= 64, packed


def _buttons(session, chat_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    msg = session.sent_messages(chat_id)[-1]
    markup = msg.params.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def test_queue_open_edit_and_approve_all(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=7)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = MANAGER_TG
        await session.commit()
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)

    await dp.feed_update(bot, message_update(MANAGER_TG, "/queue", language_code="en"))
    assert "元旦祝福" in fake_session.sent_texts(MANAGER_TG)[-1]
    [(_, open_data)] = _buttons(fake_session, MANAGER_TG)

    await dp.feed_update(bot, callback_update(MANAGER_TG, open_data, language_code="en"))
    page = fake_session.sent_texts(MANAGER_TG)[-1]
    assert "7 waiting" in page and "M1-00000" in page and "M2-" not in page
    buttons = dict(_buttons(fake_session, MANAGER_TG))
    edit_data = buttons["✎1"]
    assert "Next page" in buttons

    await dp.feed_update(bot, callback_update(MANAGER_TG, edit_data, language_code="en"))
    await dp.feed_update(bot, message_update(MANAGER_TG, "王先生，新年好！", language_code="en"))
    assert "exactly as written" in fake_session.sent_texts(MANAGER_TG)[-1]

    await dp.feed_update(bot, callback_update(MANAGER_TG, open_data, language_code="en"))
    all_data = dict(_buttons(fake_session, MANAGER_TG))["Approve all 7"]
    await dp.feed_update(bot, callback_update(MANAGER_TG, all_data, language_code="en"))
    [(label, confirm)] = _buttons(fake_session, MANAGER_TG)
    assert "7" in label
    await dp.feed_update(bot, callback_update(MANAGER_TG, confirm, language_code="en"))
    async with db.sessions() as session:
        statuses = dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all())
        edited = await session.scalar(select(OutboxItem.text).join(Draft, Draft.id == OutboxItem.draft_id)
                                      .where(Draft.edited.is_(True)))
    assert statuses == {"queued": 7}
    assert edited == "王先生，新年好！"


async def test_forged_button_for_another_managers_draft(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=2)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = MANAGER_TG
        await session.commit()
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    forged = ReviewCb(a="ok", c=ids["camp_M2"], d=ids["draft_M2"]).pack()
    await dp.feed_update(bot, callback_update(MANAGER_TG, forged, language_code="en"))
    await dp.feed_update(bot, callback_update(MANAGER_TG, ReviewCb(a="open", c=ids["camp_M2"]).pack()))
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).where(Draft.status != "pending")) == 0
    assert all("M2-" not in text for text in fake_session.sent_texts(MANAGER_TG))


async def test_customers_cannot_use_review_commands(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await seed_console(db, drafts_per_manager=1)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(4242, "/queue"))
    assert all("元旦" not in text for text in fake_session.sent_texts(4242))
