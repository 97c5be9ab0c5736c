"""Consent: marketing opt-in/opt-out and service reminders, each change audited.

"退订", "TD", "STOP", "/stop" anywhere in a customer's message opt the client out of marketing at
once (bank rule). `/settings` lets them opt back in, and turn service reminders off or on.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client
from bot.services import audit

# "退订" anywhere; TD / STOP / /stop as words (any case), also glued to Chinese text ("TD谢谢")
_OPT_OUT_RE = re.compile(r"退订|(?<![A-Za-z0-9_])(?:/stop(?:@\w+)?|stop|td)(?![A-Za-z0-9_])", re.IGNORECASE)


def is_opt_out(text: str | None) -> bool:
    return bool(text) and bool(_OPT_OUT_RE.search(text or ""))


def _actor(client: Client, actor: str | None) -> str:
    return actor or f"client:{client.client_no}"


async def opt_out(session: AsyncSession, client: Client, *, source: str = "message", actor: str | None = None) -> bool:
    """Opt the client out of marketing. Returns True when something changed (audited either way
    the first time; repeating it changes nothing and writes nothing)."""
    if client.opted_out and not client.marketing_consent:
        return False
    client.opted_out = True
    client.marketing_consent = False
    audit.record(session, actor=_actor(client, actor), action="opt_out", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def set_marketing(
    session: AsyncSession, client: Client, consent: bool, *, source: str = "settings", actor: str | None = None
) -> bool:
    """Marketing consent on (clears an opt-out: the client's own new choice) or off (= opt-out)."""
    if not consent:
        return await opt_out(session, client, source=source, actor=actor)
    if client.marketing_consent and not client.opted_out:
        return False
    client.marketing_consent = True
    client.opted_out = False
    audit.record(session, actor=_actor(client, actor), action="opt_in", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def set_reminders(
    session: AsyncSession, client: Client, enabled: bool, *, actor: str | None = None
) -> bool:
    if client.reminders_enabled == enabled:
        return False
    client.reminders_enabled = enabled
    audit.record(session, actor=_actor(client, actor), action="reminders_on" if enabled else "reminders_off",
                 entity="client", entity_id=client.id, manager_id=client.manager_id, client_id=client.id)
    await session.flush()
    return True


async def set_language(session: AsyncSession, client: Client, language: str) -> None:
    client.language = language
    await session.flush()


async def mark_blocked(session: AsyncSession, client: Client, *, source: str = "telegram") -> bool:
    """The client blocked the bot: nothing at all is sent to them any more (until they write again)."""
    if client.blocked:
        return False
    client.blocked = True
    audit.record(session, actor="system", action="blocked", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def mark_unblocked(session: AsyncSession, client: Client, *, source: str = "telegram") -> bool:
    if not client.blocked:
        return False
    client.blocked = False
    audit.record(session, actor="system", action="unblocked", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True
