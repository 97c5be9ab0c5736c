"""Managers: registration and lookup."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager


async def upsert_manager(
    session: AsyncSession,
    *,
    code: str,
    name: str | None = None,
    telegram_id: int | None = None,
    is_admin: bool | None = None,
) -> tuple[Manager, bool]:
    """Create the manager `code`, or update the given fields. Returns (manager, created)."""
    code = code.strip()
    if not code:
        raise ValueError("manager code is empty")
    manager = await session.scalar(select(Manager).where(Manager.code == code))
    created = manager is None
    if manager is None:
        manager = Manager(code=code, name=(name or code).strip(), is_admin=bool(is_admin))
        session.add(manager)
    elif name:
        manager.name = name.strip()
    if telegram_id is not None:
        other = await session.scalar(
            select(Manager).where(Manager.telegram_id == telegram_id, Manager.code != code)
        )
        if other is not None:
            raise ValueError(f"Telegram id {telegram_id} is already bound to manager {other.code}")
        manager.telegram_id = telegram_id
    if is_admin is not None:
        manager.is_admin = is_admin
    await session.flush()
    return manager, created


async def by_telegram_id(session: AsyncSession, telegram_id: int) -> Manager | None:
    return await session.scalar(select(Manager).where(Manager.telegram_id == telegram_id))


async def by_code(session: AsyncSession, code: str) -> Manager | None:
    return await session.scalar(select(Manager).where(Manager.code == code))


async def resolve_manager(session: AsyncSession, key: str | int) -> Manager | None:
    """A manager by numeric id or by code."""
    text = str(key).strip()
    if text.isdigit():
        found = await session.get(Manager, int(text))
        if found is not None:
            return found
    return await by_code(session, text)
