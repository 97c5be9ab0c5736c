"""The conversation rules as plain functions: opt-out words, routing by meaning (the understanding
step), personal topics and follow-ups, the reply's language, message splitting."""

from __future__ import annotations

import pytest

from bot.services.consent import is_opt_out
from bot.services.conversations import split_message


@pytest.mark.parametrize("text", ["退订", "TD", "td", "STOP", "stop", "/stop", "请帮我退订谢谢", "好的TD", "Stop.",
                                  "/stop@rm_assistant_bot", "STOP please", "退订，谢谢", " Stop!! ", "ＳＴＯＰ",
                                  "unsubscribe", "Unsubscribe me", "好的 td 谢谢", "我的卡被偷了，stop", "OK. STOP",
                                  "/stop now"])
def test_opt_out_words(text):
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["nonstop service?", "ABC LTD 的产品", "订阅", "", "stopwatch", "tdx",
                                  # the word inside a sentence is an ordinary word: the message is read by its meaning
                                  "How do I stop a direct debit?", "How can I stop my standing order?",
                                  "Stop my card, it was stolen!", "怎么停止基金定投?", "退订后还会收到到期提醒吗?",
                                  "What does TD mean?", "please stop sending me promotions"])
def test_not_opt_out(text):
    assert not is_opt_out(text)


@pytest.fixture(scope="module")
def understanding():
    from knowledge.understanding import Understanding

    return Understanding.load()


@pytest.mark.parametrize(("text", "step", "reason"), [
    ("/human", "handoff", "request"), ("转人工", "handoff", "request"), ("我要人工客服", "handoff", "request"),
    ("I want to talk to a person", "handoff", "request"), ("我要投诉", "handoff", "complaint"),
    ("我好像被骗了", "emergency", "fraud"), ("有人冒充客服让我报验证码", "emergency", "fraud"),
    ("I think this is a scam", "emergency", "fraud"), ("信用卡丢了", "emergency", "lost_card"),
    ("my card was stolen", "emergency", "lost_card"), ("ATM吞卡了", "emergency", "lost_card"),
    ("帮我转账五千", "action", None), ("transfer 500 to my wife for me", "action", None),
    ("跨行转账要手续费吗", "question", None), ("怎么修改登录密码", "question", None),
    ("180天定期利率多少", "question", None), ("信用卡年费怎么免", "question", None),
    ("收到，谢谢王经理", "thanks", None), ("谢谢提醒", "thanks", None), ("你们这些骗子", "abuse", None),
    ("退订", "optout", None), ("好的 td 谢谢", "optout", None),
])
def test_route_by_meaning(understanding, text, step, reason):
    from bot.services.conversations import route

    decided = route(understanding, text, "zh")
    assert (decided.step.value, decided.reason) == (step, reason), decided.intent


@pytest.mark.parametrize("text", [
    # "do you have / sell / do X?" in a few words, and a follow-up after thanks: product questions for the documents,
    # not small talk (no answer), abuse or a ticket (none of these is in the examples the step is fitted on)
    "有金条卖吗", "你们有大额存单吗", "有保险卖吗", "有没有贵金属业务", "能办信用卡吗", "谢谢，那一年期的呢",
    "好的，那提前支取怎么算", "Do you sell gold?", "Hi, do you have savings accounts for kids?",
    "Thanks, and what about the 1-year rate?",
])
def test_short_product_questions_go_to_the_documents(understanding, text):
    from bot.services.conversations import route
    from knowledge.understanding import load_examples

    assert text.lower() not in {e.text.strip().lower() for e in load_examples()}
    decided = route(understanding, text, "zh")
    assert decided.step.value == "question", decided.intent


@pytest.mark.parametrize("text", ["我的卡被偷了，stop", "My card was stolen. STOP"])
def test_an_emergency_with_an_opt_out_word_is_an_emergency_that_also_opts_out(understanding, text):
    from bot.services.conversations import route

    decided = route(understanding, text, "zh")
    assert decided.step.value == "emergency" and decided.opt_out


def test_stop_my_card_is_an_emergency_and_not_an_opt_out(understanding):
    from bot.services.conversations import route

    decided = route(understanding, "Stop my card, it was stolen!", "zh")
    assert decided.step.value == "emergency" and not decided.opt_out


@pytest.mark.parametrize(("text", "step"), [
    ("How do I stop a direct debit?", "question"), ("How can I stop my standing order?", "question"),
    ("怎么停止基金定投?", "question"), ("信用卡自动还款可以停止吗", "question"),
    ("STOP please", "optout"), ("退订，谢谢", "optout"),
    ("Please stop sending me promotional messages", "optout"), ("以后不要再给我推送理财广告了", "optout"),
])
def test_a_question_with_stop_is_a_question_and_an_opt_out_is_one(understanding, text, step):
    from bot.services.conversations import route
    from knowledge.understanding import load_examples

    assert text.lower() not in {e.text.strip().lower() for e in load_examples()}
    decided = route(understanding, text, "zh")
    assert decided.step.value == step, decided.intent


@pytest.mark.parametrize(("text", "step"), [
    ("你好，请问有基金定投吗", "question"), ("你好请问有基金定投吗", "question"), ("在吗？信用卡年费多少", "question"),
    ("早上好 请问大额存单起存金额多少", "question"), ("Hi, what is the annual fee of the gold card?", "question"),
    ("hello what is the fee for a wire transfer", "question"), ("你好，我的定期什么时候到期?", "personal"),
    ("Hi! When does my card expire?", "personal"), ("Good morning, my card was stolen", "emergency"),
    ("您好，我要投诉", "handoff"),
    # a greeting alone, or followed by another, is still a greeting
    ("您好，在吗?", "greeting"), ("Hi there!", "greeting"), ("Hello, good morning", "greeting"),
])
def test_a_greeting_does_not_hide_what_follows(understanding, text, step):
    from bot.services.conversations import route
    from knowledge.understanding import load_examples

    assert text.lower() not in {e.text.strip().lower() for e in load_examples()}
    decided = route(understanding, text, "zh")
    assert decided.step.value == step, decided.intent


@pytest.mark.parametrize(("text", "rest"), [
    ("你好，请问有基金定投吗", "请问有基金定投吗"), ("你好请问有基金定投吗", "请问有基金定投吗"),
    ("在吗？信用卡年费多少", "信用卡年费多少"), ("Hi, what is the annual fee?", "what is the annual fee?"),
    ("Hi there! Hello, what is the fee?", "what is the fee?"),
    ("hi what's the rate", "what's the rate"), ("你好", None), ("Hi!", None), ("his card was stolen", None),
    ("有工作人员在吗，我想咨询", None), ("信用卡年费多少", None),
])
def test_what_follows_a_greeting(understanding, text, rest):
    assert understanding.after_greeting(text) == rest


def test_a_product_question_near_the_opt_out_examples_is_not_an_opt_out(understanding):
    """An opt-out by meaning switches marketing off silently: a product question read as one only weakly goes to
    the documents."""
    from bot.services.conversations import route

    decided = route(understanding, "你们有什么理财产品推荐", "zh")
    assert decided.step.value == "question", decided.intent


@pytest.mark.parametrize(("text", "topic", "products"), [
    ("我的定期什么时候到期?", "maturity", {"deposit"}),
    ("下个月要还多少?", "loan", set()),
    ("my card expires when?", "card", {"card"}),
    ("What do I hold?", "holdings", set()),
    ("How much money do I have?", "balance", set()),
    ("我有多少钱", "balance", set()),
    ("我的定期利率是多少", "rate", {"deposit"}),
    ("我的风险评估什么时候过期?", "assessment", {"assessment"}),
])
def test_personal_questions_with_topic(understanding, text, topic, products):
    from bot.services.conversations import route

    decided = route(understanding, text, "zh")
    assert decided.step.value == "personal" and decided.topic == topic and decided.products == products


def test_a_follow_up_keeps_its_subject(understanding):
    from bot.services.conversations import route

    decided = route(understanding, "那利率呢?", "zh", previous_personal="我的定期什么时候到期?")
    assert decided.step.value == "personal" and decided.topic == "rate" and decided.products == {"deposit"}


@pytest.mark.parametrize(("text", "chat_lang", "lang"), [
    ("I think someone stole my card details, what do I do?", "zh", "en"), ("卡丢了", "en", "zh"),
    ("/stop", "zh", "zh"), ("TD", "en", "en"), ("ok", "zh", "zh"), ("我的card丢了", "en", "zh"),
])
def test_the_reply_language_is_the_messages(understanding, text, chat_lang, lang):
    from bot.services.conversations import route

    assert route(understanding, text, chat_lang).lang == lang


def test_phone_numbers_from_a_passage():
    from bot.services.conversations.rendering import phone_numbers

    assert phone_numbers("24小时挂失热线 95599-8888，境外请拨 +86-10-95599") == ["95599-8888", "+86-10-95599"]
    assert phone_numbers("利率 1.45%, 5万元起存, 2026-12-03 到期") == []


def test_split_message_keeps_entities_and_lines():
    line = "利率 &amp; 费用 " * 40  # ~600 characters with entities
    text = "\n".join([line] * 20) + "\n\n<b>资料来源</b>\n• 文档 — 章节"
    parts = split_message(text, limit=1000)
    assert len(parts) > 1 and all(len(p) <= 1000 for p in parts)
    assert all(p.count("&amp;") == p.count("&") for p in parts)  # no entity cut in half
    assert "<b>资料来源</b>" in parts[-1]
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_split_message_hard_splits_one_huge_line_outside_entities():
    text = ("ab&amp;" * 500)
    parts = split_message(text, limit=97)
    assert all(len(p) <= 97 for p in parts)
    assert all(p.count("&amp;") == p.count("&") for p in parts)
    assert "".join(parts) == text


@pytest.mark.parametrize(("lang", "with_date", "without_date"), [
    ("en", "Wealth product Daily Cash: ¥1,000.00, matures on 3 Dec 2026", "Wealth product Daily Cash: ¥1,000.00"),
    ("zh", "理财产品 Daily Cash：¥1,000.00，到期日 2026年12月3日", "理财产品 Daily Cash：¥1,000.00"),
])
def test_an_open_ended_wealth_product_shows_no_maturity(lang, with_date, without_date):
    from datetime import date
    from decimal import Decimal

    from bot.db.models import Holding, HoldingKind
    from bot.services.conversations.rendering import holding_line

    h = Holding(kind=HoldingKind.WEALTH, product_code="W1", amount=Decimal("1000"), currency="CNY",
                maturity_date=date(2026, 12, 3))
    assert holding_line(h, "Daily Cash", lang) == with_date
    h.maturity_date = None
    assert holding_line(h, "Daily Cash", lang) == without_date  # not "matures on -"
