"""The index: Chroma (through langchain-chroma) for the dense channel and as the durable chunk
store, plus the in-memory BM25 channel rebuilt from Chroma at start; reciprocal rank fusion.

Every chunk carries `doc_key` (document name + content hash); searches are restricted to the
keys the registry says are current, which is what makes replacement atomic for readers.
Methods here are synchronous (CPU and Chroma I/O); the service calls them in worker threads.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias
from urllib.parse import urlparse

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from knowledge.bm25 import BM25Index
from knowledge.chunking import Chunk, ChunkMeta, meta_float, meta_int
from knowledge.embeddings import StoreOnlyEmbeddings, embed_questions, embedding_name, queries_differ
from knowledge.text import nfkc, to_simplified, tokenize

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import Metadata, Where

_ROMAN_RE = re.compile(r" \[[a-z0-9 ]+\](?=\n|$)")
DENSE_MAX_CHARS = 400  # ~ 300 tokens: the model's cost grows with length, the gist is at the start


def dense_text(text: str) -> str:
    """What the embedding model reads: Simplified and Traditional Chinese alike, without the
    header's pinyin (there for the lexical channel), at most DENSE_MAX_CHARS."""
    return _ROMAN_RE.sub("", to_simplified(nfkc(text)), count=1)[:DENSE_MAX_CHARS]


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _one_of(field: str, values: list[str]) -> Where:
    """Chroma's filter: `field` is one of `values`."""
    among: dict[Literal["$in", "$nin"], list[FilterValue]] = {"$in": list(values)}
    return {field: among}


def _chroma_vectors(vectors: Sequence[list[float]]) -> list[Sequence[float] | Sequence[int]]:
    """Vectors as Chroma's API takes them."""
    return list(vectors)


def _stored(meta: ChunkMeta) -> Metadata:
    """Chunk metadata as Chroma stores it (scalar values only)."""
    out: dict[str, str | int | float | bool | None] = {}
    for key, value in meta.items():
        if not isinstance(value, str | int | float | bool | None):
            raise TypeError(f"chunk metadata {key!r} is a {type(value).__name__}; Chroma stores scalars only")
        out[key] = value
    return out

RRF_K = 60
ADD_BATCH = 1000
ALT_WEIGHT = 0.5  # weight of the translated-query lexical channel in the fusion
DENSE_WEIGHT = 2.0  # the dense channel counts twice BM25 in the fusion (measured: paraphrased FAQs)
ALIAS_SEP = "#q"  # id suffix of an FAQ row's question-only record (dense channel only), a passage vector
ASKED_SEP = "#a"  # id suffix of an FAQ row's question embedded as a query (models whose queries differ: e5)
QUERY_MARK = "query: "  # what a vector embedded as a query is hashed with (its own cache key)
DENSE_CACHE_MAX = 4096  # dense rankings kept (by query text) until the index changes


@dataclass
class Hit:
    id: str
    text: str
    meta: ChunkMeta
    score: float  # fused score
    bm25: float = 0.0
    dense: float = 0.0  # cosine similarity, 0 when the dense channel is off or did not find it
    bm25_rank: int | None = None
    dense_rank: int | None = None

    @property
    def doc(self) -> str:
        return str(self.meta.get("doc", ""))

    @property
    def body(self) -> str:
        return self.text.split("\n", 1)[1] if "\n" in self.text else self.text


@dataclass
class SearchResult:
    hits: list[Hit]
    query_vector: list[float] | None = None
    tokens: list[str] = field(default_factory=list)


def make_chroma_client(path: str | Path | None = None, url: str | None = None) -> ClientAPI:
    """An embedded persistent Chroma in `path`, or a Chroma server at `url` when given."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        u = urlparse(url if "://" in url else f"http://{url}")
        return chromadb.HttpClient(
            host=u.hostname or "localhost",
            port=u.port or (443 if u.scheme == "https" else 8000),
            ssl=u.scheme == "https",
            settings=settings,
        )
    if path is None:
        return chromadb.EphemeralClient(settings=settings)
    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


FilterValue: TypeAlias = str | int | float | bool
# a search restricted by chunk metadata: field -> the value it must have, or a collection of values it may have
Filters: TypeAlias = Mapping[str, FilterValue | list[FilterValue] | tuple[FilterValue, ...] | set[FilterValue]]


def chroma_where(allowed_keys: set[str] | None, where: Filters | None) -> Where | None:
    conds: list[Where] = []
    if allowed_keys is not None:
        conds.append(_one_of("doc_key", sorted(allowed_keys)))
    for key, value in (where or {}).items():
        if isinstance(value, list | tuple | set):
            among: dict[Literal["$in", "$nin"], list[FilterValue]] = {"$in": list(value)}
            conds.append({key: among})
        else:
            conds.append({key: value})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


Ranking: TypeAlias = list[tuple[str, float]]  # (chunk id, cosine similarity), best first


def _dense_rankings(
    ranked: list[tuple[str, float]], meta: Mapping[str, ChunkMeta], allowed_keys: set[str] | None
) -> tuple[Ranking, Ranking, Ranking]:
    """The store's nearest records (id, cosine distance), current versions only -> chunks by their
    passage vectors (an FAQ row by the better of its text and its question), chunks by their text alone,
    FAQ rows by their question embedded as a query."""
    best: dict[str, float] = {}
    by_text: Ranking = []
    by_question: Ranking = []
    for cid, d in ranked:
        base = cid.removesuffix(ASKED_SEP).removesuffix(ALIAS_SEP)
        if allowed_keys is not None and meta.get(base, {}).get("doc_key") not in allowed_keys:
            continue
        sim = 1.0 - float(d)
        if cid.endswith(ASKED_SEP):
            by_question.append((base, sim))
            continue
        if cid == base:
            by_text.append((base, sim))
        best[base] = max(best.get(base, -1.0), sim)
    return sorted(best.items(), key=lambda x: -x[1]), by_text, by_question


def _row_question(meta: Mapping[str, object]) -> str:
    """An FAQ row's question (matched on its own by the dense channel); empty for any other chunk."""
    if meta.get("kind") in ("faq", "curated") and not meta.get("alias_of"):
        return str(meta.get("question") or "")
    return ""


def _dense_ranks(
    passages: Ranking, by_text: Ranking, by_question: Ranking, is_row: Callable[[str], bool]
) -> dict[str, tuple[int, float]]:
    """Each chunk's place in the dense channel (rank, similarity). Documents keep their places in the
    ranking by passage vectors; FAQ rows share the places FAQ rows hold there, taken by the better of
    each row's rank there among them and its rank by question asked as a query: the n-th best FAQ question
    takes the n-th FAQ place. Ranks, not similarities, since query-to-query similarities run on another
    scale than query-to-passage ones; and the question ranking, of FAQ rows only, gives FAQ rows no place
    over documents (it would otherwise put a poor match first)."""
    asked = {cid: (rank, sim) for rank, (cid, sim) in enumerate(by_question, start=1)}
    # an FAQ row's rank by its text among FAQ rows
    text = {cid: (rank, sim) for rank, (cid, sim) in
            enumerate(((c, s) for c, s in by_text if c in asked or is_row(c)), start=1)}
    out: dict[str, tuple[int, float]] = {}
    slots: list[int] = []  # the places FAQ rows hold in the ranking by passage vectors
    places: dict[str, tuple[int, float]] = {}  # an FAQ row's place there among FAQ rows
    for rank, (cid, sim) in enumerate(passages, start=1):
        if cid in asked or is_row(cid):
            slots.append(rank)
            places[cid] = (len(slots), sim)
        else:
            out[cid] = (rank, sim)
    for cid in dict.fromkeys([*places, *asked]):
        # without question vectors (a model that embeds questions as passages), the passage ranking's order
        ranks = [r for r in (text.get(cid), asked.get(cid)) if r is not None] if asked else []
        ranks = ranks or [places[cid]]
        n, sim = min(ranks)
        out[cid] = (slots[n - 1] if n <= len(slots) else len(passages) + n - len(slots), sim)
    return out


class KnowledgeIndex:
    def __init__(self, client: ClientAPI, embeddings: Embeddings | None, collection: str = "kb") -> None:
        from langchain_chroma import Chroma

        self.embeddings = embeddings
        self.dense_enabled = embeddings is not None
        # with the dense channel off, Chroma still stores the chunks (a small hash vector)
        store_emb = embeddings if embeddings is not None else StoreOnlyEmbeddings()
        self.collection_name = f"{collection}_{_slug(embedding_name(embeddings))}"
        self.store = Chroma(
            collection_name=self.collection_name,
            embedding_function=store_emb,
            client=client,
            collection_metadata={"hnsw:space": "cosine"},
        )
        self._store_emb = store_emb
        # a model that embeds a query unlike a passage (e5) gets an FAQ question in both ways
        self.queries_differ = queries_differ(embeddings)
        self.bm25 = BM25Index()
        self.texts: dict[str, str] = {}
        self._lock = threading.RLock()
        self.alt_weight = ALT_WEIGHT
        self.dense_weight = DENSE_WEIGHT
        self.curated: dict[str, ChunkMeta] = {}  # chunk id -> metadata of curated answers
        # the dense channel's raw ranking of a query, kept until this index changes (an add, a delete,
        # a reload): a question asked again costs no Chroma round trip (the store's search and the
        # client's request are most of the dense channel's CPU), and nothing stale is ever served
        self._dense_cache: OrderedDict[tuple[str, str], tuple[list[float], list[tuple[str, float]]]] = OrderedDict()
        self._dense_lock = threading.Lock()
        self._generation = 0  # counts the changes: a ranking read across a change is not kept

    def _changed(self) -> None:
        with self._dense_lock:
            self._generation += 1
            self._dense_cache.clear()

    # -------------------------------------------------------------- lifecycle

    def load(self) -> int:
        """Rebuild the BM25 channel from the chunks stored in Chroma (at start, and when another
        process changed the knowledge base). Built aside, then swapped in: searches meanwhile
        use the previous one."""
        col = self.store._collection
        total = col.count()
        offset = 0
        bm25 = BM25Index()
        texts: dict[str, str] = {}
        curated: dict[str, ChunkMeta] = {}
        asked: set[str] = set()  # FAQ rows whose question is stored as a query
        while offset < total:
            got = col.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            if not got["ids"]:
                break
            documents, metadatas = got["documents"], got["metadatas"]
            assert documents is not None and metadatas is not None  # included above
            for cid, text, stored in zip(got["ids"], documents, metadatas, strict=True):
                meta: dict[str, object] = dict(stored or {})
                if meta.get("alias_of"):
                    if cid.endswith(ASKED_SEP):
                        asked.add(cid.removesuffix(ASKED_SEP))
                    continue
                texts[cid] = text or ""
                bm25.add(cid, text or "", str(meta.get("doc_key", "")), meta)
                if meta.get("kind") == "curated":
                    curated[cid] = meta
            offset += len(got["ids"])
        # FAQ rows stored before their question was also stored as a query (an older version of this
        # code): their question records are added now, once, rather than at the sheet's next change
        missing = [cid for cid, meta in bm25.meta.items() if cid not in asked and self._asks_apart(meta)]
        for i in range(0, len(missing), ADD_BATCH):
            ids, docs, metas = [], [], []
            for cid in missing[i : i + ADD_BATCH]:
                ids.append(cid + ASKED_SEP)
                docs.append(_row_question(bm25.meta[cid]))
                metas.append({**bm25.meta[cid], "alias_of": cid, "as_query": True})
            self._upsert(ids, docs, metas, self._vectors(docs, metas))
        with self._lock:
            self.bm25 = bm25
            self.texts = texts
            self.curated = curated
        self._changed()
        return len(bm25)

    def _asks_apart(self, meta: Mapping[str, object]) -> bool:
        """Whether an FAQ row's question is also stored as a query (e5, an FAQ row; not a curated answer,
        whose matching thresholds were measured on the question as a passage)."""
        return self.queries_differ and meta.get("kind") == "faq" and bool(_row_question(meta))

    def _upsert(self, ids: list[str], docs: list[str], metas: list[ChunkMeta], vectors: list[list[float]]) -> None:
        col = self.store._collection
        for i in range(0, len(ids), ADD_BATCH):
            col.upsert(
                ids=ids[i : i + ADD_BATCH],
                documents=docs[i : i + ADD_BATCH],
                embeddings=_chroma_vectors(vectors[i : i + ADD_BATCH]),
                metadatas=[_stored(m) for m in metas[i : i + ADD_BATCH]],
            )

    def keys(self) -> dict[str, int]:
        """doc_key -> number of chunks present."""
        with self._lock:
            out: dict[str, int] = {}
            for meta in self.bm25.meta.values():
                k = str(meta.get("doc_key", ""))
                out[k] = out.get(k, 0) + 1
            return out

    def key_ages(self) -> dict[str, float]:
        """doc_key -> seconds since its newest chunk was written (unknown: infinitely old)."""
        now = time.time()
        with self._lock:
            newest: dict[str, float] = {}
            for meta in self.bm25.meta.values():
                k = str(meta.get("doc_key", ""))
                at = meta_float(meta.get("indexed_at"))
                newest[k] = max(newest.get(k, 0.0), at)
        return {k: (now - at if at else float("inf")) for k, at in newest.items()}

    def has_key(self, key: str) -> bool:
        with self._lock:
            return bool(self.bm25.ids_for_key(key))

    def add_chunks(
        self, chunks: list[Chunk], vectors: list[list[float]] | None = None, tokens: list[list[str]] | None = None
    ) -> None:
        """Embed (unless vectors are given) and store; idempotent thanks to deterministic ids."""
        if not chunks:
            return
        texts = [c.text for c in chunks]
        now = time.time()
        for c in chunks:
            c.metadata.setdefault("indexed_at", now)
        ids, docs, metas = [c.id for c in chunks], list(texts), [dict(c.metadata) for c in chunks]
        if self.dense_enabled:
            # an FAQ row is also found by its question alone: customers paraphrase the question
            for c in chunks:
                q = _row_question(c.metadata)
                if q:
                    ids.append(c.id + ALIAS_SEP)
                    docs.append(q)
                    metas.append({**c.metadata, "alias_of": c.id})
                    if self._asks_apart(c.metadata):
                        ids.append(c.id + ASKED_SEP)
                        docs.append(q)
                        metas.append({**c.metadata, "alias_of": c.id, "as_query": True})
        if vectors is None or len(vectors) != len(ids):
            vectors = self._vectors(docs, metas)
        self._upsert(ids, docs, metas, vectors)
        self._changed()
        if tokens is None:
            tokens = [tokenize(t) for t in texts]
        with self._lock:
            for c, toks in zip(chunks, tokens, strict=True):
                self.texts[c.id] = c.text
                if c.metadata.get("kind") == "curated":
                    self.curated[c.id] = dict(c.metadata)
                self.bm25.add(c.id, c.text, str(c.metadata.get("doc_key", "")), dict(c.metadata), tokens=toks)

    def _vectors(self, docs: list[str], metas: list[ChunkMeta]) -> list[list[float]]:
        """Vectors for the records; a text already stored (a re-ingest, a new version sharing most of
        its chunks with the old one) reuses its stored vector instead of being embedded again.

        An FAQ row's `as_query` record is its question embedded as the customer's question is (e5: 'query: '
        on both sides, the model's way for paraphrases): question to question."""
        if not self.dense_enabled:
            return self._store_emb.embed_documents(docs)
        norm = [dense_text(d) for d in docs]
        asked = [bool(m.get("as_query")) for m in metas]
        hashes = [text_hash(QUERY_MARK + n if a else n) for n, a in zip(norm, asked, strict=True)]
        for m, h in zip(metas, hashes, strict=True):
            m["vec_hash"] = h
        known: dict[str, list[float]] = {}
        col = self.store._collection
        wanted = sorted(set(hashes))
        for i in range(0, len(wanted), 500):
            got = col.get(where=_one_of("vec_hash", wanted[i : i + 500]), include=["embeddings", "metadatas"])
            for emb, meta in zip(got["embeddings"] if got["embeddings"] is not None else [], got["metadatas"] or [],
                                 strict=False):
                known[str((meta or {}).get("vec_hash"))] = [float(x) for x in emb]
        text_of = dict(zip(hashes, norm, strict=True))
        kind_of = dict(zip(hashes, asked, strict=True))
        for as_query in (False, True):
            todo = [h for h in dict.fromkeys(hashes) if kind_of[h] is as_query and h not in known]
            if todo:
                texts = [text_of[h] for h in todo]
                vecs = embed_questions(self._store_emb, texts) if as_query else self._store_emb.embed_documents(texts)
                known.update(zip(todo, vecs, strict=True))
        return [known[h] for h in hashes]

    def delete_key(self, key: str) -> int:
        with self._lock:
            ids = self.bm25.ids_for_key(key)
        self.store._collection.delete(where={"doc_key": key})
        self._changed()
        with self._lock:
            self.bm25.remove(ids)
            for cid in ids:
                self.texts.pop(cid, None)
                self.curated.pop(cid, None)
        return len(ids)

    def search_curated(self, query: str, allowed_keys: set[str], k: int = 3) -> list[tuple[ChunkMeta, float]]:
        """Curated answers of current versions, each with the cosine similarity of its question to
        the query (0 when the dense channel is off), best first."""
        with self._lock:
            metas = {cid: m for cid, m in self.curated.items() if m.get("doc_key") in allowed_keys}
        if not metas:
            return []
        sims: dict[str, float] = {}
        vec = self.embed_query(query) if self.dense_enabled else None
        if vec is not None:
            keys = sorted({str(m.get("doc_key")) for m in metas.values()})
            res = self.store._collection.query(
                query_embeddings=_chroma_vectors([vec]),
                n_results=min(k * 2, 2 * len(metas)),
                where={"$and": [_one_of("doc_key", keys), {"kind": "curated"}]},
                include=["distances"],
            )
            for cid, d in zip(res["ids"][0] if res["ids"] else [], (res.get("distances") or [[]])[0], strict=False):
                if cid.endswith(ALIAS_SEP):  # the question-only record
                    sims[cid.removesuffix(ALIAS_SEP)] = 1.0 - float(d)
        ranked = sorted(metas.items(), key=lambda x: -sims.get(x[0], 0.0))
        # without vectors only the same question matches: every one is a candidate
        return [(m, sims.get(cid, 0.0)) for cid, m in (ranked[:k] if self.dense_enabled else ranked)]

    def hits_of_key(self, key: str, exclude: set[str]) -> list[Hit]:
        """The chunks of one document version as hits (score 0), in document order."""
        with self._lock:
            ids = [cid for cid in self.bm25.ids_for_key(key) if cid not in exclude]
            ids.sort(key=lambda cid: meta_int(self.bm25.meta.get(cid, {}).get("chunk_index")))
            return [Hit(cid, self.texts.get(cid, ""), self.bm25.meta.get(cid, {}), 0.0) for cid in ids]

    def texts_of_key(self, key: str) -> list[str]:
        """The chunk texts of one document version, in document order."""
        with self._lock:
            ids = self.bm25.ids_for_key(key)
            ordered = sorted(ids, key=lambda cid: meta_int(self.bm25.meta.get(cid, {}).get("chunk_index")))
            return [self.texts.get(cid, "") for cid in ordered]

    def count(self) -> int:
        return len(self.bm25)

    # -------------------------------------------------------------- search

    def embed_query(self, text: str) -> list[float] | None:
        if self.embeddings is None:
            return None
        return self.embeddings.embed_query(dense_text(text))

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        allowed_keys: set[str] | None = None,
        where: Filters | None = None,
        fetch: int = 30,
        weights: tuple[float, float] = (1.0, 1.0),
        alt_queries: list[str] | None = None,
    ) -> SearchResult:
        tokens = tokenize(query)
        with self._lock:
            lex = self.bm25.search(query, k=fetch, allowed_keys=allowed_keys, where=where, tokens=tokens)
            # extra lexical channels: the query's translations and synonyms, ranked on their own so
            # that an English question still reaches Chinese documents
            alt_lex = [
                self.bm25.search(q, k=fetch, allowed_keys=allowed_keys, where=where) for q in (alt_queries or [])
            ]
        dense: Ranking = []
        by_text: Ranking = []
        asked: Ranking = []
        vec = None
        if self.dense_enabled and (allowed_keys is None or allowed_keys):
            vec, ranked = self._dense_ranking(query, where, fetch * 2)
            dense, by_text, asked = _dense_rankings(ranked, self.bm25.meta, allowed_keys)
        w_lex, w_dense = weights[0], weights[1] * self.dense_weight
        fused: dict[str, Hit] = {}
        with self._lock:
            for rank, (cid, s) in enumerate(lex, start=1):
                meta = self.bm25.meta.get(cid)
                if meta is None:
                    continue
                fused[cid] = Hit(cid, self.texts.get(cid, ""), meta, w_lex / (RRF_K + rank), bm25=s, bm25_rank=rank)
            for ranking in alt_lex:
                for rank, (cid, _s) in enumerate(ranking, start=1):
                    meta = self.bm25.meta.get(cid)
                    if meta is None:
                        continue
                    h = fused.get(cid)
                    if h is None:
                        h = fused[cid] = Hit(cid, self.texts.get(cid, ""), meta, 0.0)
                    h.score += self.alt_weight * w_lex / (RRF_K + rank)
            def is_row(cid: str) -> bool:
                return bool(_row_question(self.bm25.meta.get(cid, {})))

            for cid, (rank, sim) in _dense_ranks(dense, by_text, asked, is_row).items():
                meta = self.bm25.meta.get(cid)
                if meta is None:  # deleted between the two reads
                    continue
                h = fused.get(cid)
                if h is None:
                    h = fused[cid] = Hit(cid, self.texts.get(cid, ""), meta, 0.0)
                h.score += w_dense / (RRF_K + rank)
                h.dense = sim
                h.dense_rank = rank
        hits = sorted(fused.values(), key=lambda h: -h.score)[:k]
        return SearchResult(hits=hits, query_vector=vec, tokens=tokens)

    def _dense_ranking(self, query: str, where: Filters | None, n: int
                       ) -> tuple[list[float] | None, list[tuple[str, float]]]:
        """The query's vector and the store's nearest records (id, cosine distance), nearest first."""
        key = (dense_text(query), json.dumps([where, n], sort_keys=True, default=str))
        with self._dense_lock:
            hit = self._dense_cache.get(key)
            if hit is not None:
                self._dense_cache.move_to_end(key)
                return hit
            generation = self._generation
        vec = self.embed_query(query)
        if vec is None:
            return None, []
        # the current versions are checked by the caller, not by Chroma: a filter on a thousand document
        # keys costs Chroma more than the search itself; old versions are few and short-lived
        res = self.store._collection.query(
            query_embeddings=_chroma_vectors([vec]),
            n_results=n,
            where=chroma_where(None, where),
            include=["distances"],
        )
        ids = res["ids"][0] if res["ids"] else []
        distances = res["distances"]
        dists = distances[0] if distances else []
        found = (vec, [(cid, float(d)) for cid, d in zip(ids, dists, strict=True)])
        with self._dense_lock:
            if self._generation == generation:  # the index did not change meanwhile
                self._dense_cache[key] = found
                while len(self._dense_cache) > DENSE_CACHE_MAX:
                    self._dense_cache.popitem(last=False)
        return found

    def as_documents(self, hits: list[Hit]) -> list[Document]:
        return [Document(page_content=h.text, metadata={**h.meta, "score": h.score}, id=h.id) for h in hits]
