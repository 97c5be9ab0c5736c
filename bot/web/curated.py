"""Console page and JSON API of curated answers (标准话术), admins only.

The page lists the approved answers and the customers' recent declined questions, each with a
form to write its approved answer in one step. Every change is audited in the same transaction
as nothing else: the knowledge service stores the answer, then the audit row is committed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ChatMessage
from bot.services import audit
from bot.web.deps import ApiViewer, PageViewer, Session, require_admin
from knowledge.curated import MAX_ANSWER, MAX_QUESTION, CuratedAnswer, CuratedError, curated_id
from knowledge.service import KnowledgeService

router = APIRouter()
DECLINED_SHOWN = 30


class CuratedIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER)
    source: str = Field("", max_length=200)


def _knowledge(request: Request) -> KnowledgeService:
    knowledge: KnowledgeService | None = request.app.state.knowledge
    if knowledge is None:
        raise HTTPException(503, "the knowledge service is not running in this process")
    return knowledge


async def declined_questions(session: AsyncSession, exclude: set[str], limit: int = DECLINED_SHOWN) -> list[str]:
    """The customers' questions the bot declined most recently (distinct, newest first)."""
    bot_rows = (await session.execute(
        select(ChatMessage.id, ChatMessage.conversation_id)
        .where(ChatMessage.author == "bot", ChatMessage.outcome == "declined")
        .order_by(ChatMessage.id.desc()).limit(limit * 3)
    )).all()
    out: list[str] = []
    for bot_id, conv_id in bot_rows:
        text = await session.scalar(
            select(ChatMessage.text)
            .where(ChatMessage.conversation_id == conv_id, ChatMessage.author == "customer", ChatMessage.id < bot_id)
            .order_by(ChatMessage.id.desc()).limit(1)
        )
        if text and text not in out and curated_id(text) not in exclude:
            out.append(text)
        if len(out) >= limit:
            break
    return out


@router.get("/admin/curated", response_class=HTMLResponse, include_in_schema=False)
async def curated_page(request: Request, viewer: PageViewer, session: Session) -> HTMLResponse:
    from bot.web.pages import page

    require_admin(viewer)
    knowledge: KnowledgeService | None = request.app.state.knowledge
    items = await knowledge.list_curated() if knowledge is not None else []
    declined = await declined_questions(session, {c.id for c in items})
    return page(request, "curated.html", viewer, items=items, declined=declined, available=knowledge is not None)


@router.get("/api/curated")
async def list_curated(request: Request, viewer: ApiViewer) -> list[dict[str, Any]]:
    require_admin(viewer)
    return [c.as_dict() for c in await _knowledge(request).list_curated()]


@router.post("/api/curated")
async def save_curated(request: Request, body: CuratedIn, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    require_admin(viewer)
    actor = audit.actor_for_manager(viewer.manager.id, admin=True)
    try:
        saved: CuratedAnswer = await _knowledge(request).save_curated(body.question, body.answer,
                                                                      source=body.source, by=actor)
    except CuratedError as exc:
        raise HTTPException(400, str(exc)) from None
    audit.record(session, actor=actor, action="curated_save", entity="curated_answer", entity_id=saved.id,
                 manager_id=viewer.manager.id,
                 details={"question": saved.question, "answer": saved.answer, "source": saved.source})
    await session.commit()
    return saved.as_dict()


@router.delete("/api/curated/{item_id}")
async def remove_curated(request: Request, item_id: str, viewer: ApiViewer, session: Session) -> dict[str, Any]:
    require_admin(viewer)
    if not await _knowledge(request).remove_curated(item_id[:40]):
        raise HTTPException(404, f"no curated answer {item_id}")
    actor = audit.actor_for_manager(viewer.manager.id, admin=True)
    audit.record(session, actor=actor, action="curated_remove", entity="curated_answer", entity_id=item_id[:40],
                 manager_id=viewer.manager.id)
    await session.commit()
    return {"ok": True, "count": 1}
