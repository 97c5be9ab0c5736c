"""Low items on signing in: a link preview does not spend a one-time link (GET shows a button, POST
spends it), failed attempts are throttled, sign-out needs the CSRF token, a non-ASCII CSRF header
is a 403 (not a 500), SESSION_SECRET (documented, unused) is gone, and no Swagger UI from a CDN."""

from __future__ import annotations

from bot.db.models import Manager
from bot.services.auth import create_login_link
from bot.settings import documented_settings
from tests.security.conftest import login, seed_console


async def _link(db, manager_id: int) -> str:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        token = await create_login_link(session, await session.get(Manager, manager_id))
        await session.commit()
    return token


async def test_link_preview_does_not_spend_the_link(console, db) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    token = await _link(db, ids["m1"])
    for _ in range(3):  # Telegram's preview fetcher, a mail scanner...
        r = await client.get(f"/login/{token}")
        assert r.status_code == 200 and f'action="/login/{token}"' in r.text and 'method="post"' in r.text
    assert (await client.get("/api/me")).status_code == 401  # not signed in by a GET
    assert (await client.post(f"/login/{token}")).status_code == 303  # the manager's click
    assert (await client.get("/api/me")).status_code == 200


async def test_failed_sign_ins_are_throttled(console, db) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    codes = [(await client.post(f"/login/guess{i:04d}")).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    token = await _link(db, ids["m1"])  # even a good link waits: the address is blocked for a while
    assert (await client.post(f"/login/{token}")).status_code == 429
    r = await client.post("/webapp/login", json={"init_data": "x=1"})
    assert r.status_code in (429, 503)


async def test_sign_out_needs_the_csrf_token(console, db) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    csrf = await login(client, db, ids["m1"])
    r = await client.post("/logout")  # a cross-site form would post exactly this
    assert r.status_code == 403
    assert (await client.get("/api/me")).status_code == 200
    assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
    client.cookies.clear()


async def test_non_ascii_csrf_header_is_403(console, db) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    await login(client, db, ids["m1"])
    r = await client.post(f"/api/drafts/{ids['draft_M1']}/approve",
                          headers=[(b"X-CSRF-Token", "令牌é".encode())])
    assert r.status_code == 403


async def test_no_swagger_ui_and_no_session_secret(console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    assert (await client.get("/api/docs")).status_code == 404
    assert (await client.get("/api/openapi.json")).status_code == 200
    assert "SESSION_SECRET" not in documented_settings()
