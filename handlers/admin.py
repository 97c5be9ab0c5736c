"""Admins send a document to the bot -> it is loaded into the knowledge base -> loaded / replaced /
unchanged / failed with the reason."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, User
from aiogram.utils.chat_action import ChatActionSender
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import escape, t
from bot.services import audit, documents
from bot.settings import Settings
from handlers.filters import Magic

log = logging.getLogger(__name__)


async def _is_admin(message: Message, is_admin: bool = False) -> bool:
    return is_admin


def _status_text(status: str, name: str, chunks: int, reason: str) -> str:
    if status == "loaded":
        return t("Loaded {name}: {chunks} passages are now searchable.", name=name, chunks=chunks)
    if status == "replaced":
        return t("Replaced {name} with the new version: {chunks} passages.", name=name, chunks=chunks)
    if status == "unchanged":
        return t("{name} is already loaded and unchanged.", name=name)
    return t("Failed to load {name}: {reason}", name=name, reason=reason or "-")


async def on_document(message: Message, bot: Bot, session: AsyncSession, settings: Settings,
                      knowledge: documents.FileLoader | None, event_from_user: User) -> None:
    doc = message.document
    assert doc is not None
    actor = f"admin:{event_from_user.id}"
    try:
        name = documents.upload_name(doc.file_name or f"{doc.file_unique_id}.bin")
    except documents.UploadNameError as exc:
        documents.refuse_upload(session, actor, doc.file_name, exc)
        await message.answer(escape(exc.message(None)))
        return
    status, reason, chunks = "failed", "", 0
    limit = int(settings.kb_max_file_mb * 1024 * 1024)
    supported = knowledge.supported_types() if knowledge is not None else None
    if knowledge is None:
        reason = t("the knowledge base is not available")
    elif doc.file_size is not None and doc.file_size > limit:
        reason = t("the file is larger than {mb} MB", mb=settings.kb_max_file_mb)
    elif supported and Path(name).suffix.lower() not in supported:
        reason = t("unsupported file type (supported: {types})", types=", ".join(supported))
    else:
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="rmbot-kb-"))
        try:
            async with ChatActionSender.upload_document(bot=bot, chat_id=message.chat.id):
                path = workdir / name
                await bot.download(doc, destination=path)
                item = await knowledge.ingest_file(path, name=name, loaded_by=f"admin:{event_from_user.id}")
            status, reason, chunks = item.status, item.reason, item.chunks
        except TelegramAPIError as exc:
            reason = t("could not download the file ({error})", error=type(exc).__name__)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
    audit.record(session, actor=f"admin:{event_from_user.id}", action="kb_ingest", entity="knowledge_document",
                 entity_id=name, details={"status": status, "reason": reason[:200], "chunks": chunks})
    log.info("admin document", extra={"status": status, "chunks": chunks})
    await message.answer(_status_text(status, name, chunks, reason))


def setup_router() -> Router:
    router = Router(name="admin")
    router.message.filter(Magic(F.chat.type == "private"), _is_admin)
    router.message.register(on_document, Magic(F.document))
    return router
