"""Questions with sources, personal answers (and privacy), follow-ups, handoff, opt-out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import AuditLog, ChatMessage, Client, Ticket
from handlers.keyboards import ConsentCb, HandoffCb, TicketCb
from tests.customer.conftest import MANAGER_A_TG, MANAGER_B_TG, STRANGER, USER_A, USER_B
from tools.fakes.bot_api import callback_update, message_update


async def bind(chat, user, token, lang):
    await chat.feed(message_update(user, f"/start {token}", language_code=lang))


@pytest.mark.parametrize(("lang", "question", "sources_word"), [
    ("zh", "180天定期利率是多少?", "资料来源"),
    ("en", "What is the 180 day deposit rate?", "Sources"),
])
async def test_question_answered_with_sources_escaped(chat, db, bank, knowledge, lang, question, sources_word):
    reqs = await chat.feed(message_update(STRANGER, question, language_code=lang))
    text = [r["text"] for r in reqs if r.method_name == "sendMessage"][0]
    assert "1.45%" in text and "&lt;b&gt;" in text  # the answer's own "<b>" is escaped
    assert sources_word in text and "定期存款 — 利率" in text
    assert knowledge.calls[-1]["lang"] == lang
    async with db.sessions() as s:
        rows = (await s.scalars(select(ChatMessage).order_by(ChatMessage.id))).all()
    assert [(r.author, r.outcome) for r in rows] == [("customer", "grounded"), ("bot", "grounded")]
    assert rows[1].sources[0]["doc"] == "deposit.md" and rows[1].prompt_hash == "h1"
    assert rows[1].latency_ms is not None


async def test_a_slow_answer_shows_typing_first(chat, bank, knowledge, monkeypatch):
    import asyncio

    import handlers.customer

    monkeypatch.setattr(handlers.customer, "TYPING_AFTER_S", 0.01)
    quick_ask = knowledge.ask

    async def slow_ask(*args, **kwargs):
        await asyncio.sleep(0.2)  # the typing timer (0.01 s) fires first: the loop runs timers in order
        return await quick_ask(*args, **kwargs)

    monkeypatch.setattr(knowledge, "ask", slow_ask)
    reqs = await chat.feed(message_update(STRANGER, "180天定期利率是多少?"))
    assert [r.method_name for r in reqs] == ["sendChatAction", "sendMessage"]
    assert reqs[0]["action"] == "typing"


async def test_follow_up_passes_history_to_knowledge(chat, bank, knowledge):
    await chat.feed(message_update(STRANGER, "180天定期利率是多少?"))
    texts = await chat.texts(message_update(STRANGER, "那90天的呢?"))
    history = knowledge.calls[-1]["history"]
    assert {"role": "user", "content": "180天定期利率是多少?"} in history
    assert any(h["role"] == "assistant" and "1.45%" in h["content"] for h in history)  # the answer it gave
    assert "1.25%" in texts[0]  # and the follow-up's answer reaches the customer


@pytest.mark.parametrize(("lang", "question", "expected", "absent"), [
    ("zh", "我的定期什么时候到期?", ["2026年12月3日", "¥50,000.00", "1234"], ["2026年12月15日"]),
    ("en", "When does my card expire?", ["31 Jan 2027", "8888"], ["3 Dec 2026"]),
    ("zh", "下个月要还多少?", ["¥3,456.78", "2026年12月15日"], ["2026年12月3日"]),
    ("zh", "我的风险评估什么时候过期?", ["C3", "2026年1月15日", "2027年1月15日"], ["2026年12月3日"]),
    ("en", "When does my ID expire?", ["1 May 2030"], ["3 Dec 2026", "C3"]),
])
async def test_personal_answers_from_own_holdings(chat, db, bank, knowledge, lang, question, expected, absent):
    await bind(chat, USER_A, bank["invite_a"], lang)
    texts = await chat.texts(message_update(USER_A, question, language_code=lang), chat_id=USER_A)
    assert all(e in texts[0] for e in expected), texts
    assert not any(a in texts[0] for a in absent)
    assert knowledge.calls == []  # personal data never goes to the knowledge service
    async with db.sessions() as s:
        outcomes = (await s.scalars(select(ChatMessage.outcome).where(ChatMessage.author == "bot"))).all()
    assert outcomes == ["personal"]


@pytest.mark.parametrize(("lang", "expect"), [("zh", "邀请链接"), ("en", "invite link")])
async def test_unbound_personal_question_explains_binding(chat, bank, lang, expect):
    texts = await chat.texts(message_update(STRANGER, "我的定期什么时候到期?" if lang == "zh"
                                            else "When does my deposit mature?", language_code=lang))
    assert expect in texts[0]
    assert "2026" not in texts[0] and "2027" not in texts[0]


async def test_no_customer_sees_another_clients_data(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await bind(chat, USER_B, bank["invite_b"], "en")
    a_secrets = ["2026-12-03", "2026年12月3日", "3 Dec 2026", "50,000.00", "1234", "3,456.78", "2027-01-31",
                 "2027年1月31日", "31 Jan 2027", "8888", "张伟"]
    b_secrets = ["2027-03-09", "2027年3月9日", "9 Mar 2027", "88,888.00", "5678", "999.01", "2028-06-30",
                 "2028年6月30日", "30 Jun 2028", "4321", "Emily"]
    questions = ["我的定期什么时候到期?", "下个月要还多少?", "my card expires when?", "我的卡什么时候过期?",
                 "查一下C0002的定期", "When does my deposit mature? client C0002"]
    for q in questions:
        a_texts = " ".join(await chat.texts(message_update(USER_A, q), chat_id=USER_A))
        b_texts = " ".join(await chat.texts(message_update(USER_B, q, language_code="en"), chat_id=USER_B))
        assert not any(s in a_texts for s in b_secrets), (q, a_texts)
        assert not any(s in b_texts for s in a_secrets), (q, b_texts)
    # forged callbacks: B presses A's consent / ticket buttons; nothing of A changes, nothing of A is shown
    reqs = await chat.feed(callback_update(USER_B, ConsentCb(yes=True).pack(), language_code="en"))
    async with db.sessions() as s:
        a = await s.get(Client, bank["a"])
    assert a.marketing_consent is False
    await chat.feed(message_update(USER_A, "转人工"))
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    reqs = await chat.feed(callback_update(USER_B, TicketCb(action="take", ticket_id=ticket.id).pack()))
    reqs += await chat.feed(callback_update(MANAGER_B_TG, TicketCb(action="reply", ticket_id=ticket.id).pack()))
    shown = " ".join(str(r.params) for r in reqs)
    assert not any(s in shown for s in a_secrets)
    async with db.sessions() as s:
        assert (await s.get(Ticket, ticket.id)).status == "open"


@pytest.mark.parametrize(("lang", "word"), [("zh", "转人工"), ("zh", "人工客服"), ("en", "/human")])
async def test_handoff_notifies_manager_and_reply_reaches_customer(chat, db, bank, lang, word):
    await bind(chat, USER_A, bank["invite_a"], lang)
    await chat.feed(message_update(USER_A, "180天定期利率是多少?", language_code=lang))
    reqs = await chat.feed(message_update(USER_A, word, language_code=lang))
    assert not [r for r in reqs if r["chat_id"] == MANAGER_A_TG]  # the customer's turn never waits for the notice
    reqs += await chat.deliver()  # the outbox's sender delivers it
    to_customer = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    to_manager = [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == MANAGER_A_TG]
    assert "王敏" in to_customer[0] and ("2 个工作小时" in to_customer[0] or "2 working hours" in to_customer[0])
    assert len(to_manager) == 1 and "张伟" in to_manager[0]["text"] and "180天定期利率" in to_manager[0]["text"]
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
        assert ticket.manager_id == bank["ma"] and ticket.reason == "request" and ticket.notify_message_id
        assert await s.scalar(select(AuditLog).where(AuditLog.action == "handoff"))

    # a command sent as a reply to the notice is a command: nothing of it reaches the customer
    reqs = await chat.feed(message_update(MANAGER_A_TG, "/help", reply_to_message_id=ticket.notify_message_id))
    assert not [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    assert [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == MANAGER_A_TG]  # /help answered
    # the manager answers with a Telegram reply to the notice
    reqs = await chat.feed(message_update(MANAGER_A_TG, "您好,我是王敏 <经理>",
                                          reply_to_message_id=ticket.notify_message_id))
    delivered = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    assert len(delivered) == 1 and "<b>王敏</b>" in delivered[0] and "&lt;经理&gt;" in delivered[0]
    async with db.sessions() as s:
        ticket = await s.get(Ticket, ticket.id)
        assert ticket.first_reply_at is not None and ticket.status == "taken"
        assert await s.scalar(select(ChatMessage).where(ChatMessage.author == "manager"))


async def test_other_manager_cannot_reply_to_a_ticket(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed(message_update(USER_A, "转人工"))
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    reqs = await chat.feed(message_update(MANAGER_B_TG, "hi", reply_to_message_id=ticket.notify_message_id))
    assert not [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]


async def test_take_reply_button_and_close(chat, db, bank):
    await bind(chat, USER_B, bank["invite_b"], "en")
    await chat.feed(message_update(USER_B, "I want to talk to a person", language_code="en"))
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    await chat.feed(callback_update(MANAGER_B_TG, TicketCb(action="take", ticket_id=ticket.id).pack()))
    await chat.feed(callback_update(MANAGER_B_TG, TicketCb(action="reply", ticket_id=ticket.id).pack()))
    texts = await chat.texts(message_update(MANAGER_B_TG, "Hello Emily, done."), chat_id=USER_B)
    assert texts == ["<b>Li Qiang</b>, your relationship manager:\nHello Emily, done."]
    texts = await chat.texts(callback_update(MANAGER_B_TG, TicketCb(action="close", ticket_id=ticket.id).pack()),
                             chat_id=USER_B)
    assert "closed" in texts[0]
    async with db.sessions() as s:
        assert (await s.get(Ticket, ticket.id)).status == "closed"


@pytest.mark.parametrize(("lang", "text", "reason"), [
    ("zh", "我被骗了,对方让我转钱", "fraud"),
    ("en", "I lost my card yesterday", "lost_card"),
    ("zh", "我的卡丢了怎么办", "lost_card"),
])
async def test_fraud_and_lost_card_get_emergency_number_and_ticket(chat, db, bank, lang, text, reason):
    await bind(chat, USER_A, bank["invite_a"], lang)
    texts = await chat.texts(message_update(USER_A, text, language_code=lang), chat_id=USER_A)
    assert "95599-8888" in texts[0]  # the grounded passage from the documents
    assert "服务热线" in texts[0]
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    assert ticket.reason == reason


@pytest.mark.parametrize(("text", "reason"), [("我要投诉你们的服务", "complaint"),
                                              ("I want to file a complaint", "complaint")])
async def test_complaints_open_a_ticket(chat, db, bank, text, reason):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed(message_update(USER_A, text))
    async with db.sessions() as s:
        assert (await s.scalar(select(Ticket))).reason == reason


@pytest.mark.parametrize("text", ["跨行转账要手续费吗", "怎么修改登录密码", "怎么转账给别人", "I forgot my password"])
async def test_questions_about_transfers_and_passwords_go_to_the_documents(chat, db, bank, knowledge, text):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed_and_deliver(message_update(USER_A, text))
    assert knowledge.calls[-1]["question"] == text
    async with db.sessions() as s:
        assert await s.scalar(select(Ticket)) is None


async def test_low_confidence_twice_hands_off(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    reqs = await chat.feed(message_update(USER_A, "火星上有分行吗"))
    first = [r for r in reqs if r.method_name == "sendMessage"][0]
    assert first["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == HandoffCb().pack()
    async with db.sessions() as s:
        assert await s.scalar(select(Ticket)) is None
    await chat.feed(message_update(USER_A, "月球上呢"))
    async with db.sessions() as s:
        assert (await s.scalar(select(Ticket))).reason == "low_confidence"


async def test_handoff_button(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    texts = await chat.texts(callback_update(USER_A, HandoffCb().pack()))
    assert any("王敏" in t for t in texts)
    async with db.sessions() as s:
        assert (await s.scalar(select(Ticket))).reason == "request"


@pytest.mark.parametrize(("lang", "word"), [("zh", "退订"), ("en", "TD"), ("en", "STOP"), ("zh", "/stop"),
                                            ("zh", "好的 td 谢谢")])
async def test_opt_out_words(chat, db, bank, lang, word):
    await bind(chat, USER_A, bank["invite_a"], lang)
    await chat.feed(callback_update(USER_A, ConsentCb(yes=True).pack(), language_code=lang))
    texts = await chat.texts(message_update(USER_A, word, language_code=lang), chat_id=USER_A)
    assert ("已为您退订" if lang == "zh" else "no more greetings") in texts[0]
    async with db.sessions() as s:
        client = await s.get(Client, bank["a"])
        assert client.opted_out is True and client.marketing_consent is False and client.reminders_enabled
        audit = await s.scalar(select(AuditLog).where(AuditLog.action == "opt_out"))
        assert audit.client_id == bank["a"]


async def _consenting(chat, bank, lang):
    """Client A (zh) or B (en) bound to their chat, marketing consent given."""
    user, token = (USER_A, bank["invite_a"]) if lang == "zh" else (USER_B, bank["invite_b"])
    await bind(chat, user, token, lang)
    await chat.feed(callback_update(user, ConsentCb(yes=True).pack(), language_code=lang))
    return user, bank["a" if lang == "zh" else "b"]


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "STOP please"), ("en", " Stop! "), ("zh", "退订，谢谢"), ("zh", "好的TD"),  # the word, politely wrapped
    ("en", "Please stop sending me promotional messages"), ("zh", "以后不要再给我推送理财广告了"),  # by meaning
])
async def test_an_opt_out_said_or_meant_is_honoured(chat, db, bank, knowledge, lang, text):
    user, client_id = await _consenting(chat, bank, lang)
    texts = await chat.texts(message_update(user, text, language_code=lang), chat_id=user)
    assert len(texts) == 1 and ("已为您退订" if lang == "zh" else "no more greetings") in texts[0]
    assert knowledge.calls == []
    async with db.sessions() as s:
        client = await s.get(Client, client_id)
        assert client.opted_out is True and client.marketing_consent is False and client.reminders_enabled
        assert (await s.scalar(select(AuditLog).where(AuditLog.action == "opt_out"))).client_id == client_id


@pytest.mark.parametrize(("lang", "text", "answer"), [
    ("en", "How do I stop a direct debit?", None), ("en", "How can I stop my standing order?", None),
    ("en", "Can I stop the automatic renewal of my deposit?", "1.45%"),
    ("zh", "怎么停止基金定投?", None), ("zh", "定期存款的自动转存可以停止吗?", "1.45%"),
])
async def test_a_question_with_stop_is_answered_and_consent_unchanged(chat, db, bank, knowledge, lang, text, answer):
    user, client_id = await _consenting(chat, bank, lang)
    texts = await chat.texts(message_update(user, text, language_code=lang), chat_id=user)
    assert [c["question"] for c in knowledge.calls] == [text]  # it went to the documents
    assert not any("已为您退订" in m or "no more greetings" in m for m in texts), texts
    if answer:
        assert answer in texts[0]
    async with db.sessions() as s:
        client = await s.get(Client, client_id)
        assert client.opted_out is False and client.marketing_consent is True
        assert await s.scalar(select(AuditLog).where(AuditLog.action == "opt_out")) is None
        outcomes = (await s.scalars(select(ChatMessage.outcome).where(ChatMessage.author == "bot"))).all()
    assert outcomes == ["grounded" if answer else "declined"]


@pytest.mark.parametrize(("lang", "text"), [
    ("zh", "你好，请问180天定期利率是多少?"), ("zh", "在吗？定期存款利率多少"), ("zh", "您好请问180天定期利率是多少"),
    ("en", "Hi, what is the 180 day deposit rate?"), ("en", "Good morning! What's the deposit rate for 180 days?"),
])
async def test_a_greeting_then_a_question_gets_the_answer(chat, db, bank, knowledge, lang, text):
    texts = await chat.texts(message_update(STRANGER, text, language_code=lang), chat_id=STRANGER)
    assert len(texts) == 1 and "1.45%" in texts[0], texts  # the answer, not "how can I help?"
    assert [c["question"] for c in knowledge.calls] == [text] and knowledge.calls[0]["lang"] == lang
    async with db.sessions() as s:
        outcomes = (await s.scalars(select(ChatMessage.outcome).where(ChatMessage.author == "bot"))).all()
    assert outcomes == ["grounded"]


@pytest.mark.parametrize(("lang", "text", "expected"), [
    ("zh", "你好，我的定期什么时候到期?", "2026年12月3日"), ("en", "Hi! When does my card expire?", "30 Jun 2028"),
])
async def test_a_greeting_then_a_personal_question_gets_the_records(chat, db, bank, knowledge, lang, text, expected):
    user, _ = await _consenting(chat, bank, lang)
    texts = await chat.texts(message_update(user, text, language_code=lang), chat_id=user)
    assert expected in texts[0] and knowledge.calls == []


async def test_messages_on_an_open_ticket_reach_the_manager(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed_and_deliver(message_update(USER_A, "转人工"))
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    # not taken yet: what the bot can answer it answers, once (not also passed on for a second answer)
    reqs = await chat.feed_and_deliver(message_update(USER_A, "180天定期利率是多少?"))
    to_a = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    to_manager = [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == MANAGER_A_TG]
    assert "1.45%" in to_a[0] and to_manager == []
    # what it cannot answer goes to the person, with no "sorry" from the bot
    reqs = await chat.feed_and_deliver(message_update(USER_A, "火星上有分行吗"))
    to_a = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    to_manager = [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == MANAGER_A_TG]
    assert len(to_a) == 1 and "王敏" in to_a[0] and "火星上有分行吗" in to_manager[0]["text"]
    # taken: the bot passes messages on and does not answer them itself
    await chat.feed(callback_update(MANAGER_A_TG, TicketCb(action="take", ticket_id=ticket.id).pack()))
    reqs = await chat.feed_and_deliver(message_update(USER_A, "好的,麻烦快点处理,我等着呢"))
    to_a = [r["text"] for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == USER_A]
    relay = [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == MANAGER_A_TG][0]
    assert len(to_a) == 1 and "王敏" in to_a[0] and "2026" not in to_a[0]
    assert "麻烦快点" in relay["text"]
    # a Telegram reply to the latest notice answers the customer
    async with db.sessions() as s:
        latest = (await s.get(Ticket, ticket.id)).notify_message_id
    texts = await chat.texts(message_update(MANAGER_A_TG, "好的,已处理", reply_to_message_id=latest), chat_id=USER_A)
    assert "已处理" in texts[0]


async def test_manager_reply_to_an_unlinked_bot_message_is_not_sent_anywhere(chat, bank):
    reqs = await chat.feed(message_update(MANAGER_A_TG, "这是给谁的?", reply_to_message_id=999))
    sent = [r for r in reqs if r.method_name == "sendMessage"]
    assert len(sent) == 1 and sent[0]["chat_id"] == MANAGER_A_TG and "没有对应的待处理工单" in sent[0]["text"]


async def test_manager_lists_only_own_open_tickets(chat, db, bank):
    await bind(chat, USER_A, bank["invite_a"], "zh")
    await bind(chat, USER_B, bank["invite_b"], "en")
    await chat.feed(message_update(USER_A, "转人工"))
    await chat.feed(message_update(USER_B, "/human", language_code="en"))
    texts = await chat.texts(message_update(MANAGER_A_TG, "/tickets"), chat_id=MANAGER_A_TG)
    assert len(texts) == 1 and "张伟" in texts[0] and "Emily" not in texts[0]
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket).where(Ticket.manager_id == bank["ma"]))
    await chat.feed(callback_update(MANAGER_A_TG, TicketCb(action="close", ticket_id=ticket.id).pack()))
    assert await chat.texts(message_update(MANAGER_A_TG, "/tickets"), chat_id=MANAGER_A_TG) == ["没有待处理的工单。"]


@pytest.mark.parametrize(("lang", "text", "expect"), [("zh", "你好", "有什么可以帮您"), ("en", "hi", "How can I help"),
                                                      ("zh", "谢谢", "不客气"), ("en", "thanks!", "welcome")])
async def test_small_talk_is_answered_politely(chat, db, bank, knowledge, lang, text, expect):
    texts = await chat.texts(message_update(STRANGER, text, language_code=lang))
    assert len(texts) == 1 and expect in texts[0]
    assert knowledge.calls == []


async def test_feedback_on_answers_only_from_the_same_chat(chat, db, bank):
    from handlers.keyboards import FeedbackCb

    reqs = await chat.feed(message_update(USER_A, "180天定期利率是多少?"))
    markup = [r for r in reqs if r.method_name == "sendMessage"][-1]["reply_markup"]
    down = FeedbackCb.unpack(markup["inline_keyboard"][0][1]["callback_data"])
    assert down.up is False
    # another chat forging the same button changes nothing
    await chat.feed(callback_update(USER_B, down.pack()))
    async with db.sessions() as s:
        assert (await s.get(ChatMessage, down.message_id)).feedback is None
    reqs = await chat.feed(callback_update(USER_A, down.pack()))
    assert any(r.method_name == "editMessageReplyMarkup" for r in reqs)
    async with db.sessions() as s:
        assert (await s.get(ChatMessage, down.message_id)).feedback == -1


async def test_personal_data_never_reaches_the_logs(chat, bank, caplog):
    import logging

    caplog.set_level(logging.INFO)  # the production level (library DEBUG output is not for production)
    for name in ("bot", "handlers"):
        caplog.set_level(logging.DEBUG, logger=name)
    await bind(chat, USER_A, bank["invite_a"], "zh")
    for text in ("我的定期什么时候到期?", "下个月要还多少?", "我的卡丢了", "转人工"):
        await chat.feed(message_update(USER_A, text))
    assert caplog.records, "nothing was logged: the test would pass without looking"
    # what a record carries: its message, arguments and extra fields, not the logging machinery's own attributes
    # (timestamps, thread and process ids, line numbers), which may contain "1234" by chance
    standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {[v for k, v in vars(r).items() if k not in standard]!r}" for r in caplog.records
    )
    for secret in ("2026-12-03", "2026年12月3日", "50,000", "3,456.78", "张伟", "卡丢了", "1234"):
        assert secret not in logged, secret


async def test_console_style_reply_service(db, bank, chat):
    """What the web console calls: access checked, the reply recorded only if sending worked."""
    from bot.db.models import Manager
    from bot.services import tickets as ticket_service

    await bind(chat, USER_A, bank["invite_a"], "zh")
    await chat.feed(message_update(USER_A, "转人工"))
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
        other = await s.get(Manager, bank["mb"])
        with pytest.raises(ticket_service.TicketError) as err:
            await ticket_service.reply(s, ticket.id, other, "hi")
        assert err.value.reason == "forbidden"
        owner = await s.get(Manager, bank["ma"])
        sent = []

        async def send(chat_id, text):
            sent.append((chat_id, text))

        out = await ticket_service.reply_and_send(s, ticket.id, owner, "您好 & 欢迎", send)
        await s.commit()
    assert sent == [(USER_A, out.text)] and "您好 &amp; 欢迎" in out.text and "<b>王敏</b>" in out.text


async def test_long_answers_are_split_under_telegrams_limit(settings, db, bank, fake_bot, fake_session):
    from bot.app import build_dispatcher
    from handlers.middlewares import ThrottlingMiddleware
    from knowledge import Answer, Source
    from tests.customer.conftest import Chat

    class Verbose:
        async def ask(self, question, lang=None, history=None):
            body = "\n".join(f"第{i}条:利率 & 费用说明" + "很长" * 40 for i in range(100))
            return Answer(body, [Source("long.md", "长文档", "第一节", 0.9)], True, False)

    chat = Chat(build_dispatcher(settings, db.sessions, Verbose(), throttling=ThrottlingMiddleware(limit=100)),
                fake_bot, fake_session)
    reqs = [r for r in await chat.feed(message_update(STRANGER, "利率说明")) if r.method_name == "sendMessage"]
    assert len(reqs) >= 3 and all(len(r["text"]) <= 4096 for r in reqs)
    assert "长文档 — 第一节" in reqs[-1]["text"] and "reply_markup" in reqs[-1].params
    assert all("reply_markup" not in r.params for r in reqs[:-1])
    joined = "\n".join(r["text"] for r in reqs)
    assert joined.count("第99条") == 1 and "&amp;" in joined
