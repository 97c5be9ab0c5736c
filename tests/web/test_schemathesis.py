"""Schema-driven fuzzing of the console API (schemathesis against /api/openapi.json): whatever the
input, the API answers 2xx or 4xx, never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from sqlalchemy.pool import NullPool

from bot.db.engine import create_engine, session_factory
from bot.web import create_web_app
from bot.workspace import Database, migrate
from tests.conftest import make_settings
from tests.web.conftest import seed_console

ROOT = Path("/tmp")


def _app_and_auth(tmp: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp, bot_username="rm_demo_bot")  # invite links need the bot's name (else 503)
    migrate(settings.database_url)

    async def prepare() -> tuple[dict, str]:
        engine = create_engine(settings.database_url, poolclass=NullPool)
        db = Database(engine=engine, sessions=session_factory(engine))
        ids = await seed_console(db)
        from bot.db.models import Manager
        from bot.services.auth import create_login_link

        async with db.sessions() as session:
            token = await create_login_link(session, await session.get(Manager, ids["m1"]))
            await session.commit()
        await engine.dispose()
        return ids, token

    ids, token = asyncio.run(prepare())
    engine = create_engine(settings.database_url, poolclass=NullPool)
    app = create_web_app(settings, Database(engine=engine, sessions=session_factory(engine)))
    return app, ids, token


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    app, ids, token = _app_and_auth(tmp_path_factory.mktemp("fuzz"))
    client = TestClient(app)
    assert client.post(f"/login/{token}", follow_redirects=False).status_code == 303
    csrf = client.get("/api/me").json()["csrf"]
    yield app, client, csrf
    client.close()


def test_api_never_answers_500(fuzz_target) -> None:  # type: ignore[no-untyped-def]
    app, client, csrf = fuzz_target
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = list(schema.get_all_operations())
    assert len(operations) >= 12
    failures: list[str] = []
    for result in operations:
        _fuzz(result.ok(), client, csrf, failures)
    assert not failures, "\n".join(failures[:10])


def _fuzz(operation, client, csrf: str, failures: list[str]) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import given

    @hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case) -> None:  # type: ignore[no-untyped-def]
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers={"X-CSRF-Token": csrf})
        # the signed-in client's own session cookie is what the API reads; a raw body goes as `content`
        request = {k: v for k, v in kwargs.items() if k in (
            "method", "url", "headers", "params", "json", "content", "files", "data")}
        if isinstance(request.get("data"), str | bytes):
            request["content"] = request.pop("data")
        response = client.request(**request)
        if response.status_code >= 500:
            failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code} "
                            f"{response.text[:200]} for {kwargs.get('url')} {kwargs.get('json')}")

    run()
