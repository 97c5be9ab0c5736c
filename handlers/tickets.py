"""The manager's side of a handoff, in Telegram.

The manager gets a notice per ticket (queued by the conversation service, sent by the outbox's
sender) with Take / Reply / Close buttons. A Telegram reply to that
notice (or the text sent after pressing Reply) goes to the customer as from the manager, by name.
While a ticket is open, the customer's new messages are passed on as new notices (the latest one
is the one a reply answers). `/tickets` lists the manager's open tickets; `/invite CLIENT_NO`
makes an invite link for one of their clients.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.db.models import Manager, Ticket, TicketStatus
from bot.i18n import t
from bot.services import invites, managers, tickets
from bot.settings import Settings
from handlers.filters import Magic
from handlers.keyboards import TicketCb, ticket_keyboard

log = logging.getLogger(__name__)

LIST_LIMIT = 10


class TicketReply(StatesGroup):
    text = State()


async def _send_reply(bot: Bot, session: AsyncSession, message: Message, manager: Manager, ticket_id: int,
                      text: str, lang: str, admin: bool) -> None:
    try:
        await tickets.reply_and_send(session, ticket_id, manager, text, bot.send_message, admin=admin)
    except tickets.TicketError as exc:
        await message.answer(tickets.error_text(exc, ticket_id, lang))
        return
    except TelegramAPIError as exc:
        await session.rollback()
        await message.answer(t("Could not deliver your reply to the customer ({error}). Nothing was recorded.",
                               lang, error=type(exc).__name__))
        return
    await message.answer(t("Sent to the customer (ticket #{id}).", lang, id=ticket_id))


async def _staff(event: Message | CallbackQuery, session: AsyncSession, manager: Manager | None = None,
                 is_admin: bool = False) -> dict[str, Any] | bool:
    """Filter: a manager, or an admin (by role or only by ADMIN_IDS: they act as their own staff
    record) -> {"staff": Manager}."""
    if manager is not None:
        return {"staff": manager}
    user = event.from_user
    if not is_admin or user is None:
        return False
    return {"staff": await managers.staff_for_admin(session, user.id, user.full_name)}


async def _reply_target(message: Message, session: AsyncSession, manager: Manager | None = None,
                        is_admin: bool = False) -> dict[str, Any] | bool:
    """Filter: a Telegram reply to one of this manager's ticket notices -> {"ticket": Ticket}."""
    if message.reply_to_message is None or not message.text:
        return False
    found = await _staff(message, session, manager, is_admin)
    if not isinstance(found, dict):
        return False
    staff = found["staff"]
    ticket = await tickets.by_notification(session, staff, message.reply_to_message.message_id, admin=is_admin)
    return {"ticket": ticket, "staff": staff} if ticket is not None else False


async def send_ticket_list(bot: Bot, chat_id: int, session: AsyncSession, staff: Manager, lang: str, *,
                           admin: bool = False) -> int:
    """The open tickets as notices with Take / Reply / Close, urgent reasons first; a Telegram reply
    to a notice answers its ticket. Returns how many were listed."""
    from bot.services.today import ticket_rows

    waiting = [r.ticket for r in await ticket_rows(session, staff, admin=admin)]
    if not waiting:
        await bot.send_message(chat_id, t("No open tickets.", lang))
        return 0
    for ticket in waiting[:LIST_LIMIT]:
        sent = await bot.send_message(chat_id, await tickets.notification_text(session, ticket, lang),
                                      reply_markup=ticket_keyboard(ticket.id, lang,
                                                                   taken=ticket.status == TicketStatus.TAKEN))
        ticket.notify_message_id = sent.message_id  # a reply to this notice answers the ticket
    if len(waiting) > LIST_LIMIT:
        await bot.send_message(chat_id, t("{count} more open tickets: see the console.", lang,
                                          count=len(waiting) - LIST_LIMIT))
    return min(len(waiting), LIST_LIMIT)


async def cancel_reply(message: Message, state: FSMContext, lang: str) -> None:
    await state.clear()
    await message.answer(t("Cancelled.", lang))


async def list_tickets(message: Message, session: AsyncSession, bot: Bot, staff: Manager, lang: str,
                       is_admin: bool = False) -> None:
    await send_ticket_list(bot, message.chat.id, session, staff, lang, admin=is_admin)


async def invite(message: Message, command: CommandObject, session: AsyncSession, bot: Bot, settings: Settings,
                 staff: Manager, lang: str) -> None:
    client_no = (command.args or "").strip()
    if not client_no:
        await message.answer(t("Usage: /invite CLIENT_NO", lang))
        return
    try:
        created = await invites.create_invite(session, client_no, bot_username=await bot_username(bot, settings),
                                              created_by=staff)
    except invites.InviteError as exc:
        text = (t("Client {client} is not in your book.", lang, client=client_no)
                if exc.reason == "forbidden" else t("There is no client {client}.", lang, client=client_no))
        await message.answer(text)
        return
    await message.answer(t("Invite link for {client} (single use, valid until {until}):\n{link}", lang,
                           client=created.client_no, until=labels.local_time(
                               created.expires_at, settings.tz, lang, fmt="%Y-%m-%d %H:%M"),
                           link=created.link), disable_web_page_preview=True)


async def reply_after_button(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, lang: str,
                             manager: Manager | None = None, is_admin: bool = False) -> None:
    data = await state.get_data()
    await state.clear()
    found = await _staff(message, session, manager, is_admin)
    if not isinstance(found, dict):
        return
    await _send_reply(bot, session, message, found["staff"], int(data["ticket_id"]), message.text or "", lang,
                      is_admin)


async def reply_to_notice(message: Message, session: AsyncSession, bot: Bot, staff: Manager, ticket: Ticket,
                          lang: str, is_admin: bool = False) -> None:
    await _send_reply(bot, session, message, staff, ticket.id, message.text or "", lang, is_admin)


async def reply_to_unlinked(message: Message, lang: str) -> None:
    await message.answer(t("This message is not linked to an open ticket. Reply to the latest ticket notice, "
                           "or press Reply under it.", lang))


async def on_ticket_button(query: CallbackQuery, callback_data: TicketCb, session: AsyncSession, bot: Bot,
                           state: FSMContext, lang: str, manager: Manager | None = None,
                           is_admin: bool = False) -> None:
    found = await _staff(query, session, manager, is_admin)
    if not isinstance(found, dict):
        await query.answer(t("This button is for the client's relationship manager.", lang), show_alert=True)
        return
    try:
        await _ticket_action(query, callback_data, session, bot, state, found["staff"], lang, is_admin)
    except tickets.TicketError as exc:
        await query.answer(tickets.error_text(exc, callback_data.ticket_id, lang), show_alert=True)


async def bot_username(bot: Bot, settings: Settings) -> str:
    configured = settings.bot_username.lstrip("@")
    return configured or (await bot.me()).username or "bot"


async def _ticket_action(query: CallbackQuery, callback_data: TicketCb, session: AsyncSession, bot: Bot,
                         state: FSMContext, staff: Manager, lang: str, admin: bool) -> None:
    tid = callback_data.ticket_id
    if callback_data.action == "take":
        await tickets.take(session, tid, staff, admin=admin)
        await query.answer(t("Ticket #{id} is yours.", lang, id=tid))
        if query.message is not None:
            await bot.edit_message_reply_markup(chat_id=query.message.chat.id, message_id=query.message.message_id,
                                                reply_markup=ticket_keyboard(tid, lang, taken=True))
    elif callback_data.action == "reply":
        await tickets.get_for_manager(session, tid, staff, admin=admin)
        await state.set_state(TicketReply.text)
        await state.update_data(ticket_id=tid)
        await query.answer()
        if query.message is not None:
            await bot.send_message(query.message.chat.id, t("Write your reply to ticket #{id} (or /cancel).", lang,
                                                            id=tid))
    elif callback_data.action == "close":
        ticket = await tickets.close(session, tid, staff, admin=admin)
        await query.answer(t("Ticket #{id} closed.", lang, id=tid))
        if query.message is not None:
            await bot.edit_message_reply_markup(chat_id=query.message.chat.id, message_id=query.message.message_id,
                                                reply_markup=None)
        await _tell_customer_closed(bot, session, ticket)
    else:
        await query.answer()


async def _tell_customer_closed(bot: Bot, session: AsyncSession, ticket: Ticket) -> None:
    if ticket.status != TicketStatus.CLOSED:
        return
    from bot.db.models import Conversation

    conversation = await session.get(Conversation, ticket.conversation_id)
    lang = conversation.language if conversation else "zh"
    try:
        await bot.send_message(ticket.chat_id, t("Your relationship manager has closed this conversation. You can "
                                                 "ask me anything at any time, or send /human again.", lang))
    except TelegramAPIError:
        log.info("customer not told about closed ticket", extra={"ticket_id": ticket.id})


def setup_router() -> Router:
    router = Router(name="tickets")
    router.message.filter(Magic(F.chat.type == "private"))
    router.callback_query.filter(Magic(F.message.chat.type == "private"))
    router.message.register(cancel_reply, Command("cancel"), StateFilter(TicketReply.text))
    router.message.register(list_tickets, Command("tickets"), _staff)
    router.message.register(invite, Command("invite"), _staff)
    router.message.register(reply_after_button, StateFilter(TicketReply.text), Magic(F.text))
    # a command sent as a reply ("/today" under a notice) is a command, never words for the customer
    words = Magic(F.text & ~F.text.startswith("/"))
    router.message.register(reply_to_notice, words, _reply_target)
    router.message.register(reply_to_unlinked, words, Magic(F.reply_to_message.from_user.is_bot), _staff)
    router.callback_query.register(on_ticket_button, TicketCb.filter())
    return router
