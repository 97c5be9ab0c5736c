"""The audit log: every send, edit, approval, rejection, opt-out and handoff.

`record` adds a row to the caller's session; it is committed with the change it records
(one unit of work), never on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditLog


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    manager_id: int | None = None,
    client_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        manager_id=manager_id,
        client_id=client_id,
        details=details,
    )
    session.add(row)
    return row


def actor_for_manager(manager_id: int, *, admin: bool = False) -> str:
    return f"{'admin' if admin else 'manager'}:{manager_id}"
