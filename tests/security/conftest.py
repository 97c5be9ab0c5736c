"""Security tests: each drives the real app (the ASGI app over httpx, a live server, a browser or a
second process) the way an attacker or a careless operator would."""

from __future__ import annotations

import httpx
import pytest

from bot.web import create_web_app
from tests.conftest import make_settings
from tests.web.conftest import login, seed_console

__all__ = ["login", "seed_console", "client_for"]

WEBHOOK_SECRET = "a-webhook-secret-of-32-characters-or-more"


def client_for(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


@pytest.fixture
async def console(db, settings):  # type: ignore[no-untyped-def]
    app = create_web_app(settings, db)
    async with client_for(app) as client:
        yield app, client


@pytest.fixture
def webhook_settings(tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, webhook_url="https://bank.example/telegram/webhook", webhook_secret=WEBHOOK_SECRET)
