"""Assembly: settings -> database -> knowledge -> bot + dispatcher -> polling or webhook, scheduler,
sender and web console, all in one event loop (`rmbot run`).

`run` starts the parts a role asks for (`_start_bot`, `_start_scheduler`, `_start_sender`, `_start_console`), each
registering its task, its graceful stop and what it holds with `Parts`; every resource sits in one AsyncExitStack.
The log says which parts run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import uvicorn
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.retry import PartsHealth
from bot.i18n import get_i18n
from bot.services.conversations import Conversations
from bot.services.conversations.service import KnowledgeLike
from bot.services.documents import DocumentLibrary, FileLoader
from bot.settings import Settings
from bot.workspace import Database

if TYPE_CHECKING:
    from fastapi import FastAPI

    from handlers.middlewares import ThrottlingMiddleware
    from scheduler.ratelimit import Limiter


class KnowledgeBase(KnowledgeLike, DocumentLibrary, FileLoader, Protocol):
    """What the running service uses of the knowledge base (`knowledge.KnowledgeService`; tests and
    demos give their own): customers' questions, and the documents admins add and remove."""

log = logging.getLogger(__name__)

ROLES = ("all", "bot", "worker", "scheduler", "console")


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Honour Telegram's 429 `retry_after` for the bot's own answers (a few times, then give up)."""

    def __init__(self, attempts: int = 3, max_wait: float = 30.0) -> None:
        self.attempts = attempts
        self.max_wait = max_wait

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        for attempt in range(self.attempts):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts - 1 or exc.retry_after > self.max_wait:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover


class ReplyBudgetMiddleware(BaseRequestMiddleware):
    """Charges the deployment's sending budget for every message the bot answers with, so the
    broadcast (which waits for the budget) yields to customers' replies and the total stays under
    Telegram's limit."""

    COUNTED = frozenset({"sendMessage", "sendDocument", "sendPhoto", "copyMessage"})

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        if method.__api_method__ in self.COUNTED:
            await self.limiter.note_reply()
        return await make_request(bot, method)


# aiogram validates every Bot API answer with `Response[method.__returning__]`; pydantic keeps those
# parametrised models only weakly, so under load they are garbage-collected and rebuilt (~10 ms of
# CPU per API call). Holding them here makes each one a one-time cost.
_PINNED_RESPONSE_MODELS: list[Any] = []


def _pin_response_models() -> None:
    if _PINNED_RESPONSE_MODELS:
        return
    from aiogram import methods
    from aiogram.methods.base import Response

    for name in ("SendMessage", "SendChatAction", "AnswerCallbackQuery", "EditMessageText",
                 "EditMessageReplyMarkup", "GetMe", "SetWebhook", "DeleteWebhook", "SetMyCommands",
                 "SendDocument", "GetFile", "GetUpdates", "DeleteMessage", "GetChat"):
        method = getattr(methods, name)
        _PINNED_RESPONSE_MODELS.append(Response[method.__returning__])  # type: ignore[name-defined]


def build_bot(settings: Settings, *, session: BaseSession | None = None, retry_429: bool = True) -> Bot | None:
    """The Bot, or None without BOT_TOKEN. TELEGRAM_API_BASE points it at any Bot API server.
    The sender passes `retry_429=False`: it handles 429s itself (a pause shared by all senders)."""
    if not settings.token:
        return None
    _pin_response_models()
    if session is None:
        session = (AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
                   if settings.telegram_api_base else AiohttpSession())
    bot = Bot(settings.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    if retry_429:
        bot.session.middleware(RetryAfterMiddleware())
    return bot


def notice_markup(ticket_id: int, lang: str) -> InlineKeyboardMarkup:
    """Take / Reply / Close under a ticket notice the sender delivers (in the notice's language)."""
    from handlers.keyboards import ticket_keyboard

    return ticket_keyboard(ticket_id, lang)


def build_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_dispatcher(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    knowledge: KnowledgeBase | None,
    *,
    storage: BaseStorage | None = None,
    throttling: ThrottlingMiddleware | None = None,
    health: PartsHealth | None = None,
    **services: Any,
) -> Dispatcher:
    """The dispatcher with every router and middleware; services reach handlers as workflow data
    (`settings`, `sessions`, `knowledge`, `conversations`, plus `services`)."""
    from handlers import setup_routers
    from handlers.middlewares import setup_middlewares

    dp = Dispatcher(
        storage=storage or build_storage(settings),
        settings=settings,
        sessions=sessions,
        knowledge=knowledge,
        conversations=services.pop("conversations", None) or Conversations(knowledge, admin_ids=settings.admin_ids),
        **services,
    )
    if throttling is None and settings.redis_url:
        from redis.asyncio import Redis

        from handlers.middlewares import RedisThrottlingMiddleware

        throttling = RedisThrottlingMiddleware(Redis.from_url(settings.redis_url))
    setup_middlewares(dp, sessions=sessions, i18n=get_i18n(), admin_ids=settings.admin_ids, throttling=throttling,
                      health=health)
    dp.include_router(setup_routers())
    return dp


BOT_COMMANDS = {
    "zh": [("start", "开始"), ("settings", "问候、资讯与提醒设置"), ("human", "转人工"), ("language", "中文 / English"),
           ("help", "帮助"), ("stop", "退订问候和产品资讯")],
    "en": [("start", "Start"), ("settings", "Greetings, news and reminders"), ("human", "Talk to a person"),
           ("language", "中文 / English"), ("help", "Help"), ("stop", "No more greetings or product news")],
}


async def set_commands(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in BOT_COMMANDS["zh"]])
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in BOT_COMMANDS["en"]],
                              language_code="en")


async def setup_manager_menus(bot: Bot, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
    """Each manager on Telegram gets their own command list and the console as a Mini App button in
    their chat's menu (again at /start, e.g. after a language change)."""
    from sqlalchemy import select

    from bot.db.models import Manager
    from handlers.manager import setup_manager_chat

    async with sessions() as session:
        managers = (await session.scalars(select(Manager).where(Manager.active.is_(True),
                                                                Manager.telegram_id.is_not(None)))).all()
    done = 0
    for manager in managers:
        done += await setup_manager_chat(bot, settings, manager)
    return done


async def build_knowledge(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> KnowledgeBase | None:
    """The knowledge service over the project database's document registry (None if unavailable)."""
    try:
        from bot.services.documents import SqlDocumentRegistry
        from knowledge import build_knowledge_service

        service = build_knowledge_service(settings, registry=SqlDocumentRegistry(sessions))
        await service.start()
        return service
    except Exception:  # noqa: BLE001 - the bot still runs; questions get a polite "not now"
        log.exception("knowledge service unavailable")
        return None


# What docker stop, systemd and Kubernetes allow between SIGTERM and SIGKILL by default: the process
# must have stopped (its leases returned) and exited within it, on a loaded host too.
STOP_WITHIN_S = 10.0


def exit_now(code: int = 0) -> NoReturn:
    """End the process once `run` has returned: every part stopped, every resource released. Skips the
    interpreter's teardown, which frees the ~300k objects of the imported libraries (aiogram's models) one
    by one with full gc passes: a few seconds of CPU, past `STOP_WITHIN_S` on a loaded host, and nothing
    left for it to do. Logs and standard streams are flushed first."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class Parts:
    """The running parts of one process: each a task with an optional graceful stop (polling, the console,
    the sender, the webhook inbox). `stop()` asks them all to stop, waits for them together (one bounded wait,
    half of `STOP_WITHIN_S`, so the whole process stops within it) and cancels what is left."""

    GRACE_S = STOP_WITHIN_S / 2

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.names: list[str] = []  # what runs, for the log
        self._stops: list[Callable[[], Awaitable[None] | None]] = []
        self._resources = AsyncExitStack()  # what the parts hold, released after they stopped

    def on_close(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Release `close` after every part stopped (in reverse order of registration); a failure there (a
        connection already gone) must not hide the run's own outcome."""
        async def quietly() -> None:
            with contextlib.suppress(Exception):
                await close()
        self._resources.push_async_callback(quietly)

    def add(self, label: str, coro: Awaitable[Any] | None = None, *,
            stop: Callable[[], Awaitable[None] | None] | None = None) -> asyncio.Task[Any] | None:
        self.names.append(label)
        if stop is not None:
            self._stops.append(stop)
        if coro is None:
            return None
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    async def wait(self, stopping: asyncio.Event) -> None:
        """Until a part ends (its exception ends the run) or `stopping` is set. Not `await gather(...)` alone:
        cancelling that would cancel the parts before their graceful stop."""
        loop = asyncio.get_running_loop()
        main = asyncio.gather(*self.tasks) if self.tasks else loop.create_future()
        signalled = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait([main, signalled], return_when=asyncio.FIRST_COMPLETED)
            if main.done():
                main.result()
        finally:
            signalled.cancel()
            if not main.done():
                main.add_done_callback(lambda f: f.cancelled() or f.exception())  # cancelled on purpose below

    async def stop(self) -> None:
        for stop in self._stops:
            with contextlib.suppress(Exception):
                result = stop()
                if result is not None:
                    await result
        running = [t for t in self.tasks if not t.done()]
        if running:
            await asyncio.wait(running, timeout=self.GRACE_S)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._resources.aclose()


@contextlib.asynccontextmanager
async def _stop_signals() -> AsyncIterator[asyncio.Event]:
    """SIGTERM (docker stop, systemd, Kubernetes) and Ctrl+C set the event, so the run stops through the parts'
    graceful stop instead of killing the loop (which would leave the sender's rows leased and sessions open).
    Only the main thread may own signals (tests call `run` in-process, possibly elsewhere). After the context,
    a second signal stops the process at once."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT) if threading.current_thread() is threading.main_thread() else ()

    def on_signal(sig: signal.Signals) -> None:
        if not stopping.is_set():
            log.info("stopping (%s)", sig.name)
            stopping.set()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield stopping
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _start_bot(parts: Parts, settings: Settings, bot: Bot, dp: Dispatcher, web_app: FastAPI | None,
                     sessions: async_sessionmaker[AsyncSession]) -> None:
    """Telegram updates: by webhook (into the inbox the console's endpoint fills) or by long polling."""
    with contextlib.suppress(Exception):
        await set_commands(bot)
        await setup_manager_menus(bot, settings, sessions)
    if settings.webhook_url:
        from bot.webhook import WebhookInbox

        assert web_app is not None, "run() builds the web app whenever there is a webhook"
        inbox = WebhookInbox(settings.redis_url, dp, bot)
        parts.on_close(inbox.close)
        web_app.state.accept_update = inbox.accept
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        await bot.set_webhook(settings.webhook_url, secret_token=secret,
                              allowed_updates=dp.resolve_used_update_types(), drop_pending_updates=False)
        # stopping: read no more updates, finish the ones in hand
        parts.add(f"bot (webhook {settings.webhook_url})", inbox.consume(), stop=inbox.stop.set)
        return
    await bot.delete_webhook(drop_pending_updates=False)

    async def stop_polling() -> None:
        with contextlib.suppress(RuntimeError):  # not started yet
            await dp.stop_polling()

    via = f" via {settings.telegram_api_base}" if settings.telegram_api_base else ""
    parts.add(f"bot (polling{via})",
              dp.start_polling(bot, handle_signals=False, allowed_updates=dp.resolve_used_update_types()),
              stop=stop_polling)


async def _start_scheduler(parts: Parts, settings: Settings, db: Database,
                           bot: Bot | None) -> None:
    from scheduler import jobs

    scheduler = await jobs.start_scheduler(settings, db, bot)

    async def shutdown() -> None:
        scheduler.shutdown(wait=False)  # also gives up the leader lock

    parts.on_close(shutdown)
    parts.add("scheduler")


def _start_sender(parts: Parts, settings: Settings, db: Database, limiter: Limiter,
                  health: PartsHealth) -> None:
    from scheduler.sender import run_sender

    # Its own Bot: the sender handles 429s itself (a pause shared by every sender).
    sender_bot = build_bot(settings, retry_429=False)
    assert sender_bot is not None
    parts.on_close(sender_bot.session.close)
    stop = asyncio.Event()  # the sender finishes the sends in flight and returns the rest to the queue
    parts.add("sender", run_sender(settings, db, sender_bot, stop, limiter=limiter, health=health,
                                   notice_markup=notice_markup), stop=stop.set)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the run owns SIGINT/SIGTERM: it stops every part, the web server among them


def settle_heap() -> None:
    """Move everything loaded so far (the libraries, the knowledge index, the understanding step's model: about
    a million objects) out of the garbage collector's reach, once, before the first update. Otherwise its
    first full collections under traffic walk all of them: a quarter of a second with every update waiting,
    measured in each bot instance during `rmbot bench load`'s first seconds. What is loaded is never freed
    before the process ends, so nothing is lost by not scanning it."""
    gc.collect()
    gc.freeze()


async def _start_console(parts: Parts, settings: Settings, web_app: FastAPI) -> None:
    """The web server (console, API, webhook endpoint), listening before anyone (a webhook, `ready`) relies
    on it."""
    from bot.web import web_server_config

    server = _Server(web_server_config(web_app, settings))

    def stop() -> None:
        server.should_exit = True

    serving = parts.add(f"console (http://{settings.web_host}:{settings.web_port})", server.serve(), stop=stop)
    assert serving is not None
    for _ in range(600):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    if serving.done():
        await serving  # e.g. the port is taken: say so
        raise RuntimeError(f"the console did not start on {settings.web_host}:{settings.web_port}")


async def run(settings: Settings, role: str = "all", *, knowledge: KnowledgeBase | None = None,
              ready: Callable[[dict[str, Any]], Awaitable[None]] | None = None, settle: bool = False) -> None:
    """Run the parts of the application `role` asks for until cancelled, SIGTERM or Ctrl+C. `knowledge`
    replaces the knowledge service built from the settings (tests, demos). `settle`: a process that runs until
    stopped (the CLI) freezes its loaded heap before the first update (`settle_heap`). Every resource is entered in one
    AsyncExitStack, so it is released in reverse order whatever happens; the parts' graceful stop comes first."""
    from bot.workspace import open_database

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    want = {"all": {"bot", "worker", "scheduler", "console"}}.get(role, {role})
    health = PartsHealth()  # parts waiting out a database error, for /readyz
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings))
        bot = build_bot(settings) if want & {"bot", "worker", "scheduler"} else None
        if bot is not None:
            stack.push_async_callback(bot.session.close)
        if knowledge is None and want & {"bot", "console"}:
            knowledge = await build_knowledge(settings, db.sessions)
        dp = None
        if bot is not None and "bot" in want:
            from knowledge.understanding import warm_up

            dp = build_dispatcher(settings, db.sessions, knowledge, health=health)
            stack.push_async_callback(dp.storage.close)
            # the understanding step fits (or reads its cached weights) in a thread before the first message
            await asyncio.to_thread(warm_up)
        elif "bot" in want:
            log.warning("BOT_TOKEN is not set: no Telegram bot. Try the customer side with "
                        "`rmbot chat --client <CLIENT_NO>`, or set BOT_TOKEN (and TELEGRAM_API_BASE for an emulator).")
        web_app = None
        if "console" in want or (dp is not None and settings.webhook_url):
            from bot.web import create_web_app  # the console also hosts the webhook

            web_app = create_web_app(settings, db, bot=bot, dispatcher=dp, knowledge=knowledge)
            web_app.state.health = health
        # One sending budget for the deployment: the customers' answers charge it without waiting
        # (replies first), the broadcast waits for what is left (`scheduler.ratelimit`).
        from scheduler.ratelimit import build_limiter

        limiter = build_limiter(settings.redis_url, settings.send_rate_per_s)
        if settle:
            settle_heap()
        parts = Parts()
        stack.push_async_callback(parts.stop)  # first on the way out: the parts stop, then what they hold
        parts.on_close(limiter.close)
        if dp is not None and bot is not None:
            bot.session.middleware(ReplyBudgetMiddleware(limiter))
            await _start_bot(parts, settings, bot, dp, web_app, db.sessions)
        if "scheduler" in want:  # planning works without Telegram (the console reviews the drafts)
            await _start_scheduler(parts, settings, db, bot)
        if "worker" in want and bot is not None:
            _start_sender(parts, settings, db, limiter, health)
        if web_app is not None:
            await _start_console(parts, settings, web_app)
        async with _stop_signals() as stopping:
            log.info("running: %s", ", ".join(parts.names) or "nothing")
            if ready is not None:
                await ready({"bot": bot, "dispatcher": dp, "knowledge": knowledge, "db": db, "running": parts.names})
            if parts.names:
                await parts.wait(stopping)
