"""The manager's morning on one screen: what needs them today, in the order a busy manager works.

Open tickets (urgent reasons first), then service reminders (clean ones approved in one action),
then recommendations and greetings (flagged drafts first, a sample of the rest), with the day's
send times and totals, and what is still waiting from the days before. Used by the console's home
page and by the Telegram /today (and /queue) command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client, Draft, DraftKind, DraftStatus, Manager, Ticket
from bot.services import review, tickets
from bot.services.review import Reviewer

# Reasons a person is waiting on, most urgent first; the rest keep their age order.
URGENT_REASONS = ("fraud", "lost_card", "complaint", "transfer", "account")
# Reminders first (dates the client must act on), the day's own maturities before the 7-day notices.
KIND_ORDER = {DraftKind.REMINDER.value: 0, DraftKind.RECOMMENDATION.value: 1, DraftKind.GREETING.value: 2}
LOOKBACK_DAYS = 7
SAMPLE = 2


@dataclass
class TicketRow:
    ticket: Ticket
    client_no: str | None
    client_name: str | None
    manager_name: str | None
    urgent: bool


@dataclass
class Morning:
    day: date
    tickets: list[TicketRow]
    reminders: list[dict[str, Any]]
    marketing: list[dict[str, Any]]
    earlier: list[dict[str, Any]]
    totals: dict[str, int] = field(default_factory=dict)
    samples: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # clean drafts to glance at

    @property
    def clean_reminders(self) -> int:
        return sum(c["pending"] - c["flagged"] for c in self.reminders)


def _campaign_order(c: dict[str, Any]) -> tuple[int, int, str]:
    today_first = 0 if c["occasion"].endswith("_today") else 1
    return KIND_ORDER.get(c["kind"], 3), today_first, c["title"]


async def ticket_rows(session: AsyncSession, manager: Manager, *, admin: bool) -> list[TicketRow]:
    """Open tickets this manager (or admin) may answer: urgent reasons first, then oldest first."""
    rows = await tickets.open_tickets(session, manager, admin=admin)
    ids = {t.client_id for t in rows if t.client_id}
    clients = {c.id: c for c in (await session.scalars(select(Client).where(Client.id.in_(ids)))).all()} if ids else {}
    manager_ids = {t.manager_id for t in rows if t.manager_id}
    names = dict((await session.execute(select(Manager.id, Manager.name).where(Manager.id.in_(manager_ids)))).all()) \
        if manager_ids else {}
    out = [TicketRow(t, clients[t.client_id].client_no if t.client_id in clients else None,
                     clients[t.client_id].name if t.client_id in clients else None,
                     names.get(t.manager_id) if t.manager_id is not None else None, t.reason in URGENT_REASONS)
           for t in rows]
    out.sort(key=lambda r: (not r.urgent, URGENT_REASONS.index(r.ticket.reason) if r.urgent else 0,
                            r.ticket.created_at))
    return out


async def send_windows(session: AsyncSession, campaign_ids: list[int]) -> dict[int, tuple[datetime, datetime]]:
    """First and last planned send time of each campaign's drafts still to go out."""
    if not campaign_ids:
        return {}
    rows = (await session.execute(
        select(Draft.campaign_id, func.min(Draft.scheduled_at), func.max(Draft.scheduled_at))
        .where(Draft.campaign_id.in_(campaign_ids),
               Draft.status.in_([DraftStatus.PENDING, DraftStatus.APPROVED, DraftStatus.QUEUED]))
        .group_by(Draft.campaign_id))).all()
    from bot.db.base import UTCDateTime

    decode = UTCDateTime().process_result_value  # min()/max() lose the column type on SQLite
    windows: dict[int, tuple[datetime, datetime]] = {}
    for cid, lo, hi in rows:
        first, last = decode(lo, None), decode(hi, None)
        if first is not None and last is not None:
            windows[cid] = (first, last)
    return windows


async def morning(session: AsyncSession, manager: Manager, day: date, *, admin: bool = False) -> Morning:
    me = Reviewer(manager.id, is_admin=admin)
    camps = sorted(await review.list_campaigns(session, me, day), key=_campaign_order)
    earlier = [c for c in await review.list_campaigns(session, me, None, only_waiting=True)
               if day - timedelta(days=LOOKBACK_DAYS) <= date.fromisoformat(c["plan_date"]) < day]
    windows = await send_windows(session, [c["id"] for c in camps])
    for c in camps:
        c["send_from"], c["send_to"] = windows.get(c["id"], (None, None))
    if admin:
        names = dict((await session.execute(select(Manager.id, Manager.name))).all())
        for c in camps + earlier:
            c["manager_name"] = names.get(c["manager_id"])
    totals = {"drafts": sum(c["count"] for c in camps), "pending": sum(c["pending"] for c in camps),
              "flagged": sum(c["flagged"] for c in camps)}
    for status in (DraftStatus.QUEUED, DraftStatus.SENT, DraftStatus.REJECTED, DraftStatus.FAILED):
        totals[str(status)] = sum(c["by_status"].get(status, 0) for c in camps)
    samples = {}
    for c in camps:
        if c["kind"] != DraftKind.REMINDER and c["pending"] > c["flagged"]:
            page = await review.pending_page(session, me, c["id"], start=review.Cursor(clean=True), limit=SAMPLE)
            samples[c["id"]] = page["items"]
    return Morning(day=day, tickets=await ticket_rows(session, manager, admin=admin), samples=samples,
                   reminders=[c for c in camps if c["kind"] == DraftKind.REMINDER],
                   marketing=[c for c in camps if c["kind"] != DraftKind.REMINDER],
                   earlier=earlier, totals=totals)


async def approve_clean_reminders(session: AsyncSession, reviewer: Reviewer, day: date, *, expected: int) -> int:
    """One action for the day's service reminders: every pending draft with no flags, in every
    reminder campaign of the day. `expected` is the count the manager saw; if it changed, nothing
    is approved (review.InvalidInput)."""
    camps = [c for c in await review.list_campaigns(session, reviewer, day, only_waiting=True)
             if c["kind"] == DraftKind.REMINDER]
    clean = sum(c["pending"] - c["flagged"] for c in camps)
    if clean != expected:
        raise review.InvalidInput(f"there are now {clean} clean reminders, not {expected}; reload and confirm")
    total = 0
    for c in camps:
        if c["pending"] - c["flagged"]:
            total += await review.approve_all(session, reviewer, c["id"], expected=c["pending"] - c["flagged"])
    return total

