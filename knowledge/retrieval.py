"""Retrieval: a question (with the conversation before it) -> the ranked passages of the current
documents. The query is the normalised question, a follow-up joined to the question before it,
with the words the documents use for its words (glossary, synonyms); the index searches both
lexical channels and the dense one; a passage whose document title names what the question names,
or in the question's language, ranks a little higher."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias

from knowledge.bm25 import BM25Index
from knowledge.compose import asks_word
from knowledge.glossary import expand_english
from knowledge.index import Filters, Hit, KnowledgeIndex
from knowledge.query import analyze, expansion_terms, prepare
from knowledge.text import detect_language, nfkc, normalize_query

TITLE_BOOST = 0.012
LANG_BOOST = 0.004
ASKED_TITLE_WEIGHT = 0.5  # share of a what-is-asked word's weight when a title names it


class ChatMessage(Protocol):
    """A message object of a chat history (LangChain's messages say who spoke in `type`, others in `role`)."""

    @property
    def content(self) -> object: ...


# the conversation so far, oldest first: texts (the customer's), {"role": ..., "content": ...} dicts or messages
HistoryItem: TypeAlias = str | Mapping[str, object] | ChatMessage
History: TypeAlias = Sequence[HistoryItem]


def last_user_text(history: History) -> str:
    for item in reversed(history):
        if isinstance(item, str):
            return item
        if isinstance(item, Mapping) and item.get("role", "user") == "user":
            return str(item.get("content") or item.get("text") or "")
        role = getattr(item, "type", None) or getattr(item, "role", None)
        if role in ("human", "user"):
            return str(getattr(item, "content", ""))
    return ""


def looks_follow_up(q: str) -> bool:
    starts = re.match(r"^(那|那么|还有|另外|and |what about|how about)", q, re.I)
    return bool(starts or re.search(r"呢[?？]?$", q)) or len(q) <= 8


def grounding_text(question: str, history: History | None) -> str:
    """What the question asks, a follow-up ('那三年的呢') joined to the question before it."""
    if history:
        last = last_user_text(history)
        if last and looks_follow_up(normalize_query(question)):
            return last + " " + question
    return question


class Retriever:
    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    @property
    def bm25(self) -> BM25Index:
        return self.index.bm25

    def search_query(self, question: str, history: History | None) -> str:
        q = normalize_query(question)
        if history:
            last = last_user_text(history)
            if last and looks_follow_up(q):
                q = normalize_query(last) + " " + q
        q = prepare(q)
        extra = expand_english(q) + expansion_terms(q)
        for c in analyze(q, self.bm25):
            extra += [a for a in c.alts if a not in extra and self.bm25.df(a)]
        if extra:
            q = q + " " + " ".join(extra)
        return q

    def alt_queries(self, question: str, history: History | None) -> list[str]:
        """The question's Chinese translations (English words, via the glossary), as a query of its own."""
        q = prepare(grounding_text(question, history))
        zh = expand_english(q)
        return [" ".join(zh)] if len(zh) >= 1 and detect_language(q) == "en" else []

    def retrieve(
        self,
        question: str,
        k: int,
        filters: Filters | None,
        history: History | None,
        lang: str | None,
        allowed: set[str],
    ) -> list[Hit]:
        """Query analysis, both lexical channels, the dense channel and the re-ranking (CPU work: run
        it in a worker thread)."""
        query = self.search_query(question, history)
        alt = self.alt_queries(question, history)
        hits = self.index.search(query, k=max(k, 20), allowed_keys=allowed, where=filters, alt_queries=alt).hits
        if hits:
            concepts = analyze(grounding_text(question, history), self.bm25)
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


def prefer_titled(hits: list[Hit], question: str, bm25: BM25Index) -> list[Hit]:
    """Look-alike products ('稳盈180天' / '稳盈90天'): the passage whose document title names more
    of what the question names goes first."""
    if len(hits) < 2:
        return hits
    concepts = analyze(question, bm25)

    def named(h: Hit) -> float:
        title = nfkc(str(h.meta.get("title", ""))).lower()
        # what is asked ('利率', 'fee') names a document less than what it is about: the rate sheet
        # does not take the place of the product's own document ('大额存单3年期利率')
        return sum(c.weight * (ASKED_TITLE_WEIGHT if asks_word(c.word) else 1.0)
                   for c in concepts if c.found_in(title, set()))

    best = max(range(len(hits)), key=lambda i: (named(hits[i]), -i))
    if best and named(hits[best]) > named(hits[0]) + 1.0:
        return [hits[best], *hits[:best], *hits[best + 1 :]]
    return hits


def prefer_language(hits: list[Hit], lang: str) -> list[Hit]:
    """A passage in the question's language goes first when it ranks close to the best one."""
    if not hits or hits[0].meta.get("lang") == lang:
        return hits
    for i, h in enumerate(hits[1:3], start=1):
        if h.meta.get("lang") == lang and h.score >= hits[0].score * 0.85:
            return [h, *hits[:i], *hits[i + 1 :]]
    return hits
