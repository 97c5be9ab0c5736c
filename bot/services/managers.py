"""Managers: registration and lookup."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager
from bot.services import audit


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


async def staff_for_admin(session: AsyncSession, telegram_id: int, name: str) -> Manager:
    """The Manager row an admin listed only in ADMIN_IDS acts as (tickets, audit): found by Telegram
    id, or created as `ADMIN-<id>` with no clients of their own."""
    manager = await by_telegram_id(session, telegram_id)
    if manager is None:
        manager, _ = await upsert_manager(session, code=f"ADMIN-{telegram_id}", name=name or f"admin {telegram_id}",
                                          telegram_id=telegram_id, is_admin=True)
        audit.record(session, actor=f"admin:tg{telegram_id}", action="admin_staff", entity="manager",
                     entity_id=manager.id, manager_id=manager.id)
    return manager


MAX_CANNED = 12
MAX_CANNED_CHARS = 500


class PreferenceError(ValueError):
    """`reason`: language | signature | canned."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


def _clean_canned(replies: list[str]) -> list[str]:
    out = [" ".join(r.split()) if "\n" not in r else r.strip() for r in replies]
    out = [r for r in out if r]
    if len(out) > MAX_CANNED or any(len(r) > MAX_CANNED_CHARS for r in out):
        raise PreferenceError("canned", f"at most {MAX_CANNED} quick replies of {MAX_CANNED_CHARS} characters")
    return list(dict.fromkeys(out))


async def set_preferences(session: AsyncSession, manager: Manager, *, language: str | None = None,
                          signature_zh: str | None = None, signature_en: str | None = None,
                          auto_approve_reminders: bool | None = None,
                          canned_replies: list[str] | None = None) -> list[str]:
    """The manager's own settings; None leaves a field as it is, "" clears a signature (the
    template's default signature is used). Returns the names of the fields changed (audited)."""
    changed: list[str] = []
    if language is not None:
        if language not in ("zh", "en"):
            raise PreferenceError("language", "language must be zh or en")
        if manager.language != language:
            manager.language, changed = language, [*changed, "language"]
    for field, value in (("signature", signature_zh), ("signature_en", signature_en)):
        if value is None:
            continue
        value = value.strip()
        if len(value) > 200:
            raise PreferenceError("signature", "a signature has at most 200 characters")
        if getattr(manager, field) != (value or None):
            setattr(manager, field, value or None)
            changed.append(field)
    if auto_approve_reminders is not None and manager.auto_approve_reminders != auto_approve_reminders:
        manager.auto_approve_reminders = auto_approve_reminders
        changed.append("auto_approve_reminders")
    if canned_replies is not None:
        cleaned = _clean_canned(canned_replies)
        if (manager.canned_replies or []) != cleaned:
            manager.canned_replies = cleaned or None
            changed.append("canned_replies")
    if changed:
        audit.record(session, actor=f"manager:{manager.id}", action="settings", entity="manager",
                     entity_id=manager.id, manager_id=manager.id, details={"changed": changed})
        await session.flush()
    return changed
