"""Filters that run in the event loop.

aiogram 3 calls every plain function and every magic filter (`F.text`, `F.chat.type == "private"`)
through `asyncio.to_thread`: one thread hop per check, and a customer's message passes about ten
checks on its way to the customer router (a measurable share of an answer's CPU under load).
`Magic(F...)` evaluates the same magic filter in the loop; other filters are `async def` functions or
`aiogram.filters.Filter` subclasses. `tests/customer/test_app.py` checks that no filter or handler of
the dispatcher runs in a thread.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from magic_filter import MagicFilter


class Magic(Filter):
    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)
