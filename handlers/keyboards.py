"""Inline keyboards with typed callback data (each well under Telegram's 64 bytes).

Callback data never carries a client id: the customer side acts on the client bound to the chat
the button was pressed in, so a forged button cannot reach anyone else's data.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import t


class ConsentCb(CallbackData, prefix="cs"):
    yes: bool


class SettingsCb(CallbackData, prefix="st"):
    action: str  # mkt | rem | lang


class HandoffCb(CallbackData, prefix="ho"):
    pass


class FeedbackCb(CallbackData, prefix="fb"):
    message_id: int  # the bot's ChatMessage id; checked against the chat the button is pressed in
    up: bool


class TicketCb(CallbackData, prefix="tk"):
    action: str  # take | reply | close
    ticket_id: int


def consent_keyboard(lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("Yes, send me greetings and news", lang), callback_data=ConsentCb(yes=True))
    kb.button(text=t("No, thanks", lang), callback_data=ConsentCb(yes=False))
    kb.adjust(1)
    return kb.as_markup()


def settings_keyboard(lang: str, *, marketing: bool, reminders: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("Turn greetings and news off", lang) if marketing else t("Turn greetings and news on", lang),
              callback_data=SettingsCb(action="mkt"))
    kb.button(text=t("Turn service reminders off", lang) if reminders else t("Turn service reminders on", lang),
              callback_data=SettingsCb(action="rem"))
    kb.button(text="English" if lang == "zh" else "中文", callback_data=SettingsCb(action="lang"))
    kb.adjust(1)
    return kb.as_markup()


def language_keyboard(lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="English" if lang == "zh" else "中文", callback_data=SettingsCb(action="lang"))
    return kb.as_markup()


def feedback_keyboard(message_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="👍", callback_data=FeedbackCb(message_id=message_id, up=True))
    kb.button(text="👎", callback_data=FeedbackCb(message_id=message_id, up=False))
    return kb.as_markup()


def handoff_keyboard(lang: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("Talk to my relationship manager", lang), callback_data=HandoffCb())
    return kb.as_markup()


def ticket_keyboard(ticket_id: int, lang: str = "zh", *, taken: bool = False) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if not taken:
        kb.button(text=t("Take", lang), callback_data=TicketCb(action="take", ticket_id=ticket_id))
    kb.button(text=t("Reply", lang), callback_data=TicketCb(action="reply", ticket_id=ticket_id))
    kb.button(text=t("Close", lang), callback_data=TicketCb(action="close", ticket_id=ticket_id))
    kb.adjust(3)
    return kb.as_markup()


class ReviewCb(CallbackData, prefix="rv"):
    """Campaign review. Short field names keep it under 64 bytes even with 16-digit ids."""

    a: str  # today | tk | open | all | allok | rem | remok | ok | ed | no | tpl
    c: int  # campaign id (0: today's screen)
    d: int = 0  # draft id
    o: int = 0  # the page's cursor (the draft id it starts after), or the confirmed count for approve-all
    f: int = 0  # 1: the cursor is in the clean drafts (past the flagged ones)


BUTTON_CHARS = 48  # longer button texts are cut by Telegram's clients; a count must never be


def button_text(title: str, suffix: str) -> str:
    """`title` shortened so that `suffix` (the count) always shows in full."""
    room = max(BUTTON_CHARS - len(suffix), 8)
    return (title if len(title) <= room else title[:room - 1] + "…") + suffix
