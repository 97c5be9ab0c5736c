"""Server-rendered console pages (Jinja2), in the manager's language, every time in the bank's zone
(labelled). They read through the same services as the API; the changes they make go through the
API from `static/console.js` (no inline script)."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from bot import labels
from bot.db.models import Client, KnowledgeDocument, Manager
from bot.services import auth, client_view, review, today
from bot.services.formats import fmt_amount, plain_text
from bot.services.reports import admin_overview, bot_quality, manager_report, report_tables, to_csv, to_xlsx
from bot.web import charts
from bot.web.api import period_of
from bot.web.deps import COOKIE, PageViewer, Session, csrf_matches, reviewer, set_session_cookie
from bot.web.i18n import translator

templates = Jinja2Templates(directory=str(FsPath(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**53)]
PAGE_SIZE = 50
SENT_STATUSES = ("queued", "sent", "failed", "cancelled")
# One-tap reasons (a written one is always possible): the common cases of a morning's review.
QUICK_REJECT = ("Wording not suitable for this client", "Contacted the client another way", "Not needed now")
QUICK_OVERRIDE = ("Checked: the wording is compliant", "The client asked for this")


def viewer_language(viewer: auth.ConsoleSession | None) -> str:
    return viewer.manager.language if viewer is not None and viewer.manager.language in ("zh", "en") else "zh"


def helpers(request: Request, lang: str) -> dict[str, Any]:
    """What every template uses: `_`, labels of codes, times in the bank's zone with its label."""
    tz = request.app.state.settings.tz

    def day_label(value: date | str | None) -> str:
        return labels.local_date(date.fromisoformat(value) if isinstance(value, str) else value, lang)

    return {
        "_": translator(lang), "lang": lang, "zone": labels.zone_label(tz, lang),
        "lt": lambda when, fmt="%m-%d %H:%M": labels.local_time(when, tz, lang, fmt=fmt),
        "day_label": day_label,
        "label": lambda table, code: labels.label(table, code, lang),
        "labels": lambda table, codes: labels.labels(table, codes, lang),
        "error_label": lambda error: labels.error_label(error, lang),
        "ctitle": lambda occasion, stored: labels.campaign_title(occasion, stored, lang),
        "plain": plain_text, "money": fmt_amount,
        "reason": lambda d: labels.reason_line(d["occasion"], d.get("context"), d.get("reasons"), lang),
    }


def page(request: Request, name: str, viewer: auth.ConsoleSession | None, status_code: int = 200,
         **values: Any) -> HTMLResponse:
    lang = viewer_language(viewer)
    return templates.TemplateResponse(request, name, {"viewer": viewer, "page_name": name.removesuffix(".html"),
                                                      **helpers(request, lang), **values}, status_code=status_code)


def error_page(request: Request, viewer: auth.ConsoleSession | None, status: int, message: str) -> HTMLResponse:
    _ = translator(viewer_language(viewer))
    titles = {403: _("Not allowed"), 404: _("Not found"), 409: _("Already done"), 422: _("Invalid address")}
    return page(request, "error.html", viewer, status_code=status, title=titles.get(status, _("Something went wrong")),
                message=message)


def _bank_today(request: Request) -> date:
    return datetime.now(request.app.state.settings.tz).date()


def _pager(request: Request, total: int, page_no: int) -> tuple[int, str | None, str | None]:
    """Page count and the previous / next links, every filter of the current address kept."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    params = dict(request.query_params)

    def link(n: int) -> str:
        return "?" + urlencode({**params, "page": n})

    return pages, link(page_no - 1) if page_no > 1 else None, link(page_no + 1) if page_no < pages else None


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
        return page(request, "login.html", None, error="throttled", status_code=429)
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
async def today_page(request: Request, viewer: PageViewer, session: Session) -> HTMLResponse:
    day = _bank_today(request)
    morning = await today.morning(session, viewer.manager, day, admin=viewer.is_admin)
    return page(request, "today.html", viewer, morning=morning)


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns(request: Request, viewer: PageViewer, session: Session,
                    day: date | None = Query(None, alias="date")) -> HTMLResponse:
    day = day or _bank_today(request)
    rows = await review.list_campaigns(session, reviewer(viewer), day)
    if viewer.is_admin:
        names = dict((await session.execute(select(Manager.id, Manager.name))).all())
        for c in rows:
            c["manager_name"] = names.get(c["manager_id"])
    return page(request, "campaigns.html", viewer, campaigns=rows, day=day)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign(request: Request, campaign_id: Id, viewer: PageViewer, session: Session,
                   q: str = Query("", max_length=100), kind: str | None = Query(None, max_length=16),
                   flagged: bool | None = None, status: str | None = Query(None, max_length=16),
                   page_no: int = Query(1, ge=1, le=200_000, alias="page")) -> HTMLResponse:
    me, _ = reviewer(viewer), translator(viewer_language(viewer))
    camp = await review.open_campaign(session, me, campaign_id)
    await session.commit()
    [summary] = [c for c in await review.list_campaigns(session, me, camp.plan_date) if c["id"] == camp.id]
    listing = await review.list_drafts(session, me, campaign_id, q=q, kind=kind or None, flagged=flagged,
                                       status=status or None, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    for d in listing["items"]:
        d["scheduled_dt"] = datetime.fromisoformat(d["scheduled_at"])
    pages, prev_url, next_url = _pager(request, listing["total"], page_no)
    manager = await session.get(Manager, camp.manager_id) if viewer.is_admin else None
    return page(request, "campaign.html", viewer, camp=camp, summary=summary, listing=listing, q=q, kind=kind,
                flagged=flagged, status=status, templates={  # per language: each edited and checked alone
                    lang: await review.template_source(session, me, campaign_id, lang) for lang in ("zh", "en")},
                page_no=page_no, pages=pages, prev_url=prev_url, next_url=next_url,
                manager_name=manager.name if manager else None, reject_reasons=[
                    _(r) for r in QUICK_REJECT], override_reasons=[_(r) for r in QUICK_OVERRIDE])


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, viewer: PageViewer, session: Session) -> HTMLResponse:
    lang = viewer_language(viewer)
    rows = await today.ticket_rows(session, viewer.manager, admin=viewer.is_admin)
    lines = await client_view.holdings_lines(session, [r.ticket.client_id for r in rows if r.ticket.client_id], lang)
    last = await client_view.last_turns(session, [r.ticket.conversation_id for r in rows])
    view = [{"ticket": r.ticket, "client_no": r.client_no, "client_name": r.client_name, "urgent": r.urgent,
             "manager_name": r.manager_name, "holdings": lines.get(r.ticket.client_id or 0, ""),
             "last": last.get(r.ticket.conversation_id),
             "state": client_view.ticket_state(r.ticket, last.get(r.ticket.conversation_id))} for r in rows]
    return page(request, "inbox.html", viewer, rows=view)


@router.get("/inbox/{ticket_id}", response_class=HTMLResponse)
async def conversation(request: Request, ticket_id: Id, viewer: PageViewer, session: Session) -> HTMLResponse:
    from bot.services import tickets

    lang = viewer_language(viewer)
    ticket = await tickets.get_for_manager(session, ticket_id, viewer.manager, admin=viewer.is_admin)
    client = await session.get(Client, ticket.client_id) if ticket.client_id else None
    messages = await client_view.conversation_of_ticket(session, ticket)
    holdings = (await client_view.holdings_lines(session, [client.id], lang)).get(client.id, "") if client else ""
    manager = await session.get(Manager, ticket.manager_id) if ticket.manager_id else None
    return page(request, "conversation.html", viewer, ticket=ticket, client=client, messages=messages,
                holdings=holdings, state=client_view.ticket_state(ticket, messages[-1] if messages else None),
                canned=viewer.manager.canned_replies or [], manager_name=manager.name if manager else None)


@router.get("/clients", response_class=HTMLResponse)
async def clients(request: Request, viewer: PageViewer, session: Session,
                  q: str = Query("", max_length=100)) -> HTMLResponse:
    found = await client_view.search(session, reviewer(viewer), q)
    if len(found) == 1 and q:
        return RedirectResponse(f"/clients/{found[0].id}", status_code=303)  # type: ignore[return-value]
    return page(request, "clients.html", viewer, q=q, found=found)


@router.get("/clients/{client_id}", response_class=HTMLResponse)
async def client_page(request: Request, client_id: Id, viewer: PageViewer, session: Session) -> HTMLResponse:
    cp = await client_view.client_page(session, reviewer(viewer), client_id, _bank_today(request))
    return page(request, "client.html", viewer, cp=cp)


@router.get("/sent", response_class=HTMLResponse)
async def sent(request: Request, viewer: PageViewer, session: Session,
               status: str = Query("queued", max_length=16), kind: str = Query("", max_length=16),
               q: str = Query("", max_length=100), page_no: int = Query(1, ge=1, le=200_000, alias="page"),
               ) -> HTMLResponse:
    me = reviewer(viewer)
    counts = await review.sent_counts(session, me)
    total, rows = await review.sent_messages(session, me, status=status if status in SENT_STATUSES else None,
                                             kind=kind, search=q, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages, prev_url, next_url = _pager(request, total, page_no)
    return page(request, "sent.html", viewer, rows=rows, status=status if status in SENT_STATUSES else "",
                kind=kind, q=q, total=total, counts=counts, page_no=page_no, pages=pages, prev_url=prev_url,
                next_url=next_url)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, viewer: PageViewer) -> HTMLResponse:
    return page(request, "settings.html", viewer)


@router.get("/reports", response_class=HTMLResponse)
async def reports(request: Request, viewer: PageViewer, session: Session,
                  start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                  ) -> HTMLResponse:
    _ = translator(viewer_language(viewer))
    period = period_of(request, start, end)
    report = await manager_report(session, viewer.manager.id, period)
    quality = await bot_quality(session, period, manager_id=viewer.manager.id)
    overview = await admin_overview(session, period) if viewer.is_admin else None
    daily = report["daily"]
    chart_daily = charts.bars([(d["date"][5:], d["sent"]) for d in daily], title=_("Sent per day"))
    chart_planned = charts.bars([(d["date"][5:], d["planned"]) for d in daily], title=_("Planned per day"),
                                color="#8a63d2")
    chart_funnel = charts.funnel([(_(k), v) for k, v in report["funnel"].items()])
    chart_outcomes = charts.bars([(_(k), v) for k, v in report["conversations"]["outcomes"].items()],
                                 title=_("Answer outcomes"), color="#e07b00")
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
        return error_page(request, viewer, 404, f"{table!r}: {', '.join(tables)}")
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
        return error_page(request, viewer, 403, translator(viewer_language(viewer))("This page is for admins."))
    docs = (await session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.name))).all()
    managers = (await session.scalars(select(Manager).order_by(Manager.code))).all()
    return page(request, "documents.html", viewer, docs=docs, managers=managers,
                can_upload=request.app.state.knowledge is not None)

