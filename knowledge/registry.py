"""The document registry: which documents the knowledge base holds, at which version.

The service talks to a `DocumentRegistry`; the project's implementation keeps it in the database
(`bot/services/documents.py`), `MemoryRegistry` keeps it in memory (tests, benchmarks).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DocumentRecord:
    name: str  # file name: the document's identity
    title: str
    content_hash: str
    version: int = 1
    chunk_count: int = 0
    pages: int = 0
    language: str | None = None
    size_bytes: int = 0
    loaded_by: str | None = None
    loaded_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "content_hash": self.content_hash,
            "version": self.version,
            "chunk_count": self.chunk_count,
            "pages": self.pages,
            "language": self.language,
            "size_bytes": self.size_bytes,
            "loaded_by": self.loaded_by,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


class DocumentRegistry(Protocol):
    async def get(self, name: str) -> DocumentRecord | None: ...

    async def save(self, record: DocumentRecord) -> None:
        """Insert or update (by name), durably: when it returns, the record is the current one."""
        ...

    async def delete(self, name: str) -> None: ...

    async def all(self) -> list[DocumentRecord]: ...


class MemoryRegistry:
    def __init__(self) -> None:
        self._rows: dict[str, DocumentRecord] = {}

    async def get(self, name: str) -> DocumentRecord | None:
        row = self._rows.get(name)
        return copy.copy(row) if row else None

    async def save(self, record: DocumentRecord) -> None:
        self._rows[record.name] = copy.copy(record)

    async def delete(self, name: str) -> None:
        self._rows.pop(name, None)

    async def all(self) -> list[DocumentRecord]:
        return [copy.copy(r) for r in sorted(self._rows.values(), key=lambda r: r.name)]
