"""Curated answers (标准话术): a bank's approved wording for a question, given verbatim to a close
paraphrase of that question, with its source.

A curated answer is stored like a document of the knowledge base (one chunk, `kind` "curated",
named `curated:<id>`), so it shares the store's atomic replacement, its multi-process refresh and
its dense channel; an FAQ sheet's "approved answer" column gives curated chunks of that sheet.
Matching is deliberately strict: the bank's wording is only used where the question is the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from knowledge.chunking import Chunk, ChunkMeta, chunk_id, doc_key, header
from knowledge.text import content_terms, detect_language, normalize_query

PREFIX = "curated:"
# cosine similarity of the question to the curated question (multilingual-e5-small): 'close paraphrase'
MIN_SIMILARITY = 0.91
# below it, down to LOOSE_SIMILARITY, half the question's content words must be in the curated question
LOOSE_SIMILARITY = 0.88
MIN_OVERLAP = 0.5
MAX_QUESTION = 500
MAX_ANSWER = 4000


class CuratedError(ValueError):
    """Bad input for a curated answer (empty, too long)."""


@dataclass
class CuratedAnswer:
    id: str
    question: str
    answer: str
    source: str = ""  # the document or rule the wording comes from, shown as the source
    lang: str = "zh"
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        return PREFIX + self.id

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "question": self.question, "answer": self.answer, "source": self.source,
                "lang": self.lang, "updated_by": self.updated_by,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


def curated_id(question: str) -> str:
    """The same question (after normalisation) is the same curated answer: saving it again edits it."""
    norm = re.sub(r"[\s\W_]+", "", normalize_query(question).lower())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:12]


def make_curated(question: str, answer: str, source: str = "") -> CuratedAnswer:
    question, answer, source = (question or "").strip(), (answer or "").strip(), (source or "").strip()
    if not question or not answer:
        raise CuratedError("a curated answer needs a question and an answer / 标准话术需要问题和答案")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise CuratedError(f"question up to {MAX_QUESTION} and answer up to {MAX_ANSWER} characters")
    return CuratedAnswer(curated_id(question), question, answer, source[:200], detect_language(question))


def content_hash_of(c: CuratedAnswer) -> str:
    return hashlib.sha256(f"{c.question}\n{c.answer}\n{c.source}".encode()).hexdigest()


def curated_chunk(c: CuratedAnswer) -> Chunk:
    chash = content_hash_of(c)
    title = c.source or "标准话术 / Approved answer"
    body = f"问：{c.question}\n答：{c.answer}" if c.lang == "zh" else f"Q: {c.question}\nA: {c.answer}"
    meta: dict[str, object] = {
        "doc": c.name, "title": title, "section": "", "page": 0, "kind": "curated", "lang": c.lang,
        "product_type": "general", "doc_key": doc_key(c.name, chash), "content_hash": chash, "chunk_index": 0,
        "question": c.question, "answer": c.answer, "source": c.source,
    }
    return Chunk(id=chunk_id(c.name, chash, 0), text=f"{header(title, ())}\n{body}", body=body, metadata=meta)


def from_meta(meta: ChunkMeta) -> CuratedAnswer:
    name = str(meta.get("doc", ""))
    return CuratedAnswer(
        id=name.removeprefix(PREFIX) if name.startswith(PREFIX) else curated_id(str(meta.get("question", ""))),
        question=str(meta.get("question", "")), answer=str(meta.get("answer", "")),
        source=str(meta.get("source") or meta.get("title") or ""), lang=str(meta.get("lang") or "zh"),
    )


def close_enough(question: str, curated_question: str, similarity: float) -> bool:
    """Is `question` a close paraphrase of `curated_question`?"""
    a = re.sub(r"[\s\W_]+", "", normalize_query(question).lower())
    b = re.sub(r"[\s\W_]+", "", normalize_query(curated_question).lower())
    if a and a == b:
        return True
    if similarity >= MIN_SIMILARITY:
        return True
    if similarity < LOOSE_SIMILARITY:
        return False
    terms = content_terms(question)
    if not terms:
        return False
    target = normalize_query(curated_question).lower()
    return sum(1 for t in terms if t in target) / len(terms) >= MIN_OVERLAP
