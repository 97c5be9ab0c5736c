"""Item 10: the body-size limit counts bytes as they stream in. A chunked body (no Content-Length)
is cut off at the limit with 413, not read whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.db.models import Manager
from bot.web import MAX_BODY, MAX_JSON_BODY, create_web_app
from tests.customer.conftest import FakeKnowledge
from tests.security.conftest import WEBHOOK_SECRET, client_for, login, seed_console

CHUNK = 64 * 1024


class Stream:
    """A chunked request body of `total` bytes that counts how much of it was read."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total, self.prefix, self.sent = total, prefix, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b"a" * CHUNK
        if self.prefix:
            self.sent += len(self.prefix)
            yield self.prefix
        while self.sent < self.total:
            self.sent += CHUNK
            yield block


async def test_chunked_webhook_body_is_cut_off(db, webhook_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_web_app(webhook_settings, db)
    app.state.accept_update = None
    body = Stream(60 * 1024 * 1024, b'{"update_id": 1, "x": "')
    async with client_for(app) as client:
        r = await client.post("/telegram/webhook", content=body.__aiter__(),
                              headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
                                       "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert body.sent <= MAX_JSON_BODY + 2 * CHUNK  # read up to the limit, not 60 MB


async def test_chunked_upload_is_cut_off(db, settings) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).is_admin = True
        await session.commit()
    app = create_web_app(settings, db, knowledge=FakeKnowledge())
    async with client_for(app) as client:
        csrf = await login(client, db, ids["m1"])
        head = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.md\"\r\n"
                b"Content-Type: text/markdown\r\n\r\n")
        body = Stream(50 * 1024 * 1024, head)
        r = await client.post("/api/documents", content=body.__aiter__(),
                              headers={"X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413, r.text
    assert body.sent <= MAX_BODY + 2 * CHUNK
