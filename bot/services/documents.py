"""The knowledge base's document registry in the project database (`knowledge_documents`).

Implements `knowledge.registry.DocumentRegistry`. Each call is its own short unit of work
(a session and a commit): the knowledge service switches a document to its new version by
saving the record, and that switch must be durable before the old chunks are deleted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import KnowledgeDocument
from bot.i18n import t
from bot.services import audit
from knowledge.registry import DocumentRecord

MAX_NAME = 200  # characters; also at most 255 bytes (a file name on every file system)


def _(msgid: str) -> str:
    """Marks a text for gettext extraction; translated when shown."""
    return msgid


class IngestSummary(Protocol):
    def as_dict(self) -> dict[str, Any]: ...  # loaded / replaced / unchanged / failed (with reasons)


class DocumentLibrary(Protocol):
    """What the console needs of the knowledge base (`knowledge.KnowledgeService`): add and remove documents."""

    async def ingest(self, paths: Iterable[str | Path], loaded_by: str | None = None) -> IngestSummary: ...

    async def remove(self, name: str) -> object | None:  # the removed document, or None: there was none
        ...


class IngestedFile(Protocol):
    @property
    def status(self) -> str: ...  # loaded | replaced | unchanged | failed
    @property
    def reason(self) -> str: ...
    @property
    def chunks(self) -> int: ...


class FileLoader(Protocol):
    """What the admins' Telegram upload needs of the knowledge base: the file types it reads, and one file loaded."""

    def supported_types(self) -> list[str]: ...  # suffixes: ".pdf", ".docx", ...

    async def ingest_file(self, path: str | Path, *, name: str | None = None,
                          loaded_by: str | None = None) -> IngestedFile: ...


class UploadNameError(ValueError):
    """An uploaded file's name that cannot be a document's name (console 400, a clear answer in Telegram)."""

    MESSAGES = {
        "empty": _("The file name is empty, \".\" or \"..\"; rename the file and send it again."),
        "control": _("The file name contains control characters; rename the file and send it again."),
        "too_long": _("The file name is longer than {max} characters; rename the file and send it again."),
    }

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(self.message("en"))

    def message(self, lang: str | None) -> str:
        return t(self.MESSAGES[self.code], lang, max=MAX_NAME)

    def both(self) -> str:
        return f"{self.message('en')} / {self.message('zh')}"


def upload_name(raw: str | None) -> str:
    """The document name of an upload: its last path part, checked (raises UploadNameError)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name.strip("."):
        raise UploadNameError("empty")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise UploadNameError("control")
    if len(name) > MAX_NAME or len(name.encode("utf-8")) > 255:
        raise UploadNameError("too_long")
    return name


def refuse_upload(session: AsyncSession, actor: str, raw: str | None, exc: UploadNameError) -> None:
    """Audit a refused upload (the name cut short: it may be anything)."""
    audit.record(session, actor=actor, action="kb_upload_refused", entity="knowledge_document",
                 entity_id=(raw or "")[:60], details={"reason": exc.code, "name_chars": len(raw or "")})


def _to_record(row: KnowledgeDocument) -> DocumentRecord:
    return DocumentRecord(
        name=row.name,
        title=row.title,
        content_hash=row.content_hash,
        version=row.version,
        chunk_count=row.chunk_count,
        pages=row.pages,
        language=row.language,
        size_bytes=row.size_bytes,
        loaded_by=row.loaded_by,
        loaded_at=row.loaded_at,
        updated_at=row.updated_at,
    )


class SqlDocumentRegistry:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, name: str) -> DocumentRecord | None:
        async with self.sessions() as session:
            row = await session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.name == name))
            return _to_record(row) if row is not None else None

    async def save(self, record: DocumentRecord) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.name == record.name))
            if row is None:
                row = KnowledgeDocument(name=record.name)
                session.add(row)
            row.title = record.title[:300]
            row.content_hash = record.content_hash
            row.version = record.version
            row.chunk_count = record.chunk_count
            row.pages = record.pages
            row.language = record.language
            row.size_bytes = record.size_bytes
            row.loaded_by = record.loaded_by
            row.loaded_at = record.loaded_at
            row.updated_at = record.updated_at

    async def delete(self, name: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.name == name))

    async def all(self) -> list[DocumentRecord]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.name))).all()
            return [_to_record(r) for r in rows]
