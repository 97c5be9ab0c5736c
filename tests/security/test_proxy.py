"""Item 7: the session cookie is Secure whenever the console is public over https (PUBLIC_URL),
X-Forwarded-Proto/-For are believed only from FORWARDED_ALLOW_IPS, and the shipped nginx
configuration terminates TLS and is the one trusted proxy in compose.yaml."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx
import uvicorn
import yaml

from bot.db.models import Manager
from bot.services.auth import create_login_link
from bot.web import create_web_app, web_server_config
from tests.conftest import make_settings
from tests.security.conftest import client_for, seed_console

ROOT = Path(__file__).resolve().parents[2]


async def _link(db, manager_id: int) -> str:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        token = await create_login_link(session, await session.get(Manager, manager_id))
        await session.commit()
    return token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_cookie_is_secure_when_public_url_is_https(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db)
    settings = make_settings(tmp_path, public_url="https://rm.bank.example")
    async with client_for(create_web_app(settings, db)) as client:  # plain http behind the TLS proxy
        r = await client.post(f"/login/{await _link(db, ids['m1'])}")
    assert r.status_code == 303
    assert "secure" in r.headers["set-cookie"].lower() and "httponly" in r.headers["set-cookie"].lower()


async def _served_cookie(settings, db, token: str) -> str:  # type: ignore[no-untyped-def]
    server = uvicorn.Server(web_server_config(create_web_app(settings, db), settings))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.web_port}") as client:
            r = await client.post(f"/login/{token}", headers={"X-Forwarded-Proto": "https",
                                                                "X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 303, r.text
        return r.headers["set-cookie"].lower()
    finally:
        server.should_exit = True
        await serving


async def test_forwarded_proto_is_believed_only_from_trusted_proxies(tmp_path, db) -> None:  # type: ignore[no-untyped-def]
    ids = await seed_console(db)
    trusted = make_settings(tmp_path, web_port=_free_port(), forwarded_allow_ips="127.0.0.1")
    assert "secure" in await _served_cookie(trusted, db, await _link(db, ids["m1"]))
    untrusted = make_settings(tmp_path, web_port=_free_port(), forwarded_allow_ips="10.1.2.3")
    assert "secure" not in await _served_cookie(untrusted, db, await _link(db, ids["m1"]))


def test_shipped_proxy_terminates_tls_and_is_the_trusted_one() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"listen 443 ssl;", conf) and "ssl_certificate " in conf
    assert "proxy_set_header X-Forwarded-Proto https;" in conf
    assert re.search(r"listen 80;\s*#.*\n\s*location / \{\s*return 301 https://", conf)
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    proxy_ip = compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    assert compose["x-app"]["environment"]["FORWARDED_ALLOW_IPS"] == proxy_ip
    assert "8080:80" not in compose["services"]["proxy"]["ports"]
