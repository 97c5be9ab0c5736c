"""Webhook updates through the durable inbox.

`accept` is what the web app's `POST /telegram/webhook` calls: it stores the update in the inbox
(Redis stream when REDIS_URL is set) and returns at once, so Telegram's next update is not held
up; `consume` runs in every bot instance and feeds the stored updates to the dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot import metrics
from bot.inbox import build_inbox


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
