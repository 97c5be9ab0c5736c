"""Curated answers in the console: admins only, saved and removed through the API, audited; the
page lists the declined questions with a one-step form; a customer then gets the approved wording."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import AuditLog, ChatMessage, Conversation, Manager
from bot.services.documents import SqlDocumentRegistry
from bot.web import create_web_app
from knowledge import build_knowledge_service
from tests.web.conftest import login, seed_console

APPROVED = "本行理财产品不承诺保本保收益，请结合您的风险测评结果选择，详情可咨询您的客户经理。"


@pytest.fixture
async def console(db, settings):  # type: ignore[no-untyped-def]
    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).is_admin = True
        conv = Conversation(chat_id=77_001)
        session.add(conv)
        await session.flush()
        session.add(ChatMessage(conversation_id=conv.id, direction="in", author="customer", text="理财能保本吗"))
        await session.flush()
        session.add(ChatMessage(conversation_id=conv.id, direction="out", author="bot", text="抱歉",
                                outcome="declined"))
        await session.commit()
    knowledge = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), embedding="hash")
    app = create_web_app(settings, db, knowledge=knowledge)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client, ids, knowledge


async def test_admin_saves_lists_and_removes_with_audit(console, db) -> None:  # type: ignore[no-untyped-def]
    client, ids, knowledge = console
    csrf = await login(client, db, ids["m1"])
    page = await client.get("/admin/curated")
    assert page.status_code == 200 and "理财能保本吗" in page.text  # the declined question, ready to answer
    h = {"X-CSRF-Token": csrf}
    r = await client.post("/api/curated", json={"question": "理财能保本吗", "answer": APPROVED, "source": "销售话术"},
                          headers=h)
    assert r.status_code == 200, r.text
    item = r.json()
    assert (await client.get("/api/curated")).json()[0]["answer"] == APPROVED
    answer = await knowledge.ask("理财能保本吗", lang="zh")
    assert answer.text == APPROVED and answer.sources[0].title == "销售话术"
    page = await client.get("/admin/curated")
    assert APPROVED in page.text and "declined-form" not in page.text  # answered: no longer offered
    blank = await client.post("/api/curated", json={"question": " ", "answer": "x"}, headers=h)
    assert blank.status_code in (400, 422)
    assert (await client.delete(f"/api/curated/{item['id']}", headers=h)).status_code == 200
    assert (await client.delete(f"/api/curated/{item['id']}", headers=h)).status_code == 404
    async with db.sessions() as session:
        actions = (await session.scalars(select(AuditLog.action).where(AuditLog.entity == "curated_answer"))).all()
    assert list(actions) == ["curated_save", "curated_remove"]


async def test_managers_and_forged_requests_are_refused(console, db) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    csrf = await login(client, db, ids["m2"])  # not an admin
    assert (await client.get("/api/curated")).status_code == 403
    r = await client.post("/api/curated", json={"question": "q", "answer": "a"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    r = await client.post("/api/curated", json={"question": "q", "answer": "a"})
    assert r.status_code == 403
