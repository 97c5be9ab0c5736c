"""Assembly: settings -> database -> knowledge -> bot + dispatcher -> polling or webhook, scheduler,
sender and web console, all in one event loop (`rmbot run`).

Optional parts (the web console `bot.web`, the scheduler `scheduler.jobs`, the sender
`scheduler.sender`) are started only when their module exists; the log says which parts run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.retry import PartsHealth
from bot.i18n import get_i18n
from bot.services.conversations import Conversations
from bot.settings import Settings

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

    def __init__(self, limiter: Any) -> None:
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


def build_bot(settings: Settings, *, session: Any = None, retry_429: bool = True) -> Bot | None:
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


def build_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_dispatcher(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    knowledge: Any,
    *,
    storage: BaseStorage | None = None,
    throttling: Any = None,
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
        conversations=services.pop("conversations", None) or Conversations(knowledge),
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


async def build_knowledge(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Any:
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


async def run(settings: Settings, role: str = "all", *, knowledge: Any = None,
              ready: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
    """Run the parts of the application `role` asks for until cancelled (Ctrl+C). `knowledge`
    replaces the knowledge service built from the settings (tests, demos)."""
    from bot.workspace import open_database

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    want = {"all": {"bot", "worker", "scheduler", "console"}}.get(role, {role})
    health = PartsHealth()  # parts waiting out a database error, for /readyz
    async with open_database(settings) as db:
        bot = build_bot(settings) if want & {"bot", "worker", "scheduler"} or role == "all" else None
        if knowledge is None and ("bot" in want or "console" in want):
            knowledge = await build_knowledge(settings, db.sessions)
        dp = (build_dispatcher(settings, db.sessions, knowledge, health=health)
              if bot is not None and "bot" in want else None)
        tasks: list[asyncio.Task[Any]] = []
        stop_events: list[asyncio.Event] = []
        running: list[str] = []
        cleanups: list[Callable[[], Awaitable[Any]]] = []

        web_app = None
        web_server: Any = None
        if "console" in want or (dp is not None and settings.webhook_url):
            from bot.web import create_web_app  # the console also hosts the webhook

            web_app = create_web_app(settings, db, bot=bot, dispatcher=dp, knowledge=knowledge)
            web_app.state.health = health

        if dp is not None and bot is not None:
            with contextlib.suppress(Exception):
                await set_commands(bot)
            if settings.webhook_url:
                from bot.webhook import WebhookInbox

                inbox = WebhookInbox(settings.redis_url, dp, bot)
                tasks.append(asyncio.create_task(inbox.consume(), name="inbox"))
                stop_events.append(inbox.stop)  # stops reading updates, finishes the ones in hand
                cleanups.append(inbox.close)
                assert web_app is not None
                web_app.state.accept_update = inbox.accept
                secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
                await bot.set_webhook(settings.webhook_url, secret_token=secret,
                                      allowed_updates=dp.resolve_used_update_types(), drop_pending_updates=False)
                running.append(f"bot (webhook {settings.webhook_url})")
            else:
                await bot.delete_webhook(drop_pending_updates=False)
                tasks.append(asyncio.create_task(
                    dp.start_polling(bot, handle_signals=False, allowed_updates=dp.resolve_used_update_types()),
                    name="polling"))
                running.append("bot (polling" + (f" via {settings.telegram_api_base})" if settings.telegram_api_base
                                                 else ")"))
        elif "bot" in want:
            log.warning("BOT_TOKEN is not set: no Telegram bot. Try the customer side with "
                        "`rmbot chat --client <CLIENT_NO>`, or set BOT_TOKEN (and TELEGRAM_API_BASE for an emulator).")

        if "scheduler" in want:  # planning works without Telegram (the console reviews the drafts)
            from scheduler import jobs

            scheduler = await jobs.start_scheduler(settings, db, bot)
            running.append("scheduler")

            async def _stop_scheduler(s: Any = scheduler) -> None:
                s.shutdown(wait=False)  # also gives up the leader lock

            cleanups.append(_stop_scheduler)

        # One sending budget for the deployment: the customers' answers charge it without waiting
        # (replies first), the broadcast waits for what is left (`scheduler.ratelimit`).
        from scheduler.ratelimit import build_limiter

        limiter = build_limiter(settings.redis_url, settings.send_rate_per_s)
        cleanups.append(limiter.close)
        if bot is not None and dp is not None:
            bot.session.middleware(ReplyBudgetMiddleware(limiter))
        if "worker" in want and bot is not None:
            from scheduler.sender import run_sender

            # Its own Bot: the sender handles 429s itself (a pause shared by every sender).
            sender_bot = build_bot(settings, retry_429=False)
            assert sender_bot is not None
            sender_stop = asyncio.Event()
            tasks.append(asyncio.create_task(run_sender(settings, db, sender_bot, sender_stop, limiter=limiter,
                                                        health=health), name="sender"))
            stop_events.append(sender_stop)
            cleanups.append(sender_bot.session.close)
            running.append("sender")

        if web_app is not None and ("console" in want or settings.webhook_url):
            import uvicorn

            from bot.web import web_server_config

            server = web_server = uvicorn.Server(web_server_config(web_app, settings))
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            serving = asyncio.create_task(server.serve(), name="console")
            tasks.append(serving)
            for _ in range(600):  # listening before anyone (a webhook, `ready`) relies on it
                if server.started or serving.done():
                    break
                await asyncio.sleep(0.05)
            if serving.done():
                await serving  # e.g. the port is taken: say so
                raise RuntimeError(f"the console did not start on {settings.web_host}:{settings.web_port}")
            running.append(f"console (http://{settings.web_host}:{settings.web_port})")

        # SIGTERM (docker stop, systemd, Kubernetes) and Ctrl+C must end the run through the graceful
        # `finally` below, not kill the loop: asyncio's default would leave the sender's rows leased
        # until their lease expires and the bot session open. Only the main thread may own signals
        # (tests call `run` in-process, possibly elsewhere).
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT) if threading.current_thread() is threading.main_thread() else ()

        def _on_signal(sig: signal.Signals) -> None:
            if not stopping.is_set():
                log.info("stopping (%s)", sig.name)
                stopping.set()

        for sig in signals:
            loop.add_signal_handler(sig, _on_signal, sig)
        log.info("running: %s", ", ".join(running) or "nothing")
        main: asyncio.Future[Any] | None = None
        signalled = asyncio.ensure_future(stopping.wait())
        try:
            if ready is not None:
                await ready({"bot": bot, "dispatcher": dp, "knowledge": knowledge, "db": db, "running": running})
            if tasks or running:
                # Not `await gather(...)` alone: cancelling that would cancel the parts before the
                # graceful stop. A part that fails still ends the run with its exception.
                main = asyncio.gather(*tasks) if tasks else loop.create_future()
                await asyncio.wait([main, signalled], return_when=asyncio.FIRST_COMPLETED)
                if main.done():
                    main.result()
        finally:
            signalled.cancel()
            for sig in signals:  # from here a second SIGTERM / Ctrl+C stops the process at once
                loop.remove_signal_handler(sig)
            # graceful first: polling and the web server finish what they are doing. One shared 5 s
            # wait bounds it (the inbox's and the sender's own waits run inside it), so with the
            # cleanups below the process exits well within the 10 s a SIGTERM allows.
            if dp is not None:
                with contextlib.suppress(RuntimeError):  # not polling (webhook mode)
                    await dp.stop_polling()
            if web_server is not None:
                web_server.should_exit = True
            for event in stop_events:  # the sender finishes the sends in flight and returns the rest
                event.set()
            graceful = [t for t in tasks if t.get_name() in ("polling", "console", "sender", "inbox")
                        and not t.done()]
            if graceful:
                with contextlib.suppress(Exception):
                    await asyncio.wait(graceful, timeout=5)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if main is not None and main.done() and not main.cancelled():
                main.exception()  # the parts were cancelled on purpose: no "never retrieved" warning
            for cleanup in cleanups:
                with contextlib.suppress(Exception):
                    await cleanup()
            if bot is not None:
                await bot.session.close()
            if dp is not None:
                await dp.storage.close()
