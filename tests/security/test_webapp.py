"""Item 6: Mini App init data opens a session only when fresh (10 minutes) and only once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from bot.db.models import Manager
from bot.web import create_web_app
from tests.conftest import make_settings
from tests.security.conftest import seed_console

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"


def signed(user_id: int, auth_date: int, query_id: str = "AAHdF6IQAAAAAN0XohDhrOrc") -> str:
    fields = {"auth_date": str(auth_date), "query_id": query_id,
              "user": json.dumps({"id": user_id, "first_name": "王敏"}, ensure_ascii=False)}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


async def test_old_zero_future_and_replayed_init_data_are_refused(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    import httpx

    settings = make_settings(tmp_path, bot_token=TOKEN)
    ids = await seed_console(db)
    async with db.sessions() as session:
        (await session.get(Manager, ids["m1"])).telegram_id = 555
        await session.commit()
    app = create_web_app(settings, db)
    now = int(time.time())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as client:
        async def login(init_data: str) -> int:
            return (await client.post("/webapp/login", json={"init_data": init_data})).status_code

        assert await login(signed(555, 0)) == 401  # auth_date=0
        assert await login(signed(555, now - 3 * 365 * 86400)) == 401  # signed years ago
        assert await login(signed(555, now - 11 * 60)) == 401  # just past the window
        assert await login(signed(555, now + 3600)) == 401  # from the future
        assert await login(signed(555, now).replace("hash=", "hash=%C3%A9")) == 401  # non-ASCII hash: not a 500
        fresh = signed(555, now)
        assert await login(fresh) == 200
        assert await login(fresh) == 401  # once
        client.cookies.clear()
        assert await login(signed(555, now, query_id="another")) == 200
