"""The console's morning pieces through the real app: Today, clients, undo, settings, the inbox,
error pages, both languages, and what an admin sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from bot.db.models import AuditLog, Client, Holding, Manager, OutboxItem, Ticket
from bot.services import outbox
from tests.web.conftest import login, seed_console

TEMPLATES = Path(__file__).resolve().parents[2] / "bot" / "web" / "templates"


def test_every_console_text_has_its_chinese() -> None:
    table = json.loads((TEMPLATES.parent / "locales" / "zh.json").read_text(encoding="utf-8"))
    used = set()
    for path in [*TEMPLATES.glob("*.html"), TEMPLATES.parent / "pages.py", TEMPLATES.parent / "errors.py"]:
        used |= {m.group(2) for m in re.finditer(r"""_\(\s*(["'])(.*?)\1""", path.read_text(encoding="utf-8"))}
    missing = sorted(used - set(table))
    assert not missing, f"console texts without a Chinese translation: {missing}"
    assert not re.search(r"<script>|\son[a-z]+=", "".join(p.read_text(encoding="utf-8")
                                                           for p in TEMPLATES.glob("*.html")))  # CSP-ready


async def _queue(db, ids, manager: str = "m1", n: int = 3) -> list[int]:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        clients = (await session.scalars(select(Client).where(Client.manager_id == ids[manager]).limit(n))).all()
        for c in clients:
            await outbox.enqueue_text(session, chat_id=c.telegram_chat_id or 1, text=f"<b>提醒</b> {c.name}",
                                      key=f"t:{c.id}", kind="reminder", client_id=c.id, manager_id=ids[manager])
        await session.commit()
        return list((await session.scalars(select(OutboxItem.id).where(OutboxItem.manager_id == ids[manager])
                                           .order_by(OutboxItem.id))).all())


async def test_today_page_and_undo_a_queued_message(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=3)
    csrf = await login(client, db, ids["m1"])
    today = (await client.get("/")).text
    assert "今日" in today and "北京时间" in today and "元旦祝福" in today and "李强" not in today
    items = await _queue(db, ids)
    page = (await client.get("/sent?status=queued")).text
    assert "撤回" in page and "&lt;b&gt;" not in page and "<b>提醒</b>" not in page  # shown as the client reads it
    r = await client.post(f"/api/outbox/{items[0]}/cancel", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    again = await client.post(f"/api/outbox/{items[0]}/cancel", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409  # no longer waiting
    other = await _queue(db, ids, manager="m2", n=1)
    assert (await client.post(f"/api/outbox/{other[0]}/cancel", headers={"X-CSRF-Token": csrf})).status_code == 409
    async with db.sessions() as session:
        assert (await session.get(OutboxItem, items[0])).status == "cancelled"
        assert (await session.get(OutboxItem, other[0])).status == "queued"  # another manager's: untouched
        assert await session.scalar(select(AuditLog).where(AuditLog.action == "send_cancelled",
                                                           AuditLog.entity_id == str(items[0]))) is not None
    cancelled = (await client.get("/sent?status=cancelled")).text
    assert "客户经理撤回" in cancelled and "cancelled_by_manager" not in cancelled


async def test_client_search_page_and_invite(db, console) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    app.state.settings.bot_username = "rm_demo_bot"
    ids = await seed_console(db, drafts_per_manager=3)
    async with db.sessions() as session:
        c = await session.scalar(select(Client).where(Client.client_no == "M1-00001"))
        c.phone, c.telegram_chat_id, c.risk_rating = "13912345678", None, "C3"
        session.add(Holding(client_id=c.id, kind="deposit", product_code="TD1Y", amount=50000))
        await session.commit()
        client_id = c.id
        m2_client = await session.scalar(select(Client.id).where(Client.manager_id == ids["m2"]).limit(1))
    csrf = await login(client, db, ids["m1"])
    found = await client.get("/clients?q=5678", follow_redirects=False)  # the phone's last digits
    assert found.status_code == 303 and found.headers["location"] == f"/clients/{client_id}"
    page = (await client.get(f"/clients/{client_id}")).text
    assert "定期存款" in page and "C3" in page and "未绑定" in page and "发送邀请" in page and "¥50,000.00" in page
    assert "*** 5678" in page and "13912345678" not in page  # the phone masked
    invite = await client.post(f"/api/clients/{client_id}/invite", headers={"X-CSRF-Token": csrf})
    assert invite.status_code == 200 and invite.json()["link"].startswith("https://t.me/rm_demo_bot?start=")
    assert invite.json()["expires_label"].endswith("北京时间")
    assert (await client.get("/clients?q=M2-")).text.count("/clients/") == 0  # another manager's book
    assert (await client.get(f"/clients/{m2_client}")).status_code == 404  # another manager's client


async def test_settings_language_and_signatures(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=1)
    csrf = await login(client, db, ids["m1"])
    r = await client.post("/api/settings", headers={"X-CSRF-Token": csrf}, json={
        "language": "en", "signature_zh": "王敏 深圳分行", "signature_en": "Wang Min, Shenzhen branch",
        "auto_approve_reminders": True, "canned_replies": ["您好，马上为您处理。", " ", "您好，马上为您处理。"]})
    assert r.status_code == 200 and set(r.json()["changed"]) == {
        "language", "signature", "signature_en", "auto_approve_reminders", "canned_replies"}
    async with db.sessions() as session:
        m = await session.get(Manager, ids["m1"])
        assert (m.language, m.signature_en, m.canned_replies) == ("en", "Wang Min, Shenzhen branch",
                                                                  ["您好，马上为您处理。"])
    today = (await client.get("/")).text
    assert "Today" in today and "Beijing time" in today and "今日" not in today  # the English console
    bad = await client.post("/api/settings", headers={"X-CSRF-Token": csrf}, json={"language": "fr"})
    assert bad.status_code == 422


async def test_inbox_conversation_and_reply(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=2)
    csrf = await login(client, db, ids["m1"])
    inbox = (await client.get("/inbox")).text
    assert "客户1" in inbox and "待回复" in inbox
    page = (await client.get(f"/inbox/{ids['ticket_M1']}")).text
    assert "转人工" in page and 'data-live="' in page
    r = await client.post(f"/api/tickets/{ids['ticket_M1']}/reply", json={"text": "您好，我来处理"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    live = (await client.get(f"/api/tickets/{ids['ticket_M1']}/messages")).json()
    assert live["state"] == "replied" and live["state_label"] == "已回复"
    assert live["messages"][-1]["text"] == "您好，我来处理" and live["messages"][-1]["time"].endswith("北京时间")
    assert (await client.get(f"/api/tickets/{ids['ticket_M2']}/messages")).status_code == 404


async def test_pages_answer_html_errors_and_the_api_json(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=1)
    await login(client, db, ids["m1"])
    for path in ("/no/such/page", f"/campaigns/{ids['camp_M2']}", "/campaigns/abc", f"/inbox/{ids['ticket_M2']}"):
        r = await client.get(path)
        assert r.status_code in (404, 422) and r.headers["content-type"].startswith("text/html"), path
        assert "返回今日" in r.text and "{" not in r.text.split("<main>")[1], path
    api = await client.get(f"/api/campaigns/{ids['camp_M2']}")
    assert api.status_code == 404 and api.json()["code"] == "not_found"


async def test_filters_are_kept_across_pages(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=120)
    await login(client, db, ids["m1"])
    page = (await client.get(f"/campaigns/{ids['camp_M1']}?q=客户&flagged=false&status=pending")).text
    assert "第 1/3 页" in page
    [next_url] = re.findall(r'href="(\?[^"]*page=2[^"]*)"', page)
    assert "q=%E5%AE%A2%E6%88%B7" in next_url and "flagged=false" in next_url and "status=pending" in next_url


async def test_admin_only_in_admin_ids_sees_every_ticket_and_which_manager(db, console) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    ids = await seed_console(db, drafts_per_manager=1)
    async with db.sessions() as session:
        admin = Manager(code="ADM", name="管理员", telegram_id=4242)
        session.add(admin)
        await session.commit()
        admin_id = admin.id
    app.state.settings.admin_ids = [4242]  # an admin by ADMIN_IDS only (is_admin is False in the table)
    csrf = await login(client, db, admin_id)
    inbox = (await client.get("/inbox")).text
    assert "王敏" in inbox and "李强" in inbox  # each ticket says whose client it is
    r = await client.post(f"/api/tickets/{ids['ticket_M2']}/take", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    async with db.sessions() as session:
        assert (await session.get(Ticket, ids["ticket_M2"])).status == "taken"
    campaigns = (await client.get("/campaigns")).text
    assert "王敏" in campaigns and "李强" in campaigns
