"""The customer's side: /start (with or without an invite), consent, /settings, /language, /help,
and free-text questions. Parse, call `bot.services`, render."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.chat_action import ChatActionSender
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client
from bot.i18n import t
from bot.services import consent
from bot.services.conversations import Conversations, Turn
from bot.services.invites import InviteError
from handlers.filters import Magic
from handlers.keyboards import (
    ConsentCb,
    FeedbackCb,
    HandoffCb,
    SettingsCb,
    consent_keyboard,
    feedback_keyboard,
    handoff_keyboard,
    language_keyboard,
    settings_keyboard,
)

# "typing…" only for an answer that takes a while (a model, a slow lookup): most answers arrive
# sooner, and each indicator is one more Bot API call charged to the deployment's budget.
TYPING_AFTER_S = 1.0


def _settings_text(client: Client, lang: str) -> str:
    on, off = t("on", lang), t("off", lang)
    return t("Your settings:\nGreetings and product news: {marketing}\nService reminders: {reminders}\n"
             "Language: {language}", lang,
             marketing=on if client.marketing_consent and not client.opted_out else off,
             reminders=on if client.reminders_enabled else off,
             language="中文" if lang == "zh" else "English")


async def _send_turn(message: Message, session: AsyncSession, turn: Turn, client: Client | None) -> None:
    """The turn's parts, in the language of the message (notices to the manager went to the outbox)."""
    for i, part in enumerate(turn.parts):
        last = i == len(turn.parts) - 1
        markup = None
        if last and turn.offer_handoff:
            markup = handoff_keyboard(turn.lang)
        elif last and turn.outcome == "grounded" and turn.answer_id is not None:
            markup = feedback_keyboard(turn.answer_id)
        try:
            await message.answer(part, reply_markup=markup, disable_web_page_preview=True)
        except TelegramForbiddenError:  # blocked the bot meanwhile: keep the turn, send nothing more
            if client is not None:
                await consent.mark_blocked(session, client)
            break


async def start_with_invite(message: Message, command: CommandObject, session: AsyncSession,
                            conversations: Conversations, lang: str) -> None:
    try:
        bound = await conversations.bind(session, chat_id=message.chat.id, token=command.args or "", lang=lang)
    except InviteError as exc:
        if exc.reason == "expired":
            text = t("This invite link has expired. Please ask your relationship manager for a new one.")
        elif exc.reason == "used":
            text = t("This invite link has already been used. Please ask your relationship manager for a new one.")
        else:
            text = t("This invite link is not valid. Please check it, or ask your relationship manager for a "
                     "new one.")
        await message.answer(text)
        await message.answer(t("You can still ask me general questions about the bank's products."))
        return
    lang = bound.lang
    await message.answer(t("Welcome, {name}! This chat is now connected to your accounts. Your relationship "
                           "manager is {manager}.\nAsk me about products, or about your own deposits, cards "
                           "and loans. Send /human at any time to reach a person.", lang,
                           name=bound.client.salutation or bound.client.name,
                           manager=bound.manager.name if bound.manager else "-"))
    await message.answer(t("Would you like to receive holiday greetings and product news from us? Service "
                           "reminders (maturities, repayments) come either way.", lang),
                         reply_markup=consent_keyboard(lang))


async def start_plain(message: Message, session: AsyncSession, conversations: Conversations,
                      client: Client | None, lang: str) -> None:
    await conversations.conversation(session, message.chat.id, client=client, lang=lang)
    if client is not None:
        await message.answer(t("Welcome back, {name}! Ask me anything, or send /settings.",
                               name=client.salutation or client.name))
        return
    await message.answer(t("Hello! I am the bank's assistant. Ask me about our deposits, wealth products, cards "
                           "and loans.\nTo see your own accounts, open the invite link your relationship "
                           "manager sends you. Send /human at any time to reach a person."),
                         reply_markup=language_keyboard(lang))


async def help_cmd(message: Message) -> None:
    await message.answer(t("I answer from the bank's documents and, once your chat is connected, from your own "
                           "records.\n/settings: greetings, news and reminders\n/language: 中文 / English\n"
                           "/human: talk to a person\n/stop: no more greetings or product news"))


async def settings_cmd(message: Message, client: Client | None, lang: str) -> None:
    if client is None:
        await message.answer(t("Settings are available once your chat is connected through your relationship "
                               "manager's invite link."), reply_markup=language_keyboard(lang))
        return
    await message.answer(_settings_text(client, lang), reply_markup=settings_keyboard(
        lang, marketing=client.marketing_consent and not client.opted_out, reminders=client.reminders_enabled))


async def language_cmd(message: Message, session: AsyncSession, conversations: Conversations,
                       client: Client | None, lang: str) -> None:
    new = await _toggle_language(session, conversations, message.chat.id, client, lang)
    await message.answer(t("I will answer in English from now on.", new))


async def on_consent(query: CallbackQuery, callback_data: ConsentCb, session: AsyncSession,
                     client: Client | None, lang: str) -> None:
    if client is None:  # only the client bound to *this* chat can be changed
        await query.answer(t("Please open your invite link first."), show_alert=True)
        return
    await consent.set_marketing(session, client, callback_data.yes, source="binding")
    text = (t("Thank you! You will receive greetings and product news. Send /stop at any time to stop them.")
            if callback_data.yes else
            t("Understood: no greetings or product news. You will still get service reminders."))
    await query.answer()
    if query.message is not None:
        await query.message.edit_text(text)  # type: ignore[union-attr]


async def on_settings(query: CallbackQuery, callback_data: SettingsCb, session: AsyncSession,
                      conversations: Conversations, client: Client | None, lang: str) -> None:
    if callback_data.action == "lang":
        lang = await _toggle_language(session, conversations, query.message.chat.id if query.message
                                      else query.from_user.id, client, lang)
        await query.answer(t("I will answer in English from now on.", lang))
    elif client is None:
        await query.answer(t("Please open your invite link first."), show_alert=True)
        return
    elif callback_data.action == "mkt":
        await consent.set_marketing(session, client, not (client.marketing_consent and not client.opted_out))
        await query.answer(t("Saved.", lang))
    elif callback_data.action == "rem":
        await consent.set_reminders(session, client, not client.reminders_enabled)
        await query.answer(t("Saved.", lang))
    else:
        await query.answer()
        return
    if client is not None and query.message is not None:
        await query.message.edit_text(  # type: ignore[union-attr]
            _settings_text(client, lang),
            reply_markup=settings_keyboard(lang, marketing=client.marketing_consent and not client.opted_out,
                                           reminders=client.reminders_enabled))


async def on_feedback(query: CallbackQuery, callback_data: FeedbackCb, session: AsyncSession,
                      conversations: Conversations) -> None:
    if query.message is None:
        await query.answer()
        return
    saved = await conversations.feedback(session, chat_id=query.message.chat.id,
                                         message_id=callback_data.message_id, value=1 if callback_data.up else -1)
    await query.answer(t("Thank you for your feedback!") if saved else t("This button is no longer active."))
    if saved:
        await query.message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]


async def on_handoff(query: CallbackQuery, session: AsyncSession, bot: Bot, conversations: Conversations,
                     client: Client | None, lang: str) -> None:
    await query.answer()
    if query.message is None:
        return
    chat_id = query.message.chat.id
    turn = await conversations.request_person(session, chat_id=chat_id, client=client, lang=lang)
    for part in turn.parts:
        await bot.send_message(chat_id, part)


async def on_block_change(update: ChatMemberUpdated, session: AsyncSession, client: Client | None) -> None:
    if client is None:
        return
    if update.new_chat_member.status == "kicked":
        await consent.mark_blocked(session, client)
    elif update.new_chat_member.status == "member":
        await consent.mark_unblocked(session, client)


async def unknown_command(message: Message) -> None:
    await message.answer(t("I do not know that command. /help lists what I can do."))


async def on_text(message: Message, bot: Bot, session: AsyncSession, conversations: Conversations,
                  client: Client | None, lang: str) -> None:
    async with ChatActionSender.typing(bot=bot, chat_id=message.chat.id, initial_sleep=TYPING_AFTER_S):
        turn = await conversations.handle_text(session, chat_id=message.chat.id, client=client, lang=lang,
                                               text=message.text or "")
    await _send_turn(message, session, turn, client)


def setup_router() -> Router:
    router = Router(name="customer")
    router.message.filter(Magic(F.chat.type == "private"))
    router.callback_query.filter(Magic(F.message.chat.type == "private"))
    router.message.register(start_with_invite, CommandStart(deep_link=True))
    router.message.register(start_plain, CommandStart())
    router.message.register(help_cmd, Command("help"))
    router.message.register(settings_cmd, Command("settings"))
    router.message.register(language_cmd, Command("language"))
    router.callback_query.register(on_consent, ConsentCb.filter())
    router.callback_query.register(on_settings, SettingsCb.filter())
    router.callback_query.register(on_feedback, FeedbackCb.filter())
    router.callback_query.register(on_handoff, HandoffCb.filter())
    router.my_chat_member.register(on_block_change, Magic(F.chat.type == "private"))
    router.message.register(unknown_command, Magic(F.text.regexp(r"^/[A-Za-z0-9_]+")), ~Command("human", "stop"))
    router.message.register(on_text, Magic(F.text))
    return router


async def _toggle_language(session: AsyncSession, conversations: Conversations, chat_id: int,
                           client: Client | None, lang: str) -> str:
    new = "en" if lang == "zh" else "zh"
    if client is not None:
        await consent.set_language(session, client, new)
    await conversations.conversation(session, chat_id, client=client, lang=new)
    return new
