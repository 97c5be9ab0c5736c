"""Request-scoped dependencies: the database session, the signed-in manager, CSRF checks, the
knowledge base's documents."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import auth
from bot.services.documents import DocumentLibrary
from bot.services.review import Reviewer

COOKIE = "rmbot_session"


class LoginRequired(Exception):
    """Raised by page dependencies: the app redirects to the login help page."""


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(db_session)]


async def _viewer(request: Request, session: AsyncSession) -> auth.ConsoleSession | None:
    return await auth.current(session, request.cookies.get(COOKIE), request.app.state.settings.admin_ids)


async def api_viewer(request: Request, session: Session) -> auth.ConsoleSession:
    """The signed-in manager for the JSON API; 401 without a valid session, 403 on a bad CSRF token
    for any change (POST, PUT, PATCH, DELETE)."""
    viewer = await _viewer(request, session)
    if viewer is None:
        raise HTTPException(401, "sign in first: ask the bot for /console or run `rmbot console-link`")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        given = next((v for k, v in request.scope["headers"] if k == b"x-csrf-token"), b"")
        if not csrf_matches(given, viewer.csrf):
            raise HTTPException(403, "missing or wrong X-CSRF-Token header")
    return viewer


def csrf_matches(given: bytes | str, expected: str) -> bool:
    """Constant-time, on bytes: any header or form value (non-ASCII included) is just a mismatch."""
    raw = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else given
    return bool(expected) and hmac.compare_digest(raw, expected.encode("utf-8"))


async def page_viewer(request: Request, session: Session) -> auth.ConsoleSession:
    """The signed-in manager for pages (current manager dependency other pages reuse)."""
    viewer = await _viewer(request, session)
    if viewer is None:
        raise LoginRequired()
    return viewer


ApiViewer = Annotated[auth.ConsoleSession, Depends(api_viewer)]
PageViewer = Annotated[auth.ConsoleSession, Depends(page_viewer)]


def set_session_cookie(request: Request, response: Response, token: str, *, samesite: str = "lax") -> None:
    """The session cookie: HttpOnly, and Secure whenever the console is reached over https: the
    request says so (uvicorn trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS only) or PUBLIC_URL is
    https (behind a proxy that terminates TLS). A Mini App (in Telegram's frame) needs SameSite=None,
    which browsers accept only with Secure."""
    public = str(request.app.state.settings.public_url).lower()
    secure = request.url.scheme == "https" or public.startswith("https://") or samesite == "none"
    response.set_cookie(COOKIE, token, max_age=int(auth.SESSION_TTL.total_seconds()), httponly=True,
                        samesite=samesite, secure=secure, path="/")  # type: ignore[arg-type]


def document_library(request: Request) -> DocumentLibrary:
    """The knowledge service of this process; 503 when it is not running here."""
    library: DocumentLibrary | None = request.app.state.knowledge
    if library is None:
        raise HTTPException(503, "the knowledge service is not running in this process")
    return library


def reviewer(viewer: auth.ConsoleSession) -> Reviewer:
    return Reviewer(manager_id=viewer.manager.id, is_admin=viewer.is_admin)


def require_admin(viewer: auth.ConsoleSession) -> None:
    if not viewer.is_admin:
        raise HTTPException(403, "admins only")
