"""The console: sign-in, the review flow through the API, and no manager ever sees another's work."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.db.models import Draft, OutboxItem
from tests.web.conftest import login, seed_console


async def test_login_link_is_single_use_and_pages_need_it(db, console) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    ids = await seed_console(db)
    assert (await client.get("/")).status_code == 303  # to /login
    assert (await client.get("/api/campaigns")).status_code == 401
    from bot.db.models import Manager
    from bot.services.auth import create_login_link

    async with db.sessions() as session:
        token = await create_login_link(session, await session.get(Manager, ids["m1"]))
        await session.commit()
    assert (await client.get(f"/login/{token}")).status_code == 200  # a page with a Sign in button
    assert (await client.post(f"/login/{token}")).status_code == 303
    client.cookies.clear()
    again = await client.post(f"/login/{token}")
    assert again.status_code == 401 and "已过期" in again.text  # the sign-in page in the default language
    assert (await client.get("/api/campaigns")).status_code == 401


async def test_review_flow_through_the_api(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db, drafts_per_manager=5)
    csrf = await login(client, db, ids["m1"])
    camps = (await client.get("/api/campaigns")).json()
    assert [c["id"] for c in camps] == [ids["camp_M1"]]
    page = (await client.get(f"/api/campaigns/{ids['camp_M1']}/drafts")).json()
    first = page["items"][0]["id"]
    assert (await client.post(f"/api/drafts/{first}/edit", json={"text": "改过的祝福"})).status_code == 403  # no CSRF
    r = await client.post(f"/api/drafts/{first}/edit", json={"text": "改过的祝福"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    r = await client.post(f"/api/campaigns/{ids['camp_M1']}/approve-all", json={"expected": 5},
                          headers={"X-CSRF-Token": csrf})
    assert r.json()["count"] == 5
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxItem)) == 5
        text = await session.scalar(select(OutboxItem.text).where(OutboxItem.draft_id == first))
    assert text == "改过的祝福"
    html = (await client.get(f"/campaigns/{ids['camp_M1']}")).text
    assert "改过的祝福" in html and "queued" in html


async def test_pages_render(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    await login(client, db, ids["m1"])
    for path in ("/", f"/campaigns/{ids['camp_M1']}", "/inbox", "/sent", "/reports"):
        r = await client.get(path)
        assert r.status_code == 200, path
    assert "<svg" in (await client.get("/reports")).text
    csv = await client.get("/reports/export.csv?table=daily")
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("date,planned,approved,sent")
    assert (await client.get("/reports/export.xlsx")).content[:2] == b"PK"


def _all_routes(routes, prefix: str = ""):  # type: ignore[no-untyped-def]
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # an included router
            yield from _all_routes(inner.routes)
        else:
            yield route


def _id_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = []
    for route in _all_routes(app.routes):
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", set()) or set():
            if re.search(r"\{(campaign_id|draft_id|ticket_id)\}", path) and method in ("GET", "POST"):
                out.append((method, path))
    return out


async def test_another_managers_work_is_never_shown(db, console) -> None:  # type: ignore[no-untyped-def]
    app, client = console
    ids = await seed_console(db)
    csrf = await login(client, db, ids["m1"])
    routes = _id_routes(app)
    assert len(routes) >= 10, routes
    other = {"campaign_id": ids["camp_M2"], "draft_id": ids["draft_M2"], "ticket_id": ids["ticket_M2"]}
    bodies = {"text": "x", "reason": "x", "template": "x", "expected": 4}
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: str(other[m.group(1)]), path)
        r = await client.request(method, url, json=bodies if method == "POST" else None,
                                 headers={"X-CSRF-Token": csrf})
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text[:200])
        assert "李强" not in r.text and "M2-" not in r.text
    async with db.sessions() as session:  # and nothing of M2's changed
        statuses = set((await session.scalars(select(Draft.status).where(Draft.manager_id == ids["m2"]))).all())
    assert statuses == {"pending"}
    async with db.sessions() as session:  # a message in each manager's outbox
        from bot.db.models import Client
        from bot.services import outbox

        for manager_id in (ids["m1"], ids["m2"]):
            client_row = await session.scalar(select(Client).where(Client.manager_id == manager_id).limit(1))
            await outbox.enqueue_text(session, chat_id=client_row.telegram_chat_id or 1, text="t",
                                      key=f"seen:{manager_id}", kind="reminder", client_id=client_row.id,
                                      manager_id=manager_id)
        await session.commit()
    sent = (await client.get("/api/sent")).json()
    assert [i["client_no"][:2] for i in sent["items"]] == ["M1"]  # M1's own message; never M2's
    page = (await client.get("/sent?status=queued")).text  # the page reads the same query
    assert sent["items"][0]["client_no"] in page and "M2-" not in page


async def test_malformed_input_is_4xx(db, console) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    ids = await seed_console(db)
    csrf = await login(client, db, ids["m1"])
    h = {"X-CSRF-Token": csrf}
    cases = [
        ("POST", f"/api/campaigns/{ids['camp_M1']}/approve-all", {"expected": "many"}),
        ("POST", f"/api/campaigns/{ids['camp_M1']}/approve-all", {}),
        ("POST", f"/api/drafts/{ids['draft_M1']}/edit", {"text": ""}),
        ("POST", f"/api/drafts/{ids['draft_M1']}/edit", {"text": "x" * 5000}),
        ("POST", "/api/drafts/99999999999999999999/approve", None),
        ("GET", "/api/campaigns?date=not-a-date", None),
        ("GET", "/api/campaigns/0/drafts", None),
        ("GET", f"/api/campaigns/{ids['camp_M1']}/drafts?limit=100000", None),
        ("POST", "/api/drafts/123456/approve", None),
    ]
    for method, url, body in cases:
        r = await client.request(method, url, json=body, headers=h)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
    huge = await client.post(f"/api/drafts/{ids['draft_M1']}/edit", content=b"{" + b" " * 300_000 + b"}",
                             headers={**h, "Content-Type": "application/json"})
    assert huge.status_code == 413


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/openapi.json"])
async def test_ops_endpoints(console, path: str) -> None:  # type: ignore[no-untyped-def]
    _, client = console
    r = await client.get(path)
    assert r.status_code == 200, r.text


def _signed_init_data(token: str, user_id: int) -> str:
    """Init data as Telegram signs it for a Mini App (HMAC-SHA256 with a key derived from the token)."""
    import hashlib
    import hmac
    import json
    import time
    from urllib.parse import urlencode

    fields = {"auth_date": str(int(time.time())), "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps({"id": user_id, "first_name": "王敏", "language_code": "zh"}, ensure_ascii=False)}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


async def test_mini_app_login_checks_the_signature(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from bot.db.models import Manager
    from bot.web import create_web_app
    from tests.conftest import make_settings

    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"
    settings = make_settings(tmp_path, bot_token=token)
    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = 555
        await session.commit()
    app = create_web_app(settings, db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as client:
        forged = _signed_init_data("999:OTHERtoken", 555)
        assert (await client.post("/webapp/login", json={"init_data": forged})).status_code == 401
        stranger = _signed_init_data(token, 556)
        assert (await client.post("/webapp/login", json={"init_data": stranger})).status_code == 403
        good = await client.post("/webapp/login", json={"init_data": _signed_init_data(token, 555)})
        assert good.status_code == 200, good.text
        me = await client.get("/api/me")
        assert me.status_code == 200 and me.json()["id"] == ids["m1"]


async def test_admin_uploads_and_removes_a_document(db, settings) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from bot.db.models import Manager
    from bot.services.documents import SqlDocumentRegistry
    from bot.web import create_web_app
    from knowledge import build_knowledge_service

    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).is_admin = True
        await session.commit()
    knowledge = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions), embedding="hash")
    app = create_web_app(settings, db, knowledge=knowledge)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        csrf = await login(client, db, ids["m1"])
        h = {"X-CSRF-Token": csrf}
        doc = "# 年费\n\n金卡年费200元，刷卡满6次免次年年费。".encode()
        r = await client.post("/api/documents", files={"file": ("fee.md", doc, "text/markdown")}, headers=h)
        assert r.status_code == 200 and r.json()["loaded"] == ["fee.md"], r.text
        bad = await client.post("/api/documents", files={"file": ("x.exe", b"MZ", "application/octet-stream")},
                                headers=h)
        assert bad.status_code == 200 and bad.json()["failed"][0]["file"] == "x.exe"
        assert [d["name"] for d in (await client.get("/api/documents")).json()] == ["fee.md"]
        assert (await client.delete("/api/documents/fee.md", headers=h)).status_code == 200
        assert (await client.delete("/api/documents/fee.md", headers=h)).status_code == 404
