"""/start with and without an invite, consent on binding, expired/used invites, /settings, language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import clock
from bot.db.models import AuditLog, Client, InviteToken
from bot.services.auth import hash_token
from handlers.keyboards import ConsentCb, SettingsCb
from tests.customer.conftest import USER_A, USER_B
from tools.fakes.bot_api import callback_update, message_update


async def _client(db, client_id):
    async with db.sessions() as s:
        return await s.get(Client, client_id)


@pytest.mark.parametrize(("lang", "welcome", "consent_q"), [
    ("zh", "欢迎您", "节日问候"),
    ("en", "Welcome", "holiday greetings"),
])
async def test_start_with_invite_binds_and_asks_consent(chat, db, bank, lang, welcome, consent_q):
    texts = await chat.texts(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    assert welcome in texts[0] and "王敏" in texts[0]
    assert consent_q in texts[1]
    markup = chat.session.sent_messages(USER_A)[-1].params["reply_markup"]
    buttons = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert buttons == [ConsentCb(yes=True).pack(), ConsentCb(yes=False).pack()]
    client = await _client(db, bank["a"])
    assert client.telegram_chat_id == USER_A and client.language == lang

    # the customer says yes: consent recorded with an audit row
    reqs = await chat.feed(callback_update(USER_A, ConsentCb(yes=True).pack(), language_code=lang))
    assert any(r.method_name == "editMessageText" for r in reqs)
    client = await _client(db, bank["a"])
    assert client.marketing_consent is True and client.opted_out is False
    async with db.sessions() as s:
        actions = (await s.scalars(select(AuditLog.action).where(AuditLog.client_id == bank["a"]))).all()
    assert "bind" in actions and "opt_in" in actions


async def test_consent_no_keeps_marketing_off(chat, db, bank):
    await chat.feed(message_update(USER_B, f"/start {bank['invite_b']}", language_code="en"))
    reqs = await chat.feed(callback_update(USER_B, ConsentCb(yes=False).pack(), language_code="en"))
    edit = next(r for r in reqs if r.method_name == "editMessageText")
    assert "service reminders" in edit["text"]
    client = await _client(db, bank["b"])
    assert client.marketing_consent is False and client.opted_out is True


@pytest.mark.parametrize(("lang", "expect"), [("zh", "您好"), ("en", "Hello")])
async def test_start_without_token_is_an_unbound_customer(chat, db, bank, lang, expect):
    texts = await chat.texts(message_update(USER_A, "/start", language_code=lang))
    assert len(texts) == 1 and expect in texts[0]
    assert (await _client(db, bank["a"])).telegram_chat_id is None


@pytest.mark.parametrize(("lang", "expect"), [("zh", "已过期"), ("en", "expired")])
async def test_expired_invite_is_refused(chat, db, bank, lang, expect):
    async with db.sessions() as s:
        row = await s.scalar(select(InviteToken).where(InviteToken.token_hash == hash_token(bank["invite_a"])))
        row.expires_at = clock.now(s) - timedelta(seconds=1)
        await s.commit()
    texts = await chat.texts(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    assert expect in texts[0]
    assert (await _client(db, bank["a"])).telegram_chat_id is None


@pytest.mark.parametrize(("lang", "expect"), [("zh", "已被使用"), ("en", "already been used")])
async def test_used_invite_cannot_bind_someone_else(chat, db, bank, lang, expect):
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    texts = await chat.texts(message_update(USER_B, f"/start {bank['invite_a']}", language_code=lang))
    assert expect in texts[0]
    assert (await _client(db, bank["a"])).telegram_chat_id == USER_A


@pytest.mark.parametrize(("lang", "expect"), [("zh", "无效"), ("en", "not valid")])
async def test_unknown_invite(chat, bank, lang, expect):
    texts = await chat.texts(message_update(USER_A, "/start nosuchtoken123", language_code=lang))
    assert expect in texts[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_settings_opt_back_in_and_reminders(chat, db, bank, lang):
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}", language_code=lang))
    await chat.feed(message_update(USER_A, "退订", language_code=lang))
    assert (await _client(db, bank["a"])).opted_out is True

    texts = await chat.texts(message_update(USER_A, "/settings", language_code=lang))
    assert ("关闭" if lang == "zh" else "off") in texts[0]
    reqs = await chat.feed(callback_update(USER_A, SettingsCb(action="mkt").pack(), language_code=lang))
    assert any(r.method_name == "editMessageText" for r in reqs)
    client = await _client(db, bank["a"])
    assert client.opted_out is False and client.marketing_consent is True

    await chat.feed(callback_update(USER_A, SettingsCb(action="rem").pack(), language_code=lang))
    assert (await _client(db, bank["a"])).reminders_enabled is False


async def test_language_switch_is_remembered(chat, db, bank):
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}", language_code="zh"))
    texts = await chat.texts(message_update(USER_A, "/language", language_code="zh"))
    assert "English" in texts[0]
    assert (await _client(db, bank["a"])).language == "en"
    # Telegram still says zh, but the chosen language wins
    texts = await chat.texts(message_update(USER_A, "/help", language_code="zh"))
    assert "/settings" in texts[0] and "documents" in texts[0]


async def test_manager_invites_own_client_in_telegram(chat, db, bank):
    from tests.customer.conftest import MANAGER_A_TG
    from tools.fakes.bot_api import BOT_USERNAME

    texts = await chat.texts(message_update(MANAGER_A_TG, "/invite C0001"), chat_id=MANAGER_A_TG)
    assert f"https://t.me/{BOT_USERNAME}?start=" in texts[0]
    token = texts[0].rsplit("start=", 1)[1].strip()
    await chat.feed(message_update(USER_A, f"/start {token}"))
    assert (await _client(db, bank["a"])).telegram_chat_id == USER_A
    # another manager's client: refused, no invite created
    async with db.sessions() as s:
        before = len((await s.scalars(select(InviteToken))).all())
    texts = await chat.texts(message_update(MANAGER_A_TG, "/invite C0002"), chat_id=MANAGER_A_TG)
    assert "不在您的名下" in texts[0]
    async with db.sessions() as s:
        assert len((await s.scalars(select(InviteToken))).all()) == before
