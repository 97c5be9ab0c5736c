"""Item 2 and two Low items: the webhook exists only in webhook mode, needs the secret (constant
time, any header bytes), and refuses what is not a Telegram update with 400 and one log line."""

from __future__ import annotations

import logging

import pytest

from bot.settings import SettingsError, load_settings
from bot.web import create_web_app
from tests.security.conftest import WEBHOOK_SECRET, client_for

UPDATE = {"update_id": 7, "message": {"message_id": 1, "date": 1700000000, "chat": {"id": 1, "type": "private"},
                                      "from": {"id": 1, "is_bot": False, "first_name": "x"}, "text": "/console"}}


class _Recorder:
    def __init__(self) -> None:
        self.updates: list[dict] = []

    async def __call__(self, update: dict) -> None:
        self.updates.append(update)


async def test_no_webhook_route_in_polling_mode(db, settings) -> None:  # type: ignore[no-untyped-def]
    app = create_web_app(settings, db, bot=object(), dispatcher=object())
    recorder = app.state.accept_update = _Recorder()
    async with client_for(app) as client:
        r = await client.post("/telegram/webhook", json=UPDATE)
    assert r.status_code in (404, 405)
    assert recorder.updates == []


def test_webhook_mode_refuses_to_start_without_a_strong_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(data_dir=tmp_path, webhook_url="https://bank.example/telegram/webhook")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(data_dir=tmp_path, webhook_url="https://bank.example/telegram/webhook", webhook_secret="abc")


async def test_webhook_needs_the_secret(db, webhook_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_web_app(webhook_settings, db)
    recorder = app.state.accept_update = _Recorder()
    header = "X-Telegram-Bot-Api-Secret-Token"
    async with client_for(app) as client:
        assert (await client.post("/telegram/webhook", json=UPDATE)).status_code == 403
        assert (await client.post("/telegram/webhook", json=UPDATE, headers={header: "wrong"})).status_code == 403
        r = await client.post("/telegram/webhook", json=UPDATE, headers={header: WEBHOOK_SECRET})
        assert r.status_code == 200
    assert recorder.updates == [UPDATE]


async def test_non_ascii_secret_header_is_403(db, webhook_settings) -> None:  # type: ignore[no-untyped-def]
    """Low: a non-ASCII secret header gave 500."""
    app = create_web_app(webhook_settings, db)
    app.state.accept_update = _Recorder()
    async with client_for(app) as client:
        r = await client.post("/telegram/webhook", json=UPDATE,
                              headers=[(b"X-Telegram-Bot-Api-Secret-Token", "密钥é".encode())])
    assert r.status_code == 403


@pytest.mark.parametrize("body", [b"not json{", b"[1,2]", b'{"message": {}}', b'{"update_id": "7"}', b"\xff\xfe",
                                  b'{"update_id": 1, "message": "hello"}'])
async def test_malformed_update_is_400_with_one_log_line(db, webhook_settings, caplog, body) -> None:  # type: ignore[no-untyped-def]
    """Low: malformed or wrongly shaped webhook JSON gave 500 and a traceback."""
    app = create_web_app(webhook_settings, db)
    recorder = app.state.accept_update = _Recorder()
    caplog.set_level(logging.WARNING)
    async with client_for(app) as client:
        r = await client.post("/telegram/webhook", content=body,
                              headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
                                       "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert recorder.updates == []
    records = [rec for rec in caplog.records if "webhook" in rec.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None
