"""The customer's turn decided by meaning, through the real dispatcher: every emergency kind in both
languages (playbook first, hotline from the documents, urgent alert through the outbox), thanks,
abuse, action requests, personal questions with follow-ups, and the held-out figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import OutboxItem, Ticket
from tests.customer.conftest import ADMIN_TG, MANAGER_A_TG, STRANGER, USER_A, USER_B
from tests.kit.fake_bot import message_update

HELD_OUT = Path(__file__).parent / "data" / "intents_heldout.csv"


async def bind(chat, user, token, lang):
    await chat.feed(message_update(user, f"/start {token}", language_code=lang))


EMERGENCIES = [
    ("zh", "lost_card", "我的银行卡刚才被偷了", "锁卡", "lost_card"),
    ("en", "lost_card", "I can't find my debit card, I think I lost it on the bus", "lock", "lost_card"),
    ("zh", "compromised", "我怀疑我的卡号和密码被别人知道了", "锁卡", "fraud"),
    ("en", "compromised", "I think someone stole my card details, what do I do?", "Lock the card", "fraud"),
    ("zh", "unrecognised", "有一笔消费不是我本人刷的", "110", "fraud"),
    ("en", "unrecognised", "There is a payment on my card that I did not make", "police", "fraud"),
    ("zh", "scam", "说我涉嫌洗钱要转到安全账户", "96110", "fraud"),
    ("zh", "scam", "收到短信说卡被冻结让我点链接", "不要转账", "fraud"),
    ("en", "scam", "Someone called from the bank asking for my SMS code", "96110", "fraud"),
    ("zh", "phone_lost", "手机丢了，上面有手机银行", "运营商", "lost_card"),
    ("en", "phone_lost", "My phone with the banking app was stolen", "SIM", "lost_card"),
    ("zh", "card_kept", "取款机把我的卡吞了", "官方热线", "lost_card"),
    ("en", "card_kept", "The ATM kept my card", "official hotline", "lost_card"),
]


@pytest.mark.parametrize(("lang", "kind", "text", "advice", "reason"), EMERGENCIES)
async def test_emergency_playbook_first_then_urgent_alert(chat, db, bank, knowledge, lang, kind, text, advice,
                                                          reason):
    await bind(chat, USER_A, bank["invite_a"], "zh")  # a Chinese chat: the reply follows the message's language
    reqs = await chat.feed(message_update(USER_A, text, language_code="zh"))
    to_a = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    assert "95599-8888" in to_a[0] and advice in to_a[0]  # the number as the documents give it, and what to do
    assert ("王敏" in to_a[-1]) and (("relationship manager" in to_a[-1]) == (lang == "en"))
    assert not [r for r in reqs if r["chat_id"] == MANAGER_A_TG]  # the reply did not wait for the alert
    assert {c["lang"] for c in knowledge.calls} >= {lang}  # the documents were asked in the message's language
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
        alert = await s.scalar(select(OutboxItem).where(OutboxItem.chat_id == MANAGER_A_TG))
    assert ticket.reason == reason and alert.kind == "alert"
    delivered = [r for r in await chat.deliver() if r["chat_id"] == MANAGER_A_TG]
    assert len(delivered) == 1 and "紧急" in delivered[0]["text"] and f"#{ticket.id}" in delivered[0]["text"]
    assert delivered[0]["reply_markup"]["inline_keyboard"]  # Take / Reply / Close
    async with db.sessions() as s:
        assert (await s.get(Ticket, ticket.id)).notify_message_id is not None


async def test_emergency_keeps_the_specific_answer_from_the_documents(settings, db, bank, fake_bot, fake_session):
    from bot.app import build_dispatcher
    from handlers.middlewares import ThrottlingMiddleware
    from knowledge import Answer, Source
    from tests.customer.conftest import Chat

    class Docs:
        async def ask(self, question, lang=None, history=None):
            if "热线" in question or "hotline" in question:
                return Answer("24小时客服热线 400-800-1234", [Source("card.md", "挂失", "热线", 0.9)], True, False)
            return Answer("盗刷保障：须在交易后48小时内向公安机关报案并提供回执。",
                          [Source("cover.md", "盗刷保障", "条件", 0.8)], True, False)

    chat = Chat(build_dispatcher(settings, db.sessions, Docs(), throttling=ThrottlingMiddleware(limit=100)),
                fake_bot, fake_session)
    texts = await chat.texts(message_update(STRANGER, "我的信用卡被盗刷了三千块"), chat_id=STRANGER)
    # one message: what to do now first, then the documents' specific answer, then who was alerted
    assert len(texts) == 1
    text = texts[0]
    assert "400-800-1234" in text and "锁卡" in text
    assert text.index("锁卡") < text.index("48小时内") and "盗刷保障" in text
    assert text.index("48小时内") < text.index("服务团队")  # unbound: the admins are alerted
    delivered = [r for r in await chat.deliver() if r["chat_id"] == ADMIN_TG]
    assert len(delivered) == 1 and "紧急" in delivered[0]["text"]


async def test_emergency_shows_only_what_the_documents_say_about_the_case(settings, db, bank, fake_bot, fake_session):
    """"The ATM ate my card": the customer's words find a fee table; the case's own document (what an ATM keeping
    a card means) is shown instead. A passage that only repeats the hotline is not shown twice."""
    from bot.app import build_dispatcher
    from handlers.middlewares import ThrottlingMiddleware
    from knowledge import Answer, Source
    from tests.customer.conftest import Chat

    asked: list[str] = []

    class Docs:
        async def ask(self, question, lang=None, history=None):
            asked.append(question)
            if "hotline" in question or "热线" in question:
                hotline = [Source("card.md", "Cards", "Hotline", 0.9)]
                return Answer("Lost card hotline 400-800-1234", hotline, True, False)
            if "ATM" in question and "ate" not in question:  # the case's topic
                return Answer("If an ATM keeps your card, collect it at the branch within 5 working days.",
                              [Source("faq.md", "FAQ", "ATM", 0.8)], True, False, retrieved=["faq.md", "fees.md"])
            if "phone" in question:
                return Answer("The number is 400-800-1234.", [Source("card.md", "Cards", "Hotline", 0.7)], True, False)
            return Answer("Gold card annual fee RMB 300.", [Source("fees.md", "Fees", "Gold", 0.6)], True, False)

    chat = Chat(build_dispatcher(settings, db.sessions, Docs(), throttling=ThrottlingMiddleware(limit=100)),
                fake_bot, fake_session)
    text = "\n".join(await chat.texts(message_update(STRANGER, "the ATM ate my card", language_code="en"),
                                      chat_id=STRANGER))
    assert "400-800-1234" in text and "5 working days" in text and "annual fee" not in text
    text = "\n".join(await chat.texts(message_update(STRANGER + 1, "I lost my phone with the bank app on it",
                                                     language_code="en"), chat_id=STRANGER + 1))
    assert "400-800-1234" in text and "The number is" not in text


async def test_a_burst_of_alerts_is_folded_for_one_chat(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed(message_update(USER_A, "卡丢了"))
    await chat.feed(message_update(STRANGER, "我被骗了，对方让我转钱"))
    await chat.feed(message_update(STRANGER + 10, "Someone is using my card", language_code="en"))
    to_admin = [r for r in await chat.deliver() if r["chat_id"] == ADMIN_TG]
    assert len(to_admin) == 1 and to_admin[0]["text"].startswith("2 条新通知")
    async with db.sessions() as s:
        tickets = (await s.scalars(select(Ticket))).all()
    assert len(tickets) == 3
    assert all(f"#{t.id}" in to_admin[0]["text"] for t in tickets if t.manager_id is None)


@pytest.mark.parametrize(("lang", "text", "expect"), [
    ("zh", "收到，谢谢王经理", "不客气"), ("zh", "谢谢提醒", "不客气"), ("en", "Thanks a lot, got it", "welcome"),
    ("zh", "你们银行都是骗子", "/human"), ("en", "You are useless crooks", "/human"),
])
async def test_thanks_and_abuse_get_a_short_reply_and_no_ticket(chat, db, bank, knowledge, lang, text, expect):
    texts = await chat.texts(message_update(STRANGER, text, language_code=lang))
    assert len(texts) == 1 and expect in texts[0]
    async with db.sessions() as s:
        assert await s.scalar(select(Ticket)) is None
    assert knowledge.calls == []


@pytest.mark.parametrize(("lang", "text", "expect"), [
    ("zh", "帮我转500给我老婆", "不能在这里替您办理"), ("en", "Transfer 500 to my wife for me", "can't carry out"),
])
async def test_an_action_gets_how_to_do_it_not_a_ticket(chat, db, bank, lang, text, expect):
    await bind(chat, USER_A, bank["invite_a"], lang)
    texts = await chat.texts(message_update(USER_A, text, language_code=lang), chat_id=USER_A)
    assert expect in texts[0] and "王敏" in texts[0]
    async with db.sessions() as s:
        assert await s.scalar(select(Ticket)) is None


@pytest.mark.parametrize(("lang", "question", "expected"), [
    ("en", "What do I hold?", ["3 Dec 2026", "31 Jan 2027", "3,456.78"]),
    ("en", "How much money do I have?", ["50,000.00"]),
    ("zh", "我有多少钱", ["50,000.00"]),
])
async def test_personal_by_meaning(chat, bank, knowledge, lang, question, expected):
    await bind(chat, USER_A, bank["invite_a"], lang)
    texts = await chat.texts(message_update(USER_A, question, language_code=lang), chat_id=USER_A)
    assert all(e in texts[0] for e in expected), texts
    assert knowledge.calls == []


async def test_own_rate_and_a_follow_up_keep_the_deposit(chat, db, bank, knowledge):
    from bot.db.models import Product

    async with db.sessions() as s:
        (await s.scalar(select(Product).where(Product.code == "TD180"))).rate_text = "1.45%"
        await s.commit()
    await bind(chat, USER_A, bank["invite_a"], "zh")
    first = await chat.texts(message_update(USER_A, "我的定期什么时候到期?"), chat_id=USER_A)
    assert "2026年12月3日" in first[0]
    rate = await chat.texts(message_update(USER_A, "那利率呢?"), chat_id=USER_A)
    assert "1.45%" in rate[0] and "180天定期" in rate[0] and "信用卡" not in rate[0]
    assert knowledge.calls == []


async def test_unbound_customer_is_told_how_to_bind_in_english(chat, bank):
    texts = await chat.texts(message_update(STRANGER, "How much money do I have?", language_code="zh"))
    assert "invite link" in texts[0]


async def test_an_english_message_in_a_chinese_chat_is_answered_in_english(chat, bank, knowledge):
    await bind(chat, USER_B, bank["invite_b"], "zh")
    texts = await chat.texts(message_update(USER_B, "What is the 180 day deposit rate?", language_code="zh"),
                             chat_id=USER_B)
    assert knowledge.calls[-1]["lang"] == "en" and "Sources" in texts[0]


def test_held_out_figures():
    """The understanding step on the project's held-out messages (never fitted on): the Done-when figures."""
    from knowledge.intent_eval import evaluate, load_labelled
    from knowledge.understanding import Understanding

    rows = load_labelled(HELD_OUT)
    assert len(rows) >= 300 and {r.lang for r in rows} == {"zh", "en"}
    result = evaluate(Understanding.load(), rows)
    assert result["urgent_recall"]["zh"] >= 0.97 and result["urgent_recall"]["en"] >= 0.97
    assert result["ordinary_escalated"] <= 0.03
    assert result["english_urgent_in_english"] >= 0.95


def test_held_out_messages_are_not_in_the_training_data():
    import csv

    from knowledge.understanding import load_examples

    fitted = {e.text.strip().lower() for e in load_examples()}
    held = [r["text"].strip().lower() for r in csv.DictReader(HELD_OUT.open(encoding="utf-8"))]
    assert not [t for t in held if t in fitted]
