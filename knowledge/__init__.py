"""The knowledge base: load the bank's documents, retrieve in Chinese and English, answer only
from them (with sources), decline when they do not answer.

Public API: `build_knowledge_service(...)` -> `KnowledgeService` (async `ingest`, `remove`,
`documents`, `ask`), `Answer`, `IngestReport`, `is_personal_question`.
"""

from __future__ import annotations

from knowledge.answer import Answer, Source
from knowledge.errors import DocumentNotFound, KnowledgeError, LoadError
from knowledge.factory import build_knowledge_service, make_embeddings
from knowledge.ingest import IngestItem, IngestReport
from knowledge.personal import is_personal_question, mentions_other_bank
from knowledge.registry import DocumentRecord, DocumentRegistry, MemoryRegistry
from knowledge.service import KnowledgeService

__all__ = [
    "Answer",
    "DocumentNotFound",
    "DocumentRecord",
    "DocumentRegistry",
    "IngestItem",
    "IngestReport",
    "KnowledgeError",
    "KnowledgeService",
    "LoadError",
    "MemoryRegistry",
    "Source",
    "build_knowledge_service",
    "is_personal_question",
    "make_embeddings",
    "mentions_other_bank",
]
