"""Issue 8: no log line of a full conversation, written through the production log pipeline
(bot.logs, JSON), contains the client's phone number, ID number, or the bot token."""

from __future__ import annotations

import io
import logging

from sqlalchemy import update

from bot.db.models import Client
from bot.logs import setup_logging
from tools.fakes.bot_api import callback_update, message_update

from .conftest import MANAGER_A_TG, USER_A

PHONE = "13812345678"
ID_NUMBER = "110101199003074578"


async def test_full_conversation_logs_no_phone_id_or_token(chat, db, bank, fake_bot) -> None:  # type: ignore[no-untyped-def]
    async with db.sessions() as s:
        await s.execute(update(Client).where(Client.id == bank["a"]).values(phone=PHONE))
        await s.commit()
    buf = io.StringIO()
    setup_logging("json", "DEBUG", stream=buf, secrets=(fake_bot.token,))
    try:
        logging.getLogger("aiogram.event").info("bot %s started", fake_bot.token)
        await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}"))
        await chat.feed(callback_update(USER_A, "cs:1"))
        for text in ("180天定期利率是多少?", "我的定期什么时候到期?", f"我的手机号{PHONE}，身份证{ID_NUMBER}",
                     "我的卡丢了", "转人工", "退订"):
            await chat.feed(message_update(USER_A, text))
        await chat.feed(message_update(MANAGER_A_TG, "您好，我来处理。"))
    finally:
        logging.getLogger().handlers.clear()
    out = buf.getvalue()
    assert out.count("\n") >= 5, "the conversation wrote no log lines: the check would prove nothing"
    for secret in (PHONE, ID_NUMBER, fake_bot.token, "张伟"):
        assert secret not in out, secret
