"""The manager's chat itself: /start and /help of their own, /console (a one-time sign-in link),
/language, the command list and the console as a Mini App button in the chat's menu, and what a
manager's unknown command or free text gets."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, MenuButtonWebApp, Message, WebAppInfo
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager
from bot.i18n import t
from bot.services import auth, managers
from bot.settings import Settings

log = logging.getLogger(__name__)


def manager_commands(lang: str) -> list[BotCommand]:
    names = [("today", t("What needs me today", lang)), ("tickets", t("Open conversations", lang)),
             ("console", t("Console link", lang)), ("language", "中文 / English"), ("help", t("Help", lang))]
    return [BotCommand(command=c, description=d) for c, d in names]


async def setup_manager_chat(bot: Bot, settings: Settings, manager: Manager) -> bool:
    """The manager's own command list and a Mini App button (the console) in their chat's menu.
    Telegram opens only https Mini Apps: without an https PUBLIC_URL there is no button."""
    if not manager.telegram_id:
        return False
    lang = manager.language or "zh"
    try:
        await bot.set_my_commands(manager_commands(lang), scope=BotCommandScopeChat(chat_id=manager.telegram_id))
        public = (settings.public_url or "").rstrip("/")
        if not public.startswith("https://"):
            return False
        await bot.set_chat_menu_button(chat_id=manager.telegram_id, menu_button=MenuButtonWebApp(
            text=t("Console", lang), web_app=WebAppInfo(url=f"{public}/login")))
    except TelegramAPIError as exc:
        log.warning("manager menu not set", extra={"manager_id": manager.id, "error": type(exc).__name__})
        return False
    return True


async def manager_help(message: Message, bot: Bot, manager: Manager, settings: Settings, lang: str) -> None:
    await setup_manager_chat(bot, settings, manager)
    await message.answer(t("manager-help", lang, name=manager.name))


async def console_link(message: Message, session: AsyncSession, manager: Manager, settings: Settings,
                       lang: str) -> None:
    token = await auth.create_login_link(session, manager)
    # no link preview: a preview fetcher must not be the one to open a one-time link
    await message.answer(t("Your one-time console link (10 minutes): {link}", lang,
                           link=auth.login_url(settings, token)), disable_web_page_preview=True)


async def language_cmd(message: Message, session: AsyncSession, bot: Bot, manager: Manager,
                       settings: Settings) -> None:
    new = "en" if manager.language == "zh" else "zh"
    await managers.set_preferences(session, manager, language=new)
    await setup_manager_chat(bot, settings, manager)
    await message.answer(t("I will write to you in English from now on.", new))


async def unknown_command(message: Message, lang: str) -> None:
    await message.answer(t("I do not know that command. /help lists what I can do.", lang))


async def free_text(message: Message, lang: str) -> None:
    """A manager's own words are not a customer's question: say how to reach the work instead."""
    await message.answer(t("manager-free-text", lang))
