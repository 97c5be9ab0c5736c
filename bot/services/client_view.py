"""One client as their manager sees them: find (by name, client number or the phone's last
digits) and the page (holdings, consent, binding, risk rating, messages, conversations, tickets).

A manager finds and opens only their own clients; an admin anyone's (another manager's client is
"not found", never "forbidden").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    ChatMessage,
    Client,
    Conversation,
    Holding,
    InviteToken,
    Manager,
    OutboxItem,
    Product,
    Ticket,
    TicketStatus,
)
from bot.services import rules
from bot.services.formats import fmt_money_short
from bot.services.review import NotFound, Reviewer

SEARCH_LIMIT = 50
MESSAGES = 30
TURNS = 40


@dataclass
class ClientPage:
    client: Client
    manager: Manager | None
    holdings: list[tuple[Holding, Product | None]]
    assessment_expires: date | None
    assessment_expired: bool
    messages: list[OutboxItem]
    conversation: list[ChatMessage]
    tickets: list[Ticket]
    invite: InviteToken | None  # the latest invite not used yet


def holdings_line(holdings: list[tuple[Holding, Product | None]], lang: str) -> str:
    """"定期 ¥50,000 · 理财 ¥20,000 · 信用卡" — what the client holds, one short line."""
    from bot import labels

    totals: dict[str, Decimal] = {}
    for h, _ in holdings:
        totals[h.kind] = totals.get(h.kind, Decimal(0)) + (h.amount or Decimal(0))
    parts = []
    for kind, amount in totals.items():
        name = labels.label("holding", kind, lang)
        parts.append(f"{name} {fmt_money_short(amount)}" if amount and kind != "card" else name)
    return " · ".join(parts)


_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")


def _own(stmt: _Query, viewer: Reviewer) -> _Query:
    """`stmt` narrowed to the viewer's own clients (an admin sees every client)."""
    return stmt if viewer.is_admin else stmt.where(Client.manager_id == viewer.manager_id)


async def search(session: AsyncSession, viewer: Reviewer, q: str, *, limit: int = SEARCH_LIMIT) -> list[Client]:
    """Clients whose name or number contains `q`, or whose phone ends with it (3+ digits)."""
    q = (q or "").strip()
    if not q:
        return []
    like = f"%{q}%"
    cond = [Client.name.like(like), Client.client_no.like(like)]
    if q.isdigit() and len(q) >= 3:
        cond.append(Client.phone.like(f"%{q}"))
    stmt = _own(select(Client).where(or_(*cond)), viewer).order_by(Client.name, Client.client_no).limit(limit)
    return list((await session.scalars(stmt)).all())


async def get_client(session: AsyncSession, viewer: Reviewer, client_id: int) -> Client:
    client = await session.scalar(_own(select(Client).where(Client.id == client_id), viewer))
    if client is None:
        raise NotFound(f"client {client_id}")
    return client


async def client_page(session: AsyncSession, viewer: Reviewer, client_id: int, today: date) -> ClientPage:
    client = await get_client(session, viewer, client_id)
    holdings = list((await session.execute(
        select(Holding, Product).join(Product, Product.code == Holding.product_code, isouter=True)
        .where(Holding.client_id == client.id).order_by(Holding.kind, Holding.maturity_date))).all())
    messages = list((await session.scalars(select(OutboxItem).where(OutboxItem.client_id == client.id)
                                           .order_by(OutboxItem.id.desc()).limit(MESSAGES))).all())
    conversation = list(reversed((await session.scalars(
        select(ChatMessage).where(ChatMessage.client_id == client.id)
        .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc()).limit(TURNS))).all()))
    client_tickets = list((await session.scalars(select(Ticket).where(Ticket.client_id == client.id)
                                                 .order_by(Ticket.id.desc()).limit(20))).all())
    invite = await session.scalar(select(InviteToken).where(InviteToken.client_id == client.id,
                                                            InviteToken.used_at.is_(None))
                                  .order_by(InviteToken.id.desc()).limit(1))
    expires = rules.assessment_expires_on(client)
    return ClientPage(client=client, manager=await session.get(Manager, client.manager_id),
                      holdings=[(h, p) for h, p in holdings], assessment_expires=expires,
                      assessment_expired=rules.assessment_expired(client, today), messages=messages,
                      conversation=conversation, tickets=client_tickets, invite=invite)


async def conversation_of_ticket(session: AsyncSession, ticket: Ticket, *, turns: int = TURNS) -> list[ChatMessage]:
    """The live conversation behind a ticket, oldest first (the last `turns`)."""
    rows = (await session.scalars(select(ChatMessage).where(ChatMessage.conversation_id == ticket.conversation_id)
                                  .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
                                  .limit(turns))).all()
    return list(reversed(rows))


async def holdings_lines(session: AsyncSession, client_ids: list[int], lang: str) -> dict[int, str]:
    if not client_ids:
        return {}
    rows = (await session.execute(select(Holding).where(Holding.client_id.in_(client_ids)))).scalars().all()
    grouped: dict[int, list[tuple[Holding, Product | None]]] = {}
    for h in rows:
        grouped.setdefault(h.client_id, []).append((h, None))
    return {cid: holdings_line(items, lang) for cid, items in grouped.items()}


def ticket_state(ticket: Ticket, last: ChatMessage | None) -> str:
    """replied | waiting | closed: whether the customer's last word has an answer from the manager."""
    if ticket.status == TicketStatus.CLOSED:
        return "closed"
    if last is not None and last.author == "manager":
        return "replied"
    return "waiting"


async def last_turns(session: AsyncSession, conversation_ids: list[int]) -> dict[int, ChatMessage]:
    """The latest message of each conversation."""
    if not conversation_ids:
        return {}
    latest = (select(ChatMessage.conversation_id, func.max(ChatMessage.id).label("mid"))
              .where(ChatMessage.conversation_id.in_(conversation_ids)).group_by(ChatMessage.conversation_id)
              .subquery())
    rows = (await session.scalars(select(ChatMessage).join(latest, ChatMessage.id == latest.c.mid))).all()
    return {m.conversation_id: m for m in rows}


async def conversation_language(session: AsyncSession, conversation_id: int) -> str:
    conv = await session.get(Conversation, conversation_id)
    return conv.language if conv is not None else "zh"
