"""Middlewares, registered on the dispatcher's `update` observer (so they see every update type):

0. `TransientRetryMiddleware`: an update whose handling hit a passing database error (another
   process holding the SQLite lock, PostgreSQL restarting) is handled again after a backoff, with
   a new session, until it goes through: an accepted update is not lost to a lock.
1. `DbSessionMiddleware`: one `AsyncSession` per update from the sessionmaker given to the
   dispatcher (`data["session"]`); committed when the handler returns, rolled back on error.
2. `IdentityMiddleware`: who is this, from `data["event_from_user"]` / `data["event_chat"]`:
   `role` (customer | manager | admin), `manager`, `client` (bound to this private chat), `lang`.
3. `LanguageMiddleware` (aiogram `I18nMiddleware`): a manager's chosen language, else the bound
   client's language, else the conversation's chosen one, else Telegram's `language_code` (zh* / en*).
4. `ThrottlingMiddleware`: at most `limit` messages per `window` seconds per user; the first
   refused one gets a polite answer, the rest are dropped.

And on the dispatcher's `message` observer (before any router):

5. `CommandEndsWaitMiddleware`: a command is never the text a state waits for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.types import Chat, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Client, Conversation, Manager

if TYPE_CHECKING:
    from redis.asyncio import Redis
from bot.db.retry import PartsHealth, retry_transient
from bot.i18n import normalize_language, t

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class TransientRetryMiddleware(BaseMiddleware):
    def __init__(self, health: PartsHealth | None = None, stop: asyncio.Event | None = None) -> None:
        self.health, self.stop = health, stop

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        attempts = 0

        def attempt() -> Awaitable[Any]:
            # fresh workflow data each time: the inner middlewares fill it again (a new session);
            # a retry is not counted again by the throttling
            nonlocal attempts
            attempts += 1
            return handler(event, dict(data, retry_attempt=attempts - 1))

        return await retry_transient("updates", attempt, health=self.health, stop=self.stop)


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            try:
                result = await handler(event, data)
            except Exception:
                await session.rollback()
                raise
            await session.commit()
            return result


# Built once (asked for every update): SQLAlchemy reuses their cache key and compiled form.
_MANAGER_BY_TELEGRAM_ID = select(Manager).where(Manager.telegram_id == bindparam("telegram_id"))
_CLIENT_BY_CHAT = select(Client).where(Client.telegram_chat_id == bindparam("chat_id"))
_CONVERSATION_LANGUAGE = select(Conversation.language).where(Conversation.chat_id == bindparam("chat_id"))


class IdentityMiddleware(BaseMiddleware):
    def __init__(self, admin_ids: list[int] | tuple[int, ...] = ()) -> None:
        self.admin_ids = frozenset(admin_ids)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        session: AsyncSession = data["session"]
        manager = client = None
        conversation_lang = None
        if user is not None:
            manager = await session.scalar(_MANAGER_BY_TELEGRAM_ID, {"telegram_id": user.id})
            if manager is not None and not manager.active:
                manager = None
        if chat is not None and chat.type == "private":
            client = await session.scalar(_CLIENT_BY_CHAT, {"chat_id": chat.id})
            if client is None:
                conversation_lang = await session.scalar(_CONVERSATION_LANGUAGE, {"chat_id": chat.id})
        is_admin = user is not None and (user.id in self.admin_ids or bool(manager and manager.is_admin))
        data["manager"] = manager
        data["client"] = client
        data["is_admin"] = is_admin
        data["role"] = "admin" if is_admin else "manager" if manager is not None else "customer"
        if manager is not None:  # a manager reads the bot in the language they chose for their work
            data["lang"] = normalize_language(manager.language)
        elif client is not None:
            data["lang"] = normalize_language(client.language)
        elif conversation_lang:
            data["lang"] = normalize_language(conversation_lang)
        else:
            data["lang"] = normalize_language(user.language_code if user else None)
        return await handler(event, data)


class LanguageMiddleware(I18nMiddleware):
    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return data.get("lang") or self.i18n.default_locale


class ThrottlingMiddleware(BaseMiddleware):
    """Sliding window per user. `clock` is injectable for tests."""

    def __init__(self, limit: int = 8, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[int, list[float]] = {}
        self._warned: dict[int, float] = {}

    def _allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn_now)."""
        now = self.clock()
        hits = [h for h in self._hits.get(user_id, []) if now - h < self.window]
        if len(hits) < self.limit:
            hits.append(now)
            self._hits[user_id] = hits
            self._warned.pop(user_id, None)
            return True, False
        self._hits[user_id] = hits
        warned_at = self._warned.get(user_id)
        if warned_at is not None and now - warned_at < self.window:
            return False, False
        self._warned[user_id] = now
        return False, True

    async def check(self, user_id: int) -> tuple[bool, bool]:
        self._forget_idle()
        return self._allow(user_id)

    def _forget_idle(self) -> None:
        if len(self._hits) > 10_000:
            now = self.clock()
            self._hits = {u: h for u, h in self._hits.items() if h and now - h[-1] < self.window}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or not isinstance(event, Update) or not (event.message or event.callback_query) \
                or data.get("retry_attempt"):
            return await handler(event, data)
        if data.get("role") in ("manager", "admin"):  # staff tap through review pages quickly; not abuse
            return await handler(event, data)
        allowed, warn = await self.check(user.id)
        if allowed:
            return await handler(event, data)
        log.info("throttled", extra={"user_id": user.id})
        if warn:
            bot: Bot = data["bot"]
            text = t("You are sending messages very quickly. Please wait a few seconds and try again.",
                     data.get("lang"))
            if event.message is not None:
                await bot.send_message(event.message.chat.id, text)
            elif event.callback_query is not None:
                await bot.answer_callback_query(event.callback_query.id, text=text)
        return None


class RedisThrottlingMiddleware(ThrottlingMiddleware):
    """The same limit shared by every bot instance (fixed windows counted in Redis)."""

    def __init__(self, redis: Redis, limit: int = 8, window: float = 10.0, clock: Callable[[], float] = time.time,
                 prefix: str = "rmbot:throttle") -> None:
        super().__init__(limit, window, clock)
        self.redis = redis
        self.prefix = prefix

    async def check(self, user_id: int) -> tuple[bool, bool]:
        slot = int(self.clock() // self.window)
        key = f"{self.prefix}:{user_id}:{slot}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)  # queued; the pipeline runs both at execute()
                pipe.expire(key, int(self.window) + 1)
                count, _ = await pipe.execute()
        except Exception:  # noqa: BLE001 - Redis down: fall back to this instance's own count
            log.warning("throttling: Redis unavailable, counting locally")
            return await super().check(user_id)
        return count <= self.limit, count == self.limit + 1


class CommandEndsWaitMiddleware(BaseMiddleware):
    """Every state of this bot waits for a person's text: a draft's new text, a reason to reject
    or to approve despite warnings, a template, a reply to a customer. A command is never that
    text (a compliance officer would not accept "/stop" as an override reason, nor a customer
    receive "/today" from their manager). /cancel is the routers' (they cancel and say so); any
    other command ends the wait as in most Telegram bots: the person is told it is cancelled
    (nothing was saved, approved or sent) and the command then runs as usual, in whichever router
    handles it; an unknown one gets the usual "I do not know that command"."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and data.get("raw_state") and is_command(event.text) \
                and not is_command(event.text, "cancel"):
            state: FSMContext = data["state"]
            await state.clear()
            data["raw_state"] = None
            await event.answer(t("Cancelled.", data.get("lang")))
        return await handler(event, data)


def is_command(text: str | None, name: str | None = None) -> bool:
    """Whether `text` looks like a command (starts with "/": "/today", "/stop@bank_bot now"), or is
    the command `name` (as aiogram's `Command(name)` reads it: case-sensitive)."""
    words = (text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return False
    return name is None or words[0][1:].split("@", 1)[0] == name


def setup_middlewares(
    dispatcher: Dispatcher,
    *,
    sessions: async_sessionmaker[AsyncSession],
    i18n: I18n,
    admin_ids: list[int] | tuple[int, ...] = (),
    throttling: ThrottlingMiddleware | None = None,
    health: PartsHealth | None = None,
) -> None:
    dispatcher.update.outer_middleware(TransientRetryMiddleware(health))
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessions))
    dispatcher.update.outer_middleware(IdentityMiddleware(admin_ids))
    dispatcher.update.outer_middleware(LanguageMiddleware(i18n))
    dispatcher.update.outer_middleware(throttling or ThrottlingMiddleware())
    dispatcher.message.outer_middleware(CommandEndsWaitMiddleware())
