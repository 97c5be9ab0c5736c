"""The console's JSON API (`/api/...`), described at `/api/openapi.json`. Route functions parse,
call a service and return; access rules live in the services (another manager's object is 404)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from bot.db.models import Client, OutboxItem
from bot.services import outbox, review, tickets
from bot.services.reports import Period, bot_quality, manager_report
from bot.web.deps import ApiViewer, Session, require_admin, reviewer

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
    return {"ok": True, "id": draft.id, "text": draft.text, "flags": draft.flags or []}


@router.get("/tickets")
async def ticket_list(viewer: ApiViewer, session: Session) -> list[dict[str, Any]]:
    rows = await tickets.open_tickets(session, viewer.manager)
    return [{"id": t.id, "status": t.status, "reason": t.reason, "summary": t.summary,
             "created_at": t.created_at.isoformat()} for t in rows]


@router.post("/tickets/{ticket_id}/reply")
async def ticket_reply(ticket_id: Id, body: TextBody, viewer: ApiViewer, session: Session) -> Done:
    manager = viewer.manager
    out = await tickets.reply(session, ticket_id, manager, body.text)
    # The reply goes out through the outbox, so a console without a bot still delivers it.
    await outbox.enqueue_text(session, chat_id=out.chat_id, text=out.text, kind="reply", client_id=out.client_id,
                              manager_id=manager.id, key=f"ticket:{ticket_id}:{secrets.token_hex(8)}")
    await session.commit()
    return Done(count=1)


@router.post("/tickets/{ticket_id}/close")
async def ticket_close(ticket_id: Id, viewer: ApiViewer, session: Session) -> Done:
    manager = viewer.manager
    await tickets.close(session, ticket_id, manager)
    await session.commit()
    return Done(count=1)


@router.get("/sent")
async def sent(viewer: ApiViewer, session: Session, offset: int = Query(0, ge=0, le=10_000_000),
               limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    stmt = select(OutboxItem, Client.client_no).join(Client, Client.id == OutboxItem.client_id, isouter=True)
    if not viewer.is_admin:
        stmt = stmt.where(OutboxItem.manager_id == viewer.manager.id)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (await session.execute(stmt.order_by(OutboxItem.id.desc()).offset(offset).limit(limit))).all()
    return {"total": total, "items": [
        {"id": o.id, "client_no": no, "kind": o.kind, "status": o.status, "error": o.last_error,
         "attempts": o.attempts, "sent_at": o.sent_at.isoformat() if o.sent_at else None, "text": o.text}
        for o, no in rows]}


@router.get("/reports/manager")
async def report(request: Request, viewer: ApiViewer, session: Session,
                 start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                 manager_id: int | None = Query(None, ge=1, le=2**53)) -> dict[str, Any]:
    period = period_of(request, start, end)
    target = manager_id if (manager_id and viewer.is_admin) else viewer.manager.id
    try:
        return await manager_report(session, target, period)
    except LookupError:
        raise HTTPException(404, f"no manager {target}") from None


@router.get("/reports/bot")
async def report_bot(request: Request, viewer: ApiViewer, session: Session,
                     start: date | None = Query(None, alias="from"), end: date | None = Query(None, alias="to"),
                     ) -> dict[str, Any]:
    period = period_of(request, start, end)
    return await bot_quality(session, period, manager_id=None if viewer.is_admin else viewer.manager.id)


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
    knowledge = request.app.state.knowledge
    if knowledge is None:
        raise HTTPException(503, "the knowledge service is not running in this process")
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
    knowledge = request.app.state.knowledge
    if knowledge is None:
        raise HTTPException(503, "the knowledge service is not running in this process")
    removed = await knowledge.remove(name)
    if not removed:
        raise HTTPException(404, f"no document {name}")
    return Done(count=1)
