"""Odd input, last in line: stickers, photos, voice, files from customers, edited messages,
anything else. Each gets a short, polite answer; nothing crashes."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.i18n import normalize_language, t
from handlers.filters import Magic

log = logging.getLogger(__name__)


async def on_edited(message: Message) -> None:
    await message.answer(t("I only read new messages, not edits. Please send your corrected question as a new "
                           "message."))


async def on_sticker(message: Message) -> None:
    await message.answer(t("Thanks! I understand text best: just type your question."))


async def on_picture(message: Message) -> None:
    await message.answer(t("I cannot look at pictures or videos. Please describe your question in words. Never "
                           "send photos of your card or ID."))


async def on_voice(message: Message) -> None:
    await message.answer(t("I cannot listen to voice messages yet. Please type your question."))


async def on_document(message: Message) -> None:
    await message.answer(t("I cannot accept files here. Please type your question; your relationship manager "
                           "will tell you if a document is needed."))


async def on_other(message: Message) -> None:
    await message.answer(t("I can only read text messages. Please type your question."))


async def on_stale_button(query: CallbackQuery) -> None:
    await query.answer(t("This button is no longer active."))


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Whatever failed (its unit of work was rolled back), the person gets a short apology."""
    update = event.update
    log.error("update %s failed: %s", update.update_id, type(event.exception).__name__,
              exc_info=event.exception)
    message = update.message or update.edited_message
    query = update.callback_query
    user = (message.from_user if message else None) or (query.from_user if query else None)
    lang = normalize_language(user.language_code if user else None)
    text = t("Sorry, something went wrong on our side. Please try again in a moment.", lang)
    try:
        if query is not None:
            await bot.answer_callback_query(query.id, text=text)
        elif message is not None and message.chat.type == "private":
            await bot.send_message(message.chat.id, text)
    except TelegramAPIError:
        log.warning("could not tell the user about the failure")
    return True


def setup_router() -> Router:
    router = Router(name="common")
    router.message.filter(Magic(F.chat.type == "private"))
    router.edited_message.filter(Magic(F.chat.type == "private"))
    router.edited_message.register(on_edited)
    router.message.register(on_sticker, Magic(F.sticker))
    router.message.register(on_picture, Magic(F.photo | F.video | F.video_note | F.animation))
    router.message.register(on_voice, Magic(F.voice | F.audio))
    router.message.register(on_document, Magic(F.document))
    router.message.register(on_other)
    router.callback_query.register(on_stale_button)
    router.errors.register(on_error)
    return router
