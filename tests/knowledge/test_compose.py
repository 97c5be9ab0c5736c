"""Answer composition: the line about what the question names (not a look-alike variant, not
another term, not the penalty rate), in the question's language where the document has it, rows
read with their headers, and an English lead only where it reads as one answer."""

from __future__ import annotations

from pathlib import Path

from knowledge.compose import Composed, asked_kinds, count_asked, english_lead, facts_of, readable_row, terms_in
from knowledge.retrieval import prefer_titled

CARDS = """<html><body><h1>示例银行信用卡年费 / Card Fees</h1>
<table><tr><th>卡种</th><th>主卡年费</th><th>附属卡年费</th></tr>
<tr><td>金卡</td><td>300元/年</td><td>150元/年</td></tr>
<tr><td>白金卡</td><td>1800元/年</td><td>免收</td></tr></table>
<p>金卡：首年免年费；一个年费周期内刷卡消费满8笔，免次年年费。</p>
<p>白金卡：一个年费周期内累计消费满15万元，免次年年费。</p>
<h2>In English</h2>
<p>Gold card: RMB 300 a year, supplementary card RMB 150; the first year is free, and 8 purchases in a fee year \
waive the next year's fee. Platinum card: RMB 1,800 a year, supplementary cards free; spending RMB 150,000 in a \
fee year waives the next year's fee.</p>
</body></html>
"""

RATES = """# 示例银行定期存款

| 存期 | 年利率 |
| --- | --- |
| 3个月 | 0.95% |
| 6个月 | 1.15% |
| 1年 | 1.25% |
| 3年 | 1.70% |
"""

LOST = """示例银行挂失服务

银行卡丢失请立即挂失。客服热线：借记卡 400-111-2222；信用卡 400-333-4444；境外请拨 +86-21-5555-6666。
"""

LOAN = """示例银行消费贷款

一、额度与利率
贷款额度1万元至30万元，期限6个月至36个月，年化利率3.6%至12%（单利），按日计息。

二、逾期
逾期按合同利率上浮50%计收罚息。
"""


def test_rows_keep_the_header_of_every_value_but_the_name():
    row = "卡种:白金卡;主卡年费:1800元/年;附属卡年费:免收"
    assert readable_row(row, "zh") == "白金卡，主卡年费：1800元/年，附属卡年费：免收"
    assert readable_row("存款种类:活期;存期:—;年利率:0.10%", "zh") == "活期，年利率：0.10%"


def test_a_value_holding_a_semicolon_stays_in_its_cell():
    row = "项目:扣款日;规则:按月可选每月1日至28日;按周可选周一至周五"
    assert readable_row(row, "zh") == "扣款日，按月可选每月1日至28日;按周可选周一至周五"


def test_which_days_asks_for_dates_and_costing_money_for_a_fee():
    assert asked_kinds("扣款日可以选哪几天") == ["date"]  # which days, not how long
    assert "period" in asked_kinds("到账要几天")
    assert "fee" in asked_kinds("补办要钱吗") and "fee" in asked_kinds("开存款证明多少钱")


def test_a_code_question_leads_with_the_code():
    assert asked_kinds("What is the bank's SWIFT code?") == ["code"]
    assert "code" not in asked_kinds("Will the bank ever ask for my SMS code?")
    assert _lead("本行总行的SWIFT代码为EXBKCNSHXXX。办理汇入汇款时请提供账号。", ["code"]) == \
        "The code is EXBKCNSHXXX."


def test_a_count_may_be_in_another_measure_than_asked():
    count = count_asked("定投扣款失败几次会被自动停掉")
    assert count is not None and count.search("连续3期扣款失败的，定投计划自动终止")
    assert not count.search("本行2026年第11期大额存单") and not count.search("余额不足5,000元")


def test_a_line_saying_the_questions_phrase_goes_first():
    from knowledge.compose import _phrases

    phrases = _phrases("What risk level are equity funds?")
    assert any(p.search("level: r4; typical products: equity funds, most qdii funds") for p in phrases)
    assert not any(p.search("level: r3; typical products: equity products; balanced funds") for p in phrases)


def test_an_english_lead_gives_the_hours_asked():
    assert _lead("手机银行:周一至周五7:00至22:00,实时成交。", ["hours"]) == "The hours are 7:00 to 22:00."
    # two ranges, and a time written '9: 00'
    assert _lead("营业时间为周一至周五9: 00-17:00,部分网点周末营业,时间为9: 30-16:00。", ["hours"]) == \
        "The hours are 9:00 to 17:00; 9:30 to 16:00."


def test_terms_compare_across_languages_and_skip_dates():
    assert terms_in("存期1年") == terms_in("12个月") == terms_in("a 1-year deposit") == {"12m"}
    assert terms_in("90天") == terms_in("90-day product") == {"90d"}
    assert terms_in("执行日期：2026年6月1日") == set()


def test_a_waiver_question_asks_for_the_condition_not_the_fee():
    assert "condition" in asked_kinds("How can I get the gold card annual fee waived?")
    assert "fee" not in asked_kinds("金卡怎么免年费")
    assert "fee" in asked_kinds("金卡年费多少")
    # an interest-free period is neither a waiver nor a rate
    assert asked_kinds("免息期最长多少天") == ["limit", "period"]
    assert "rate" not in asked_kinds("How long is the longest interest-free period?")


def _lead(line: str, kinds: list[str]) -> str:
    return english_lead(Composed([line], 0, facts=facts_of(line, kinds), kinds=kinds))


def test_english_lead_only_where_the_facts_read_as_one_answer():
    assert _lead("年化利率3.6%至12%", ["rate"]) == "The rate is 3.6% to 12%."
    assert _lead("主卡年费1800元/年", ["fee"]) == "The fee is 1800 yuan."
    # facts of several kinds glued together would mislead
    glued = _lead("快速赎回：T+0到账，每日限额1万元。普通赎回：T+1个工作日到账。", ["period"])
    assert glued == "Here is what the bank's document says."


APP = """# 示例银行手机银行指南

## 设备绑定

- 新设备绑定后24小时内，该设备的转账日累计限额临时下调为5,000元。
- 为保障安全，同一用户最多可同时绑定3台设备。
"""

SHEET = """# 示例银行存款利率表

| 存款品种 | 存期 | 年利率 |
| --- | --- | --- |
| 整存整取 | 1年 | 1.25% |
| 整存整取 | 3年 | 1.70% |
"""

# a product's name is in every passage of its own document (the title heads each one): common,
# it weighs little, less than the 'rate' a rate sheet's title names
CD = "# 示例银行大额存单产品说明书\n\n" + "".join(
    f"## {i}、{topic}\n\n大额存单{topic}以本说明书为准，详见第{i}条。\n\n"
    for i, topic in enumerate(["产品概述", "购买渠道", "转让", "质押", "提前支取", "到期处理", "风险提示",
                               "信息披露"], start=1)
) + """## 各期限年利率

| 期限 | 年利率 |
| --- | --- |
| 1年 | 1.45% |
| 3年 | 1.95% |
"""
OTHER = "".join(f"# 示例银行服务指南{i}\n\n## 办理渠道\n\n本业务可在网点柜台办理，需携带身份证件。\n\n"
                f"## 所需材料\n\n身份证件及银行卡。\n\n## 办理时间\n\n工作日9:00至17:00。\n\n" for i in range(1))


def test_a_count_question_asks_for_a_count_not_an_amount():
    zh = count_asked("手机银行最多绑几台设备")
    assert zh is not None and zh.search("最多可同时绑定3台设备") and not zh.search("限额下调为5,000元")
    en = count_asked("How many devices can I bind?")
    assert en is not None and en.search("up to 3 devices") and en.search("绑定3台设备") and not en.search("5,000元")
    # a period or an amount is not a count
    assert count_asked("How many days until it arrives?") is None
    assert count_asked("几个月能到期") is None and count_asked("最少存多少钱") is None


async def test_a_count_question_leads_with_the_count(service, tmp_path: Path):
    d = tmp_path / "app_docs"
    d.mkdir()
    (d / "app.md").write_text(APP, encoding="utf-8")
    await service.ingest([d])
    a = await service.ask("手机银行最多绑几台设备")
    assert a.grounded and "3台" in a.text.split("\n", 1)[0]
    b = await service.ask("How many devices can I bind to mobile banking?", lang="en")
    assert b.grounded and b.text.split("\n", 1)[0] == "The number is 3.", b.text


async def test_the_products_own_document_not_the_sheet_titled_after_what_is_asked(service, tmp_path: Path):
    d = tmp_path / "cd_docs"
    d.mkdir()
    (d / "sheet.md").write_text(SHEET, encoding="utf-8")
    (d / "cd.md").write_text(CD, encoding="utf-8")
    for i in range(6):
        (d / f"guide{i}.md").write_text(OTHER.replace("指南0", f"指南{i}"), encoding="utf-8")
    await service.ingest([d])
    q = "大额存单3年期利率是多少"
    hits = await service.retrieve(q, k=10)
    cd = next(h for h in hits if h.doc == "cd.md")
    sheet = next(h for h in hits if h.doc == "sheet.md")
    # the product's document ranked first keeps its place against the sheet whose title names only the rate
    assert prefer_titled([cd, sheet], q, service.index.bm25)[0] is cd
    # over a document whose title names nothing asked, a title naming the rate still goes first
    guide = next(h for h in await service.retrieve("办理渠道", k=10) if h.doc.startswith("guide"))
    assert prefer_titled([guide, sheet], q, service.index.bm25)[0] is sheet


async def _loaded(service, tmp_path: Path):
    d = tmp_path / "compose_docs"
    d.mkdir()
    (d / "cards.html").write_text(CARDS, encoding="utf-8")
    (d / "rates.md").write_text(RATES, encoding="utf-8")
    (d / "loan.txt").write_text(LOAN, encoding="utf-8")
    (d / "lost.txt").write_text(LOST, encoding="utf-8")
    await service.ingest([d])
    return service


async def test_the_line_about_the_variant_asked_not_a_look_alike(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    a = await svc.ask("金卡怎么免年费")
    assert a.grounded and a.text.startswith("金卡") and "8笔" in a.text and "白金卡" not in a.text


async def test_an_english_question_gets_the_documents_english_line(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    a = await svc.ask("What is the annual fee of the platinum card?", lang="en")
    first = a.text.split("\n", 1)[0]
    assert a.grounded and "1,800" in first and "Platinum" in first and "original" not in a.text
    b = await svc.ask("How can I get the gold card annual fee waived?", lang="en")
    assert b.grounded and "8 purchases" in b.text.split("\n", 1)[0] and "1,800" not in b.text


async def test_the_term_asked_and_no_other(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    for q in ("一年定期利率多少", "What is the 1-year time deposit rate?"):
        a = await svc.ask(q)
        assert "1.25%" in a.text.split("\n", 1)[0], q
        assert "0.95%" not in a.text and "1.70%" not in a.text, q
    assert "1.15%" in (await svc.ask("半年定期利率多少")).text.split("\n", 1)[0]


async def test_the_products_rate_first_not_the_penalty(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    a = await svc.ask("消费贷利率多少")
    assert a.grounded and "3.6%" in a.text.split("\n", 1)[0] and "罚息" not in a.text
    assert "罚息" in (await svc.ask("消费贷逾期罚息怎么算")).text


async def test_a_term_no_document_uses_is_declined(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    for q in ("Is there a cooling-off period for this loan?", "贷款有冷静期吗"):
        a = await svc.ask(q)
        assert not a.grounded and a.handoff, q


async def test_of_several_numbers_the_one_for_what_is_asked(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    a = await svc.ask("Which number do I call if I lose my credit card?", lang="en")
    assert a.text.split("\n", 1)[0] == "The number is 400-333-4444."


CASH = """# Example Daily Cash fund

## Redemption

Fast redemption arrives at once, up to RMB 10,000 per person per day.
"""

LIMITS = """# Example mobile banking guide

## Transfer limits

Daily transfer limit: RMB 50,000 with an SMS code, RMB 500,000 with face recognition.
"""


async def test_the_first_passage_must_hold_what_is_asked(service, tmp_path: Path):
    from knowledge.answer import prefer_covering

    d = tmp_path / "cover_docs"
    d.mkdir()
    (d / "cash.md").write_text(CASH, encoding="utf-8")
    (d / "limits.md").write_text(LIMITS, encoding="utf-8")
    await service.ingest([d])
    q = "Can I change my daily transfer limit?"
    hits = await service.retrieve(q, k=10)
    cash = next(h for h in hits if h.doc == "cash.md")
    limits = next(h for h in hits if h.doc == "limits.md")
    bm25 = service.index.bm25
    # ranked first for 'daily' in its title, the fund never names a transfer limit: the guide answers
    assert prefer_covering([cash, limits], q, bm25, 0.34)[0] is limits
    # a first passage that holds what is asked keeps its place
    assert prefer_covering([limits, cash], q, bm25, 0.34)[0] is limits
    assert prefer_covering([cash, limits], "How much can I redeem per day from the Daily Cash fund?", bm25,
                           0.34)[0] is cash


async def test_a_segmentation_fragment_does_not_decline_and_a_penalty_is_not_the_amount(service, tmp_path: Path):
    svc = await _loaded(service, tmp_path)
    # jieba cuts '消费贷能借多少' into '消费 / 贷能 / 借 / 多少': '贷能' is no topic the documents lack
    a = await svc.ask("消费贷能借多少")
    first = a.text.split("\n", 1)[0]
    assert a.grounded and "30万元" in first and "罚息" not in first, a.text


ISSUE = """# 示例银行2026年第5期大额存单

## 产品要素

| 项目 | 内容 |
| --- | --- |
| 发行期 | 2026年5月1日至2026年5月31日 |
| 起存金额 | 20万元 |

## 转让

持有满30天后可在App转让给他人，转让手续费为成交金额的0.02%。
"""


async def test_the_fact_asked_is_about_what_the_line_names(service, tmp_path: Path):
    d = tmp_path / "issue_docs"
    d.mkdir()
    (d / "issue.md").write_text(ISSUE, encoding="utf-8")
    await service.ingest([d])
    # the issue dates are dates, but they say nothing of a transfer
    for q, lang in (("大额存单什么时候可以转让", "zh"), ("When can I transfer the large CD?", "en")):
        a = await service.ask(q, lang=lang)
        assert a.grounded and "30天" in a.text and "5月1日" not in a.text and "05-01" not in a.text, a.text


def test_a_waiver_question_leads_with_what_it_takes():
    from knowledge.compose import _score
    from knowledge.query import Concept

    concepts = [Concept("年费", [], 1.0), Concept("免", ["减免", "免收"], 0.6)]

    def score(line: str) -> float:
        return _score(line, "", concepts, ["condition"], [])

    takes = score("在一个年费周期内，使用该卡刷卡消费满6笔，即可免收下一年费周期的年费。")
    assert takes > score("首年免年费。")  # that it is waived, not what it takes
    assert takes > score("刷卡满6笔免年费的规则不适用于本卡种。")  # the exception, not the rule
    assert takes > score("附属卡申请人须年满16周岁，申请附属卡免年费。")  # an age is no requirement met


def test_a_name_in_brackets_is_the_tier_of_another_item():
    from knowledge.compose import _named_in_brackets_only
    from knowledge.query import Concept

    gold = [Concept("金卡", [], 1.0)]
    assert _named_in_brackets_only("卡种:航空联名卡(金卡);主卡年费:480元/年", gold)
    assert not _named_in_brackets_only("卡种:标准信用卡·金卡;主卡年费:200元/年", gold)
    assert not _named_in_brackets_only("卡种:金卡(标准版);主卡年费:200元/年", gold)
