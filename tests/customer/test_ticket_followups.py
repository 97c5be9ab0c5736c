"""While a ticket waits for the manager, through the real dispatcher and the real knowledge service (lexical index
over the tiny corpus, no LLM), in both languages: what the documents or the compliance rules answer, the bot
answers and does not pass on; what they cannot answer is passed on with a plain word that it was not answered here
(never both); thanks, an emergency, an opt-out, another request for a person or a complaint each do what a customer
and the bank's compliance officer expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram import Bot
from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.db.models import ChatMessage, Client, Ticket
from handlers.keyboards import HandoffCb, TicketCb
from handlers.middlewares import ThrottlingMiddleware
from knowledge import build_knowledge_service
from tests.customer.conftest import MANAGER_A_TG, MANAGER_B_TG, USER_A, USER_B, Chat
from tools.fakes.bot_api import FakeSession, callback_update, message_update

CORPUS = Path(__file__).parent / "corpus"

# per language: the customer, their manager's chat and name, the words that ask for a person
WHO = {"zh": (USER_A, MANAGER_A_TG, "王敏", "invite_a", "转人工"),
       "en": (USER_B, MANAGER_B_TG, "Li Qiang", "invite_b", "Can I talk to a real person?")}


@pytest.fixture
async def real_chat(settings, db, tmp_path, fake_bot: Bot, fake_session: FakeSession) -> Chat:
    service = build_knowledge_service(chroma_path=tmp_path / "chroma", embedding="lexical", use_llm=False)
    report = await service.ingest([CORPUS])
    assert sorted(report.loaded) == ["deposits.md", "hotline.md"]
    dp = build_dispatcher(settings, db.sessions, service, throttling=ThrottlingMiddleware(limit=1000))
    return Chat(dp, fake_bot, fake_session)


async def waiting(chat: Chat, bank, lang: str) -> tuple[int, int, str]:
    """The customer (bound, in `lang`) asked for a person; the ticket waits, its notice delivered."""
    user, manager_tg, name, invite, ask = WHO[lang]
    await chat.feed(message_update(user, f"/start {bank[invite]}", language_code=lang))
    await chat.feed_and_deliver(message_update(user, ask, language_code=lang))
    return user, manager_tg, name


def sent(reqs, chat_id):
    return [r for r in reqs if r.method_name == "sendMessage" and r["chat_id"] == chat_id]


async def tickets_of(db) -> list[Ticket]:
    async with db.sessions() as s:
        return list((await s.scalars(select(Ticket))).all())


@pytest.mark.parametrize(("lang", "question", "not_found"), [
    ("zh", "信用卡分期手续费怎么算?", "没有找到答案"),
    ("en", "How is the fee for paying a credit card in instalments worked out?", "couldn't find the answer"),
])
async def test_a_question_the_documents_cannot_answer_is_passed_on_and_said_so(real_chat, db, bank, lang, question,
                                                                               not_found):
    user, manager_tg, name = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, question, language_code=lang))
    to_customer, to_manager = sent(reqs, user), sent(reqs, manager_tg)
    # one reply: not answered here, passed on to whom; no "sorry ... I can pass your question" on top
    assert len(to_customer) == 1 and not_found in to_customer[0]["text"] and name in to_customer[0]["text"]
    assert "reply_markup" not in to_customer[0].params or not to_customer[0]["reply_markup"]
    # the person gets the question itself, once
    assert len(to_manager) == 1 and question.rstrip("?") in to_manager[0]["text"]
    assert len(await tickets_of(db)) == 1


@pytest.mark.parametrize(("lang", "question", "rule", "risk"), [
    ("zh", "哪个理财产品收益最高?", "风险承受能力评级", "理财非存款"),
    ("en", "Which product earns the most?", "risk rating (C1–C5)", "not deposits"),
])
async def test_a_returns_question_gets_the_compliance_reply_not_a_relay(real_chat, db, bank, lang, question, rule,
                                                                        risk):
    user, manager_tg, name = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, question, language_code=lang))
    to_customer = sent(reqs, user)
    assert len(to_customer) == 1 and rule in to_customer[0]["text"] and risk in to_customer[0]["text"]
    assert sent(reqs, manager_tg) == []  # answered once, by the bot: nothing for the manager to answer again
    # the reply offers the manager; pressing it passes the question on to the person the ticket waits for
    button = to_customer[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert button == HandoffCb().pack()
    reqs = await real_chat.feed_and_deliver(callback_update(user, button, language_code=lang))
    assert name in sent(reqs, user)[0]["text"]
    relayed = sent(reqs, manager_tg)
    assert len(relayed) == 1 and question.rstrip("?") in relayed[0]["text"]
    assert len(await tickets_of(db)) == 1


@pytest.mark.parametrize(("lang", "question", "answer"), [
    ("zh", "180天定期存款利率是多少?", "1.45%"), ("en", "What is the rate of the 180-day time deposit?", "1.45%"),
])
async def test_what_the_documents_answer_is_answered_once(real_chat, db, bank, lang, question, answer):
    user, manager_tg, _ = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, question, language_code=lang))
    assert answer in sent(reqs, user)[0]["text"] and sent(reqs, manager_tg) == []


@pytest.mark.parametrize(("lang", "text", "welcome"), [("zh", "收到，谢谢", "不客气"),
                                                       ("en", "OK thanks, I will wait for her", "welcome"),
                                                       ("zh", "在吗", "您好"), ("en", "hello there", "Hello")])
async def test_thanks_while_waiting_says_who_will_reply_and_passes_nothing_on(real_chat, db, bank, lang, text,
                                                                              welcome):
    user, manager_tg, name = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, text, language_code=lang))
    to_customer = sent(reqs, user)
    assert len(to_customer) == 1 and welcome in to_customer[0]["text"] and name in to_customer[0]["text"]
    assert sent(reqs, manager_tg) == [] and len(await tickets_of(db)) == 1


@pytest.mark.parametrize(("lang", "text", "advice", "reason"), [
    ("zh", "我的卡被偷了", "锁卡", "lost_card"),
    ("en", "Someone just took money from my account without me knowing", "police", "fraud"),
])
@pytest.mark.parametrize("taken", [False, True])
async def test_an_emergency_while_waiting_gets_the_playbook_at_once_and_an_urgent_alert(
        real_chat, db, bank, lang, text, advice, reason, taken):
    user, manager_tg, name = await waiting(real_chat, bank, lang)
    if taken:  # even when the manager has taken the conversation, the customer is not left waiting for them
        (ticket,) = await tickets_of(db)
        await real_chat.feed(callback_update(manager_tg, TicketCb(action="take", ticket_id=ticket.id).pack()))
    reqs = await real_chat.feed(message_update(user, text, language_code=lang))
    to_customer = sent(reqs, user)
    assert "95599-8888" in to_customer[0]["text"] and advice in to_customer[0]["text"]  # what to do now, first
    assert sent(reqs, manager_tg) == []  # the reply did not wait for the alert
    alert = sent(await real_chat.deliver(), manager_tg)
    assert len(alert) == 1 and "紧急" in alert[0]["text"] and text in alert[0]["text"]
    (ticket,) = await tickets_of(db)
    assert ticket.reason == reason  # the waiting request is now marked for what it is


@pytest.mark.parametrize(("lang", "text", "confirm"), [("zh", "我的卡被偷了，stop", "已为您退订"),
                                                       ("en", "My card was stolen. STOP", "no more greetings")])
async def test_an_emergency_with_an_opt_out_word_gets_the_playbook_and_the_opt_out(real_chat, db, bank, lang, text,
                                                                                   confirm):
    user, manager_tg, _ = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed(message_update(user, text, language_code=lang))
    reply = "\n".join(r["text"] for r in sent(reqs, user))
    assert "95599-8888" in reply and confirm in reply and reply.index("95599-8888") < reply.index(confirm)
    async with db.sessions() as s:
        client = await s.get(Client, bank["a" if lang == "zh" else "b"])
        assert client.opted_out is True and client.marketing_consent is False
    assert "紧急" in sent(await real_chat.deliver(), manager_tg)[0]["text"]


async def test_stop_my_card_gets_the_playbook_and_does_not_opt_out(real_chat, db, bank):
    """'stop' here asks to block the card: the playbook, and the client's consent is left as it was."""
    user, manager_tg, _ = await waiting(real_chat, bank, "en")
    reqs = await real_chat.feed(message_update(user, "Stop my card, it was stolen!", language_code="en"))
    reply = "\n".join(r["text"] for r in sent(reqs, user))
    assert "95599-8888" in reply and "no more greetings" not in reply
    async with db.sessions() as s:
        client = await s.get(Client, bank["b"])
        assert client.opted_out is False and client.marketing_consent is True
    assert "紧急" in sent(await real_chat.deliver(), manager_tg)[0]["text"]


async def test_a_long_account_of_a_scam_still_gets_the_playbook(real_chat, db, bank):
    user, manager_tg, _ = await waiting(real_chat, bank, "zh")
    text = "我的卡被偷了，" + "当时我在地铁上，人很多，" * 200
    assert len(text) > 1500
    reqs = await real_chat.feed(message_update(user, text))
    assert "95599-8888" in sent(reqs, user)[0]["text"]


@pytest.mark.parametrize(("lang", "word", "confirm"), [("zh", "退订", "已为您退订"),
                                                       ("en", "STOP", "no more greetings")])
async def test_an_opt_out_while_waiting_is_honoured_and_not_passed_on(real_chat, db, bank, lang, word, confirm):
    user, manager_tg, _ = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, word, language_code=lang))
    to_customer = sent(reqs, user)
    assert len(to_customer) == 1 and confirm in to_customer[0]["text"] and sent(reqs, manager_tg) == []
    async with db.sessions() as s:
        client = await s.get(Client, bank["a" if lang == "zh" else "b"])
        assert client.opted_out is True
    (ticket,) = await tickets_of(db)
    assert ticket.status == "open"  # still waiting for the manager


@pytest.mark.parametrize(("lang", "again", "reason"), [
    ("zh", "怎么还没人回复？我要找人工", "request"), ("en", "I still want to speak to someone", "request"),
    ("zh", "我要投诉你们的服务", "complaint"), ("en", "I want to file a complaint", "complaint"),
])
async def test_asking_for_a_person_again_is_passed_on_once(real_chat, db, bank, lang, again, reason):
    user, manager_tg, name = await waiting(real_chat, bank, lang)
    reqs = await real_chat.feed_and_deliver(message_update(user, again, language_code=lang))
    to_customer, to_manager = sent(reqs, user), sent(reqs, manager_tg)
    assert len(to_customer) == 1 and name in to_customer[0]["text"]
    assert len(to_manager) == 1 and again in to_manager[0]["text"]
    (ticket,) = await tickets_of(db)
    assert ticket.reason == reason  # a complaint on a waiting request is marked a complaint
    async with db.sessions() as s:
        outcomes = (await s.scalars(select(ChatMessage.outcome).where(ChatMessage.author == "bot")
                                    .order_by(ChatMessage.id.desc()).limit(1))).all()
        assert outcomes == ["relayed"]
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_when_the_documents_cannot_be_asked_a_waiting_ticket_takes_the_question(settings, db, bank, fake_bot,
                                                                                      fake_session, lang):
    class Broken:
        async def ask(self, question, lang=None, history=None):
            raise RuntimeError("index unavailable")

    chat = Chat(build_dispatcher(settings, db.sessions, Broken(), throttling=ThrottlingMiddleware(limit=1000)),
                fake_bot, fake_session)
    user, manager_tg, name = await waiting(chat, bank, lang)
    question = {"zh": "三年期定期利率是多少?", "en": "What is the 3-year deposit rate?"}[lang]
    reqs = await chat.feed_and_deliver(message_update(user, question, language_code=lang))
    to_customer = sent(reqs, user)
    assert len(to_customer) == 1 and name in to_customer[0]["text"]
    assert len(sent(reqs, manager_tg)) == 1 and question.rstrip("?") in sent(reqs, manager_tg)[0]["text"]
