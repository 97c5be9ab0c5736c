"""Notices to managers and admins (a new ticket, a customer's message on an open ticket) go through
the outbox, never inline from a customer's turn: the customer's reply does not wait for them, and
the sender spaces them per chat (Telegram allows about one message a second in a chat), sends the
urgent ones first and folds a burst for one chat into one message ("3 new tickets").

Kinds: `alert` (an emergency: lost card, fraud, scam) before `notice` (everything else). The
idempotency key names the ticket (`ticket:<id>:...`), so the sender can link the sent message to
its tickets (a Telegram reply to it answers the customer)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager, Ticket
from bot.services import outbox, tickets
from prompts import render

ALERT = "alert"
NOTICE = "notice"
KINDS = (ALERT, NOTICE)
_TICKET_KEY_RE = re.compile(r"^ticket:(\d+):(zh|en):")


def ticket_of(key: str) -> int | None:
    match = _TICKET_KEY_RE.match(key)
    return int(match.group(1)) if match else None


def language_of(key: str) -> str:
    """The language a notice is written in (its buttons follow it)."""
    match = _TICKET_KEY_RE.match(key)
    return match.group(2) if match else "zh"


async def staff_language(session: AsyncSession, ticket: Ticket) -> str:
    """Notices are written in the language of the client's manager (Chinese without one)."""
    manager = await session.get(Manager, ticket.manager_id) if ticket.manager_id else None
    return manager.language if manager is not None and manager.language in ("zh", "en") else "zh"


async def _enqueue(session: AsyncSession, ticket: Ticket, admin_ids: list[int], text: str, lang: str, *,
                   urgent: bool, what: str) -> int:
    targets = await tickets.notify_targets(session, ticket, admin_ids)
    if urgent:
        text = render(f"notify/urgent_{lang}.j2") + "\n" + text
    for chat_id in targets:
        await outbox.enqueue_text(session, chat_id=chat_id, text=text, kind=ALERT if urgent else NOTICE,
                                  key=f"ticket:{ticket.id}:{lang}:{what}:{chat_id}", manager_id=ticket.manager_id)
    return len(targets)


async def ticket_opened(session: AsyncSession, ticket: Ticket, admin_ids: list[int], *, urgent: bool) -> int:
    """Queue the new ticket's notice for the client's manager (or the admins); returns how many."""
    lang = await staff_language(session, ticket)
    text = await tickets.notification_text(session, ticket, lang)
    return await _enqueue(session, ticket, admin_ids, text, lang, urgent=urgent, what="open")


async def relay(session: AsyncSession, ticket: Ticket, message: str, admin_ids: list[int], *,
                urgent: bool = False) -> int:
    """Queue a customer's new message on an open ticket for the person looking after it."""
    lang = await staff_language(session, ticket)
    text = tickets.relay_text(ticket, message, lang)
    return await _enqueue(session, ticket, admin_ids, text, lang, urgent=urgent,
                          what=f"relay-{uuid.uuid4().hex[:12]}")


def burst_text(texts: list[str], urgent: int, lang: str) -> str:
    """Several notices for one chat as one message: the count, then each notice."""
    return render(f"notify/burst_{lang}.j2", count=len(texts), urgent=urgent, notices=texts)
