"""Odd input, last in line: stickers, photos, voice, files from customers, edited messages,
anything else. Each gets a short, polite answer; nothing crashes."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.i18n import t


def setup_router() -> Router:
    router = Router(name="common")
    router.message.filter(F.chat.type == "private")
    router.edited_message.filter(F.chat.type == "private")

    @router.edited_message()
    async def on_edited(message: Message) -> None:
        await message.answer(t("I only read new messages, not edits. Please send your corrected question as a new "
                               "message."))

    @router.message(F.sticker)
    async def on_sticker(message: Message) -> None:
        await message.answer(t("Thanks! I understand text best: just type your question."))

    @router.message(F.photo | F.video | F.video_note | F.animation)
    async def on_picture(message: Message) -> None:
        await message.answer(t("I cannot look at pictures or videos. Please describe your question in words. Never "
                               "send photos of your card or ID."))

    @router.message(F.voice | F.audio)
    async def on_voice(message: Message) -> None:
        await message.answer(t("I cannot listen to voice messages yet. Please type your question."))

    @router.message(F.document)
    async def on_document(message: Message) -> None:
        await message.answer(t("I cannot accept files here. Please type your question; your relationship manager "
                               "will tell you if a document is needed."))

    @router.message()
    async def on_other(message: Message) -> None:
        await message.answer(t("I can only read text messages. Please type your question."))

    @router.callback_query()
    async def on_stale_button(query: CallbackQuery) -> None:
        await query.answer(t("This button is no longer active."))

    return router
