"""The console's JSON API (`/api/...`), described at `/api/openapi.json`. Route functions parse,
call a service and return; access rules live in the services (another manager's object is 404)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from bot import labels
from bot.services import client_view, invites, managers, outbox, review, tickets, today
from bot.services.formats import plain_text
from bot.services.reports import Period, bot_quality, manager_report
from bot.web.deps import ApiViewer, Session, document_library, require_admin, reviewer

router = APIRouter(prefix="/api", tags=["console"])

Id = Annotated[int, Path(ge=1, le=2**53, description="Numeric id")]


class ApproveAll(BaseModel):
    expected: int = Field(ge=0, le=1_000_000, description="The count the manager confirmed")
    include_flagged: bool = False  # drafts with warnings too (never blocked ones): needs override_reason
    override_reason: str | None = Field(None, max_length=200)


class RejectBody(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class RejectAll(RejectBody):
    expected: int = Field(ge=0, le=1_000_000)


class TextBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class TemplateBody(BaseModel):
    template: str = Field(min_length=1, max_length=4000)
    language: Literal["zh", "en"] | None = None  # None: the template's own (Chinese text: zh)


class ApproveBody(BaseModel):
    override_reason: str | None = Field(None, max_length=200)  # required to approve a draft with warnings


class Done(BaseModel):
    ok: bool = True
    count: int = 0


@router.get("/me")
async def me(viewer: ApiViewer) -> dict[str, Any]:
    m = viewer.manager
    return {"id": m.id, "code": m.code, "name": m.name, "admin": viewer.is_admin, "csrf": viewer.csrf}


@router.get("/campaigns")
async def campaigns(viewer: ApiViewer, session: Session, day: date | None = Query(None, alias="date"),
                    waiting: bool = False) -> list[dict[str, Any]]:
    return await review.list_campaigns(session, reviewer(viewer), day, only_waiting=waiting)


@router.get("/campaigns/{campaign_id}")
async def campaign(campaign_id: Id, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    camp = await review.open_campaign(session, reviewer(viewer), campaign_id)
    await session.commit()
    return {"id": camp.id, "plan_date": camp.plan_date.isoformat(), "kind": camp.kind, "occasion": camp.occasion,
            "title": camp.title, "template_id": camp.template_id, "template_override": camp.template_override}


@router.get("/campaigns/{campaign_id}/drafts")
async def drafts(
    campaign_id: Id, viewer: ApiViewer, session: Session,
    q: str = Query("", max_length=100), status: str | None = Query(None, max_length=16),
    kind: str | None = Query(None, max_length=16), flagged: bool | None = None,
    offset: int = Query(0, ge=0, le=10_000_000), limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    return await review.list_drafts(session, reviewer(viewer), campaign_id, q=q, status=status, kind=kind,
                                     flagged=flagged, offset=offset, limit=limit)


@router.post("/campaigns/{campaign_id}/approve-all")
async def approve_all(campaign_id: Id, body: ApproveAll, viewer: ApiViewer, session: Session) -> Done:
    n = await review.approve_all(session, reviewer(viewer), campaign_id, include_flagged=body.include_flagged,
                                 expected=body.expected, override_reason=body.override_reason)
    await session.commit()
    return Done(count=n)


@router.post("/campaigns/{campaign_id}/reject-all")
async def reject_all(campaign_id: Id, body: RejectAll, viewer: ApiViewer, session: Session) -> Done:
    n = await review.reject_all(session, reviewer(viewer), campaign_id, body.reason, expected=body.expected)
    await session.commit()
    return Done(count=n)


@router.post("/campaigns/{campaign_id}/template")
async def template(campaign_id: Id, body: TemplateBody, viewer: ApiViewer, session: Session) -> Done:
    n = await review.edit_template(session, reviewer(viewer), campaign_id, body.template, body.language)
    await session.commit()
    return Done(count=n)


@router.get("/campaigns/{campaign_id}/template")
async def template_text(campaign_id: Id, viewer: ApiViewer, session: Session,
                        language: Literal["zh", "en"] = "zh") -> dict[str, str]:
    return {"language": language,
            "template": await review.template_source(session, reviewer(viewer), campaign_id, language)}


@router.post("/drafts/{draft_id}/approve")
async def approve(draft_id: Id, viewer: ApiViewer, session: Session, body: ApproveBody | None = None) -> Done:
    await review.approve_one(session, reviewer(viewer), draft_id,
                             override_reason=body.override_reason if body is not None else None)
    await session.commit()
    return Done(count=1)


@router.post("/drafts/{draft_id}/reject")
async def reject(draft_id: Id, body: RejectBody, viewer: ApiViewer, session: Session) -> Done:
    await review.reject_one(session, reviewer(viewer), draft_id, body.reason)
    await session.commit()
    return Done(count=1)


@router.post("/drafts/{draft_id}/edit")
async def edit(draft_id: Id, body: TextBody, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    draft = await review.edit_draft(session, reviewer(viewer), draft_id, body.text)
    await session.commit()
    return {"ok": True, "id": draft.id, "text": draft.text, "flags": draft.flags or [],
            "flag_labels": labels.labels("flag", draft.flags, viewer.manager.language)}


class ExpectedBody(BaseModel):
    expected: int = Field(ge=0, le=1_000_000, description="The count the manager confirmed")


@router.get("/today")
async def today_summary(request: Request, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    day = datetime.now(request.app.state.settings.tz).date()
    m = await today.morning(session, viewer.manager, day, admin=viewer.is_admin)
    return {"date": day.isoformat(), "timezone": str(request.app.state.settings.timezone), "totals": m.totals,
            "tickets": len(m.tickets), "urgent_tickets": sum(1 for r in m.tickets if r.urgent),
            "clean_reminders": m.clean_reminders,
            "campaigns": [{k: v for k, v in c.items() if k not in ("send_from", "send_to")}
                          | {"send_from": c["send_from"].isoformat() if c.get("send_from") else None}
                          for c in m.reminders + m.marketing],
            "earlier": m.earlier}


@router.post("/today/approve-reminders")
async def approve_reminders(request: Request, body: ExpectedBody, viewer: ApiViewer, session: Session) -> Done:
    """Every clean service reminder of the bank's today, in one action (flagged ones stay)."""
    day = datetime.now(request.app.state.settings.tz).date()
    n = await today.approve_clean_reminders(session, reviewer(viewer), day, expected=body.expected)
    await session.commit()
    return Done(count=n)


@router.post("/outbox/{item_id}/cancel")
async def cancel_message(item_id: Id, viewer: ApiViewer, session: Session) -> Done:
    """Undo: a message still waiting to be sent is cancelled (409 once it is on its way or sent)."""
    try:
        await outbox.cancel_queued(session, item_id, manager_id=None if viewer.is_admin else viewer.manager.id,
                                   actor=reviewer(viewer).actor)
    except outbox.NotCancellable:
        raise HTTPException(409, "this message is no longer waiting: it is being sent, sent or cancelled") from None
    await session.commit()
    return Done(count=1)


@router.get("/clients")
async def client_search(viewer: ApiViewer, session: Session,
                        q: str = Query("", max_length=100)) -> list[dict[str, Any]]:
    found = await client_view.search(session, reviewer(viewer), q)
    return [{"id": c.id, "client_no": c.client_no, "name": c.name, "bound": c.telegram_chat_id is not None,
             "manager_id": c.manager_id} for c in found]


@router.post("/clients/{client_id}/invite")
async def client_invite(request: Request, client_id: Id, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    """A single-use invite link that binds the client's Telegram chat (the manager sends it on)."""
    client = await client_view.get_client(session, reviewer(viewer), client_id)
    settings = request.app.state.settings
    username = settings.bot_username or (
        (await request.app.state.bot.me()).username if request.app.state.bot is not None else "")
    if not username:
        raise HTTPException(400, "set BOT_USERNAME: invite links name the bot / 请设置 BOT_USERNAME")
    created = await invites.create_invite(session, client.client_no, bot_username=username,
                                          created_by=viewer.manager if not viewer.is_admin else None)
    await session.commit()
    lang = viewer.manager.language
    return created.as_dict() | {"expires_label": labels.local_time(created.expires_at, settings.tz, lang,
                                                                    fmt="%Y-%m-%d %H:%M")}


class SettingsBody(BaseModel):
    language: str | None = Field(None, pattern="^(zh|en)$")
    signature_zh: str | None = Field(None, max_length=200)
    signature_en: str | None = Field(None, max_length=200)
    auto_approve_reminders: bool | None = None
    canned_replies: list[str] | None = Field(None, max_length=12)


@router.post("/settings")
async def save_settings(body: SettingsBody, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    try:
        changed = await managers.set_preferences(session, viewer.manager, **body.model_dump())
    except managers.PreferenceError as exc:
        raise HTTPException(400, str(exc)) from None
    await session.commit()
    return {"ok": True, "changed": changed}


@router.get("/tickets")
async def ticket_list(viewer: ApiViewer, session: Session) -> list[dict[str, Any]]:
    rows = await today.ticket_rows(session, viewer.manager, admin=viewer.is_admin)
    return [{"id": r.ticket.id, "status": r.ticket.status, "reason": r.ticket.reason, "summary": r.ticket.summary,
             "client_no": r.client_no, "client_name": r.client_name, "manager_id": r.ticket.manager_id,
             "manager_name": r.manager_name, "urgent": r.urgent, "created_at": r.ticket.created_at.isoformat()}
            for r in rows]


@router.get("/tickets/{ticket_id}/messages")
async def ticket_messages(request: Request, ticket_id: Id, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    """The live conversation behind a ticket (the inbox page refreshes from here)."""
    lang, tz = viewer.manager.language, request.app.state.settings.tz
    ticket = await tickets.get_for_manager(session, ticket_id, viewer.manager, admin=viewer.is_admin)
    messages = await client_view.conversation_of_ticket(session, ticket)
    state = client_view.ticket_state(ticket, messages[-1] if messages else None)
    return {"state": state, "state_label": labels.label("ticket_state", state, lang), "messages": [
        {"id": m.id, "author": m.author, "author_label": labels.label("author", m.author, lang),
         "text": plain_text(m.text),
         "at": m.created_at.isoformat(), "time": labels.local_time(m.created_at, tz, lang)} for m in messages]}


@router.post("/tickets/{ticket_id}/take")
async def ticket_take(ticket_id: Id, viewer: ApiViewer, session: Session) -> Done:
    await tickets.take(session, ticket_id, viewer.manager, admin=viewer.is_admin)
    await session.commit()
    return Done(count=1)


@router.post("/tickets/{ticket_id}/reply")
async def ticket_reply(ticket_id: Id, body: TextBody, viewer: ApiViewer, session: Session) -> Done:
    manager = viewer.manager
    out = await tickets.reply(session, ticket_id, manager, body.text, admin=viewer.is_admin)
    # The reply goes out through the outbox, so a console without a bot still delivers it.
    await outbox.enqueue_text(session, chat_id=out.chat_id, text=out.text, kind="reply", client_id=out.client_id,
                              manager_id=manager.id, key=f"ticket:{ticket_id}:{secrets.token_hex(8)}")
    await session.commit()
    return Done(count=1)


@router.post("/tickets/{ticket_id}/close")
async def ticket_close(ticket_id: Id, viewer: ApiViewer, session: Session) -> Done:
    manager = viewer.manager
    await tickets.close(session, ticket_id, manager, admin=viewer.is_admin)
    await session.commit()
    return Done(count=1)


@router.get("/sent")
async def sent(viewer: ApiViewer, session: Session, offset: int = Query(0, ge=0, le=10_000_000),
               limit: int = Query(50, ge=1, le=500), status: str | None = Query(None, max_length=16),
               kind: str | None = Query(None, max_length=16)) -> dict[str, Any]:
    total, rows = await review.sent_messages(session, reviewer(viewer), status=status, kind=kind, offset=offset,
                                             limit=limit)
    return {"total": total, "items": [
        {"id": o.id, "client_no": no, "manager_id": o.manager_id, "kind": o.kind, "status": o.status,
         "error": o.last_error,
         "attempts": o.attempts, "sent_at": o.sent_at.isoformat() if o.sent_at else None, "text": o.text}
        for o, no, _name, _manager in rows]}


@router.get("/reports/manager")
async def report(request: Request, viewer: ApiViewer, session: Session,
                 start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                 manager_id: int | None = Query(None, ge=1, le=2**53)) -> dict[str, Any]:
    period = period_of(request, start, end)
    target = manager_id if (manager_id and viewer.is_admin) else viewer.manager.id
    try:
        return dict(await manager_report(session, target, period))  # the JSON as it is, no response model
    except LookupError:
        raise HTTPException(404, f"no manager {target}") from None


@router.get("/reports/bot")
async def report_bot(request: Request, viewer: ApiViewer, session: Session,
                     start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                     ) -> dict[str, Any]:
    period = period_of(request, start, end)
    return dict(await bot_quality(session, period, manager_id=None if viewer.is_admin else viewer.manager.id))


def period_of(request: Request, start: date | None, end: date | None) -> Period:
    tz = request.app.state.settings.tz
    for value in (start, end):
        if value is not None and not date(2000, 1, 1) <= value <= date(2100, 12, 31):
            raise HTTPException(400, f"date {value} is out of range (2000-01-01 to 2100-12-31)")
    end = end or datetime.now(tz).date()
    start = start or end - timedelta(days=6)
    if start > end or (end - start).days > 366:
        raise HTTPException(400, "the period must run forwards and span at most a year")
    return Period(start, end, tz)


@router.get("/documents")
async def documents(viewer: ApiViewer, session: Session) -> list[dict[str, Any]]:
    require_admin(viewer)
    from bot.db.models import KnowledgeDocument

    rows = (await session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.name))).all()
    return [{"name": d.name, "title": d.title, "version": d.version, "chunks": d.chunk_count,
             "updated_at": d.updated_at.isoformat(), "loaded_by": d.loaded_by} for d in rows]


@router.post("/documents")
async def upload(request: Request, file: UploadFile, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    require_admin(viewer)
    knowledge = document_library(request)
    import tempfile
    from pathlib import Path as FsPath

    from bot.services.documents import UploadNameError, refuse_upload, upload_name

    try:
        name = upload_name(file.filename)
    except UploadNameError as exc:
        refuse_upload(session, f"console:{viewer.manager.code}", file.filename, exc)
        await session.commit()
        raise HTTPException(400, exc.both()) from None
    with tempfile.TemporaryDirectory() as tmp:
        target = FsPath(tmp) / name
        target.write_bytes(await file.read())
        report_ = await knowledge.ingest([target], loaded_by=f"console:{viewer.manager.code}")
    return report_.as_dict()  # loaded / replaced / unchanged / failed (with reasons)


@router.delete("/documents/{name}")
async def remove(request: Request, viewer: ApiViewer, name: str = Path(max_length=255)) -> Done:
    require_admin(viewer)
    knowledge = document_library(request)
    removed = await knowledge.remove(name)
    if not removed:
        raise HTTPException(404, f"no document {name}")
    return Done(count=1)


@router.get("/reach")
async def reach(viewer: ApiViewer, session: Session) -> dict[str, int]:
    """The manager's book by Telegram reach: bound, blocked, invited, invite expired, not invited."""
    from bot.services.invites import reach_counts

    return await reach_counts(session, viewer.manager.id)


@router.post("/invites/export")
async def invites_export(request: Request, viewer: ApiViewer, session: Session, unbound: bool = True,
                         days: int = Query(30, ge=1, le=90)) -> Response:
    """Personal invite links and QR codes for the manager's clients (only the unbound ones by
    default), as an .xlsx for the bank's SMS or in-branch channel."""
    import asyncio
    import io

    from bot.services.invite_export import write_xlsx
    from bot.services.invites import bulk_invites

    username = request.app.state.settings.bot_username
    if not username and request.app.state.bot is not None:
        username = (await request.app.state.bot.me()).username or ""
    if not username:
        raise HTTPException(400, "set BOT_USERNAME: invite links name the bot / 请设置 BOT_USERNAME")
    manager = viewer.manager
    rows = await bulk_invites(session, manager, bot_username=username, unbound=unbound, ttl=timedelta(days=days))
    buf = io.BytesIO()
    await asyncio.to_thread(write_xlsx, rows, buf, language=manager.language or "zh",
                            tz=request.app.state.settings.tz)
    await session.commit()
    return Response(buf.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="invites-{manager.code}.xlsx"'})
