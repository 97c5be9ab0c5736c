"""`/readyz` follows PostgreSQL and Redis going away and coming back, without a restart. The
outage is made with a TCP relay in front of the real servers (stopping the relay is, for the
application, the server stopping)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest

from bot.web import create_web_app
from bot.workspace import open_database
from tests.conftest import make_settings


class Relay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict]:
    r = await client.get("/readyz")
    return r.status_code, r.json()["checks"]


@pytest.mark.postgres
async def test_readyz_follows_postgres_and_redis(pg_url: str, redis_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pg_relay, redis_relay = Relay(5432), Relay(6379)
    await pg_relay.start()
    await redis_relay.start()
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{pg_relay.port}")
    settings = make_settings(tmp_path, database_url=url, redis_url=f"redis://127.0.0.1:{redis_relay.port}/0")
    async with open_database(settings) as db:
        app = create_web_app(settings, db)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await _ready(client))[0] == 200

            await pg_relay.stop()
            status, checks = await _ready(client)
            assert status == 503 and checks["database"].startswith("error"), checks
            await pg_relay.start()
            status, checks = await _ready(client)
            assert status == 200, checks

            await redis_relay.stop()
            status, checks = await _ready(client)
            assert status == 503 and checks["redis"].startswith("error"), checks
            await redis_relay.start()
            assert (await _ready(client))[0] == 200
    await pg_relay.stop()
    await redis_relay.stop()
