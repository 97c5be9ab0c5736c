"""Headless Chromium: an admin opens the approved-answers page, writes the approved answer of a
declined customer question in one step, and a customer asking that question again gets it word for
word. Skipped where /usr/bin/chromium is absent."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.pool import NullPool

from bot.db.engine import create_engine, session_factory
from bot.db.models import AuditLog, ChatMessage, Conversation, Manager
from bot.services.documents import SqlDocumentRegistry
from bot.web import create_web_app
from bot.workspace import Database, migrate
from knowledge import build_knowledge_service
from tests.conftest import make_settings
from tests.web.conftest import browser_sign_in, save_screenshot
from tests.web.test_browser import ARGS, CHROMIUM, _free_port, _link, _shots

pytestmark = pytest.mark.browser
QUESTION = "你们的理财产品能保本吗"
APPROVED = "本行理财产品不承诺保本保收益，请结合您的风险测评结果选择，详情可咨询您的客户经理。"


def _db(settings) -> Database:  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url, poolclass=NullPool)
    return Database(engine=engine, sessions=session_factory(engine))


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("playwright")
    import uvicorn

    settings = make_settings(tmp_path_factory.mktemp("curated"))
    migrate(settings.database_url)

    async def seed() -> int:
        db = _db(settings)
        async with db.sessions() as session:
            admin = Manager(code="A1", name="管理员", is_admin=True)
            conv = Conversation(chat_id=88_001)
            session.add_all([admin, conv])
            await session.flush()
            session.add(ChatMessage(conversation_id=conv.id, direction="in", author="customer", text=QUESTION))
            await session.flush()
            session.add(ChatMessage(conversation_id=conv.id, direction="out", author="bot", text="抱歉",
                                    outcome="declined"))
            await session.commit()
            admin_id = admin.id
        await db.engine.dispose()
        return admin_id

    admin_id = asyncio.run(seed())
    db = _db(settings)
    knowledge = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), embedding="hash")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_web_app(settings, db, knowledge=knowledge), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", settings, admin_id
    server.should_exit = True
    thread.join(10)


def test_write_the_approved_answer_of_a_declined_question(served) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, settings, admin_id = served
    link = _link(settings, admin_id)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        browser_sign_in(page, base, link)
        page.goto(f"{base}/admin/documents")
        page.click("nav.subnav a[href='/admin/curated']")  # reached from the admin area, not by typing a URL
        page.wait_for_selector("#declined-list")
        assert page.get_attribute("nav.subnav a[href='/admin/curated']", "class") == "on"
        row = page.locator("#declined-list tr", has_text=QUESTION)
        row.locator("textarea[name=answer]").fill(APPROVED)
        row.locator("input[name=source]").fill("理财销售话术")
        row.locator("button").click()  # one step
        page.wait_for_selector(f"#curated-list td:has-text('{APPROVED[:12]}')", timeout=20_000)
        assert QUESTION not in page.inner_text("#declined-list")
        if (shots := _shots()) is not None:
            save_screenshot(page, shots / "curated-desk.png")
            page.set_viewport_size({"width": 390, "height": 844})
            save_screenshot(page, shots / "curated-phone.png")
        browser.close()

    async def check() -> tuple[str, str, list[str]]:
        db = _db(settings)
        svc = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), embedding="hash")
        answer = await svc.ask(QUESTION + "？", lang="zh")
        async with db.sessions() as session:
            actions = list((await session.scalars(select(AuditLog.action).where(
                AuditLog.entity == "curated_answer"))).all())
        await db.engine.dispose()
        return answer.text, answer.sources[0].title, actions

    text, source, actions = asyncio.run(check())
    assert text == APPROVED and source == "理财销售话术"
    assert actions == ["curated_save"]
