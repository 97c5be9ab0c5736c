"""Server-rendered console pages (Jinja2). They read through the same services as the API; the
few changes they make (approve, edit, reject, reply) go through the API from a little JavaScript."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from bot.db.models import Client, KnowledgeDocument, Manager, OutboxItem
from bot.services import auth, review, tickets
from bot.services.reports import admin_overview, bot_quality, manager_report, report_tables, to_csv, to_xlsx
from bot.web import charts
from bot.web.api import period_of
from bot.web.deps import COOKIE, PageViewer, Session, csrf_matches, reviewer, set_session_cookie

templates = Jinja2Templates(directory=str(FsPath(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**53)]


TOO_MANY = "too many failed sign-in attempts from this address; wait 10 minutes / 登录失败次数过多，请 10 分钟后再试"


def page(request: Request, name: str, viewer: auth.ConsoleSession | None, *, status_code: int = 200,
         **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"viewer": viewer, **values}, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
async def login_help(request: Request) -> HTMLResponse:
    return page(request, "login.html", None, error=None)


@router.get("/login/{token}", response_class=HTMLResponse)
async def login_confirm(request: Request, token: str) -> HTMLResponse:
    """Only shows a Sign in button: a link preview or a mail scanner opening the link must not
    spend it (the POST below does)."""
    return page(request, "login.html", None, error=None, confirm=token[:100])


@router.post("/login/{token}")
async def login(request: Request, token: str, session: Session) -> Response:
    throttle = request.app.state.sign_in_throttle
    who = throttle.key(request)
    if throttle.blocked(who):
        return page(request, "login.html", None, error=TOO_MANY, status_code=429)
    try:
        session_token, _ = await auth.redeem_link(session, token[:100])
    except auth.AuthError as exc:
        await session.rollback()
        throttle.failed(who)
        return page(request, "login.html", None, error=str(exc), status_code=401)
    await session.commit()
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, session_token)
    return response


@router.post("/logout")
async def logout(request: Request, session: Session) -> Response:
    token = request.cookies.get(COOKIE)
    viewer = await auth.current(session, token) if token else None
    if viewer is not None:
        form = await request.form()
        if not csrf_matches(str(form.get("csrf", "")), viewer.csrf):
            return Response("missing or wrong CSRF token", status_code=403)
        await auth.logout(session, token or "")
        await session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def campaigns(request: Request, viewer: PageViewer, session: Session,
                    day: date | None = Query(None, alias="date")) -> HTMLResponse:
    day = day or datetime.now(request.app.state.settings.tz).date()
    rows = await review.list_campaigns(session, reviewer(viewer), day)
    return page(request, "campaigns.html", viewer, campaigns=rows, day=day)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign(request: Request, campaign_id: Id, viewer: PageViewer, session: Session,
                   q: str = Query("", max_length=100), kind: str | None = Query(None, max_length=16),
                   flagged: bool | None = None, status: str | None = Query(None, max_length=16),
                   offset: int = Query(0, ge=0, le=10_000_000)) -> HTMLResponse:
    me = reviewer(viewer)
    camp = await review.open_campaign(session, me, campaign_id)
    await session.commit()
    [summary] = [c for c in await review.list_campaigns(session, me, camp.plan_date) if c["id"] == camp.id]
    listing = await review.list_drafts(session, me, campaign_id, q=q, kind=kind, flagged=flagged, status=status,
                                       offset=offset, limit=50)
    template_text = camp.template_override or _template_source(camp.template_id)
    return page(request, "campaign.html", viewer, camp=camp, summary=summary, listing=listing, q=q, kind=kind,
                flagged=flagged, status=status, template_text=template_text)


def _template_source(template_id: str | None) -> str:
    if not template_id:
        return ""
    try:
        from bot.services.placeholders import from_jinja
        from prompts import load_prompt

        return from_jinja(load_prompt(template_id).text)
    except (OSError, ValueError):
        return ""


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, viewer: PageViewer, session: Session) -> HTMLResponse:
    rows = await tickets.open_tickets(session, viewer.manager)
    names = dict((await session.execute(select(Client.id, Client.client_no).where(
        Client.id.in_([t.client_id for t in rows if t.client_id])))).all()) if rows else {}
    return page(request, "inbox.html", viewer, tickets=rows, names=names)


@router.get("/sent", response_class=HTMLResponse)
async def sent(request: Request, viewer: PageViewer, session: Session,
               offset: int = Query(0, ge=0, le=10_000_000)) -> HTMLResponse:
    stmt = select(OutboxItem, Client.client_no).join(Client, Client.id == OutboxItem.client_id, isouter=True)
    if not viewer.is_admin:
        stmt = stmt.where(OutboxItem.manager_id == viewer.manager.id)
    rows = (await session.execute(stmt.order_by(OutboxItem.id.desc()).offset(offset).limit(100))).all()
    return page(request, "sent.html", viewer, rows=rows, offset=offset)


@router.get("/reports", response_class=HTMLResponse)
async def reports(request: Request, viewer: PageViewer, session: Session,
                  start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                  ) -> HTMLResponse:
    period = period_of(request, start, end)
    report = await manager_report(session, viewer.manager.id, period)
    quality = await bot_quality(session, period, manager_id=viewer.manager.id)
    overview = await admin_overview(session, period) if viewer.is_admin else None
    daily = report["daily"]
    chart_daily = charts.bars([(d["date"][5:], d["sent"]) for d in daily], title="sent per day")
    chart_planned = charts.bars([(d["date"][5:], d["planned"]) for d in daily], title="planned per day",
                                color="#8a63d2")
    chart_funnel = charts.funnel([(k, v) for k, v in report["funnel"].items()])
    chart_outcomes = charts.bars(list(report["conversations"]["outcomes"].items()), title="answer outcomes",
                                 color="#e07b00")
    return page(request, "reports.html", viewer, report=report, quality=quality, overview=overview,
                period=period, chart_daily=chart_daily, chart_planned=chart_planned, chart_funnel=chart_funnel,
                chart_outcomes=chart_outcomes, tables=list(report_tables(report)))


@router.get("/reports/export.csv")
async def export_csv(request: Request, viewer: PageViewer, session: Session,
                     table: str = Query("summary", max_length=40),
                     start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                     ) -> Response:
    report = await manager_report(session, viewer.manager.id, period_of(request, start, end))
    tables = report_tables(report)
    if table not in tables:
        return Response(f"unknown table {table!r}; one of {', '.join(tables)}", status_code=404)
    headers, rows = tables[table]
    name = f"rmbot-{viewer.manager.code}-{table}-{report['period']['from']}-{report['period']['to']}.csv"
    return Response(to_csv(headers, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/export.xlsx")
async def export_xlsx(request: Request, viewer: PageViewer, session: Session,
                      start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                      ) -> Response:
    report = await manager_report(session, viewer.manager.id, period_of(request, start, end))
    name = f"rmbot-{viewer.manager.code}-{report['period']['from']}-{report['period']['to']}.xlsx"
    return Response(to_xlsx(report_tables(report)),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/admin/documents", response_class=HTMLResponse)
async def admin_documents(request: Request, viewer: PageViewer, session: Session) -> Response:
    if not viewer.is_admin:
        return Response("admins only", status_code=403)
    docs = (await session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.name))).all()
    managers = (await session.scalars(select(Manager).order_by(Manager.code))).all()
    return page(request, "documents.html", viewer, docs=docs, managers=managers,
                can_upload=request.app.state.knowledge is not None)

