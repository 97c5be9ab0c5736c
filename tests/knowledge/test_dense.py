"""The dense channel: the offline default model, FAQ rows found by their question, Traditional
Chinese like Simplified, vectors reused by content hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import MemoryRegistry, build_knowledge_service
from knowledge.embeddings import CachedEmbeddings, HashEmbeddings
from knowledge.factory import DEFAULT_EMBEDDING, make_embeddings
from knowledge.loaders import load_bytes

FAQ_TW = """問題,答案
網點的營業時間是什麼？,大部分營業網點週一至週五9:00-17:00營業。
ATM吞卡了怎麼辦？,請致電客服熱線並攜帶身分證件到該網點領回卡片。
外國人可以開戶嗎？,可以，外籍人士持有效護照和居留許可到網點辦理。
如何投訴？多久有答覆？,可致電客服熱線投訴，我們在15個工作日內答覆。
"""


class CountingEmbeddings(HashEmbeddings):
    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return super().embed_documents(texts)


def test_traditional_headers_make_an_faq():
    doc = load_bytes("faq_tw.csv", FAQ_TW.encode("utf-8"))
    assert [b.kind for b in doc.blocks] == ["faq"] * 4


def test_a_sheet_of_questions_without_header_is_an_faq():
    rows = "营业时间是什么？,周一至周五\n能不能代办？,可以\n怎么投诉？,打热线\n"
    doc = load_bytes("qa.csv", rows.encode("utf-8"))
    assert [b.kind for b in doc.blocks] == ["faq"] * 3


def test_the_offline_default_is_a_real_multilingual_model():
    assert DEFAULT_EMBEDDING == "e5"
    emb = make_embeddings(None)
    assert isinstance(emb, CachedEmbeddings)
    q = emb.embed_query("老外能开户吗")
    good, bad = emb.embed_documents(["外国人可以开户吗？", "信用卡年费怎么减免"])
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(q, good) > dot(q, bad)
    assert emb.embed_query("老外能开户吗") == q  # cached


async def test_a_paraphrased_traditional_question_finds_its_faq_row(tmp_path: Path):
    (tmp_path / "faq_tw.csv").write_text(FAQ_TW, encoding="utf-8")
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding="e5", use_llm=False)
    await svc.ingest([tmp_path / "faq_tw.csv"])
    for question, expected in (("老外能不能開戶", "外國人"), ("卡被取款機吃了", "吞卡"), ("幾點開門", "營業時間")):
        hits = await svc.retrieve(question, k=3)
        assert expected in hits[0].text, (question, hits[0].text)
    # the question-only records are a dense detail: the lexical channel and the counts see rows
    assert svc.index.count() == 4


async def test_reingest_reuses_stored_vectors(tmp_path: Path):
    emb = CountingEmbeddings()
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding=emb, use_llm=False)
    f = tmp_path / "faq.csv"
    f.write_text(FAQ_TW, encoding="utf-8")
    await svc.ingest([f])
    first = emb.embedded
    assert first == 8  # four rows and their four questions
    f.write_text(FAQ_TW + "可以代辦嗎？,部分業務可以代辦。\n", encoding="utf-8")
    item = (await svc.ingest([f])).items[0]
    assert item.status == "replaced"
    assert emb.embedded - first == 2  # only the new row and its question


@pytest.mark.parametrize("text", ["銀行卡掛失電話", "银行卡挂失电话"])
async def test_simplified_and_traditional_questions_embed_alike(text: str):
    emb = make_embeddings("e5")
    from knowledge.index import dense_text

    assert emb.embed_query(dense_text(text)) == emb.embed_query(dense_text("银行卡挂失电话"))


async def test_an_faq_question_is_stored_as_a_query_and_matched_question_to_question(tmp_path: Path):
    # e5 reads a paraphrase best against the FAQ question embedded the way the customer's is ('query: ')
    from knowledge.index import ALIAS_SEP, ASKED_SEP, dense_text

    emb = make_embeddings("e5")
    assert emb is not None
    (tmp_path / "faq_tw.csv").write_text(FAQ_TW, encoding="utf-8")
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding=emb, use_llm=False)
    await svc.ingest([tmp_path / "faq_tw.csv"])
    got = svc.index.store._collection.get(include=["embeddings", "documents", "metadatas"])
    records = dict(zip(got["ids"], zip(got["documents"], got["embeddings"], got["metadatas"], strict=True),
                       strict=True))
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    asked = {cid: r for cid, r in records.items() if cid.endswith(ASKED_SEP)}
    assert len(asked) == 4 and len(records) == 12  # a row, its question as a passage and as a query
    for cid, (question, vector, meta) in asked.items():
        assert dot(vector, emb.embed_query(dense_text(question))) > 0.999
        passage = records[cid.removesuffix(ASKED_SEP) + ALIAS_SEP]
        assert dot(passage[1], emb.embed_documents([dense_text(question)])[0]) > 0.999
        assert meta["vec_hash"] != passage[2]["vec_hash"]  # cached apart
    assert svc.index.count() == 4
    hits = await svc.retrieve("我是外籍人士，能在你們這裡辦帳戶嗎", k=3)
    assert "外國人可以開戶" in hits[0].text


def test_faq_rows_are_reordered_by_their_questions_in_the_places_faq_rows_hold():
    from knowledge.index import _dense_ranks

    rows = {"r1", "r2", "r3"}
    passages = [("d1", 0.9), ("r1", 0.88), ("d2", 0.87), ("r2", 0.86), ("r3", 0.85)]
    by_text = [("d1", 0.9), ("r1", 0.88), ("d2", 0.87), ("r2", 0.86), ("r3", 0.85)]
    asked = [("r3", 0.95), ("r1", 0.9), ("r2", 0.8)]
    ranks = {cid: r for cid, (r, _s) in _dense_ranks(passages, by_text, asked, rows.__contains__).items()}
    # the documents keep their places; the best-asked FAQ question takes the first FAQ place (2)
    assert ranks["d1"] == 1 and ranks["d2"] == 3
    assert ranks["r3"] == 2 and ranks["r1"] == 2  # r1 is still the best FAQ row by its text
    assert ranks["r2"] == 4
    # without question vectors (a symmetric model), the order of the passage ranking
    ranks = {cid: r for cid, (r, _s) in _dense_ranks(passages, by_text, [], rows.__contains__).items()}
    assert ranks == {"d1": 1, "r1": 2, "d2": 3, "r2": 4, "r3": 5}


async def test_an_faq_row_found_by_text_and_by_question_counts_once(tmp_path: Path):
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding=HashEmbeddings(),
                                  use_llm=False)
    f = tmp_path / "faq.csv"
    f.write_text(FAQ_TW, encoding="utf-8")
    (tmp_path / "guide.txt").write_text("網點營業時間：週一至週五營業，週末休息。", encoding="utf-8")
    await svc.ingest([f, tmp_path / "guide.txt"])
    from knowledge.index import RRF_K

    hits = svc.index.search("網點的營業時間是什麼？", k=5, weights=(0.0, 1.0)).hits  # the dense channel alone
    assert "網點的營業時間是什麼" in hits[0].text
    assert hits[0].dense_rank == 1
    for h in hits:  # a row's text and its question give one rank: the better one
        assert h.dense_rank is not None
        assert h.score == pytest.approx(svc.index.dense_weight / (RRF_K + h.dense_rank))
    assert len({h.dense_rank for h in hits}) == len(hits)


def test_questions_embed_as_queries_in_a_batch():
    from knowledge.embeddings import E5Embeddings, embed_questions

    e5 = E5Embeddings()
    texts = ["外国人可以开户吗", "ATM吞卡了怎么办"]
    batch = e5.embed_questions(texts)
    for text, vec in zip(texts, batch, strict=True):
        assert sum(a * b for a, b in zip(vec, e5.embed_query(text), strict=True)) > 0.9999
    cached = CachedEmbeddings(e5)
    assert embed_questions(cached, texts) == [cached.embed_query(t) for t in texts]
    # a symmetric model embeds a question as a document
    assert embed_questions(HashEmbeddings(), texts) == HashEmbeddings().embed_documents(texts)


async def test_an_faq_is_searched_with_the_dense_channel_off(tmp_path: Path):
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding="lexical",
                                  use_llm=False)
    (tmp_path / "faq_tw.csv").write_text(FAQ_TW, encoding="utf-8")
    await svc.ingest([tmp_path / "faq_tw.csv"])
    hits = await svc.retrieve("ATM吞卡了怎麼辦", k=3)
    assert "吞卡" in hits[0].text and hits[0].dense_rank is None


async def test_faq_rows_stored_without_their_question_as_a_query_get_it_at_load(tmp_path: Path):
    # a store written before questions were stored as queries: the rows gain them when the index loads
    from knowledge.index import ASKED_SEP, dense_text

    emb = make_embeddings("e5")
    assert emb is not None
    (tmp_path / "faq_tw.csv").write_text(FAQ_TW, encoding="utf-8")
    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding=emb, use_llm=False)
    await svc.ingest([tmp_path / "faq_tw.csv"])
    col = svc.index.store._collection
    asked = [cid for cid in col.get()["ids"] if cid.endswith(ASKED_SEP)]
    assert len(asked) == 4
    col.delete(ids=asked)
    assert svc.index.load() == 4
    got = col.get(ids=asked, include=["embeddings", "documents"])
    assert sorted(got["ids"]) == sorted(asked)
    for question, vector in zip(got["documents"], got["embeddings"], strict=True):
        want = emb.embed_query(dense_text(question))
        assert sum(a * b for a, b in zip(vector, want, strict=True)) > 0.999
    n = col.count()
    svc.index.load()  # nothing more to add
    assert col.count() == n
