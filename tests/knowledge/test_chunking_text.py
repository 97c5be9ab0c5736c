from __future__ import annotations

from knowledge.bm25 import BM25Index
from knowledge.chunking import ZH_MAX_CHARS, chunk_document, chunk_id
from knowledge.loaders import Block, LoadedDocument, load_bytes
from knowledge.personal import is_personal_question, mentions_other_bank
from knowledge.text import detect_language, numbers_in, split_sentences, tokenize
from tests.knowledge.conftest import RATES_V1


def _doc(blocks: list[Block], title: str = "测试文档") -> LoadedDocument:
    return LoadedDocument("t.md", title, "zh", blocks, 1, 10, "ab" * 32, "md")


def test_chunks_carry_title_and_section_and_stay_within_size():
    long_para = "。".join(f"第{i}条规则说明利率按照挂牌利率执行" for i in range(60)) + "。"
    doc = _doc([Block("短段落。", ("一、总则",)), Block(long_para, ("二、细则",))])
    chunks = chunk_document(doc)
    assert chunks[0].text.startswith("《测试文档》 一、总则")
    assert all(c.metadata["section"] for c in chunks)
    long_parts = [c for c in chunks if c.metadata["section"] == "二、细则"]
    assert len(long_parts) >= 2
    assert all(len(c.body) <= ZH_MAX_CHARS * 1.2 for c in long_parts)
    # split at sentence ends, never in the middle of a sentence
    assert all(c.body.endswith("。") for c in long_parts)


def test_faq_rows_are_one_chunk_each_and_ids_are_deterministic():
    data = "问题,答案\n问一,答一\n问二,答二\n问三,答三\n".encode()
    doc = load_bytes("faq.csv", data)
    chunks = chunk_document(doc)
    assert [c.metadata["kind"] for c in chunks] == ["faq", "faq", "faq"]
    again = chunk_document(load_bytes("faq.csv", data))
    assert [c.id for c in chunks] == [c.id for c in again]
    other = chunk_document(load_bytes("faq.csv", data + "问四,答四\n".encode()))
    assert other[0].id != chunks[0].id  # a new version gets new ids
    assert chunk_id("faq.csv", "x" * 64, 3) == chunk_id("faq.csv", "x" * 64, 3)


def test_markdown_table_rows_keep_their_header():
    chunks = chunk_document(load_bytes("rates.md", RATES_V1.encode()))
    table = next(c for c in chunks if "1.55%" in c.body)
    assert "存期:1年" in table.body and table.metadata["section"] == "一、定期存款利率"
    assert table.metadata["product_type"] == "deposit"


def test_tokenize_chinese_english_codes_and_traditional():
    toks = tokenize("信用卡年費怎麼免？ Annual fees for R4 funds, code HGWY180018")
    assert "信用卡" in toks and "年费" in toks  # traditional characters folded to simplified
    assert "r4" in toks and "hgwy180018" in toks and "annual" in toks and "fee" in toks
    assert detect_language("What is the rate?") == "en" and detect_language("利率是多少") == "zh"
    assert split_sentences("第一句。第二句！Third one. Fourth?") == ["第一句。", "第二句！", "Third one.", "Fourth?"]
    # never cut inside brackets, and an English ";" does not end the sentence (no "from abroad …)." fragments)
    assert split_sentences("Call 400-800-1234 (cards: 400-800-5678; abroad +86-21-5888-1234). Costs RMB 10; free.\n"
                           "到账（限额1万元；超出T+1）。普通赎回；无限额。") == [
        "Call 400-800-1234 (cards: 400-800-5678; abroad +86-21-5888-1234).", "Costs RMB 10; free.",
        "到账（限额1万元；超出T+1）。", "普通赎回；", "无限额。"]
    assert numbers_in("年利率1.30%，起存12,000元，热线400-618-9595") >= {"1.3", "12000", "400", "618", "9595"}


def test_bm25_add_remove_and_filters():
    idx = BM25Index()
    idx.add("a", "定期存款利率1.30%", "d1#1", {"lang": "zh"})
    idx.add("b", "信用卡年费200元", "d2#1", {"lang": "zh"})
    idx.add("c", "deposit rate 1.30%", "d3#1", {"lang": "en"})
    assert idx.search("定期利率")[0][0] == "a"
    assert [cid for cid, _ in idx.search("利率", allowed_keys={"d3#1", "d2#1"})] == []
    assert [cid for cid, _ in idx.search("deposit rate", where={"lang": "en"})] == ["c"]
    assert idx.remove(["a"]) == 1 and "a" not in idx and len(idx) == 2
    assert idx.search("定期利率") == [] or idx.search("定期利率")[0][0] != "a"


def test_personal_and_other_bank_questions():
    for q in ("我的定期存款什么时候到期？", "我信用卡这个月账单要还多少", "我卡里还有多少钱", "帮我查一下余额",
              "我的活钱宝现在有多少收益"):
        assert is_personal_question(q, "zh"), q
    for q in ("What's my account balance?", "When does my deposit mature?", "How much do I owe on my card?"):
        assert is_personal_question(q, "en"), q
    for q in ("我的信用卡丢了怎么办", "ATM把我卡吞了怎么办", "定期存款利率多少", "我C3能买R4的基金吗",
              "How do I report a lost card?", "What is the annual fee?"):
        assert not is_personal_question(q), q
    assert mentions_other_bank("招商银行三年定期利率") and mentions_other_bank("HSBC mortgage rate")
    assert not mentions_other_bank("大额存单利率")
