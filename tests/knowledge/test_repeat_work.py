"""Work a question needs only once: the dense channel's ranking is kept until the index changes
(a question asked again costs no store search, a changed index is searched again), and a
question's analysis is shared by the steps of one answer until the index's statistics change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knowledge import MemoryRegistry, build_knowledge_service
from knowledge.bm25 import BM25Index
from knowledge.embeddings import HashEmbeddings
from knowledge.query import analyze

RATES = "定期存款利率\n\n三年期定期存款年利率为2.35%，起存金额50元。\n"
CARD = "信用卡年费\n\n金卡年费为200元，每年刷卡满6次可免次年年费。\n"


class CountingQueries:
    """Wraps the Chroma collection's `query` and counts the store searches."""

    def __init__(self, collection: Any) -> None:
        self.calls = 0
        self._query = collection.query
        collection.query = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._query(*args, **kwargs)


async def _service(tmp_path: Path):
    (tmp_path / "rates.md").write_text(RATES, encoding="utf-8")
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding=HashEmbeddings(),
                                  use_llm=False)
    await svc.ingest([tmp_path / "rates.md"])
    return svc


async def test_a_question_asked_again_is_not_searched_again_in_the_store(tmp_path: Path):
    svc = await _service(tmp_path)
    counting = CountingQueries(svc.index.store._collection)
    first = await svc.retrieve("三年期定期利率是多少")
    searched = counting.calls
    assert searched >= 1
    again = await svc.retrieve("三年期定期利率是多少")
    assert counting.calls == searched  # the kept ranking
    assert [(h.id, h.dense, h.dense_rank) for h in again] == [(h.id, h.dense, h.dense_rank) for h in first]
    await svc.retrieve("信用卡年费多少")  # another question is searched
    assert counting.calls == searched + 1


async def test_a_changed_index_is_searched_again_and_the_new_passage_found(tmp_path: Path):
    svc = await _service(tmp_path)
    counting = CountingQueries(svc.index.store._collection)
    before = await svc.retrieve("金卡年费")
    assert not any("金卡" in h.text for h in before)
    (tmp_path / "card.md").write_text(CARD, encoding="utf-8")
    await svc.ingest([tmp_path / "card.md"])  # an add
    calls = counting.calls
    after = await svc.retrieve("金卡年费")
    assert counting.calls == calls + 1
    assert any("金卡" in h.text and h.dense_rank is not None for h in after)
    await svc.remove("card.md")  # a delete
    calls = counting.calls
    gone = await svc.retrieve("金卡年费")
    assert counting.calls == calls + 1
    assert not any("金卡" in h.text for h in gone)
    svc.index.load()  # a reload (another process changed the knowledge base)
    await svc.retrieve("金卡年费")
    assert counting.calls == calls + 2


def test_an_analysis_is_shared_until_the_statistics_change():
    bm25 = BM25Index()
    bm25.add("a", "定期存款利率 三年期", "k1")
    bm25.add("b", "信用卡年费", "k1")
    first = analyze("三年期定期利率是多少", bm25)
    again = analyze("三年期定期利率是多少", bm25)
    assert again == first and all(x is y for x, y in zip(again, first, strict=True))
    weights = {c.word: c.weight for c in first}
    bm25.add("c", "定期 定期 定期 利率", "k2")  # '定期' is commoner now: it weighs less
    changed = analyze("三年期定期利率是多少", bm25)
    assert {c.word: c.weight for c in changed} != weights
    assert changed == analyze("三年期定期利率是多少", bm25)
    fresh = BM25Index()  # another index with the same contents: its own analysis
    fresh.add("a", "定期存款利率 三年期", "k1")
    fresh.add("b", "信用卡年费", "k1")
    assert analyze("三年期定期利率是多少", fresh) == first
