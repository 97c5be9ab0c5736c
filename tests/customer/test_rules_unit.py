"""The conversation rules as plain functions: opt-out words, handoff and sensitive matters,
personal questions, message splitting."""

from __future__ import annotations

import pytest

from bot.services.consent import is_opt_out
from bot.services.conversations import handoff_requested, is_personal, personal_topics, sensitive_reason, split_message


@pytest.mark.parametrize("text", ["退订", "TD", "td", "STOP", "stop", "/stop", "请帮我退订谢谢", "好的TD", "Stop.",
                                  "/stop@rm_assistant_bot"])
def test_opt_out_words(text):
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["nonstop service?", "ABC LTD 的产品", "订阅", "", "stopwatch", "tdx"])
def test_not_opt_out(text):
    assert not is_opt_out(text)


@pytest.mark.parametrize("text", ["/human", "转人工", "我要人工客服", "I want to talk to a person",
                                  "speak to my manager"])
def test_handoff_requested(text):
    assert handoff_requested(text)


@pytest.mark.parametrize(("text", "reason"), [
    ("我好像被骗了", "fraud"), ("有人冒充客服", "fraud"), ("I think this is a scam", "fraud"),
    ("信用卡丢了", "lost_card"), ("my card was stolen", "lost_card"), ("怎么挂失", "lost_card"),
    ("我要投诉", "complaint"), ("I want to file a complaint", "complaint"),
    ("帮我转账五千", "transfer"), ("how do I wire money", "transfer"),
    ("我忘记密码了", "account"), ("I need to change my phone number", "account"),
    ("180天定期利率多少", None), ("信用卡年费怎么免", None),
])
def test_sensitive_reason(text, reason):
    assert sensitive_reason(text) == reason


@pytest.mark.parametrize(("text", "personal", "topics"), [
    ("我的定期什么时候到期?", True, {"deposit"}),
    ("下个月要还多少?", True, {"loan"}),
    ("my card expires when?", True, {"card"}),
    ("When does my deposit mature?", True, {"deposit"}),
    ("我的理财什么时候到期", True, {"wealth"}),
    ("180天定期利率多少", False, None),
    ("信用卡年费怎么免?", False, None),
    ("提前还款要多少违约金", False, None),
    ("我的信用卡年费是多少?", False, None),
    ("我的卡什么时候过期", True, {"card"}),
    ("What is the annual fee of my card?", False, None),
    ("我的定期利率是多少,什么时候到期?", True, {"deposit"}),
])
def test_personal_questions(text, personal, topics):
    assert is_personal(text) is personal
    if topics is not None:
        assert personal_topics(text) == topics


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


@pytest.mark.parametrize(("text", "kind"), [("你好", "greeting"), ("您好!", "greeting"), ("Hello", "greeting"),
                                            ("谢谢", "thanks"), ("thank you!", "thanks"),
                                            ("你好,180天定期利率多少", None), ("thanks, and the 90 day one?", None)])
def test_small_talk(text, kind):
    from bot.services.conversations import small_talk

    assert small_talk(text) == kind


@pytest.mark.parametrize(("text", "expected"), [
    ("我的信用卡年费是多少?", "信用卡年费是多少?"),
    ("What is the annual fee of my card?", "What is the annual fee of the card?"),
    ("我的定期什么时候到期?", "我的定期什么时候到期?"),
])
def test_question_for_documents(text, expected):
    from bot.services.conversations import question_for_documents

    assert question_for_documents(text) == expected
