"""Webhook updates through the durable inbox.

`accept` is what the web app's `POST /telegram/webhook` calls: it stores the update in the inbox
(Redis stream when REDIS_URL is set) and returns at once, so Telegram's next update is not held
up; `consume` runs in every bot instance and feeds the stored updates to the dispatcher.

The route exists only in webhook mode, and webhook mode needs WEBHOOK_SECRET (settings refuse to
load without it): Telegram sends the secret in `X-Telegram-Bot-Api-Secret-Token` with every call
and `secret_matches` compares it in constant time. `parse_update` turns a body that is not a
Telegram update into `BadUpdate` (400), never an exception with a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError

from bot import metrics
from bot.inbox import build_inbox

SECRET_HEADER = "x-telegram-bot-api-secret-token"


class BadUpdate(ValueError):
    """The body is not a Telegram update (the message says what is wrong, without its content)."""


def secret_matches(given: bytes | None, secret: str) -> bool:
    """Constant-time comparison of raw header bytes (any bytes, non-ASCII included: no exception)."""
    return bool(secret) and given is not None and hmac.compare_digest(given, secret.encode("utf-8"))


def parse_update(body: bytes) -> dict[str, Any]:
    """The update as a dict, checked against the Bot API's Update type."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadUpdate(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadUpdate(f"a JSON {type(data).__name__}, not an object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadUpdate("no integer update_id")
    try:
        Update.model_validate(data)
    except ValidationError as exc:
        raise BadUpdate(f"not a Telegram update ({exc.error_count()} problems)") from None
    return data


class WebhookInbox:
    def __init__(self, redis_url: str, dp: Dispatcher, bot: Bot) -> None:
        self.inbox = build_inbox(redis_url)
        self.dp = dp
        self.bot = bot
        self.stop = asyncio.Event()

    async def accept(self, update: dict[str, Any]) -> None:
        await self.inbox.put(update)

    async def _handle(self, raw: dict[str, Any]) -> None:
        update = Update.model_validate(raw, context={"bot": self.bot})
        metrics.UPDATES.labels(update.event_type).inc()
        await self.dp.feed_update(self.bot, update)

    async def consume(self) -> None:
        await self.inbox.consume(self._handle, self.stop)

    async def close(self) -> None:
        self.stop.set()
        await self.inbox.close()


def accept_hook(inbox: WebhookInbox) -> Callable[[dict[str, Any]], Awaitable[None]]:
    return inbox.accept
