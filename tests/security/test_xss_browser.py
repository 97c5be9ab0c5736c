"""Item 5 (in a real browser): a document named `x');alert(1);('.md` runs no script when Remove is
clicked, every page carries a Content-Security-Policy that forbids inline script (an injected
<script> does not run), and X-Content-Type-Options, frame-ancestors and Referrer-Policy are set.
Skipped where /usr/bin/chromium or Playwright is absent."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.pool import NullPool

from bot.db.engine import create_engine, session_factory
from bot.db.models import KnowledgeDocument, Manager
from bot.services.auth import create_login_link
from bot.web import create_web_app
from bot.workspace import Database, migrate
from tests.conftest import make_settings
from tests.security.test_proxy import _free_port
from tests.web.conftest import seed_console

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
EVIL = "x');alert(1);('.md"
pytestmark = pytest.mark.browser


class _Knowledge:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def supported_types(self) -> list[str]:
        return [".md"]

    async def remove(self, name: str) -> bool:
        self.removed.append(name)
        return True


def test_document_name_runs_no_script_and_csp_blocks_inline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed")
    pytest.importorskip("playwright")
    import uvicorn
    from playwright.sync_api import sync_playwright

    settings = make_settings(tmp_path)
    migrate(settings.database_url)

    async def prepare() -> str:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        db = Database(engine=engine, sessions=session_factory(engine))
        ids = await seed_console(db, drafts_per_manager=1)
        async with db.sessions() as session:
            manager = await session.get(Manager, ids["m1"])
            manager.is_admin = True
            session.add(KnowledgeDocument(name=EVIL, title="<img src=x onerror=alert(2)>", content_hash="h"))
            token = await create_login_link(session, manager)
            await session.commit()
        await engine.dispose()
        return token

    token = asyncio.run(prepare())
    engine = create_engine(settings.database_url, poolclass=NullPool)
    knowledge = _Knowledge()
    app = create_web_app(settings, Database(engine=engine, sessions=session_factory(engine)), knowledge=knowledge)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    try:
        headers = httpx.get(f"{base}/login").headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'self' https://web.telegram.org" in csp
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{base}/login/{token}")
            with page.expect_navigation():
                page.click("form[method=post] button")
            page.goto(f"{base}/admin/documents")
            assert EVIL in page.inner_text("table")
            page.click("button[data-action=ask]")
            with page.expect_response(lambda r: "/api/documents/" in r.url):
                page.click("button[data-action=remove-doc]")
            # an injected inline script (what a stored XSS would be) is refused by the policy
            page.evaluate("""() => { const s = document.createElement('script');
                                     s.textContent = 'window.__pwned = 1'; document.body.appendChild(s); }""")
            pwned = page.evaluate("() => window.__pwned")
            browser.close()
        assert dialogs == []
        assert knowledge.removed == [EVIL]  # the name went to the API as data, whole
        assert pwned is None
    finally:
        server.should_exit = True
        thread.join(10)
        asyncio.run(engine.dispose())
