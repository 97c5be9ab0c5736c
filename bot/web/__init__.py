"""The web console: one FastAPI app for the console pages, their JSON API, the Telegram webhook,
health, readiness and metrics. `create_web_app` is called by `bot.app.run` (and by tests)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import metrics
from bot.health import readiness
from bot.services import auth
from bot.settings import Settings
from bot.web import api, curated, errors, pages
from bot.web.deps import set_session_cookie
from bot.web.headers import SecurityHeaders
from bot.web.throttle import SignInThrottle
from bot.workspace import Database

if TYPE_CHECKING:
    import uvicorn
    from aiogram import Bot, Dispatcher

    from bot.services.documents import DocumentLibrary

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # a knowledge file upload (20 MB) with room for the form
MAX_JSON_BODY = 256 * 1024


class BodyLimit:
    """413 for a request body over the limit: at once when `Content-Length` says so, else as the
    bytes stream in (a chunked body has no length; it is counted, never read whole). Plain ASGI:
    Starlette's `@app.middleware("http")` costs a task group per request, and every Telegram
    update comes through here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_BODY if scope["path"] == "/api/documents" else MAX_JSON_BODY
        length = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > limit):
            response = JSONResponse({"detail": _too_large(limit)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # FastAPI passes an HTTPException from the body read through
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)


def web_server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for the console: the client's address and scheme come from
    X-Forwarded-For / X-Forwarded-Proto only when the proxy sending them is one of
    FORWARDED_ALLOW_IPS (the TLS-terminating proxy; see deploy/nginx.conf)."""
    import uvicorn

    return uvicorn.Config(app, host=settings.web_host, port=settings.web_port, log_config=None, lifespan="on",
                          proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                          server_header=False)


def _too_large(limit: int) -> str:
    return f"request body over {limit // 1024} KB"


def _add_webhook(app: FastAPI, settings: Settings, bot: Bot | None, dispatcher: Dispatcher | None) -> None:
    from bot.webhook import SECRET_HEADER, BadUpdate, parse_update, secret_matches

    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:  # settings refuse this already; never serve an open webhook
        raise RuntimeError("webhook mode needs WEBHOOK_SECRET")
    header = SECRET_HEADER.encode("ascii")

    @app.post("/telegram/webhook", include_in_schema=False)
    async def webhook(request: Request) -> Response:
        given = next((v for k, v in request.scope["headers"] if k == header), None)
        if not secret_matches(given, secret):
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        try:
            update = parse_update(await request.body())
        except BadUpdate as exc:
            log.warning("webhook: refused a malformed update: %s", exc)
            return JSONResponse({"detail": f"bad update: {exc}"}, status_code=400)
        if app.state.accept_update is not None:
            await app.state.accept_update(update)
        elif dispatcher is not None and bot is not None:
            await dispatcher.feed_webhook_update(bot, update)
        else:
            return JSONResponse({"detail": "no bot in this process"}, status_code=503)
        return JSONResponse({})


class WebAppLogin(BaseModel):
    init_data: str = Field(min_length=1, max_length=8192)


def create_web_app(
    settings: Settings, db: Database, *, bot: Bot | None = None, dispatcher: Dispatcher | None = None,
    knowledge: DocumentLibrary | None = None,
) -> FastAPI:
    # No Swagger UI: it loads script from a CDN into the console's origin; the schema stays.
    app = FastAPI(title="RM Assistant console", version="1", openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None)
    app.state.settings, app.state.db, app.state.bot = settings, db, bot
    app.state.dispatcher, app.state.knowledge = dispatcher, knowledge
    app.state.accept_update = None  # set by bot.app.run to the durable inbox in webhook mode
    app.state.health = None  # set by bot.app.run: parts waiting out a database error
    app.state.sign_in_throttle = SignInThrottle()

    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: error pages get the headers too

    errors.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ready, parts = await readiness(settings, db.engine, bot, health=app.state.health)
        return JSONResponse({"ready": ready, "checks": parts}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    if settings.webhook_url:  # webhook mode only: in polling mode nobody may push updates
        _add_webhook(app, settings, bot, dispatcher)

    @app.post("/webapp/login", include_in_schema=False)
    async def webapp_login(request: Request, body: WebAppLogin) -> Response:
        """Telegram Mini App: init data signed with the bot token, fresh (10 minutes) and used once."""
        if not settings.token:
            return JSONResponse({"detail": "no bot token configured"}, status_code=503)
        throttle: SignInThrottle = app.state.sign_in_throttle
        who = throttle.key(request)
        if throttle.blocked(who):
            return JSONResponse({"detail": "too many failed sign-in attempts; wait 10 minutes"}, status_code=429)
        async with db.sessions() as session:
            try:
                token, _ = await auth.login_webapp(session, settings.token, body.init_data)
            except auth.AuthError as exc:
                throttle.failed(who)
                status = 401 if isinstance(exc, auth.InitDataRejected) else 403
                return JSONResponse({"detail": str(exc)}, status_code=status)
            await session.commit()
        response = JSONResponse({"ok": True})
        set_session_cookie(request, response, token, samesite="none")
        return response

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(curated.router)  # approved answers (标准话术)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    return app
