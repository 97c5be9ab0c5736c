"""Per-client invite links: `https://t.me/<bot>?start=<token>` binds a Telegram chat to a client.

A token is single use and expires (default 7 days). Only its SHA-256 is stored (as for console
sign-in tokens): a copy of the database or a backup gives no working invite. Redeeming it binds
the chat to the client (one chat per client, one client per chat) and writes an audit row in the
caller's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import Client, Conversation, InviteToken, Manager
from bot.services import audit
from bot.services.auth import hash_token

DEFAULT_TTL = timedelta(days=7)
TOKEN_BYTES = 18  # 24 url-safe characters; Telegram's start parameter allows up to 64 of [A-Za-z0-9_-]


class InviteError(Exception):
    """An invite that cannot be used; `reason` is unknown | expired | used | not_found."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class Invite:
    token: str
    link: str
    client_id: int
    client_no: str
    expires_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"client_no": self.client_no, "token": self.token, "link": self.link,
                "expires_at": self.expires_at.isoformat()}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"


async def create_invite(
    session: AsyncSession,
    client_no: str,
    *,
    bot_username: str,
    created_by: Manager | None = None,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> Invite:
    """A fresh invite for the client `client_no`; raises InviteError('not_found') for an unknown client,
    or 'forbidden' when `created_by` is a manager (not admin) of someone else's client."""
    client = await session.scalar(select(Client).where(Client.client_no == client_no.strip()))
    if client is None:
        raise InviteError("not_found", f"no client with number {client_no!r}")
    if created_by is not None and not created_by.is_admin and client.manager_id != created_by.id:
        raise InviteError("forbidden", f"client {client_no} is not in manager {created_by.code}'s book")
    now = now or clock.now(session)
    token = new_token()
    row = InviteToken(token_hash=hash_token(token), client_id=client.id,
                      created_by=created_by.id if created_by else None, created_at=now, expires_at=now + ttl)
    session.add(row)
    audit.record(session, actor=f"manager:{created_by.id}" if created_by else "system", action="invite",
                 entity="client", entity_id=client.id, manager_id=client.manager_id, client_id=client.id,
                 details={"expires_at": row.expires_at.isoformat()})
    await session.flush()
    return Invite(token, invite_link(bot_username, token), client.id, client.client_no, row.expires_at)


async def redeem_invite(
    session: AsyncSession, token: str, chat_id: int, *, now: datetime | None = None
) -> Client:
    """Bind `chat_id` to the invite's client. Raises InviteError(unknown | used | expired)."""
    now = now or clock.now(session)
    row = await session.scalar(select(InviteToken).where(InviteToken.token_hash == hash_token(token.strip())))
    if row is None:
        raise InviteError("unknown")
    client = await session.get(Client, row.client_id)
    if client is None:
        raise InviteError("unknown")
    if row.used_at is not None:
        if client.telegram_chat_id == chat_id:
            return client  # the same person pressing the link again: already bound, nothing to do
        raise InviteError("used")
    if row.expires_at <= now:
        raise InviteError("expired")
    row.used_at = now
    # one chat per client and one client per chat: release whatever this chat was bound to
    await session.execute(
        update(Client).where(Client.telegram_chat_id == chat_id, Client.id != client.id).values(telegram_chat_id=None)
    )
    previous_chat = client.telegram_chat_id
    client.telegram_chat_id = chat_id
    client.bound_at = now
    client.blocked = False
    conversation = await session.scalar(select(Conversation).where(Conversation.chat_id == chat_id))
    if conversation is not None:
        conversation.client_id = client.id
    audit.record(session, actor=f"client:{client.client_no}", action="bind", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id,
                 details={"invite_id": row.id, "rebound": previous_chat is not None and previous_chat != chat_id})
    await session.flush()
    return client


# --------------------------------------------------------------------------------------------
# Reach: who can be messaged on Telegram, who was invited, and bulk invitations for the bank's
# SMS or in-branch channel (the links and QR codes are exported; nothing is sent from here).

BULK_CHUNK = 2000


@dataclass(frozen=True)
class InviteRow:
    """One line of a bulk export: the client and their personal link."""

    client_no: str
    name: str
    phone: str
    language: str
    link: str
    expires_at: datetime


async def reach_counts(session: AsyncSession, manager_id: int | None = None,
                       *, now: datetime | None = None) -> dict[str, int]:
    """The book by reach: bound (a chat, not blocked), blocked, invited (an open invite), invite
    expired (invited before, never bound), not invited."""
    from sqlalchemy import case, func

    now = now or clock.now(session)
    scope = [Client.manager_id == manager_id] if manager_id is not None else []
    open_invite = select(InviteToken.id).where(InviteToken.client_id == Client.id, InviteToken.used_at.is_(None),
                                               InviteToken.expires_at > now).exists()
    any_invite = select(InviteToken.id).where(InviteToken.client_id == Client.id).exists()
    unbound = Client.telegram_chat_id.is_(None)
    state = case(
        (Client.telegram_chat_id.is_not(None) & Client.blocked.is_(True), "blocked"),
        (Client.telegram_chat_id.is_not(None), "bound"),
        (unbound & open_invite, "invited"),
        (unbound & any_invite, "invite_expired"),
        else_="not_invited",
    )
    rows = (await session.execute(select(state, func.count()).where(*scope).group_by(state))).all()
    counts = dict.fromkeys(("book", "bound", "blocked", "invited", "invite_expired", "not_invited"), 0)
    for name, n in rows:
        counts[str(name)] = int(n)
    counts["book"] = sum(int(n) for _, n in rows)
    return counts


async def invite_conversion(session: AsyncSession, manager_id: int | None, start: datetime,
                            end: datetime) -> dict[str, float | int | None]:
    """Invites created in [start, end) and how many of them were redeemed (bound) so far."""
    from sqlalchemy import func

    query = select(func.count(InviteToken.id), func.count(InviteToken.used_at)).where(
        InviteToken.created_at >= start, InviteToken.created_at < end)
    if manager_id is not None:
        query = query.join(Client, Client.id == InviteToken.client_id).where(Client.manager_id == manager_id)
    sent, bound = (await session.execute(query)).one()
    sent, bound = int(sent or 0), int(bound or 0)
    return {"invited": sent, "bound": bound, "conversion": round(bound / sent, 3) if sent else None}


async def bulk_invites(session: AsyncSession, manager: Manager, *, bot_username: str, unbound: bool = True,
                       ttl: timedelta = timedelta(days=30), now: datetime | None = None) -> list[InviteRow]:
    """A fresh personal invite for each of the manager's clients (only those not bound and not
    blocked when `unbound`), in bulk, with one audit row. Returns the rows to export."""
    now = now or clock.now(session)
    query = select(Client.id, Client.client_no, Client.name, Client.phone, Client.language).where(
        Client.manager_id == manager.id, Client.blocked.is_(False))
    if unbound:
        query = query.where(Client.telegram_chat_id.is_(None))
    clients = (await session.execute(query.order_by(Client.client_no))).all()
    rows: list[InviteRow] = []
    tokens: list[dict[str, object]] = []
    for c in clients:
        token = new_token()
        tokens.append({"token_hash": hash_token(token), "client_id": c.id, "created_by": manager.id, "created_at": now,
                       "expires_at": now + ttl})
        rows.append(InviteRow(c.client_no, c.name, c.phone or "", c.language or "zh",
                              invite_link(bot_username, token), now + ttl))
    from sqlalchemy import insert

    for i in range(0, len(tokens), BULK_CHUNK):
        await session.execute(insert(InviteToken), tokens[i:i + BULK_CHUNK])
    audit.record(session, actor=f"manager:{manager.id}", action="invite_bulk", entity="manager",
                 entity_id=manager.id, manager_id=manager.id,
                 details={"invites": len(rows), "unbound_only": unbound, "expires_at": (now + ttl).isoformat()})
    return rows
