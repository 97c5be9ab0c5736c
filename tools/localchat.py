"""Try the customer side without a token and without Telegram: real `Update` objects through the
real Dispatcher, over an in-process session that records what the bot would send.

    async with LocalChat.open(settings, db, knowledge, client_no="C000123", lang="zh") as chat:
        for sent in await chat.say("我的定期什么时候到期?"):
            print(sent.plain)

`rmbot chat --client C000123` wraps this in a terminal REPL.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, MessageEntity, Update, User
from sqlalchemy import select

from bot.db.models import Client, Manager, Ticket
from bot.services.invites import create_invite
from tools.fakes.bot_api import FakeSession

LOCAL_TOKEN = "1:LOCALCHAT"
LOCAL_BOT = User(id=1, is_bot=True, first_name="RM Assistant", username="rm_assistant_local_bot")
LOCAL_CHAT_BASE = 900_000_000_000  # local chat ids: far from real Telegram user ids


@dataclass
class Sent:
    chat_id: int
    text: str
    message_id: int
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, callback_data)

    @property
    def plain(self) -> str:
        return html.unescape(re.sub(r"</?(b|i|u|s|code|pre|a)[^>]*>", "", self.text))


class RecordingSession(FakeSession):
    """The shared fake Bot API (answers every call in process, like Telegram would), keeping what the bot sent as
    `Sent` rows with the message ids Telegram gave them (the chat presses buttons of those messages)."""

    def __init__(self) -> None:
        super().__init__(bot_username=LOCAL_BOT.username or "bot")
        self.sent: list[Sent] = []

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:  # noqa: ASYNC109 - aiogram's signature
        result = await super().make_request(bot, method, timeout)
        if method.__api_method__ in ("sendMessage", "editMessageText") and isinstance(result, Message):
            params = self.requests[-1].params
            markup = params.get("reply_markup") or {}
            rows = (markup.get("inline_keyboard") or []) if isinstance(markup, dict) else []
            buttons = [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]
            self.sent.append(Sent(result.chat.id, params.get("text", ""), result.message_id, buttons))
        return result


class LocalChat:
    def __init__(self, dp: Dispatcher, bot: Bot, session: RecordingSession, *, chat_id: int, lang: str,
                 first_name: str = "Local") -> None:
        self.dp, self.bot, self.session = dp, bot, session
        self.chat_id = chat_id
        self.lang = lang
        self.user = User(id=chat_id, is_bot=False, first_name=first_name, language_code=lang)
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1_000_000)
        self.last_buttons: list[tuple[str, str, int]] = []  # (label, data, message_id)
        self.start_token: str | None = None  # an invite to send as "/start <token>" (bound chats)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Any, db: Any, knowledge: Any, *, client_no: str | None = None,
                   lang: str = "zh") -> AsyncIterator[LocalChat]:
        """A local chat; with `client_no`, bound to that client through a real invite (raises
        ValueError when the client is unknown or bound to a real Telegram chat)."""
        from bot.app import build_dispatcher

        session = RecordingSession()
        bot = Bot(LOCAL_TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        dp = build_dispatcher(settings, db.sessions, knowledge)
        chat_id = LOCAL_CHAT_BASE
        token = None
        if client_no:
            async with db.sessions() as s:
                client = await s.scalar(select(Client).where(Client.client_no == client_no))
                if client is None:
                    raise ValueError(f"no client with number {client_no!r}")
                chat_id = LOCAL_CHAT_BASE + client.id
                if client.telegram_chat_id not in (None, chat_id):
                    raise ValueError(f"client {client_no} is bound to a real Telegram chat; try an unbound client")
                if client.telegram_chat_id is None:
                    token = (await create_invite(s, client_no, bot_username=LOCAL_BOT.username or "bot")).token
                    await s.commit()
        chat = cls(dp, bot, session, chat_id=chat_id, lang=lang)
        chat.start_token = token
        try:
            yield chat
        finally:
            await dp.storage.close()

    def _message(self, text: str, *, user: User | None = None, reply_to: int | None = None) -> Message:
        user = user or self.user
        entities = None
        match = re.match(r"^/\w+", text)
        if match:
            entities = [MessageEntity(type="bot_command", offset=0, length=len(match.group()))]
        reply = None
        if reply_to is not None:
            reply = Message(message_id=reply_to, date=datetime.now(UTC), chat=Chat(id=user.id, type="private"),
                            from_user=LOCAL_BOT, text="…")
        return Message(message_id=next(self._message_ids), date=datetime.now(UTC),
                       chat=Chat(id=user.id, type="private", first_name=user.first_name), from_user=user,
                       text=text, entities=entities, reply_to_message=reply)

    async def _feed(self, update: Update) -> list[Sent]:
        before = len(self.session.sent)
        await self.dp.feed_update(self.bot, update)
        await self._deliver_notices()
        new = self.session.sent[before:]
        mine = [s for s in new if s.chat_id == self.chat_id and s.buttons]
        if mine:
            self.last_buttons = [(label, data, mine[-1].message_id) for label, data in mine[-1].buttons]
        return new

    async def _deliver_notices(self) -> None:
        """Notices to managers and admins go through the outbox: send what is due, as `rmbot run`'s sender would."""
        from bot.app import notice_markup
        from scheduler.ratelimit import LocalLimiter
        from scheduler.sender import Sender

        settings = self.dp["settings"].model_copy(update={"chat_interval_s": 0.0})
        await Sender(settings, self.dp["sessions"], self.bot, LocalLimiter(1000),
                     notice_markup=notice_markup).run(asyncio.Event(), until_idle=True)

    async def say(self, text: str) -> list[Sent]:
        """The customer writes `text`; returns everything the bot sent meanwhile (to anyone)."""
        return await self._feed(Update(update_id=next(self._update_ids), message=self._message(text)))

    async def press(self, index: int) -> list[Sent]:
        """Press button `index` (1-based) of the last keyboard the bot showed the customer."""
        if not 1 <= index <= len(self.last_buttons):
            raise ValueError(f"no button {index}; there are {len(self.last_buttons)}")
        _label, data, message_id = self.last_buttons[index - 1]
        query = CallbackQuery(id=str(next(self._update_ids)), from_user=self.user, chat_instance="local", data=data,
                              message=Message(message_id=message_id, date=datetime.now(UTC),
                                              chat=Chat(id=self.chat_id, type="private"), from_user=LOCAL_BOT,
                                              text="…"))
        return await self._feed(Update(update_id=next(self._update_ids), callback_query=query))

    async def manager_reply(self, text: str, db: Any) -> list[Sent]:
        """The customer's manager answers the latest open ticket of this chat with a Telegram reply."""
        async with db.sessions() as s:
            ticket = await s.scalar(select(Ticket).where(Ticket.chat_id == self.chat_id, Ticket.status != "closed")
                                    .order_by(Ticket.id.desc()).limit(1))
            if ticket is None or ticket.manager_id is None or ticket.notify_message_id is None:
                raise ValueError("no open ticket with a notified manager in this chat")
            manager = await s.get(Manager, ticket.manager_id)
            if manager is None or manager.telegram_id is None:
                raise ValueError("the manager has no Telegram id")
        user = User(id=manager.telegram_id, is_bot=False, first_name=manager.name, language_code="zh")
        message = self._message(text, user=user, reply_to=ticket.notify_message_id)
        return await self._feed(Update(update_id=next(self._update_ids), message=message))
