"""The manager's side of the bot, by journey:

- `chat`: /start and /help of their own, /console, /language, the chat's command list and the
  console as a Mini App menu button (`setup_manager_chat`), unknown commands and free text;
- `morning`: /today (also /queue), the morning on one screen;
- `campaigns`: campaign review page by page (approve, edit, reject, override reason, template);
- `views`: how those screens look (text and inline keyboard).

Review pages are cursor-paged by draft id (flagged drafts first), so approving or rejecting a
draft never makes another one slip past unseen; after every action the page is edited in place
from the same cursor. Thin: every decision is `bot.services.review` / `bot.services.today`;
access (own clients only) is enforced there. Texts are in the manager's chosen language.
Each handler is a module-level function; its dependencies (`session`, `manager`, `settings`,
`lang`, `is_admin`, ...) come as workflow data from the dispatcher and `handlers.middlewares`.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, Filter, StateFilter
from aiogram.types import TelegramObject

from bot.db.models import Manager
from handlers.filters import Magic
from handlers.keyboards import ReviewCb
from handlers.manager import campaigns, chat, morning
from handlers.manager.chat import manager_commands, setup_manager_chat

__all__ = ["IsManager", "manager_commands", "setup_manager_chat", "setup_router"]


class IsManager(Filter):
    async def __call__(self, event: TelegramObject, manager: Manager | None = None) -> bool:
        return manager is not None


def setup_router() -> Router:
    """The order matters for messages: commands first, then the text a state waits for, then
    unknown commands and free text. A command never reaches a waiting state's handler but /cancel:
    any other one ends the wait before routing (`handlers.middlewares.CommandEndsWaitMiddleware`)."""
    router = Router(name="manager")
    # Private chats only: a sign-in link or a client's data must never land in a group.
    router.message.filter(IsManager(), Magic(F.chat.type == "private"))
    router.callback_query.filter(IsManager(), Magic(F.message.chat.type == "private"))
    not_elsewhere = ~Command("human", "stop", "settings")

    router.message.register(chat.manager_help, Magic(F.text.regexp(r"^/(start|help)(@\w+)?\s*$")))
    router.message.register(morning.today_cmd, Command("today", "queue"))
    router.message.register(chat.console_link, Command("console"))
    router.message.register(chat.language_cmd, Command("language"))
    waiting_text = StateFilter(campaigns.EditDraft.text, campaigns.RejectDraft.reason, campaigns.EditTemplate.text,
                               campaigns.OverrideReason.reason)
    router.message.register(campaigns.cancel_text, Command("cancel"), waiting_text)  # /cancel is never a reason
    router.message.register(campaigns.save_override, StateFilter(campaigns.OverrideReason.reason), Magic(F.text))
    router.message.register(campaigns.save_edit, StateFilter(campaigns.EditDraft.text), Magic(F.text))
    router.message.register(campaigns.save_template, StateFilter(campaigns.EditTemplate.text), Magic(F.text))
    router.message.register(campaigns.save_reject, StateFilter(campaigns.RejectDraft.reason), Magic(F.text))
    router.message.register(chat.unknown_command, Magic(F.text.regexp(r"^/[A-Za-z0-9_]+")), not_elsewhere)
    router.message.register(chat.free_text, Magic(F.text), not_elsewhere)

    router.callback_query.register(morning.today_button, ReviewCb.filter(F.a == "today"))
    router.callback_query.register(morning.tickets_button, ReviewCb.filter(F.a == "tk"))
    router.callback_query.register(campaigns.open_campaign, ReviewCb.filter(F.a == "open"))
    router.callback_query.register(campaigns.approve_all_ask, ReviewCb.filter(F.a.in_({"all", "rem"})))
    router.callback_query.register(campaigns.approve_all, ReviewCb.filter(F.a == "allok"))
    router.callback_query.register(morning.approve_clean_reminders, ReviewCb.filter(F.a == "remok"))
    router.callback_query.register(campaigns.approve_one, ReviewCb.filter(F.a == "ok"))
    router.callback_query.register(campaigns.ask_text, ReviewCb.filter(F.a.in_({"ed", "no"})))
    router.callback_query.register(campaigns.ask_template, ReviewCb.filter(F.a == "tpl"))
    return router
