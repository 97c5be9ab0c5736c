"""`KnowledgeService`: the one facade the bot, the console and the CLI use.

Async all the way: loading, chunking, embedding and searching run in worker threads
(`asyncio.to_thread`), never on the event loop.

Replacement is atomic for readers: the new version's chunks are added first (under new ids),
then the registry switches the document to the new version, then the old chunks are deleted.
Every search is restricted to the versions the registry holds as current, so no question ever
sees a document missing or twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.answer import (
    NOT_FOUND_MARK,
    asks_for_secrets,
    build_llm_chain,
    check_llm_answer,
    decline_text,
    format_passages,
    grounding,
    render_answer,
)
from knowledge.bm25 import BM25Index
from knowledge.chunking import chunk_document, doc_key
from knowledge.compliance import compliance_kind, compliance_reply
from knowledge.compose import asked_kinds, compose, effective_date
from knowledge.curated import PREFIX as CURATED_PREFIX
from knowledge.curated import CuratedAnswer, CuratedError, close_enough, curated_chunk, make_curated
from knowledge.curated import from_meta as curated_from_meta
from knowledge.errors import LoadError
from knowledge.glossary import expand_english
from knowledge.index import Hit, KnowledgeIndex
from knowledge.loaders import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, LoadedDocument, load_path
from knowledge.personal import is_personal_question, mentions_other_bank
from knowledge.query import analyze, expansion_terms, prepare
from knowledge.registry import DocumentRecord, DocumentRegistry, utcnow
from knowledge.text import detect_language, nfkc, normalize_query, tokenize

log = logging.getLogger(__name__)

TITLE_BOOST = 0.012
INGEST_GROUP = 16
# chunks of a version the registry does not hold are dropped at start once they are this old
STALE_AFTER_S = 3600.0
LANG_BOOST = 0.004
POOL_EXTRA = 40  # chunks of the lead document read for the answering line besides the retrieved ones
# English questions are matched to Chinese passages through a glossary: their coverage is lower
EN_THRESHOLD_FACTOR = 0.75
# only a question about oneself needs one's own records ('定期最少存多少钱' is about the product)
_FIRST_PERSON = re.compile(r"我|俺|本人|咱|\b(?:my|mine|i|me|i'm|i've)\b", re.I)
# a question naming a currency is about that currency: a passage that never names it does not answer
_CURRENCIES = [
    ("美元", "usd", "us dollar", "dollar"), ("欧元", "eur", "euro"), ("港币", "港元", "hkd", "hong kong dollar"),
    ("日元", "jpy", "yen"), ("英镑", "gbp", "pound"), ("澳元", "澳大利亚元", "aud"), ("加元", "加拿大元", "cad"),
    ("新加坡元", "sgd"), ("瑞士法郎", "chf"), ("新西兰元", "nzd"), ("外币",),
]


@dataclass
class Source:
    doc: str
    title: str
    section: str
    score: float
    page: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"doc": self.doc, "title": self.title, "section": self.section, "score": round(self.score, 4)}


@dataclass
class Answer:
    text: str
    sources: list[Source]
    grounded: bool
    handoff: bool
    prompt_id: str | None = None
    prompt_hash: str | None = None
    mode: str = "extractive"  # extractive | llm | declined
    reason: str = ""
    retrieved: list[str] = field(default_factory=list)  # ranked document names (first occurrence)

    @property
    def declined(self) -> bool:
        return not self.grounded

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "sources": [s.as_dict() for s in self.sources],
            "grounded": self.grounded,
            "handoff": self.handoff,
            "prompt_id": self.prompt_id,
            "prompt_hash": self.prompt_hash,
            "mode": self.mode,
        }


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

    def as_dict(self) -> dict[str, Any]:
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


class KnowledgeService:
    def __init__(
        self,
        index: KnowledgeIndex,
        registry: DocumentRegistry,
        *,
        llm: Any = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        top_k: int = 5,
        grounding_threshold: float = 0.45,
        llm_timeout_s: float = 20.0,
        refresh_interval_s: float = 30.0,
    ) -> None:
        self.index = index
        self.registry = registry
        self.llm = llm
        self.max_bytes = max_bytes
        self.top_k = top_k
        self.grounding_threshold = grounding_threshold
        self.llm_timeout_s = llm_timeout_s
        self._current: dict[str, str] = {}  # document name -> doc_key of its current version
        self.refresh_interval_s = refresh_interval_s
        self._prepared: dict[str, tuple[list[Any], list[list[str]]]] = {}
        self._refreshed_at = 0.0
        self._write_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._started = False

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Rebuild the lexical channel from the store and drop chunks of versions the registry
        does not hold (left over by an interrupted replacement)."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self._start()

    async def _start(self) -> None:
        # the tokeniser's dictionaries load once per process (about a second): not on a question
        await asyncio.to_thread(_warm_up)
        await asyncio.to_thread(self.index.load)
        await self._refresh_current()
        present = await asyncio.to_thread(self.index.key_ages)
        current = set(self._current.values())
        for key, age in present.items():
            # another process may be half-way through a replacement: only old leftovers go
            if key not in current and age > STALE_AFTER_S:
                log.info("knowledge: dropping stale chunks of %s", key)
                await asyncio.to_thread(self.index.delete_key, key)
        for name, key in self._current.items():
            if key not in present:
                log.warning("knowledge: %s is registered but has no chunks in the index; ingest it again", name)
        self._started = True

    async def _refresh_current(self) -> None:
        records = await self.registry.all()
        self._current = {r.name: doc_key(r.name, r.content_hash) for r in records}
        self._refreshed_at = time.monotonic()

    async def refresh(self) -> bool:
        """Pick up documents another process loaded, replaced or removed (several bot instances
        sharing a Chroma server and the database): re-read the registry, and when it changed,
        rebuild the lexical channel from the store. Returns whether anything changed."""
        records = await self.registry.all()
        current = {r.name: doc_key(r.name, r.content_hash) for r in records}
        self._refreshed_at = time.monotonic()
        if current == self._current:
            return False
        async with self._write_lock:
            await asyncio.to_thread(self.index.load)
            self._current = current
        return True

    async def _maybe_refresh(self) -> None:
        if self.refresh_interval_s and time.monotonic() - self._refreshed_at > self.refresh_interval_s:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - a failed refresh keeps the last known state
                log.exception("knowledge: refresh from the registry failed")

    # ------------------------------------------------------------------ documents

    async def ingest(
        self,
        paths: Iterable[str | Path],
        loaded_by: str | None = None,
        progress: Callable[[IngestItem], None] | None = None,
    ) -> IngestReport:
        await self.start()
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

    async def _load_group(self, group: list[Path]) -> list[tuple[LoadedDocument | IngestItem, float]]:
        return [await self._load(p) for p in group]

    async def ingest_file(
        self, path: str | Path, *, name: str | None = None, loaded_by: str | None = None
    ) -> IngestItem:
        await self.start()
        return (await self._index_group([await self._load(Path(path), name)], loaded_by))[0]

    async def _load(self, path: Path, name: str | None = None) -> tuple[LoadedDocument | IngestItem, float]:
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

    async def _index_group(
        self, loaded: list[tuple[LoadedDocument | IngestItem, float]], loaded_by: str | None
    ) -> list[IngestItem]:
        """Index a group of loaded documents: all new chunks are written in one go (the store's
        per-write cost is the bottleneck of small files), then each document is switched to its
        new version in the registry and its old chunks are deleted, one document at a time."""
        results: dict[int, IngestItem] = {}
        plan: list[tuple[int, LoadedDocument, str, list[Any], list[list[str]] | None]] = []
        async with self._write_lock:
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
                chunks, tokens = prepared if prepared else (await asyncio.to_thread(chunk_document, doc), None)
                if not chunks:
                    results[i] = IngestItem(doc.name, "failed", "no text to index")
                    continue
                plan.append((i, doc, new_key, chunks, tokens))
            if plan:
                try:
                    await asyncio.to_thread(
                        self.index.add_chunks,
                        [c for p in plan for c in p[3]],
                        None,
                        [t for p in plan for t in p[4]] if all(p[4] is not None for p in plan) else None,
                    )
                except Exception:  # noqa: BLE001 - retry one by one to find the document at fault
                    log.exception("knowledge: indexing a group failed; retrying document by document")
                    kept = []
                    for p in plan:
                        try:
                            await asyncio.to_thread(self.index.add_chunks, p[3], None, p[4])
                            kept.append(p)
                        except Exception as exc:  # noqa: BLE001
                            log.exception("knowledge: indexing %s failed", p[1].name)
                            await self._discard(p[2])
                            results[p[0]] = IngestItem(p[1].name, "failed",
                                                       f"indexing failed ({type(exc).__name__}: {exc})")
                    plan = kept
            for i, doc, new_key, chunks, _tokens in plan:
                results[i] = await self._switch(doc, new_key, len(chunks), loaded_by)
        for i, (_doc, t0) in enumerate(loaded):
            results[i].seconds = time.perf_counter() - t0
        return [results[i] for i in range(len(loaded))]

    async def _switch(self, doc: LoadedDocument, new_key: str, n_chunks: int, loaded_by: str | None) -> IngestItem:
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
        self._current[doc.name] = new_key
        status = "loaded"
        if existing is not None:
            status = "replaced"
            await asyncio.to_thread(self.index.delete_key, doc_key(existing.name, existing.content_hash))
        return IngestItem(doc.name, status, chunks=n_chunks, pages=doc.pages, version=record.version)

    async def _discard(self, new_key: str) -> None:
        if new_key in self._current.values():
            return
        try:
            await asyncio.to_thread(self.index.delete_key, new_key)
        except Exception:  # noqa: BLE001
            log.exception("knowledge: cleanup of %s failed", new_key)

    async def remove(self, name: str) -> DocumentRecord | None:
        """Remove a document and its chunks; the removed record, or None when there is no such document."""
        await self.start()
        async with self._write_lock:
            existing = await self.registry.get(name)
            if existing is None:
                return None
            await self.registry.delete(name)
            self._current.pop(name, None)
            await asyncio.to_thread(self.index.delete_key, doc_key(existing.name, existing.content_hash))
            return existing

    async def documents(self) -> list[DocumentRecord]:
        """The documents (curated answers are listed by `list_curated`)."""
        return [r for r in await self.registry.all() if not r.name.startswith(CURATED_PREFIX)]

    @staticmethod
    def supported_types() -> list[str]:
        return sorted(SUPPORTED_SUFFIXES)

    # ------------------------------------------------------------------ questions

    def _search_query(self, question: str, history: list[Any] | None) -> str:
        q = normalize_query(question)
        if history:
            last = _last_user_text(history)
            if last and _looks_follow_up(q):
                q = normalize_query(last) + " " + q
        q = prepare(q)
        extra = expand_english(q) + expansion_terms(q)
        for c in analyze(q, self.index.bm25):
            extra += [a for a in c.alts if a not in extra and self.index.bm25.df(a)]
        if extra:
            q = q + " " + " ".join(extra)
        return q

    def _alt_queries(self, question: str, history: list[Any] | None) -> list[str]:
        """The question's Chinese translations (English words, via the glossary), as a query of its own."""
        q = prepare(self._grounding_text(question, history))
        zh = expand_english(q)
        return [" ".join(zh)] if len(zh) >= 1 and detect_language(q) == "en" else []

    def _grounding_text(self, question: str, history: list[Any] | None) -> str:
        if history:
            last = _last_user_text(history)
            if last and _looks_follow_up(normalize_query(question)):
                return last + " " + question
        return question

    async def retrieve(
        self,
        question: str,
        *,
        k: int = 10,
        filters: dict[str, Any] | None = None,
        history: list[Any] | None = None,
        lang: str | None = None,
    ) -> list[Hit]:
        await self.start()
        await self._maybe_refresh()
        allowed = set(self._current.values())
        if not allowed:
            return []
        # query analysis, both lexical channels, the dense channel and the re-ranking: one worker thread
        return await asyncio.to_thread(self._retrieve_sync, question, k, filters, history, lang, allowed)

    def _retrieve_sync(
        self,
        question: str,
        k: int,
        filters: dict[str, Any] | None,
        history: list[Any] | None,
        lang: str | None,
        allowed: set[str],
    ) -> list[Hit]:
        query = self._search_query(question, history)
        alt = self._alt_queries(question, history)
        hits = self.index.search(query, k=max(k, 20), allowed_keys=allowed, where=filters, alt_queries=alt).hits
        if hits:
            concepts = analyze(self._grounding_text(question, history), self.index.bm25)
            total = sum(c.weight for c in concepts) or 1.0
            for h in hits:
                title = nfkc(str(h.meta.get("title", ""))).lower()
                in_title = sum(c.weight for c in concepts if c.found_in(title, set()))
                # a question naming the product in a document's title belongs to that document
                h.score += TITLE_BOOST * in_title / total
                if lang and h.meta.get("lang") == lang:
                    h.score += LANG_BOOST
            hits.sort(key=lambda h: -h.score)
        return hits[:k]

    async def ask(
        self,
        question: str,
        lang: str | None = None,
        history: list[Any] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Answer:
        """`lang`: the language of the QUESTION (the reply's language); detected when not given."""
        await self.start()
        question = (question or "").strip()
        lang = lang or detect_language(question)
        lang = "en" if lang.startswith("en") else "zh"
        hits = await self.retrieve(question, k=10, filters=filters, history=history, lang=lang) if question else []
        retrieved = _ranked_docs(hits)
        early = self._early_reply(question, lang, retrieved)
        if early is not None:
            return early
        curated = await self._curated_reply(self._grounding_text(question, history), retrieved)
        if curated is not None:
            return curated
        kind = compliance_kind(question)
        if kind is not None:
            text, pid, phash = compliance_reply(kind, lang)
            return Answer(text, [], False, True, pid, phash, mode="declined", reason=f"compliance: {kind}",
                          retrieved=retrieved)
        asked = self._grounding_text(question, history)
        threshold = self.grounding_threshold * (EN_THRESHOLD_FACTOR if lang == "en" else 1.0)
        g = await asyncio.to_thread(grounding, asked, hits, self.index.bm25, threshold=threshold)
        if not g.grounded:
            return Answer(decline_text(lang), [], False, True, mode="declined", reason=g.reason, retrieved=retrieved)
        top = _prefer_language(_prefer_titled(hits[: self.top_k], asked, self.index.bm25), lang)
        if not _subject_covered(asked, top[0]):
            return Answer(decline_text(lang), [], False, True, mode="declined", reason="subject not in the passages",
                          retrieved=retrieved)
        pool = top + self.index.hits_of_key(str(top[0].meta.get("doc_key", "")), {h.id for h in top})[:POOL_EXTRA]
        composed = await asyncio.to_thread(compose, asked, pool, self.index.bm25, lang)
        if not composed.lines:
            return Answer(decline_text(lang), [], False, True, mode="declined", reason="nothing to quote",
                          retrieved=retrieved)
        lead = pool[composed.lead_hit]
        effective = ""
        if {"rate", "fee"} & set(asked_kinds(asked)):
            effective = effective_date(self.index.texts_of_key(str(lead.meta.get("doc_key", ""))))
        extractive = render_answer(composed, lead, lang, effective)
        unsafe = asks_for_secrets(extractive)
        if unsafe:  # the passage itself asks for secrets (a planted instruction): never quoted to a customer
            log.warning("knowledge: best passage %s; declined", unsafe)
            return Answer(decline_text(lang), [], False, True, mode="declined", reason=f"passage {unsafe}",
                          retrieved=retrieved)
        sources = _sources([lead, *[h for h in top if h is not lead]])[:1]
        if self.llm is None:
            return Answer(extractive, sources, True, False, mode="extractive", reason=g.reason, retrieved=retrieved)
        return await self._llm_answer(question, lang, top, sources, extractive, retrieved)

    def _early_reply(self, question: str, lang: str, retrieved: list[str]) -> Answer | None:
        """Questions declined before the documents: the customer's own records, other banks."""
        if not question or (_FIRST_PERSON.search(question) and is_personal_question(question, lang)):
            return Answer(decline_text(lang, personal=bool(question)), [], False, True, mode="declined",
                          reason="personal", retrieved=retrieved)
        if mentions_other_bank(question):
            return Answer(decline_text(lang), [], False, True, mode="declined", reason="other bank",
                          retrieved=retrieved)
        return None

    async def _curated_reply(self, question: str, retrieved: list[str]) -> Answer | None:
        """The bank's approved wording, verbatim, when the question is a close paraphrase of one."""
        allowed = set(self._current.values())
        found = await asyncio.to_thread(self.index.search_curated, question, allowed)
        for meta, sim in found:
            c = curated_from_meta(meta)
            if close_enough(question, c.question, sim):
                src = Source(str(meta.get("doc", "")), c.source or str(meta.get("title", "")), "", sim)
                return Answer(c.answer, [src], True, False, mode="curated", reason=f"curated {c.id} ({sim:.3f})",
                              retrieved=[str(meta.get("doc", "")), *retrieved])
        return None

    # ------------------------------------------------------------------ curated answers

    async def save_curated(self, question: str, answer: str, *, source: str = "", by: str | None = None
                           ) -> CuratedAnswer:
        """Add (or, for the same question, replace) an approved answer. Raises CuratedError on bad input."""
        await self.start()
        c = make_curated(question, answer, source)
        chunk = curated_chunk(c)
        async with self._write_lock:
            await asyncio.to_thread(self.index.add_chunks, [chunk])
            doc = LoadedDocument(c.name, str(chunk.metadata["title"]), c.lang, [], 1, len(c.answer.encode()),
                                 str(chunk.metadata["content_hash"]), "curated")
            item = await self._switch(doc, str(chunk.metadata["doc_key"]), 1, by)
        if item.status == "failed":
            raise CuratedError(item.reason)
        c.updated_by = by
        c.updated_at = utcnow()
        return c

    async def remove_curated(self, curated_id: str) -> bool:
        return await self.remove(CURATED_PREFIX + curated_id) is not None

    async def list_curated(self) -> list[CuratedAnswer]:
        await self.start()
        records = {r.name: r for r in await self.registry.all() if r.name.startswith(CURATED_PREFIX)}
        out = []
        with_meta = {str(m.get("doc")): m for m in list(self.index.curated.values())}
        for name, record in sorted(records.items(), key=lambda x: x[1].updated_at, reverse=True):
            meta = with_meta.get(name)
            if meta is None:
                continue
            c = curated_from_meta(meta)
            c.updated_by, c.updated_at = record.loaded_by, record.updated_at
            out.append(c)
        return out

    async def _llm_answer(
        self, question: str, lang: str, hits: list[Hit], sources: list[Source], extractive: str, retrieved: list[str]
    ) -> Answer:
        from prompts import load_prompt

        prompt = load_prompt(f"knowledge/answer_{lang}.txt")
        chain = build_llm_chain(self.llm, prompt.text)
        try:
            text = await asyncio.wait_for(
                chain.ainvoke({"question": question, "passages": format_passages(hits)}), self.llm_timeout_s
            )
        except Exception as exc:  # noqa: BLE001 - 429, 5xx, timeouts...: the extractive answer instead
            log.warning("knowledge: LLM failed (%s); extractive answer instead", type(exc).__name__)
            return Answer(extractive, sources, True, False, prompt.id, prompt.hash, mode="extractive",
                          reason=f"llm error: {type(exc).__name__}", retrieved=retrieved)
        text = (text or "").strip()
        if text.upper().startswith(NOT_FOUND_MARK) or text == "":
            return Answer(decline_text(lang), [], False, True, prompt.id, prompt.hash, mode="declined",
                          reason="llm: not in passages", retrieved=retrieved)
        problem = check_llm_answer(text, hits, question)
        if problem:
            log.warning("knowledge: LLM answer rejected (%s); extractive answer instead", problem)
            return Answer(extractive, sources, True, False, prompt.id, prompt.hash, mode="extractive",
                          reason=f"llm answer rejected: {problem}", retrieved=retrieved)
        return Answer(text, sources, True, False, prompt.id, prompt.hash, mode="llm", retrieved=retrieved)

    async def find_contact(self, topic: str = "挂失 客服热线 电话", lang: str = "zh") -> Answer:
        """E.g. the bank's emergency / lost-card phone number, from the documents."""
        return await self.ask(topic, lang=lang)


def _warm_up() -> None:
    """Once per process: the tokeniser's, part-of-speech and pinyin dictionaries, the parsers' modules
    (loaded lazily they cost the first question about a second, and everything queued behind it)."""
    import importlib

    import jieba.posseg

    from knowledge.chunking import romanize

    tokenize("预热 warm-up")
    jieba.posseg.lcut("预热")
    romanize("预热")
    for module in ("pypdf", "docx", "openpyxl", "bs4"):
        try:
            importlib.import_module(module)
        except ImportError:  # pragma: no cover - reported when such a file is loaded
            pass


def _prefer_language(hits: list[Hit], lang: str) -> list[Hit]:
    """A passage in the question's language goes first when it ranks close to the best one."""
    if not hits or hits[0].meta.get("lang") == lang:
        return hits
    for i, h in enumerate(hits[1:3], start=1):
        if h.meta.get("lang") == lang and h.score >= hits[0].score * 0.85:
            return [h, *hits[:i], *hits[i + 1 :]]
    return hits


def _prefer_titled(hits: list[Hit], question: str, bm25: BM25Index) -> list[Hit]:
    """Look-alike products ('稳盈180天' / '稳盈90天'): the passage whose document title names more
    of what the question names goes first."""
    if len(hits) < 2:
        return hits
    concepts = analyze(question, bm25)

    def named(h: Hit) -> float:
        title = nfkc(str(h.meta.get("title", ""))).lower()
        return sum(c.weight for c in concepts if c.found_in(title, set()))

    best = max(range(len(hits)), key=lambda i: (named(hits[i]), -i))
    if best and named(hits[best]) > named(hits[0]) + 1.0:
        return [hits[best], *hits[:best], *hits[best + 1 :]]
    return hits


def _subject_covered(question: str, hit: Hit) -> bool:
    q = normalize_query(question).lower()
    text = nfkc(hit.text).lower()
    for names in _CURRENCIES:
        named = [n for n in names if (n in q if not n.isascii() else re.search(rf"\b{re.escape(n)}s?\b", q))]
        if named and not any(n in text for n in names):
            return False
    return True


def _same_document(a: Hit, b: Hit) -> bool:
    """One document in two formats (faq.csv and faq.xlsx) is one source."""
    return Path(a.doc).stem == Path(b.doc).stem and a.meta.get("title") == b.meta.get("title")


def _sources(hits: list[Hit]) -> list[Source]:
    """One source per document, in the order given."""
    out: list[Source] = []
    kept: list[Hit] = []
    for h in hits:
        if any(h.doc == k.doc or _same_document(h, k) for k in kept):
            continue
        kept.append(h)
        page = int(h.meta.get("page") or 0) or None
        out.append(Source(h.doc, str(h.meta.get("title", "")), str(h.meta.get("section", "")), h.score, page))
    return out


def _ranked_docs(hits: list[Hit]) -> list[str]:
    out: list[str] = []
    for h in hits:
        if h.doc not in out:
            out.append(h.doc)
    return out


def _last_user_text(history: list[Any]) -> str:
    for item in reversed(history):
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and item.get("role", "user") == "user":
            return str(item.get("content") or item.get("text") or "")
        role = getattr(item, "type", None) or getattr(item, "role", None)
        if role in ("human", "user"):
            return str(getattr(item, "content", ""))
    return ""


def _looks_follow_up(q: str) -> bool:
    import re

    starts = re.match(r"^(那|那么|还有|另外|and |what about|how about)", q, re.I)
    return bool(starts or re.search(r"呢[?？]?$", q)) or len(q) <= 8
