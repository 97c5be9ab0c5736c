"""Ingestion: files -> loaded and chunked documents -> the index, each switched current in the registry.

Replacement is atomic for readers: the new version's chunks are added first (under new ids),
then the registry switches the document to the new version, then the old chunks are deleted.
`Ingestion.current` maps each document to the version the registry holds; every search is
restricted to those versions, so no question ever sees a document missing or twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import Chunk, chunk_document, doc_key
from knowledge.errors import LoadError
from knowledge.index import KnowledgeIndex
from knowledge.loaders import DEFAULT_MAX_BYTES, LoadedDocument, load_path
from knowledge.registry import DocumentRecord, DocumentRegistry, utcnow
from knowledge.text import tokenize

log = logging.getLogger(__name__)

INGEST_GROUP = 16
# chunks of a version the registry does not hold are dropped at start once they are this old
STALE_AFTER_S = 3600.0


@dataclass
class IngestItem:
    file: str
    status: str  # loaded | replaced | unchanged | failed
    reason: str = ""
    chunks: int = 0
    pages: int = 0
    version: int = 0
    seconds: float = 0.0


@dataclass
class IngestReport:
    items: list[IngestItem] = field(default_factory=list)

    def _names(self, status: str) -> list[str]:
        return [i.file for i in self.items if i.status == status]

    @property
    def loaded(self) -> list[str]:
        return self._names("loaded")

    @property
    def replaced(self) -> list[str]:
        return self._names("replaced")

    @property
    def unchanged(self) -> list[str]:
        return self._names("unchanged")

    @property
    def failed(self) -> list[dict[str, str]]:
        return [{"file": i.file, "reason": i.reason} for i in self.items if i.status == "failed"]

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.items if i.status in ("loaded", "replaced"))

    def as_dict(self) -> dict[str, list[str] | list[dict[str, str]]]:
        return {"loaded": self.loaded, "unchanged": self.unchanged, "replaced": self.replaced, "failed": self.failed}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders walked (sorted), hidden files skipped."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and not any(part.startswith(".") for part in rel.parts):
                    out.append(f)
        else:
            out.append(p)
    return out


# a file read in a worker thread: the document (its chunks prepared alongside) or why it failed,
# and when its reading started
_Loaded = tuple[LoadedDocument | IngestItem, float]


@dataclass
class _Planned:
    """A document whose new version's chunks are to be written."""

    slot: int  # its place in the group
    doc: LoadedDocument
    key: str
    chunks: list[Chunk]
    tokens: list[list[str]] | None


class Ingestion:
    """Loading, replacing and removing documents; the current version of each."""

    def __init__(
        self, index: KnowledgeIndex, registry: DocumentRegistry, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.index = index
        self.registry = registry
        self.max_bytes = max_bytes
        self.current: dict[str, str] = {}  # document name -> doc_key of its current version
        self.refreshed_at = 0.0
        self.write_lock = asyncio.Lock()
        self._prepared: dict[str, tuple[list[Chunk], list[list[str]]]] = {}

    def current_keys(self) -> set[str]:
        return set(self.current.values())

    # ------------------------------------------------------------------ the current versions

    async def open(self) -> None:
        """Rebuild the lexical channel from the store and drop chunks of versions the registry
        does not hold (left over by an interrupted replacement)."""
        await asyncio.to_thread(self.index.load)
        await self._read_current()
        present = await asyncio.to_thread(self.index.key_ages)
        current = self.current_keys()
        for key, age in present.items():
            # another process may be half-way through a replacement: only old leftovers go
            if key not in current and age > STALE_AFTER_S:
                log.info("knowledge: dropping stale chunks of %s", key)
                await asyncio.to_thread(self.index.delete_key, key)
        for name, key in self.current.items():
            if key not in present:
                log.warning("knowledge: %s is registered but has no chunks in the index; ingest it again", name)

    async def _read_current(self) -> None:
        records = await self.registry.all()
        self.current = {r.name: doc_key(r.name, r.content_hash) for r in records}
        self.refreshed_at = time.monotonic()

    async def refresh(self) -> bool:
        """Pick up documents another process loaded, replaced or removed: re-read the registry, and
        when it changed, rebuild the lexical channel from the store. Returns whether anything changed."""
        records = await self.registry.all()
        current = {r.name: doc_key(r.name, r.content_hash) for r in records}
        self.refreshed_at = time.monotonic()
        if current == self.current:
            return False
        async with self.write_lock:
            await asyncio.to_thread(self.index.load)
            self.current = current
        return True

    # ------------------------------------------------------------------ loading

    async def ingest(
        self,
        paths: Iterable[str | Path],
        loaded_by: str | None = None,
        progress: Callable[[IngestItem], None] | None = None,
    ) -> IngestReport:
        report = IngestReport()
        files = expand_paths(paths)
        groups = [files[i : i + INGEST_GROUP] for i in range(0, len(files), INGEST_GROUP)]
        # reading and parsing the next group overlaps with indexing this one
        pending = asyncio.ensure_future(self._load_group(groups[0])) if groups else None
        for gi in range(len(groups)):
            assert pending is not None
            loaded = await pending
            pending = asyncio.ensure_future(self._load_group(groups[gi + 1])) if gi + 1 < len(groups) else None
            for item in await self._index_group(loaded, loaded_by):
                report.items.append(item)
                if progress is not None:
                    progress(item)
        return report

    async def ingest_file(
        self, path: str | Path, *, name: str | None = None, loaded_by: str | None = None
    ) -> IngestItem:
        return (await self._index_group([await self._load(Path(path), name)], loaded_by))[0]

    async def _load_group(self, group: list[Path]) -> list[_Loaded]:
        return [await self._load(p) for p in group]

    async def _load(self, path: Path, name: str | None = None) -> _Loaded:
        """The document, or a failed item naming the file and the reason."""
        name = name or path.name
        t0 = time.perf_counter()
        try:
            return await asyncio.to_thread(self._prepare, path, name), t0
        except LoadError as exc:
            return IngestItem(name, "failed", exc.reason), t0
        except Exception as exc:  # noqa: BLE001 - one file never stops the batch
            log.exception("knowledge: unexpected error loading %s", name)
            return IngestItem(name, "failed", f"unexpected error ({type(exc).__name__}: {exc})"), t0

    def _prepare(self, path: Path, name: str) -> LoadedDocument:
        """Load, chunk and tokenise (CPU work that needs no lock); the chunks ride on the document."""
        doc = load_path(path, max_bytes=self.max_bytes, name=name)
        chunks = chunk_document(doc)
        self._prepared[doc.content_hash + doc.name] = (chunks, [tokenize(c.text) for c in chunks])
        return doc

    # ------------------------------------------------------------------ indexing

    async def _index_group(self, loaded: list[_Loaded], loaded_by: str | None) -> list[IngestItem]:
        """Index a group of loaded documents: all new chunks are written in one go (the store's
        per-write cost is the bottleneck of small files), then each document is switched to its
        new version in the registry and its old chunks are deleted, one document at a time."""
        results: dict[int, IngestItem] = {}
        async with self.write_lock:
            plan = await self._plan(loaded, results)
            if plan:
                plan = await self._write(plan, results)
            for p in plan:
                results[p.slot] = await self.switch(p.doc, p.key, len(p.chunks), loaded_by)
        for i, (_doc, t0) in enumerate(loaded):
            results[i].seconds = time.perf_counter() - t0
        return [results[i] for i in range(len(loaded))]

    async def _plan(self, loaded: list[_Loaded], results: dict[int, IngestItem]) -> list[_Planned]:
        """The documents to write; the others (failed, unchanged, nothing to index) get their result."""
        plan: list[_Planned] = []
        for i, (doc, _t0) in enumerate(loaded):
            if isinstance(doc, IngestItem):
                results[i] = doc
                continue
            prepared = self._prepared.pop(doc.content_hash + doc.name, None)
            existing = await self.registry.get(doc.name)
            new_key = doc_key(doc.name, doc.content_hash)
            same = existing is not None and existing.content_hash == doc.content_hash
            if same and existing is not None and await asyncio.to_thread(self.index.has_key, new_key):
                results[i] = IngestItem(doc.name, "unchanged", chunks=existing.chunk_count,
                                        pages=existing.pages, version=existing.version)
                continue
            chunks: list[Chunk]
            tokens: list[list[str]] | None
            chunks, tokens = prepared if prepared else (await asyncio.to_thread(chunk_document, doc), None)
            if not chunks:
                results[i] = IngestItem(doc.name, "failed", "no text to index")
                continue
            plan.append(_Planned(i, doc, new_key, chunks, tokens))
        return plan

    async def _write(self, plan: list[_Planned], results: dict[int, IngestItem]) -> list[_Planned]:
        """Write the plan's chunks in one go; when that fails, document by document. The documents written."""
        all_tokens = [t for p in plan if p.tokens is not None for t in p.tokens]
        try:
            await asyncio.to_thread(
                self.index.add_chunks,
                [c for p in plan for c in p.chunks],
                None,
                all_tokens if all(p.tokens is not None for p in plan) else None,
            )
            return plan
        except Exception:  # noqa: BLE001 - retry one by one to find the document at fault
            log.exception("knowledge: indexing a group failed; retrying document by document")
        kept = []
        for p in plan:
            try:
                await asyncio.to_thread(self.index.add_chunks, p.chunks, None, p.tokens)
                kept.append(p)
            except Exception as exc:  # noqa: BLE001
                log.exception("knowledge: indexing %s failed", p.doc.name)
                await self._discard(p.key)
                results[p.slot] = IngestItem(p.doc.name, "failed", f"indexing failed ({type(exc).__name__}: {exc})")
        return kept

    async def add_document(self, doc: LoadedDocument, chunks: list[Chunk], loaded_by: str | None) -> IngestItem:
        """Index a document built in memory (a curated answer) and make it current."""
        async with self.write_lock:
            await asyncio.to_thread(self.index.add_chunks, chunks)
            return await self.switch(doc, str(chunks[0].metadata["doc_key"]), len(chunks), loaded_by)

    async def switch(self, doc: LoadedDocument, new_key: str, n_chunks: int, loaded_by: str | None) -> IngestItem:
        """Make the new version current (registry first), then delete the old version's chunks."""
        existing = await self.registry.get(doc.name)
        if existing is not None and existing.content_hash == doc.content_hash:
            return IngestItem(doc.name, "unchanged", chunks=existing.chunk_count, pages=existing.pages,
                              version=existing.version)
        now = utcnow()
        record = DocumentRecord(
            name=doc.name,
            title=doc.title,
            content_hash=doc.content_hash,
            version=(existing.version + 1) if existing else 1,
            chunk_count=n_chunks,
            pages=doc.pages,
            language=doc.language,
            size_bytes=doc.size_bytes,
            loaded_by=loaded_by,
            loaded_at=existing.loaded_at if existing else now,
            updated_at=now,
        )
        try:
            await self.registry.save(record)  # the switch: from here on, searches see the new version
        except Exception as exc:  # noqa: BLE001
            log.exception("knowledge: registry update for %s failed", doc.name)
            await self._discard(new_key)
            return IngestItem(doc.name, "failed", f"registry update failed ({type(exc).__name__})")
        self.current[doc.name] = new_key
        status = "loaded"
        if existing is not None:
            status = "replaced"
            await asyncio.to_thread(self.index.delete_key, doc_key(existing.name, existing.content_hash))
        return IngestItem(doc.name, status, chunks=n_chunks, pages=doc.pages, version=record.version)

    async def _discard(self, new_key: str) -> None:
        if new_key in self.current.values():
            return
        try:
            await asyncio.to_thread(self.index.delete_key, new_key)
        except Exception:  # noqa: BLE001
            log.exception("knowledge: cleanup of %s failed", new_key)

    async def remove(self, name: str) -> DocumentRecord | None:
        """Remove a document and its chunks; the removed record, or None when there is no such document."""
        async with self.write_lock:
            existing = await self.registry.get(name)
            if existing is None:
                return None
            await self.registry.delete(name)
            self.current.pop(name, None)
            await asyncio.to_thread(self.index.delete_key, doc_key(existing.name, existing.content_hash))
            return existing
