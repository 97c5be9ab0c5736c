"""Handoff tickets: a conversation handed to the client's manager.

Used by the Telegram side (`handlers/tickets.py`) and by the web console. Every change writes an
audit row in the caller's transaction; the caller commits.

    ticket, created = await open_ticket(session, conversation=conv, client=client, reason="fraud")
    await take(session, ticket_id, manager)
    out = await reply(session, ticket_id, manager, "您好,已为您处理")   # -> ReplyToSend
    await bot.send_message(out.chat_id, out.text)                      # HTML, already escaped
    # or both at once (the console): await reply_and_send(session, ticket_id, manager, text, bot.send_message)
    await close(session, ticket_id, manager)

Access: a manager only their own clients' tickets; admins (Manager.is_admin) all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import ChatMessage, Client, Conversation, Manager, Ticket, TicketStatus
from bot.i18n import t
from bot.services import audit
from bot.services.formats import plain_text

SUMMARY_TURNS = 6
SUMMARY_LINE_CHARS = 160
MAX_REPLY_CHARS = 3500

REASONS = ("request", "complaint", "fraud", "lost_card", "transfer", "account", "low_confidence")


class TicketError(Exception):
    """`reason`: not_found | forbidden | closed | empty | too_long."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class ReplyToSend:
    """A manager's reply, ready to send to the customer (Telegram HTML, escaped)."""

    ticket_id: int
    chat_id: int
    client_id: int | None
    language: str
    manager_name: str
    text: str


def _actor(manager: Manager) -> str:
    return audit.actor_for_manager(manager.id, admin=manager.is_admin)


def can_access(manager: Manager | None, ticket: Ticket, *, admin: bool = False) -> bool:
    """`admin`: the caller knows this manager is an admin by the deployment's ADMIN_IDS too."""
    if manager is None or not manager.active:
        return False
    return admin or manager.is_admin or (ticket.manager_id is not None and ticket.manager_id == manager.id)


async def conversation_summary(session: AsyncSession, conversation_id: int, turns: int = SUMMARY_TURNS) -> str:
    """The last `turns` messages of the conversation, oldest first, one short line each."""
    rows = (
        await session.scalars(
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id)
            .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
            .limit(turns)
        )
    ).all()
    lines = []
    for row in reversed(rows):
        who = {"customer": "C", "bot": "Bot", "manager": "RM"}.get(row.author, row.author)
        text = " ".join(plain_text(row.text).split())  # the bot's answers are Telegram HTML
        if len(text) > SUMMARY_LINE_CHARS:
            text = text[: SUMMARY_LINE_CHARS - 1] + "…"
        lines.append(f"{who}: {text}")
    return "\n".join(lines)


async def open_ticket(
    session: AsyncSession,
    *,
    conversation: Conversation,
    client: Client | None,
    reason: str,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """Open a ticket for the conversation, or return the one still open (summary refreshed).
    Returns (ticket, created)."""
    now = now or clock.now(session)
    if session.get_bind().dialect.name == "postgresql":  # one open ticket per conversation, even under races
        await session.execute(select(Conversation.id).where(Conversation.id == conversation.id)
                              .with_for_update(key_share=True))  # FOR NO KEY UPDATE: no clash with FK checks
    summary = await conversation_summary(session, conversation.id)
    ticket = await active_ticket(session, conversation.id)
    created = ticket is None
    if ticket is None:
        ticket = Ticket(
            conversation_id=conversation.id,
            client_id=client.id if client else None,
            manager_id=client.manager_id if client else None,
            chat_id=conversation.chat_id,
            reason=reason,
            summary=summary,
            status=TicketStatus.OPEN,
            created_at=now,
        )
        session.add(ticket)
        await session.flush()
    else:
        ticket.summary = summary
        if reason != "request" and ticket.reason in ("request", "low_confidence"):
            ticket.reason = reason  # a more specific reason wins
    audit.record(session, actor=f"client:{client.client_no}" if client else f"chat:{conversation.chat_id}",
                 action="handoff", entity="ticket", entity_id=ticket.id,
                 manager_id=ticket.manager_id, client_id=ticket.client_id,
                 details={"reason": reason, "created": created})
    await session.flush()
    return ticket, created


# built once: asked on every customer message
_ACTIVE_TICKET = (select(Ticket)
                  .where(Ticket.conversation_id == bindparam("conversation_id"), Ticket.status != TicketStatus.CLOSED)
                  .order_by(Ticket.id.desc()).limit(1))


async def active_ticket(session: AsyncSession, conversation_id: int) -> Ticket | None:
    """The conversation's ticket that is not closed yet, if any."""
    return await session.scalar(_ACTIVE_TICKET, {"conversation_id": conversation_id})


async def get_for_manager(session: AsyncSession, ticket_id: int, manager: Manager | None, *,
                          admin: bool = False) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError("not_found", f"no ticket #{ticket_id}")
    if not can_access(manager, ticket, admin=admin):
        raise TicketError("forbidden", f"ticket #{ticket_id} belongs to another manager's client")
    return ticket


async def take(session: AsyncSession, ticket_id: int, manager: Manager, *, now: datetime | None = None,
               admin: bool = False) -> Ticket:
    ticket = await get_for_manager(session, ticket_id, manager, admin=admin)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError("closed", f"ticket #{ticket_id} is closed")
    if ticket.status == TicketStatus.OPEN:
        ticket.status = TicketStatus.TAKEN
        ticket.taken_at = now or clock.now(session)
        audit.record(session, actor=_actor(manager), action="ticket_take", entity="ticket", entity_id=ticket.id,
                     manager_id=ticket.manager_id or manager.id, client_id=ticket.client_id)
        await session.flush()
    return ticket


async def reply(
    session: AsyncSession, ticket_id: int, manager: Manager, text: str, *, now: datetime | None = None,
    admin: bool = False,
) -> ReplyToSend:
    """Record the manager's reply on the ticket's conversation and return what to send."""
    body = (text or "").strip()
    if not body:
        raise TicketError("empty", "the reply is empty")
    if len(body) > MAX_REPLY_CHARS:
        raise TicketError("too_long", f"the reply is longer than {MAX_REPLY_CHARS} characters")
    ticket = await get_for_manager(session, ticket_id, manager, admin=admin)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketError("closed", f"ticket #{ticket_id} is closed")
    now = now or clock.now(session)
    if ticket.status == TicketStatus.OPEN:
        ticket.status = TicketStatus.TAKEN
        ticket.taken_at = now
    if ticket.first_reply_at is None:
        ticket.first_reply_at = now
    conversation = await session.get(Conversation, ticket.conversation_id)
    language = conversation.language if conversation else "zh"
    session.add(ChatMessage(conversation_id=ticket.conversation_id, client_id=ticket.client_id, direction="out",
                            author="manager", text=body, outcome="manager_reply", created_at=now))
    if conversation is not None:
        conversation.last_message_at = now
    audit.record(session, actor=_actor(manager), action="ticket_reply", entity="ticket", entity_id=ticket.id,
                 manager_id=ticket.manager_id or manager.id, client_id=ticket.client_id,
                 details={"chars": len(body)})
    await session.flush()
    message = t("<b>{manager}</b>, your relationship manager:\n{text}", language, manager=manager.name, text=body)
    return ReplyToSend(ticket.id, ticket.chat_id, ticket.client_id, language, manager.name, message)


async def reply_and_send(
    session: AsyncSession, ticket_id: int, manager: Manager, text: str,
    send: Callable[[int, str], Awaitable[Any]], *, admin: bool = False,
) -> ReplyToSend:
    """`reply`, then `send(chat_id, html_text)` (e.g. `bot.send_message`). When sending raises, the
    caller rolls back: a reply is recorded only if it reached the customer."""
    out = await reply(session, ticket_id, manager, text, admin=admin)
    await send(out.chat_id, out.text)
    return out


async def close(session: AsyncSession, ticket_id: int, manager: Manager, *, now: datetime | None = None,
                admin: bool = False) -> Ticket:
    ticket = await get_for_manager(session, ticket_id, manager, admin=admin)
    if ticket.status != TicketStatus.CLOSED:
        ticket.status = TicketStatus.CLOSED
        ticket.closed_at = now or clock.now(session)
        audit.record(session, actor=_actor(manager), action="ticket_close", entity="ticket", entity_id=ticket.id,
                     manager_id=ticket.manager_id or manager.id, client_id=ticket.client_id)
        await session.flush()
    return ticket


async def open_tickets(session: AsyncSession, manager: Manager, *, admin: bool = False) -> list[Ticket]:
    """Tickets not closed that this manager (or admin, by role or ADMIN_IDS) may handle, oldest first."""
    query = select(Ticket).where(Ticket.status != TicketStatus.CLOSED).order_by(Ticket.created_at, Ticket.id)
    if not (admin or manager.is_admin):
        query = query.where(Ticket.manager_id == manager.id)
    return list((await session.scalars(query)).all())


async def by_notification(session: AsyncSession, manager: Manager, message_id: int, *,
                          admin: bool = False) -> Ticket | None:
    """The ticket whose notification (in this manager's chat) has id `message_id`."""
    query = select(Ticket).where(Ticket.notify_message_id == message_id).order_by(Ticket.id.desc())
    if not (admin or manager.is_admin):
        query = query.where(Ticket.manager_id == manager.id)
    else:
        query = query.where((Ticket.manager_id == manager.id) | (Ticket.manager_id.is_(None)))
    return await session.scalar(query.limit(1))


async def notify_targets(session: AsyncSession, ticket: Ticket, admin_ids: list[int]) -> list[int]:
    """Telegram ids to notify: the client's manager; with no manager on Telegram, the admins."""
    if ticket.manager_id is not None:
        manager = await session.get(Manager, ticket.manager_id)
        if manager is not None and manager.telegram_id and manager.active:
            return [manager.telegram_id]
    admins = list(admin_ids)
    admins += [m for m in (await session.scalars(
        select(Manager.telegram_id).where(Manager.is_admin.is_(True), Manager.telegram_id.is_not(None))
    )).all() if m is not None]
    return list(dict.fromkeys(admins))


def relay_text(ticket: Ticket, text: str, lang: str = "zh") -> str:
    """The manager-side notice of a customer's new message on an open ticket (HTML, escaped)."""
    return t("Ticket #{id}, the customer wrote:\n{text}\n\nReply to this message to answer.", lang, id=ticket.id,
             text=text)


async def notification_text(session: AsyncSession, ticket: Ticket, lang: str = "zh") -> str:
    """The manager-side notice: who, why, the last turns (HTML, escaped)."""
    client = await session.get(Client, ticket.client_id) if ticket.client_id else None
    who = f"{client.name} ({client.client_no})" if client else t("unbound customer (chat {chat})", lang,
                                                                  chat=ticket.chat_id)
    return t(
        "Ticket #{id}: {who}\nReason: {reason}\n\n{summary}\n\nReply to this message to answer the customer.",
        lang, id=ticket.id, who=who, reason=reason_label(ticket.reason, lang), summary=ticket.summary,
    )


def reason_label(reason: str, lang: str | None = None) -> str:
    """Why the conversation was handed off, in words (one table: `bot.labels`)."""
    from bot import labels

    return labels.label("ticket_reason", reason, lang or "zh")


def error_text(error: TicketError, ticket_id: int, lang: str | None = None) -> str:
    texts = {
        "not_found": t("ticket-error:not_found", lang, id=ticket_id),
        "forbidden": t("ticket-error:forbidden", lang, id=ticket_id),
        "closed": t("ticket-error:closed", lang, id=ticket_id),
        "empty": t("ticket-error:empty", lang),
        "too_long": t("ticket-error:too_long", lang),
    }
    return texts.get(error.reason, str(error))
