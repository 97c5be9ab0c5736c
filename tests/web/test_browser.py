"""Headless Chromium (Debian's chromium, driven by Playwright with executable_path): a manager signs
in, reviews a campaign of 3,000 drafts (edits one, approves the rest in a few actions), and opens
the dashboard. Skipped where /usr/bin/chromium is absent. Set RMBOT_SCREENSHOTS_DIR to keep the
screenshots (the README's come from here)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from bot.db.engine import create_engine, session_factory
from bot.db.models import Draft, Manager, OutboxItem
from bot.services.auth import create_login_link
from bot.web import create_web_app
from bot.workspace import Database, migrate
from tests.conftest import make_settings
from tests.web.conftest import browser_sign_in, save_screenshot, seed_console, wait_js

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("playwright")
    import uvicorn

    settings = make_settings(tmp_path_factory.mktemp("browser"))
    migrate(settings.database_url)

    async def prepare() -> dict:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        ids = await seed_console(Database(engine=engine, sessions=session_factory(engine)), drafts_per_manager=3000)
        await engine.dispose()
        return ids

    ids = asyncio.run(prepare())
    engine = create_engine(settings.database_url, poolclass=NullPool)
    db = Database(engine=engine, sessions=session_factory(engine))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_web_app(settings, db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", settings, ids
    server.should_exit = True
    thread.join(10)


def _link(settings, manager_id: int) -> str:  # type: ignore[no-untyped-def]
    async def make() -> str:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        async with session_factory(engine)() as session:
            token = await create_login_link(session, await session.get(Manager, manager_id))
            await session.commit()
        await engine.dispose()
        return token

    return asyncio.run(make())


def _count(settings, *where) -> int:  # type: ignore[no-untyped-def]
    async def q() -> int:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        async with session_factory(engine)() as session:
            n = await session.scalar(select(func.count()).select_from(Draft).where(*where))
        await engine.dispose()
        return int(n or 0)

    return asyncio.run(q())


def _shots() -> Path | None:
    target = os.environ.get("RMBOT_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        return Path(target)
    return None


def test_review_3000_drafts_in_a_browser(served) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, settings, ids = served
    shots = _shots()
    link = _link(settings, ids["m1"])  # (Playwright's sync API owns the event loop inside the block)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        browser_sign_in(page, base, link)
        assert "元旦祝福" in page.content()
        page.click("text=元旦祝福")
        page.wait_for_selector("#approve-all-ask")
        assert "共 3000 条" in page.content()

        first = page.locator(".card[id^=draft-]").first
        draft_id = int(first.get_attribute("id").split("-")[1])
        # actions 1-3: edit one draft
        first.locator("[data-action=toggle]").click()
        page.fill(f"#text-{draft_id}", "客户0您好！新年快乐，我是您的客户经理王敏。")
        page.click(f"#edit-{draft_id} [data-action=save-draft]")
        wait_js(page, f"document.getElementById('shown-{draft_id}').textContent.includes('客户经理王敏')")
        if shots:
            save_screenshot(page, shots / "campaign.png")
        # actions 4-5: approve all, confirm the stated count (in the page: no browser dialog)
        page.click("#approve-all-ask")
        assert "3000" in page.inner_text("#confirm-approve")
        page.click("#approve-all")
        wait_js(page, "document.querySelector('#approve-all-ask').disabled", 30_000)
        browser.close()

    assert _count(settings, Draft.manager_id == ids["m1"], Draft.status.in_(["approved", "queued"])) == 3000
    assert _count(settings, Draft.id == draft_id, Draft.edited.is_(True),
                  Draft.text == "客户0您好！新年快乐，我是您的客户经理王敏。") == 1
    assert _count(settings, Draft.manager_id == ids["m2"], Draft.status == "pending") == 3000  # untouched

    async def outbox_text() -> str:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        async with session_factory(engine)() as session:
            text = await session.scalar(select(OutboxItem.text).where(OutboxItem.draft_id == draft_id))
        await engine.dispose()
        return text or ""

    assert asyncio.run(outbox_text()) == "客户0您好！新年快乐，我是您的客户经理王敏。"


def test_dashboard_and_csv_download(served) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, settings, ids = served
    shots = _shots()
    link = _link(settings, ids["m2"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400}, accept_downloads=True)
        browser_sign_in(page, base, link)
        page.goto(f"{base}/reports")
        html = page.content()
        assert "李强" in html and "王敏" not in html  # only their own figures
        assert page.inner_text("#f-planned").strip() == "3000"
        if shots:
            save_screenshot(page, shots / "reports.png")
        with page.expect_download() as info:
            page.click("#export-daily")
        path = info.value.path()
        text = Path(path).read_text(encoding="utf-8-sig")
        browser.close()
    lines = text.splitlines()
    assert lines[0] == "date,planned,approved,sent"
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 3000
