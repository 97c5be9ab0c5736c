"""Campaign review in Telegram (manager role) through the real Dispatcher and the fake Bot API."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import Draft, Manager, OutboxItem
from handlers.keyboards import ReviewCb, button_text
from tests.web.conftest import seed_console
from tools.fakes.bot_api import callback_update, make_bot, message_update

MANAGER_TG = 9100


def test_callback_data_fits_64_bytes_with_huge_ids() -> None:
    for action in ("today", "open", "all", "allok", "rem", "remok", "ok", "ed", "no", "tpl"):
        packed = ReviewCb(a=action, c=2**53, d=2**53, o=2**53, f=1).pack()
        assert len(packed.encode()) <= 64, packed


def test_button_text_keeps_the_count() -> None:
    text = button_text("很长的活动名称" * 20, " · 2040 ⚑17")
    assert text.endswith(" · 2040 ⚑17") and len(text) <= 48


def _screen(session, chat_id: int):  # type: ignore[no-untyped-def]
    """The last message the manager sees: a new message or one edited in place."""
    return [r for r in session.requests if r.method_name in ("sendMessage", "editMessageText")
            and str(r.params.get("chat_id")) == str(chat_id)][-1]


def _buttons(session, chat_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    markup = _screen(session, chat_id).params.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def _manager(db, ids, language: str = "en") -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        manager = await session.get(Manager, ids["m1"])
        manager.telegram_id, manager.language = MANAGER_TG, language
        await session.commit()


async def test_queue_open_edit_and_approve_all(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=7)
    await _manager(db, ids)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)

    await dp.feed_update(bot, message_update(MANAGER_TG, "/queue", language_code="zh"))
    assert "New Year greeting" in fake_session.sent_texts(MANAGER_TG)[-1]  # the manager's language, not the app's
    [open_data] = [d for text, d in _buttons(fake_session, MANAGER_TG) if "New Year greeting" in text]

    await dp.feed_update(bot, callback_update(MANAGER_TG, open_data, language_code="zh"))
    page = _screen(fake_session, MANAGER_TG).params["text"]
    assert "7 waiting" in page and "M1-00000" in page and "客户0" in page and "M2-" not in page  # English, by choice
    assert "Why: " in page
    buttons = dict(_buttons(fake_session, MANAGER_TG))
    edit_data = buttons["✎1"]
    assert "Next page" in buttons

    await dp.feed_update(bot, callback_update(MANAGER_TG, edit_data, language_code="zh"))
    await dp.feed_update(bot, message_update(MANAGER_TG, "王先生，新年好！", language_code="zh"))
    assert any("exactly as written" in text for text in fake_session.sent_texts(MANAGER_TG)[-2:])

    await dp.feed_update(bot, callback_update(MANAGER_TG, open_data, language_code="zh"))
    all_data = dict(_buttons(fake_session, MANAGER_TG))["Approve all 7 clean"]
    await dp.feed_update(bot, callback_update(MANAGER_TG, all_data, language_code="zh"))
    confirm = [d for label, d in _buttons(fake_session, MANAGER_TG) if "7" in label]
    await dp.feed_update(bot, callback_update(MANAGER_TG, confirm[0], language_code="zh"))
    async with db.sessions() as session:
        statuses = dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all())
        edited = await session.scalar(select(OutboxItem.text).join(Draft, Draft.id == OutboxItem.draft_id)
                                      .where(Draft.edited.is_(True)))
    assert statuses == {"queued": 7}
    assert edited == "王先生，新年好！"
    assert "Nothing more waits" in _screen(fake_session, MANAGER_TG).params["text"]  # the page refreshed


async def test_queue_paging_shows_every_draft_exactly_once(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    """Paging through 23 drafts (3 flagged) while approving and rejecting on the way: every draft
    is shown on exactly one page, none skipped (offset paging lost two here)."""
    ids = await seed_console(db, drafts_per_manager=23)
    async with db.sessions() as session:
        flagged = (await session.scalars(select(Draft).where(Draft.manager_id == ids["m1"])
                                         .order_by(Draft.id.desc()).limit(3))).all()
        for d in flagged:
            d.flags = ["promise_words"]
        all_ids = set((await session.scalars(select(Draft.id).where(Draft.manager_id == ids["m1"]))).all())
        await session.commit()
    await _manager(db, ids, language="zh")
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(MANAGER_TG, "/today"))
    [open_data] = [d for text, d in _buttons(fake_session, MANAGER_TG) if "元旦祝福" in text]
    await dp.feed_update(bot, callback_update(MANAGER_TG, open_data))

    shown_on: dict[int, set[int]] = {}
    decided: list[int] = []
    page_no = 0
    for step in range(60):
        screen = _screen(fake_session, MANAGER_TG).params
        text, buttons = screen["text"], _buttons(fake_session, MANAGER_TG)
        if page_no == 0:
            assert "含承诺收益用语" in text and "promise_words" not in text  # flags translated, first
        on_page = {int(ReviewCb.unpack(d).d) for label, d in buttons if label.startswith("✓")}
        for draft_id in on_page:
            shown_on.setdefault(draft_id, set()).add(page_no)
        actions = {label: d for label, d in buttons}
        if step % 3 == 0 and "✓1" in actions:  # approve the first draft: the page refreshes in place
            decided.append(ReviewCb.unpack(actions["✓1"]).d)
            await dp.feed_update(bot, callback_update(MANAGER_TG, actions["✓1"]))
            assert _screen(fake_session, MANAGER_TG).method_name == "editMessageText"
            continue
        if step % 3 == 1 and "✗2" in actions:  # reject the second one, with a reason
            decided.append(ReviewCb.unpack(actions["✗2"]).d)
            await dp.feed_update(bot, callback_update(MANAGER_TG, actions["✗2"]))
            await dp.feed_update(bot, message_update(MANAGER_TG, "客户已电话联系"))
            continue
        if "下一页" not in actions:
            break
        page_no += 1
        await dp.feed_update(bot, callback_update(MANAGER_TG, actions["下一页"]))
    assert set(shown_on) == all_ids, (sorted(shown_on), page_no, decided, text[-300:])  # nothing skipped
    assert all(len(pages) == 1 for pages in shown_on.values()), shown_on  # no draft on two pages
    assert page_no >= 3 and len(decided) >= 4
    async with db.sessions() as session:
        statuses = Counter(dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all()))
    assert statuses["rejected"] >= 2 and statuses["queued"] >= 2


async def test_approve_all_clean_reminders_of_today(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    """The morning's one-tap approval of clean service reminders: asked first, the count checked
    (a stale count approves nothing), flagged ones left, the morning shown again."""
    from sqlalchemy import update

    from bot.db.models import Campaign

    ids = await seed_console(db, drafts_per_manager=4)
    async with db.sessions() as session:
        await session.execute(update(Campaign).where(Campaign.id == ids["camp_M1"]).values(kind="reminder"))
        await session.execute(update(Draft).where(Draft.campaign_id == ids["camp_M1"]).values(kind="reminder"))
        await session.execute(update(Draft).where(Draft.id == ids["draft_M1"]).values(flags=["promise_words"]))
        await session.commit()
    await _manager(db, ids)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(MANAGER_TG, "/today"))
    ask = dict(_buttons(fake_session, MANAGER_TG))["Approve all 3 clean reminders"]
    await dp.feed_update(bot, callback_update(MANAGER_TG, ask))
    assert "Approve all 3 clean service reminders" in _screen(fake_session, MANAGER_TG).params["text"]
    confirm = dict(_buttons(fake_session, MANAGER_TG))["Yes, approve 3"]

    stale = ReviewCb.unpack(confirm).model_copy(update={"o": 2}).pack()  # the manager saw another count
    await dp.feed_update(bot, callback_update(MANAGER_TG, stale))
    assert fake_session.requests_of("answerCallbackQuery")[-1].params.get("show_alert") is True
    await dp.feed_update(bot, callback_update(MANAGER_TG, confirm))
    assert fake_session.requests_of("answerCallbackQuery")[-1].params.get("text") == "3 approved"
    assert "Today, " in _screen(fake_session, MANAGER_TG).params["text"]
    async with db.sessions() as session:
        statuses = dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all())
    assert statuses == {"queued": 3, "pending": 1}


async def test_a_draft_decided_meanwhile_refreshes_the_page(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    """✓ tapped twice, or ✗ on a draft approved meanwhile (in the console): the manager is told and
    sees the page again, nothing else changes."""
    ids = await seed_console(db, drafts_per_manager=3)
    await _manager(db, ids)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, callback_update(MANAGER_TG, ReviewCb(a="open", c=ids["camp_M1"]).pack()))
    buttons = dict(_buttons(fake_session, MANAGER_TG))
    await dp.feed_update(bot, callback_update(MANAGER_TG, buttons["✓1"]))
    await dp.feed_update(bot, callback_update(MANAGER_TG, buttons["✓1"]))  # the same, stale button again
    changed = "This draft or campaign changed meanwhile; the page is refreshed."
    assert fake_session.requests_of("answerCallbackQuery")[-1].params.get("text") == changed
    assert "2 waiting" in _screen(fake_session, MANAGER_TG).params["text"]

    await dp.feed_update(bot, callback_update(MANAGER_TG, buttons["✗2"]))
    async with db.sessions() as session:  # approved in the console meanwhile
        second = await session.get(Draft, ReviewCb.unpack(buttons["✗2"]).d)
        second.status = "queued"
        await session.commit()
    await dp.feed_update(bot, message_update(MANAGER_TG, "not needed"))
    assert changed in fake_session.sent_texts(MANAGER_TG)
    assert "1 waiting" in _screen(fake_session, MANAGER_TG).params["text"]
    async with db.sessions() as session:
        statuses = dict((await session.execute(select(Draft.status, func.count()).where(
            Draft.manager_id == ids["m1"]).group_by(Draft.status))).all())
    assert statuses == {"queued": 2, "pending": 1}


async def test_manager_start_help_and_free_text(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=1)
    await _manager(db, ids, language="zh")
    settings.public_url = "https://rm.example.com"
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(MANAGER_TG, "/start", language_code="en"))
    assert "/today" in fake_session.sent_texts(MANAGER_TG)[-1] and "王敏" in fake_session.sent_texts(MANAGER_TG)[-1]
    [menu] = fake_session.requests_of("setChatMenuButton")
    assert menu.params["chat_id"] == MANAGER_TG and "https://rm.example.com/login" in str(menu.params["menu_button"])
    await dp.feed_update(bot, message_update(MANAGER_TG, "我的定期什么时候到期？"))
    reply = fake_session.sent_texts(MANAGER_TG)[-1]
    assert "不会发给客户" in reply and "联系我的客户经理" not in reply
    async with db.sessions() as session:
        from bot.db.models import ChatMessage

        assert await session.scalar(select(func.count()).select_from(ChatMessage).where(
            ChatMessage.text == "我的定期什么时候到期？")) == 0  # not a customer question
    await dp.feed_update(bot, message_update(MANAGER_TG, "/language"))
    await dp.feed_update(bot, message_update(MANAGER_TG, "/help"))
    assert "/today: what needs you today" in fake_session.sent_texts(MANAGER_TG)[-1]


async def test_today_lists_conversations_urgent_first(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=1)
    await _manager(db, ids, language="zh")
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(MANAGER_TG, "/today"))
    today = fake_session.sent_texts(MANAGER_TG)[-1]
    assert "待回复会话：1 个" in today and "北京时间" in today
    [tk] = [d for text, d in _buttons(fake_session, MANAGER_TG) if text.startswith("回复会话")]
    await dp.feed_update(bot, callback_update(MANAGER_TG, tk))
    notice = fake_session.sent_messages(MANAGER_TG)[-1]
    assert f"#{ids['ticket_M1']}" in notice.params["text"] and f"#{ids['ticket_M2']}" not in notice.params["text"]
    labels = [b["text"] for row in notice.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "回复" in labels  # one tap to answer


async def test_admin_only_in_admin_ids_sees_and_takes_tickets(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=1)
    settings.admin_ids = [7777]
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(7777, "/tickets"))
    texts = "\n".join(fake_session.sent_texts(7777))
    assert f"#{ids['ticket_M1']}" in texts and f"#{ids['ticket_M2']}" in texts
    take = [b["callback_data"] for r in fake_session.sent_messages(7777)
            for row in (r.params.get("reply_markup") or {}).get("inline_keyboard", []) for b in row
            if b["callback_data"].startswith("tk:take")][0]
    await dp.feed_update(bot, callback_update(7777, take))
    from bot.db.models import Ticket

    async with db.sessions() as session:
        ticket_id = int(re.search(r":(\d+)$", take).group(1))  # type: ignore[union-attr]
        assert (await session.get(Ticket, ticket_id)).status == "taken"


async def test_forged_button_for_another_managers_draft(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db, drafts_per_manager=2)
    await _manager(db, ids)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    forged = ReviewCb(a="ok", c=ids["camp_M2"], d=ids["draft_M2"]).pack()
    await dp.feed_update(bot, callback_update(MANAGER_TG, forged, language_code="en"))
    await dp.feed_update(bot, callback_update(MANAGER_TG, ReviewCb(a="open", c=ids["camp_M2"]).pack()))
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).where(Draft.status != "pending")) == 0
    assert len(fake_session.requests_of("answerCallbackQuery")) == 2  # both taps were handled (and refused)
    assert all("M2-" not in str(r.params) for r in fake_session.requests)


async def test_customers_cannot_use_review_commands(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    await seed_console(db, drafts_per_manager=1)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    await dp.feed_update(bot, message_update(4242, "/queue"))
    texts = fake_session.sent_texts(4242)
    assert texts, "the customer got no answer: the test would pass without the bot running"
    assert all("元旦" not in text for text in texts)


async def test_every_manager_gets_the_console_in_the_chat_menu(db, settings, fake_session) -> None:  # type: ignore[no-untyped-def]
    from bot.app import setup_manager_menus

    ids = await seed_console(db, drafts_per_manager=1)
    await _manager(db, ids, language="zh")
    bot = make_bot(fake_session)
    assert await setup_manager_menus(bot, settings, db.sessions) == 0  # no https PUBLIC_URL: no Mini App
    assert fake_session.requests_of("setChatMenuButton") == []
    settings.public_url = "https://rm.example.com/"
    assert await setup_manager_menus(bot, settings, db.sessions) == 1
    [menu] = fake_session.requests_of("setChatMenuButton")
    assert menu.params["chat_id"] == MANAGER_TG
    scoped = [r for r in fake_session.requests_of("setMyCommands") if r.params.get("scope")]
    assert scoped and "today" in str(scoped[-1].params["commands"])


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_command_is_never_the_text_a_manager_is_asked_for(db, settings, fake_session, lang) -> None:  # type: ignore[no-untyped-def]
    """While the bot waits for a draft's new text, a reject reason, a template or a reply to a
    customer, a command is not that text: the wait ends (said in the manager's language) and the
    command runs as usual; the manager's next words are not taken for the text either."""
    from bot.db.models import Campaign, ChatMessage
    from bot.i18n import t
    from handlers.keyboards import TicketCb

    ids = await seed_console(db, drafts_per_manager=2)
    await _manager(db, ids, language=lang)
    dp = build_dispatcher(settings, db.sessions, None)
    bot = make_bot(fake_session)
    camp, draft = ids["camp_M1"], ids["draft_M1"]
    cancelled, unknown = t("Cancelled.", lang), t("I do not know that command. /help lists what I can do.", lang)

    async def say(text: str) -> list[str]:
        before = len(fake_session.sent_texts(MANAGER_TG))
        await dp.feed_update(bot, message_update(MANAGER_TG, text, language_code="zh" if lang == "en" else "en"))
        return fake_session.sent_texts(MANAGER_TG)[before:]

    async def press(data: str) -> None:
        await dp.feed_update(bot, callback_update(MANAGER_TG, data))

    await press(ReviewCb(a="ed", c=camp, d=draft).pack())
    assert await say("/foo") == [cancelled, unknown]
    await press(ReviewCb(a="no", c=camp, d=draft).pack())
    assert (await say("/settings"))[0] == cancelled
    await press(ReviewCb(a="tpl", c=camp).pack())
    replies = await say("/today")
    assert replies[0] == cancelled and ("元旦祝福" in replies[1] or "New Year greeting" in replies[1])
    await say("{salutation}新年好")  # after /today: the manager's own words, not the template
    await press(TicketCb(action="reply", ticket_id=ids["ticket_M1"]).pack())
    assert (await say("/queue"))[0] == cancelled
    await say("我在处理")  # not a reply to the customer either

    async with db.sessions() as session:
        d = await session.get(Draft, draft)
        campaign = await session.get(Campaign, camp)
        replies_to_customer = await session.scalar(select(func.count()).select_from(ChatMessage).where(
            ChatMessage.author != "customer"))
    assert (d.status, d.text, d.edited, d.reject_reason) == ("pending", "客户0您好，新年快乐！", False, None)
    assert not campaign.template_override and not campaign.template_overrides
    assert fake_session.sent_texts(90_000 + ids["m1"]) == [] and replies_to_customer == 0
    # /cancel still cancels, and words are still taken when they are what was asked for
    await press(ReviewCb(a="ed", c=camp, d=draft).pack())
    assert await say("/cancel") == [cancelled]
    await press(ReviewCb(a="ed", c=camp, d=draft).pack())
    await say("客户0您好，新年好！")
    async with db.sessions() as session:
        assert (await session.get(Draft, draft)).text == "客户0您好，新年好！"
