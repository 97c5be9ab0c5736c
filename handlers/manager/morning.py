"""/today (also /queue): the manager's morning on one screen, its buttons (back to today, the
conversations waiting, approve all clean service reminders of today)."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager
from bot.i18n import t
from bot.services import review, today
from bot.settings import Settings
from handlers.keyboards import ReviewCb
from handlers.manager.views import reviewer, show, stale_text, today_view, undo
from handlers.tickets import send_ticket_list


async def today_cmd(message: Message, session: AsyncSession, manager: Manager, settings: Settings, lang: str,
                    is_admin: bool = False) -> None:
    text, markup = await today_view(session, manager, settings, lang, is_admin)
    await message.answer(text, reply_markup=markup)


async def today_button(query: CallbackQuery, session: AsyncSession, manager: Manager, settings: Settings,
                       lang: str, is_admin: bool = False) -> None:
    text, markup = await today_view(session, manager, settings, lang, is_admin)
    await query.answer()
    await show(query, text, markup)


async def tickets_button(query: CallbackQuery, session: AsyncSession, bot: Bot, manager: Manager, lang: str,
                         is_admin: bool = False) -> None:
    await query.answer()
    if query.message is not None:
        await send_ticket_list(bot, query.message.chat.id, session, manager, lang, admin=is_admin)


async def approve_clean_reminders(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession,
                                  manager: Manager, settings: Settings, lang: str, is_admin: bool = False) -> None:
    """Today's clean service reminders, confirmed: as many as the manager saw, else nothing."""
    try:
        n = await today.approve_clean_reminders(session, reviewer(manager, is_admin),
                                                datetime.now(settings.tz).date(), expected=callback_data.o)
    except (review.NotFound, review.InvalidInput) as exc:
        await undo(session, manager)
        n, note = 0, stale_text(exc, lang)
    else:
        note = t("{count} approved", lang, count=n)
    await query.answer(note, show_alert=n == 0)
    text, markup = await today_view(session, manager, settings, lang, is_admin)
    await show(query, text, markup)
