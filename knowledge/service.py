"""`KnowledgeService`: the one facade the bot, the console and the CLI use.

Async all the way: loading, chunking, embedding and searching run in worker threads
(`asyncio.to_thread`), never on the event loop. The work is done by the rooms behind it:
`ingest` (documents in and out, the current version of each), `retrieval` (a question -> ranked
passages), `answer` and `compose` (grounding, the reply, the LLM path); `ask` runs a question
through them and decides what the customer gets.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.answer import (
    Answer,
    Source,
    asks_for_secrets,
    declined,
    grounding,
    llm_answer,
    prefer_covering,
    ranked_docs,
    render_answer,
    sources_of,
    subject_covered,
)
from knowledge.compliance import compliance_kind, compliance_reason, compliance_reply
from knowledge.compose import asked_kinds, compose, effective_date
from knowledge.curated import PREFIX as CURATED_PREFIX
from knowledge.curated import CuratedAnswer, CuratedError, close_enough, curated_chunk, make_curated
from knowledge.curated import from_meta as curated_from_meta
from knowledge.index import Filters, Hit, KnowledgeIndex
from knowledge.ingest import Ingestion, IngestItem, IngestReport, expand_paths
from knowledge.loaders import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, LoadedDocument
from knowledge.personal import is_personal_question, mentions_other_bank
from knowledge.registry import DocumentRecord, DocumentRegistry, utcnow
from knowledge.retrieval import History, Retriever, grounding_text, prefer_language, prefer_titled
from knowledge.text import detect_language, tokenize

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["Answer", "IngestItem", "IngestReport", "KnowledgeService", "Source", "expand_paths"]

log = logging.getLogger(__name__)

POOL_EXTRA = 40  # chunks of the lead document read for the answering line besides the retrieved ones
# English questions are matched to Chinese passages through a glossary: their coverage is lower
EN_THRESHOLD_FACTOR = 0.75
# only a question about oneself needs one's own records ('定期最少存多少钱' is about the product)
_FIRST_PERSON = re.compile(r"我|俺|本人|咱|\b(?:my|mine|i|me|i'm|i've)\b", re.I)


class KnowledgeService:
    def __init__(
        self,
        index: KnowledgeIndex,
        registry: DocumentRegistry,
        *,
        llm: BaseChatModel | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        top_k: int = 5,
        grounding_threshold: float = 0.45,
        llm_timeout_s: float = 20.0,
        refresh_interval_s: float = 30.0,
    ) -> None:
        self.index = index
        self.registry = registry
        self.ingestion = Ingestion(index, registry, max_bytes=max_bytes)
        self.retriever = Retriever(index)
        self.llm = llm
        self.top_k = top_k
        self.grounding_threshold = grounding_threshold
        self.llm_timeout_s = llm_timeout_s
        self.refresh_interval_s = refresh_interval_s
        self._start_lock = asyncio.Lock()
        self._started = False

    @property
    def max_bytes(self) -> int:
        """The largest file accepted."""
        return self.ingestion.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self.ingestion.max_bytes = value

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Rebuild the lexical channel from the store and drop chunks of versions the registry
        does not hold (left over by an interrupted replacement)."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                # the tokeniser's dictionaries load once per process (about a second): not on a question
                await asyncio.to_thread(_warm_up)
                # and the embedding model (ONNX Runtime's session is built at load: a second or so)
                warm = getattr(self.index.embeddings, "warm", None)
                if callable(warm):
                    await asyncio.to_thread(warm)
                await self.ingestion.open()
                self._started = True

    async def refresh(self) -> bool:
        """Pick up documents another process loaded, replaced or removed (several bot instances
        sharing a Chroma server and the database): re-read the registry, and when it changed,
        rebuild the lexical channel from the store. Returns whether anything changed."""
        return await self.ingestion.refresh()

    async def _maybe_refresh(self) -> None:
        if self.refresh_interval_s and time.monotonic() - self.ingestion.refreshed_at > self.refresh_interval_s:
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
        return await self.ingestion.ingest(paths, loaded_by, progress)

    async def ingest_file(
        self, path: str | Path, *, name: str | None = None, loaded_by: str | None = None
    ) -> IngestItem:
        await self.start()
        return await self.ingestion.ingest_file(path, name=name, loaded_by=loaded_by)

    async def remove(self, name: str) -> DocumentRecord | None:
        """Remove a document and its chunks; the removed record, or None when there is no such document."""
        await self.start()
        return await self.ingestion.remove(name)

    async def documents(self) -> list[DocumentRecord]:
        """The documents (curated answers are listed by `list_curated`)."""
        return [r for r in await self.registry.all() if not r.name.startswith(CURATED_PREFIX)]

    @staticmethod
    def supported_types() -> list[str]:
        return sorted(SUPPORTED_SUFFIXES)

    # ------------------------------------------------------------------ questions

    async def retrieve(
        self,
        question: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        history: History | None = None,
        lang: str | None = None,
    ) -> list[Hit]:
        await self.start()
        await self._maybe_refresh()
        allowed = self.ingestion.current_keys()
        if not allowed:
            return []
        # query analysis, both lexical channels, the dense channel and the re-ranking: one worker thread
        return await asyncio.to_thread(self.retriever.retrieve, question, k, filters, history, lang, allowed)

    async def ask(
        self,
        question: str,
        lang: str | None = None,
        history: History | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """`lang`: the language of the QUESTION (the reply's language); detected when not given."""
        await self.start()
        await self._maybe_refresh()
        question = (question or "").strip()
        lang = lang or detect_language(question)
        lang = "en" if lang.startswith("en") else "zh"
        allowed = self.ingestion.current_keys()
        # Retrieval, re-ranking, grounding and the extractive answer in ONE worker thread: each hand-off
        # costs the event loop a wake-up and the GIL back (the loop meanwhile takes other customers'
        # updates), and the steps are CPU and store reads that need nothing from the loop.
        found = await asyncio.to_thread(self._answer, question, lang, history, filters, allowed)
        if isinstance(found, Answer):
            return found
        top, sources, extractive, retrieved = found
        assert self.llm is not None  # only then is the extractive answer handed on
        return await llm_answer(self.llm, self.llm_timeout_s, question, lang, top, sources, extractive, retrieved)

    def _answer(
        self, question: str, lang: str, history: History | None, filters: Filters | None, allowed: set[str]
    ) -> Answer | tuple[list[Hit], list[Source], str, list[str]]:
        """The answer from the documents, or (with an LLM configured) what the LLM is given:
        (passages, sources, the extractive answer, the ranked documents)."""
        hits = self.retriever.retrieve(question, 10, filters, history, lang, allowed) if question and allowed else []
        retrieved = ranked_docs(hits)
        early = self._early_reply(question, lang, retrieved)
        if early is not None:
            return early
        asked = grounding_text(question, history)
        curated = self._curated(asked, retrieved, allowed)
        if curated is not None:
            return curated
        kind = compliance_kind(question)
        if kind is not None:
            text, pid, phash = compliance_reply(kind, lang)
            return Answer(text, [], False, True, pid, phash, mode="declined", reason=compliance_reason(kind),
                          retrieved=retrieved)
        threshold = self.grounding_threshold * (EN_THRESHOLD_FACTOR if lang == "en" else 1.0)
        g = grounding(asked, hits, self.index.bm25, threshold=threshold)
        if not g.grounded:
            return declined(lang, g.reason, retrieved)
        top = prefer_titled(hits[: self.top_k], asked, self.index.bm25)
        top = prefer_language(prefer_covering(top, asked, self.index.bm25, threshold), lang)
        if not subject_covered(asked, top[0]):
            return declined(lang, "subject not in the passages", retrieved)
        pool = top + self.index.hits_of_key(str(top[0].meta.get("doc_key", "")), {h.id for h in top})[:POOL_EXTRA]
        composed = compose(asked, pool, self.index.bm25, lang)
        if not composed.lines:
            return declined(lang, "nothing to quote", retrieved)
        lead = pool[composed.lead_hit]
        effective = ""
        if {"rate", "fee"} & set(asked_kinds(asked)):
            effective = effective_date(self.index.texts_of_key(str(lead.meta.get("doc_key", ""))))
        extractive = render_answer(composed, lead, lang, effective)
        unsafe = asks_for_secrets(extractive)
        if unsafe:  # the passage itself asks for secrets (a planted instruction): never quoted to a customer
            log.warning("knowledge: best passage %s; declined", unsafe)
            return declined(lang, f"passage {unsafe}", retrieved)
        sources = sources_of([lead, *[h for h in top if h is not lead]])[:1]
        if self.llm is None:
            return Answer(extractive, sources, True, False, mode="extractive", reason=g.reason, retrieved=retrieved)
        return top, sources, extractive, retrieved

    def _early_reply(self, question: str, lang: str, retrieved: list[str]) -> Answer | None:
        """Questions declined before the documents: the customer's own records, other banks."""
        if not question or (_FIRST_PERSON.search(question) and is_personal_question(question, lang)):
            return declined(lang, "personal", retrieved, personal=bool(question))
        if mentions_other_bank(question):
            return declined(lang, "other bank", retrieved)
        return None

    def _curated(self, question: str, retrieved: list[str], allowed: set[str]) -> Answer | None:
        """The bank's approved wording, verbatim, when the question is a close paraphrase of one."""
        for meta, sim in self.index.search_curated(question, allowed):
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
        doc = LoadedDocument(c.name, str(chunk.metadata["title"]), c.lang, [], 1, len(c.answer.encode()),
                             str(chunk.metadata["content_hash"]), "curated")
        item = await self.ingestion.add_document(doc, [chunk], by)
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
