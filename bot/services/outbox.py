"""The outbox: approved messages waiting to be sent, one row per message.

States: queued -> sending (leased by one sender until `lease_until`) -> sent | failed | cancelled.
A row enters once per approved draft (idempotency key `draft:<id>`), so approving twice, or a
re-delivered approval, never makes a second message. The draft's status follows its outbox row,
so the manager sees what became of every draft (sent, failed or cancelled, with the reason).

Claiming: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers take disjoint batches; on
SQLite (one process) a guarded `UPDATE ... WHERE status='queued' RETURNING` does the same.
A sender that dies leaves its rows in `sending`; once their lease expires `recover_expired`
puts them back in the queue (attempts kept). The only message that can go twice is one whose
request was in flight when the sender died: Telegram has no idempotency key, so the window is
exactly the requests in flight at the crash.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Row, and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.base import insert_for
from bot.db.models import Client, Draft, DraftStatus, OutboxItem, OutboxStatus
from bot.services import audit

MAX_ATTEMPTS = 8
# the sender's lanes: staff alerts (an emergency), staff notices, manager replies, then campaigns
KIND_PRIORITY = {"alert": 0, "notice": 1, "reply": 2}
_PRIORITY = case(KIND_PRIORITY, value=OutboxItem.kind, else_=3)
# Mirror of outbox states on the draft.
_DRAFT_STATE = {
    OutboxStatus.SENT: DraftStatus.SENT,
    OutboxStatus.FAILED: DraftStatus.FAILED,
    OutboxStatus.CANCELLED: DraftStatus.CANCELLED,
}


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int | None
    client_id: int | None
    kind: str
    text: str
    attempts: int
    draft_id: int | None
    key: str = ""


_RETURNING = (OutboxItem.id, OutboxItem.chat_id, OutboxItem.client_id, OutboxItem.kind, OutboxItem.text,
              OutboxItem.attempts, OutboxItem.draft_id, OutboxItem.idempotency_key)


def _claimed(row: Row[*tuple[Any, ...]]) -> Claimed:
    values = tuple(row)
    return Claimed(id=values[0], chat_id=values[1], client_id=values[2], kind=values[3], text=values[4],
                   attempts=values[5], draft_id=values[6], key=values[7])


def _rowcount(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE touched (DML returns a CursorResult, which has the count)."""
    return cast("CursorResult[Any]", result).rowcount or 0


def _insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    return insert_for(session.get_bind().dialect.name, table)


async def enqueue_drafts(session: AsyncSession, drafts: Sequence[Draft], *, actor: str) -> int:
    """Approved drafts become outbox rows (once each); returns how many rows were added."""
    if not drafts:
        return 0
    now = clock.now(session)
    client_ids = {d.client_id for d in drafts}
    chats = dict(
        (await session.execute(select(Client.id, Client.telegram_chat_id).where(Client.id.in_(client_ids)))).all()
    )
    rows = [
        {
            "idempotency_key": f"draft:{d.id}",
            "draft_id": d.id,
            "client_id": d.client_id,
            "manager_id": d.manager_id,
            "chat_id": chats.get(d.client_id),
            "kind": d.kind,
            "text": d.text,
            "status": OutboxStatus.QUEUED,
            "not_before": d.scheduled_at,
            "next_attempt_at": max(now, d.scheduled_at) if d.scheduled_at else now,
            "created_at": now,
            "attempts": 0,
        }
        for d in drafts
    ]
    added = 0
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        stmt = _insert(session, OutboxItem).values(chunk).on_conflict_do_nothing(index_elements=["idempotency_key"])
        result = await session.execute(stmt)
        added += _rowcount(result)
    ids = [d.id for d in drafts]
    for start in range(0, len(ids), 500):
        await session.execute(
            update(Draft)
            .where(Draft.id.in_(ids[start:start + 500]), Draft.status == DraftStatus.APPROVED)
            .values(status=DraftStatus.QUEUED)
        )
    managers = {d.manager_id for d in drafts}
    audit.record(session, actor=actor, action="enqueue", entity="outbox", entity_id=None,
                 manager_id=next(iter(managers)) if len(managers) == 1 else None,
                 details={"drafts": len(drafts), "added": added})
    return added


async def enqueue_text(
    session: AsyncSession, *, chat_id: int, text: str, key: str, kind: str = "reply",
    client_id: int | None = None, manager_id: int | None = None,
) -> OutboxItem:
    """A message outside campaigns (a manager's reply). `key` makes it idempotent."""
    existing = await session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
    if existing is not None:
        return existing
    now = clock.now(session)
    item = OutboxItem(idempotency_key=key, chat_id=chat_id, text=text, kind=kind, client_id=client_id,
                      manager_id=manager_id, status=OutboxStatus.QUEUED, next_attempt_at=now, created_at=now)
    session.add(item)
    await session.flush()
    return item


async def claim(session: AsyncSession, *, worker: str, limit: int, lease_s: float = 60.0,
                now: datetime | None = None) -> list[Claimed]:
    """Lease up to `limit` due rows to `worker`: urgent alerts to staff first, then staff notices,
    manager replies, and the campaigns; the oldest due first within each."""
    now = now or clock.now(session)
    due = and_(OutboxItem.status == OutboxStatus.QUEUED, OutboxItem.next_attempt_at <= now)
    order = [_PRIORITY, OutboxItem.next_attempt_at, OutboxItem.id]
    values = {"status": OutboxStatus.SENDING, "lease_until": now + timedelta(seconds=lease_s),
              "leased_by": worker, "attempts": OutboxItem.attempts + 1}
    returning = _RETURNING
    if session.get_bind().dialect.name == "postgresql":
        ids = select(OutboxItem.id).where(due).order_by(*order).limit(limit).with_for_update(skip_locked=True)
        stmt = update(OutboxItem).where(OutboxItem.id.in_(ids.scalar_subquery())).values(**values)
    else:
        ids = select(OutboxItem.id).where(due).order_by(*order).limit(limit)
        stmt = update(OutboxItem).where(OutboxItem.id.in_(ids.scalar_subquery()), due).values(**values)
    rows = (await session.execute(stmt.returning(*returning), execution_options={"synchronize_session": False}))
    return [_claimed(row) for row in rows.all()]


async def claim_chat_notices(session: AsyncSession, *, worker: str, chat_id: int, kinds: Sequence[str],
                             limit: int = 20, lease_s: float = 60.0) -> list[Claimed]:
    """Lease the other due notices for one chat (a burst folded into one message), urgent first."""
    now = clock.now(session)
    due = and_(OutboxItem.status == OutboxStatus.QUEUED, OutboxItem.next_attempt_at <= now,
               OutboxItem.chat_id == chat_id, OutboxItem.kind.in_(list(kinds)))
    ids = select(OutboxItem.id).where(due).order_by(_PRIORITY, OutboxItem.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = (update(OutboxItem).where(OutboxItem.id.in_(ids.scalar_subquery()), due)
            .values(status=OutboxStatus.SENDING, lease_until=now + timedelta(seconds=lease_s), leased_by=worker,
                    attempts=OutboxItem.attempts + 1))
    returning = _RETURNING
    rows = await session.execute(stmt.returning(*returning), execution_options={"synchronize_session": False})
    return sorted((_claimed(row) for row in rows.all()), key=lambda c: (KIND_PRIORITY.get(c.kind, 9), c.id))


async def recover_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Rows whose sender died (lease expired) go back to the queue."""
    now = now or clock.now(session)
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.status == OutboxStatus.SENDING, OutboxItem.lease_until < now)
        .values(status=OutboxStatus.QUEUED, leased_by=None, lease_until=None, next_attempt_at=now)
    )
    return _rowcount(result)


async def _finish(session: AsyncSession, item_id: int, status: str, *, error: str | None = None,
                  message_id: int | None = None, worker: str | None = None) -> bool:
    """Set a final state, only if this worker still holds the lease (or no lease check wanted)."""
    now = clock.now(session)
    cond = [OutboxItem.id == item_id, OutboxItem.status == OutboxStatus.SENDING]
    if worker is not None:
        cond.append(OutboxItem.leased_by == worker)
    values: dict[str, Any] = {"status": status, "lease_until": None, "last_error": error}
    if status == OutboxStatus.SENT:
        values.update(sent_at=now, telegram_message_id=message_id)
    result = await session.execute(update(OutboxItem).where(*cond).values(**values))
    if not _rowcount(result):
        return False
    item = await session.get(OutboxItem, item_id)
    assert item is not None
    draft_state = _DRAFT_STATE.get(OutboxStatus(status))
    if item.draft_id is not None and draft_state is not None:
        await session.execute(update(Draft).where(Draft.id == item.draft_id).values(status=draft_state))
    action = {"sent": "send", "failed": "send_failed", "cancelled": "send_cancelled"}[status]
    audit.record(session, actor=f"sender:{worker or '-'}", action=action, entity="outbox", entity_id=item_id,
                 manager_id=item.manager_id, client_id=item.client_id,
                 details={"kind": item.kind, "reason": error, "message_id": message_id, "attempts": item.attempts})
    return True


async def mark_sent(session: AsyncSession, item_id: int, message_id: int, *, worker: str | None = None) -> bool:
    return await _finish(session, item_id, OutboxStatus.SENT, message_id=message_id, worker=worker)


async def mark_failed(session: AsyncSession, item_id: int, reason: str, *, worker: str | None = None) -> bool:
    return await _finish(session, item_id, OutboxStatus.FAILED, error=reason[:300], worker=worker)


async def mark_cancelled(session: AsyncSession, item_id: int, reason: str, *, worker: str | None = None) -> bool:
    return await _finish(session, item_id, OutboxStatus.CANCELLED, error=reason, worker=worker)


def backoff(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempts - 1)))


async def retry_later(session: AsyncSession, item_id: int, *, delay_s: float, error: str,
                      worker: str | None = None, count_attempt: bool = True) -> None:
    """Back to the queue after `delay_s` (a 429 does not count as an attempt)."""
    cond = [OutboxItem.id == item_id, OutboxItem.status == OutboxStatus.SENDING]
    if worker is not None:
        cond.append(OutboxItem.leased_by == worker)
    values: dict[str, Any] = {"status": OutboxStatus.QUEUED, "lease_until": None, "leased_by": None,
                              "last_error": error[:300],
                              "next_attempt_at": clock.now(session) + timedelta(seconds=delay_s)}
    if not count_attempt:
        values["attempts"] = OutboxItem.attempts - 1
    await session.execute(update(OutboxItem).where(*cond).values(**values))


async def cancel_client(session: AsyncSession, client_id: int, reason: str) -> int:
    """Cancel every waiting message to a client (they blocked the bot), with one audit row."""
    rows = (await session.execute(
        update(OutboxItem)
        .where(OutboxItem.client_id == client_id, OutboxItem.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.CANCELLED, last_error=reason)
        .returning(OutboxItem.id, OutboxItem.draft_id),
        execution_options={"synchronize_session": False},
    )).all()
    drafts = [d for _, d in rows if d is not None]
    if drafts:
        await session.execute(update(Draft).where(Draft.id.in_(drafts)).values(status=DraftStatus.CANCELLED))
    if rows:
        audit.record(session, actor="sender", action="send_cancelled", entity="client", entity_id=client_id,
                     client_id=client_id, details={"reason": reason, "outbox_ids": [i for i, _ in rows][:100]})
    return len(rows)


class NotCancellable(LookupError):
    """No such queued message of this manager (unknown, another manager's, or already sending/sent)."""


async def cancel_queued(session: AsyncSession, item_id: int, *, manager_id: int | None, actor: str) -> OutboxItem:
    """Undo an approval: a message still waiting in the outbox is cancelled (its draft too). One
    UPDATE guarded by the status, so a sender that leased it first wins and nothing is sent twice.
    `manager_id` None: an admin (any manager's message)."""
    cond = [OutboxItem.id == item_id, OutboxItem.status == OutboxStatus.QUEUED]
    if manager_id is not None:
        cond.append(OutboxItem.manager_id == manager_id)
    result = await session.execute(update(OutboxItem).where(*cond).values(
        status=OutboxStatus.CANCELLED, last_error="cancelled_by_manager"),
        execution_options={"synchronize_session": False})
    if not _rowcount(result):
        raise NotCancellable(f"message {item_id} is not waiting to be sent")
    item = await session.get(OutboxItem, item_id, populate_existing=True)
    assert item is not None
    if item.draft_id is not None:
        await session.execute(update(Draft).where(Draft.id == item.draft_id).values(status=DraftStatus.CANCELLED),
                              execution_options={"synchronize_session": False})
    audit.record(session, actor=actor, action="send_cancelled", entity="outbox", entity_id=item_id,
                 manager_id=item.manager_id, client_id=item.client_id,
                 details={"kind": item.kind, "reason": "cancelled_by_manager"})
    return item


async def depth(session: AsyncSession) -> tuple[int, float]:
    """(waiting rows, age in seconds of the oldest waiting row)."""
    from sqlalchemy import func

    waiting = or_(OutboxItem.status == OutboxStatus.QUEUED, OutboxItem.status == OutboxStatus.SENDING)
    count, oldest = (await session.execute(select(func.count(), func.min(OutboxItem.created_at)).where(waiting))).one()
    return int(count), (clock.now(session) - oldest).total_seconds() if oldest else 0.0
