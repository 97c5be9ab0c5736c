"""Console login: one-time links (10 minutes, single use), sessions, CSRF tokens, Mini App login.

Only SHA-256 hashes of tokens are stored; a leaked database gives no working link or session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import LoginToken, Manager
from bot.services import audit
from bot.settings import Settings

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
WEBAPP_INIT_TTL = timedelta(minutes=10)  # Mini App init data older than this opens no session
CLOCK_SKEW = timedelta(minutes=1)


class AuthError(Exception):
    pass


@dataclass(frozen=True)
class ConsoleSession:
    manager: Manager
    csrf: str
    is_admin: bool


def hash_token(token: str) -> str:
    """What is stored of a one-time token (login links, sessions, invites): its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_hash = hash_token


async def create_login_link(session: AsyncSession, manager: Manager) -> str:
    """A token for `/login/<token>`; valid once, for 10 minutes."""
    if not manager.active:
        raise AuthError(f"manager {manager.code} is not active")
    token = secrets.token_urlsafe(24)
    session.add(LoginToken(token_hash=_hash(token), purpose="link", manager_id=manager.id,
                           expires_at=clock.now(session) + LINK_TTL))
    audit.record(session, actor=f"manager:{manager.id}", action="login_link", entity="manager",
                 entity_id=manager.id, manager_id=manager.id)
    await session.flush()
    return token


async def _new_session(session: AsyncSession, manager: Manager, how: str) -> tuple[str, str]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(LoginToken(token_hash=_hash(token), purpose="session", manager_id=manager.id, csrf=csrf,
                           expires_at=clock.now(session) + SESSION_TTL))
    audit.record(session, actor=f"manager:{manager.id}", action="login", entity="manager", entity_id=manager.id,
                 manager_id=manager.id, details={"via": how})
    await session.flush()
    return token, csrf


async def redeem_link(session: AsyncSession, token: str) -> tuple[str, str]:
    """Exchange a login link for a session; returns (session token, csrf token)."""
    now = clock.now(session)
    # One UPDATE marks the link used, so two clicks at once cannot both log in.
    result = await session.execute(
        update(LoginToken)
        .where(LoginToken.token_hash == _hash(token), LoginToken.purpose == "link", LoginToken.used_at.is_(None),
               LoginToken.expires_at > now)
        .values(used_at=now)
        .returning(LoginToken.manager_id)
    )
    manager_id = result.scalar_one_or_none()
    if manager_id is None:
        raise AuthError("this login link is invalid, used or expired; ask for a new one with /console")
    manager = await session.get(Manager, manager_id)
    if manager is None or not manager.active:
        raise AuthError("this manager is not active")
    return await _new_session(session, manager, "link")


class InitDataRejected(AuthError):
    """Mini App init data that is forged, too old, from the future or already used (401)."""


async def login_webapp(session: AsyncSession, bot_token: str, init_data: str, *,
                       now: datetime | None = None) -> tuple[str, str]:
    """A session for the manager whose Telegram account opened the Mini App. The init data must
    carry the bot's signature, be at most 10 minutes old (`auth_date`) and be used once."""
    from aiogram.utils.web_app import safe_parse_webapp_init_data

    now = now or clock.now(session)
    try:
        data = safe_parse_webapp_init_data(bot_token, init_data)
    except (ValueError, TypeError):  # TypeError: a non-ASCII hash
        raise InitDataRejected("init data failed verification") from None
    auth_date = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    if not (now - WEBAPP_INIT_TTL <= auth_date <= now + CLOCK_SKEW):
        raise InitDataRejected("init data is too old; open the Mini App again")
    if data.user is None:
        raise InitDataRejected("init data has no user")
    manager = await session.scalar(select(Manager).where(Manager.telegram_id == data.user.id))
    if manager is None or not manager.active:
        raise AuthError("this Telegram account is not a registered manager")
    # Once: the signed hash is remembered (as a used token) until the data would be too old anyway.
    used = hash_token("webapp:" + data.hash)
    if await session.scalar(select(LoginToken.id).where(LoginToken.token_hash == used)) is not None:
        raise InitDataRejected("init data was already used; open the Mini App again")
    try:
        async with session.begin_nested():
            session.add(LoginToken(token_hash=used, purpose="webapp_init", manager_id=manager.id, used_at=now,
                                   expires_at=auth_date + WEBAPP_INIT_TTL))
    except IntegrityError:  # the same data used twice at once
        raise InitDataRejected("init data was already used; open the Mini App again") from None
    return await _new_session(session, manager, "webapp")


async def current(
    session: AsyncSession, token: str | None, admin_ids: list[int] | None = None
) -> ConsoleSession | None:
    if not token:
        return None
    row = await session.scalar(select(LoginToken).where(
        LoginToken.token_hash == _hash(token), LoginToken.purpose == "session", LoginToken.used_at.is_(None),
        LoginToken.expires_at > clock.now(session)))
    if row is None:
        return None
    manager = await session.get(Manager, row.manager_id)
    if manager is None or not manager.active:
        return None
    admin = manager.is_admin or (manager.telegram_id is not None and manager.telegram_id in (admin_ids or []))
    return ConsoleSession(manager=manager, csrf=row.csrf or "", is_admin=admin)


async def logout(session: AsyncSession, token: str) -> None:
    await session.execute(update(LoginToken).where(LoginToken.token_hash == _hash(token),
                                                   LoginToken.purpose == "session").values(used_at=clock.now(session)))


def login_url(settings: Settings, token: str) -> str:
    """The console address for a login token: PUBLIC_URL when set, else the local web address."""
    public = settings.public_url
    base = public.rstrip("/") if public else f"http://{settings.web_host}:{settings.web_port}"
    return f"{base}/login/{token}"
