"""The manager's morning in headless Chromium, at desk size (1366x768) and phone size (390x844, the
Mini App case): sign in, Today, approve every clean service reminder in one action, review the
flagged drafts of the greeting campaign, approve the rest, answer an urgent ticket, find a client
by the last digits of their phone and open their page, undo one queued message. The day's
campaigns take at most 10 actions; on every page nothing scrolls sideways, the Chinese console
shows no English label or raw code, and every time carries the bank's zone ("北京时间").

Skipped where /usr/bin/chromium or Playwright is absent. With RMBOT_SCREENSHOTS_DIR set, the
screenshots of Today, a client page and the inbox at both sizes are written there (the README's).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from bot.db.engine import create_engine, session_factory
from bot.db.models import (
    AuditLog,
    Campaign,
    ChatMessage,
    Client,
    Conversation,
    Draft,
    Holding,
    Manager,
    OutboxItem,
    Product,
    Ticket,
)
from bot.services.auth import create_login_link
from bot.web import create_web_app
from bot.workspace import Database, migrate
from tests.conftest import make_settings
from tests.web.conftest import browser_sign_in, save_screenshot, wait_js

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-dev-shm-usage"]
SIZES = {"desk": (1366, 768), "phone": (390, 844)}
# Latin words a Chinese page may show: brand names, currency, file formats, the name of the other language.
ALLOWED_LATIN = {"English", "Telegram", "CNY", "Excel", "CSV", "rmbot", "console", "link", "manager", "CODE"}

pytestmark = pytest.mark.browser


async def seed_morning(db: Database, code: str, name: str, telegram_id: int) -> dict[str, int]:
    """One manager's morning: 2 reminder campaigns (clean), a greeting campaign of 40 drafts of which
    2 are flagged, an urgent ticket with a live conversation, a client with holdings."""
    tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(tz).date()
    nine = datetime.combine(today, datetime.min.time(), tz).replace(hour=9).astimezone(UTC)
    async with db.sessions() as session:
        if await session.scalar(select(Product).where(Product.code == "TD1Y")) is None:
            session.add(Product(code="TD1Y", name_zh="一年期定期存款", name_en="1-year time deposit", type="deposit"))
        manager = Manager(code=code, name=name, telegram_id=telegram_id,
                          canned_replies=["您好，我是您的客户经理，马上为您处理。", "已为您登记，稍后电话联系您。"])
        session.add(manager)
        await session.flush()
        ids = {"manager": manager.id}
        clients = []
        for i in range(40):
            c = Client(client_no=f"{code}-{i:05d}", name=f"客户{code}{i}", manager_id=manager.id,
                       phone=f"1380000{telegram_id % 100:02d}{i:02d}", telegram_chat_id=telegram_id * 1000 + i,
                       marketing_consent=True, risk_rating="C3", risk_assessed_on=today - timedelta(days=100))
            clients.append(c)
        session.add_all(clients)
        await session.flush()
        session.add(Holding(client_id=clients[7].id, kind="deposit", product_code="TD1Y", amount=Decimal("50000"),
                            maturity_date=today, account_tail="6789"))
        camps = {
            "deposit": Campaign(manager_id=manager.id, plan_date=today, kind="reminder",
                                occasion="deposit_maturity_today", title="定期存款今日到期"),
            "card": Campaign(manager_id=manager.id, plan_date=today, kind="reminder", occasion="card_expiry",
                             title="信用卡下月到期"),
            "greeting": Campaign(manager_id=manager.id, plan_date=today, kind="greeting", occasion="new_year",
                                 title="元旦祝福"),
        }
        session.add_all(camps.values())
        await session.flush()
        ids |= {f"camp_{k}": c.id for k, c in camps.items()}
        for key, camp, count in (("deposit", camps["deposit"], 6), ("card", camps["card"], 4),
                                 ("greeting", camps["greeting"], 40)):
            for i in range(count):
                c = clients[i]
                # the greeting campaign: one draft blocked (a promise of returns), one with a warning
                flags = {3: ["promise_words"], 11: ["soft_promise"]}.get(i) if key == "greeting" else None
                extra = {3: "保本稳赚的理财等您来。", 11: "高收益的理财等您来。"}.get(i, "") if flags else ""
                text = (f"{c.name}您好，您的定期存款 ¥50,000.00 今日到期。{name}" if key == "deposit" else
                        f"{c.name}您好，您尾号 {1000 + i} 的信用卡将于下月到期。{name}" if key == "card" else
                        f"{c.name}您好，新年快乐！{extra}{name}")
                context = {"salutation": c.name, "signature": name} | (
                    {"amount": "¥50,000.00"} if key == "deposit" else {})
                session.add(Draft(campaign_id=camp.id, client_id=c.id, manager_id=manager.id, plan_date=today,
                                  kind=camp.kind, occasion=camp.occasion, dedupe_key=f"{key}:{today}", language="zh",
                                  text=text, flags=flags, context=context,
                                  reasons=["deposit matures today"], scheduled_at=nine + timedelta(minutes=i)))
        conv = Conversation(chat_id=clients[7].telegram_chat_id, client_id=clients[7].id)
        session.add(conv)
        await session.flush()
        for author, text in (("customer", "我的卡好像被盗刷了"),
                             ("bot", "挂失请拨打热线。\n<b>资料来源</b>：信用卡章程"),  # as the bot stores it
                             ("customer", "转人工"), ("bot", "已为您转接客户经理。")):
            session.add(ChatMessage(conversation_id=conv.id, client_id=clients[7].id, direction="in"
                                    if author == "customer" else "out", author=author, text=text))
        ticket = Ticket(conversation_id=conv.id, client_id=clients[7].id, manager_id=manager.id,
                        chat_id=conv.chat_id, reason="fraud", summary="<b>资料来源</b> 客户: 盗刷")
        session.add(ticket)
        await session.flush()
        ids |= {"ticket": ticket.id, "client": clients[7].id, "phone_tail": int(clients[7].phone[-4:])}
        await session.commit()
    return ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(coro):  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own (Playwright's sync API owns this thread's loop)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    worker.start()
    worker.join()
    return out[0]


def _db(settings) -> Database:  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url, poolclass=NullPool)
    return Database(engine=engine, sessions=session_factory(engine))


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")
    import uvicorn

    settings = make_settings(tmp_path_factory.mktemp("morning"), bot_username="rm_demo_bot")
    migrate(settings.database_url)

    async def prepare() -> dict[str, dict[str, int]]:
        db = _db(settings)
        out = {"desk": await seed_morning(db, "W1", "王敏", 5101), "phone": await seed_morning(db, "W2", "李强", 5102)}
        await db.engine.dispose()
        return out

    ids = _run(prepare())
    db = _db(settings)
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
        db = _db(settings)
        async with db.sessions() as session:
            token = await create_login_link(session, await session.get(Manager, manager_id))
            await session.commit()
        await db.engine.dispose()
        return token

    return _run(make())


def _scalar(settings, stmt):  # type: ignore[no-untyped-def]
    async def q():  # type: ignore[no-untyped-def]
        db = _db(settings)
        async with db.sessions() as session:
            value = await session.scalar(stmt)
        await db.engine.dispose()
        return value

    return _run(q())


def check_page(page, label: str) -> None:  # type: ignore[no-untyped-def]
    """No sideways scroll; no English word or raw code in the Chinese page; every time labelled."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{label}: {width} px wide in a {viewport} px window"
    text = page.inner_text("body")
    latin = {w for w in re.findall(r"[A-Za-z_][A-Za-z_]{2,}", text) if w not in ALLOWED_LATIN}
    assert not latin, f"{label}: English or raw codes in the Chinese console: {sorted(latin)}"
    assert "<b>" not in text, f"{label}: literal markup shown"
    for m in re.finditer(r"\d{1,2}:\d{2}", text):
        after = text[m.end():m.end() + 6]
        context = text[m.start() - 20:m.end() + 10]
        assert after.startswith(" 北京时间"), f"{label}: time {m.group()} without the zone: …{context}"


def _morning(page, base: str, settings, ids: dict[str, int], size: str, shots: Path | None) -> int:  # type: ignore[no-untyped-def]
    actions = 0

    def act(do) -> None:  # type: ignore[no-untyped-def]
        nonlocal actions
        actions += 1
        do()

    browser_sign_in(page, base, _link(settings, ids["manager"]))
    page.wait_for_selector("#totals")
    check_page(page, f"{size} today")
    assert "北京时间" in page.inner_text("h1")
    if shots:
        save_screenshot(page, shots / f"today-{size}.png")
    # 1-2: every clean service reminder in one action (with the in-page confirmation)
    act(lambda: page.click("#approve-reminders-ask"))
    assert "10" in page.inner_text("#confirm-reminders")
    act(lambda: page.click("#approve-reminders"))
    wait_js(page, "!document.querySelector('#approve-reminders-ask')", 10_000)
    # 3: the greeting campaign's flagged drafts, first
    act(lambda: page.click(f"#review-flagged-{ids['camp_greeting']}"))
    page.wait_for_selector("[id^=draft-]")
    check_page(page, f"{size} flagged drafts")
    cards = page.locator(".card.flagged[id^=draft-]")
    assert cards.count() == 2
    blocked = page.locator(".card.flagged[id^=draft-]", has_text="含承诺收益用语")
    warned = page.locator(".card.flagged[id^=draft-]", has_text="高收益")
    assert blocked.locator("button.approve").count() == 0  # the compliance gate: never approvable
    blocked_id = blocked.get_attribute("id").split("-")[1]
    warned_id = warned.get_attribute("id").split("-")[1]
    # 4-5: approve the draft with a warning, with a one-tap reason (kept in the audit log)
    act(lambda: warned.locator("button.approve").click())
    act(lambda: warned.locator(".quick-override").first.click())
    page.wait_for_selector(f"#draft-{warned_id}.done")
    # 6-7: reject the blocked one, with a one-tap reason, in the page (no browser dialog)
    act(lambda: blocked.locator("button.reject").click())
    act(lambda: blocked.locator(".quick-reject").first.click())
    page.wait_for_selector(f"#draft-{blocked_id}.done")
    # 8-9: approve the rest of the campaign
    page.goto(f"{base}/campaigns/{ids['camp_greeting']}")
    act(lambda: page.click("#approve-all-ask"))
    assert "38" in page.inner_text("#confirm-approve")  # 40 less the two reviewed
    act(lambda: page.click("#approve-all"))
    page.wait_for_load_state("networkidle")
    wait_js(page, "document.querySelector('#approve-all-ask').disabled", 10_000)
    check_page(page, f"{size} campaign")
    day_actions = actions

    # an urgent ticket: one tap from Today into the conversation, reply
    page.goto(base + "/")
    page.click(f"#reply-ticket-{ids['ticket']}")
    page.wait_for_selector("#chat")
    check_page(page, f"{size} conversation")
    page.click("[data-action=canned]")  # a quick reply the manager keeps fills the box
    assert "马上为您处理" in page.input_value(f"#reply-{ids['ticket']}")
    page.fill(f"#reply-{ids['ticket']}", "您好，已为您冻结卡片，稍后给您回电。")
    page.click("#send-reply")
    wait_js(page, "document.querySelector('#chat').innerText.includes('已为您冻结卡片')", 20_000)
    assert "已回复" in page.inner_text(f"[data-ticket-state='{ids['ticket']}']")
    if shots:
        save_screenshot(page, shots / f"conversation-{size}.png")
    page.goto(f"{base}/inbox")
    check_page(page, f"{size} inbox")
    assert "定期存款" in page.inner_text("main")  # the holdings line
    if shots:
        save_screenshot(page, shots / f"inbox-{size}.png")

    # a client, found by the last digits of the phone
    page.goto(f"{base}/clients")
    page.fill("#client-search", f"{ids['phone_tail']:04d}")
    page.press("#client-search", "Enter")
    page.wait_for_selector("dl.facts")
    check_page(page, f"{size} client page")
    body = page.inner_text("main")
    assert "一年期定期存款" in body and "C3" in body and "已同意" in body and "已绑定" in body
    if shots:
        save_screenshot(page, shots / f"client-{size}.png")

    # undo one queued message
    page.goto(f"{base}/sent?status=queued")
    check_page(page, f"{size} queued messages")
    card = page.locator("[id^=msg-]").first
    msg_id = int(card.get_attribute("id").split("-")[1])
    card.locator("[data-action=ask]").click()
    card.locator("[data-action=cancel-message]").click()
    page.wait_for_selector(f"#msg-{msg_id}.done")
    assert _scalar(settings, select(OutboxItem.status).where(OutboxItem.id == msg_id)) == "cancelled"
    for path in ("/campaigns", "/sent?status=sent", "/settings", "/reports", "/no/such/page"):
        page.goto(base + path)
        check_page(page, f"{size} {path}")
    return day_actions


@pytest.mark.parametrize("size", ["desk", "phone"])
def test_the_morning_in_a_browser(served, size: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, settings, all_ids = served
    ids = all_ids[size]
    target = os.environ.get("RMBOT_SCREENSHOTS_DIR")
    shots = Path(target) if target else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1,
                                is_mobile=size == "phone")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        actions = _morning(page, base, settings, ids, size, shots)
        browser.close()
    assert dialogs == []  # no confirm() / prompt(): in-app webviews may block them
    assert actions <= 10, actions
    manager = ids["manager"]
    pending = _scalar(settings, select(func.count()).select_from(Draft).where(Draft.manager_id == manager,
                                                                               Draft.status == "pending"))
    assert pending == 0  # the day's campaigns are done
    rejected = _scalar(settings, select(func.count()).select_from(Draft).where(Draft.manager_id == manager,
                                                                                Draft.status == "rejected"))
    assert rejected == 1
    overrides = _scalar(settings, select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "override", AuditLog.manager_id == manager))
    assert overrides == 1  # the warned draft went out on the manager's recorded reason
    replies = _scalar(settings, select(func.count()).select_from(ChatMessage).where(
        ChatMessage.client_id == ids["client"], ChatMessage.author == "manager"))
    assert replies == 1
    print(f"\n{size}: the day's campaigns took {actions} actions")  # noqa: T201
