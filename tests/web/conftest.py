"""Console fixtures: the real FastAPI app on a real SQLite database, two managers with work."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.db.models import Campaign, ChatMessage, Client, Conversation, Draft, Manager, Ticket
from bot.services.auth import create_login_link
from bot.web import create_web_app


async def seed_console(db, drafts_per_manager: int = 4) -> dict:  # type: ignore[no-untyped-def]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the console's "today" is the bank's (settings.tz)
    async with db.sessions() as session:
        m1, m2 = Manager(code="M1", name="王敏"), Manager(code="M2", name="李强")
        session.add_all([m1, m2])
        await session.flush()
        ids: dict = {"m1": m1.id, "m2": m2.id}
        for m in (m1, m2):
            camp = Campaign(manager_id=m.id, plan_date=today, kind="greeting", occasion="new_year", title="元旦祝福")
            session.add(camp)
            await session.flush()
            ids[f"camp_{m.code}"] = camp.id
            first_draft = None
            for i in range(drafts_per_manager):
                c = Client(client_no=f"{m.code}-{i:05d}", name=f"客户{i}", manager_id=m.id,
                           telegram_chat_id=(10_000 if m.code == "M1" else 20_000) + i, marketing_consent=True)
                session.add(c)
                await session.flush()
                d = Draft(campaign_id=camp.id, client_id=c.id, manager_id=m.id, plan_date=today, kind="greeting",
                          occasion="new_year", dedupe_key="greeting:new_year:2027", language="zh",
                          text=f"客户{i}您好，新年快乐！", context={"salutation": f"客户{i}", "signature": m.name},
                          scheduled_at=datetime.now(UTC))
                session.add(d)
                await session.flush()
                first_draft = first_draft or d.id
            ids[f"draft_{m.code}"] = first_draft
            conv = Conversation(chat_id=90_000 + m.id, client_id=c.id)
            session.add(conv)
            await session.flush()
            session.add(ChatMessage(conversation_id=conv.id, client_id=c.id, direction="in", author="customer",
                                    text="转人工"))
            t = Ticket(conversation_id=conv.id, client_id=c.id, manager_id=m.id, chat_id=conv.chat_id,
                       reason="request", summary="客户: 转人工")
            session.add(t)
            await session.flush()
            ids[f"ticket_{m.code}"] = t.id
        await session.commit()
    return ids


async def login(client: httpx.AsyncClient, db, manager_id: int) -> str:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        token = await create_login_link(session, await session.get(Manager, manager_id))
        await session.commit()
    r = await client.post(f"/login/{token}")
    assert r.status_code == 303, r.text
    return (await client.get("/api/me")).json()["csrf"]


def browser_sign_in(page, base: str, token: str) -> None:  # type: ignore[no-untyped-def]
    """Open a one-time link and press its Sign in button (the link page asks for a click: a link
    preview must not spend it)."""
    page.goto(f"{base}/login/{token}")
    with page.expect_navigation():
        page.click("form[method=post] button")


def wait_js(page, expression: str, timeout: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """`page.wait_for_function` without eval: the console's Content-Security-Policy refuses the
    string evaluation Playwright's in-page polling uses, so poll from outside (CDP evaluate)."""
    from playwright.sync_api import Error

    for _ in range(timeout // 100):
        try:
            if page.evaluate(f"() => Boolean({expression})"):
                return
        except Error:  # the page is navigating (a reload after an action): look again
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"not true within {timeout} ms: {expression}")


@pytest.fixture
async def console(db, settings):  # type: ignore[no-untyped-def]
    app = create_web_app(settings, db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield app, client


def save_screenshot(page, path) -> None:  # type: ignore[no-untyped-def]
    """A page screenshot for the README, kept small: quantized to a 128-colour palette when Pillow
    is there (text and flat colours survive it unchanged to the eye)."""
    page.screenshot(path=str(path))
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
