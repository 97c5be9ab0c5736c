"""Errors: JSON for the API (`/api/...`, with a `code` the console's script words in the manager's
language), an HTML page in the manager's language for everything a browser opens."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.services import auth
from bot.services.placeholders import TemplateFieldError
from bot.services.review import Blocked, InvalidInput, NeedsOverride, NotFound
from bot.services.tickets import TicketError
from bot.web.deps import COOKIE, LoginRequired
from bot.web.i18n import translator


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/webapp/login", "/telegram/webhook")


async def _viewer(request: Request) -> auth.ConsoleSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    async with request.app.state.db.sessions() as session:
        return await auth.current(session, token, request.app.state.settings.admin_ids)


async def respond(request: Request, status: int, detail: str, code: str, **extra: object) -> Response:
    if is_api(request):
        return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status)
    from bot.web.pages import error_page, viewer_language

    viewer = await _viewer(request)
    _ = translator(viewer_language(viewer))
    messages = {
        "not_found": _("There is nothing at this address, or it belongs to another manager."),
        "stale": _("This changed meanwhile. Go back and reload the page."),
        "invalid": _("This address is not valid. Go back and try again."),
        "closed": _("This conversation is closed already."),
    }
    return error_page(request, viewer, status, messages.get(code, _("Something went wrong; please try again")))


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return await respond(request, 404, f"not found: {exc}", "not_found")

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> Response:
        findings = getattr(exc, "findings", None)
        if findings is not None:  # the compliance gate: which findings block or need an override
            code = ("blocked" if isinstance(exc, Blocked) else "needs_override" if isinstance(exc, NeedsOverride)
                    else "template_rejected")  # NeedsOverride: also a reason that says nothing (WeakReason)
            return await respond(request, 400, str(exc), code, findings=findings)
        return await respond(request, 400, str(exc), "stale")

    @app.exception_handler(TemplateFieldError)
    async def _template(request: Request, exc: TemplateFieldError) -> Response:
        return await respond(request, 400, exc.both(), "template", field=exc.field, allowed=list(exc.allowed),
                             template_code=exc.code)

    @app.exception_handler(TicketError)
    async def _ticket(request: Request, exc: TicketError) -> Response:
        status = {"not_found": 404, "forbidden": 404, "closed": 409}.get(exc.reason, 400)
        code = {404: "not_found", 409: "closed"}.get(status, "invalid")
        return await respond(request, status, str(exc) if status != 404 else "not found", code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()][:10]
        return await respond(request, 422, "invalid request", "invalid", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 409: "stale", 405: "invalid"}.get(exc.status_code, "error")
        if is_api(request):
            return JSONResponse({"detail": exc.detail, "code": code}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return await respond(request, exc.status_code, str(exc.detail), code)
