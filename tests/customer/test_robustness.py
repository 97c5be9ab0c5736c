"""Failures: a handler error gets an apology, blocking is recorded, unbound handoffs reach the admins,
admins replace documents in the real knowledge base."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import Chat as TgChat
from aiogram.types import ChatMemberBanned, ChatMemberMember, ChatMemberUpdated, Update, User
from sqlalchemy import select

from bot.app import build_dispatcher
from bot.db.models import ChatMessage, Client, Ticket
from handlers.middlewares import ThrottlingMiddleware
from knowledge import build_knowledge_service
from tests.customer.conftest import ADMIN_TG, STRANGER, USER_A, Chat, FakeKnowledge
from tools.fakes.bot_api import document_update, message_update


class BrokenKnowledge(FakeKnowledge):
    async def ingest_file(self, path, *, name=None, loaded_by=None):
        raise RuntimeError("disk on fire")


async def test_unexpected_error_gets_an_apology(settings, db, fake_bot, fake_session):
    dp = build_dispatcher(settings, db.sessions, BrokenKnowledge(), throttling=ThrottlingMiddleware(limit=1000))
    chat = Chat(dp, fake_bot, fake_session)
    update = document_update(ADMIN_TG, file_name="a.md", file_size=5, language_code="en")
    fake_session.add_file(update.message.document.file_id, b"hello")
    texts = await chat.texts(update)
    assert texts == ["Sorry, something went wrong on our side. Please try again in a moment."]


def _member_update(user_id: int, status: str) -> Update:
    user = User(id=user_id, is_bot=False, first_name="A")
    bot_user = User(id=42, is_bot=True, first_name="bot")
    old = ChatMemberMember(user=bot_user) if status == "kicked" else ChatMemberBanned(user=bot_user, until_date=0)
    new = ChatMemberBanned(user=bot_user, until_date=0) if status == "kicked" else ChatMemberMember(user=bot_user)
    return Update(update_id=500, my_chat_member=ChatMemberUpdated(
        chat=TgChat(id=user_id, type="private"), from_user=user, date=datetime.now(UTC),
        old_chat_member=old, new_chat_member=new))


async def test_blocking_and_unblocking_are_recorded(chat, db, bank):
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}"))
    await chat.feed(_member_update(USER_A, "kicked"))
    async with db.sessions() as s:
        assert (await s.get(Client, bank["a"])).blocked is True
    await chat.feed(_member_update(USER_A, "member"))
    async with db.sessions() as s:
        assert (await s.get(Client, bank["a"])).blocked is False


async def test_forbidden_while_answering_keeps_the_turn(chat, db, bank):
    await chat.feed(message_update(USER_A, f"/start {bank['invite_a']}"))
    chat.session.script("sendMessage", TelegramForbiddenError)
    await chat.feed(message_update(USER_A, "我的定期什么时候到期?"))
    async with db.sessions() as s:
        assert (await s.get(Client, bank["a"])).blocked is True
        outcomes = (await s.scalars(select(ChatMessage.outcome).where(ChatMessage.author == "bot"))).all()
    assert outcomes == ["personal"]


async def test_unbound_handoff_reaches_the_admins(chat, db, bank):
    texts = await chat.texts(message_update(STRANGER, "I want to speak to a human", language_code="en"))
    assert any("service team" in t for t in texts)
    assert chat.session.sent_messages(ADMIN_TG) == []  # the customer's turn did not wait for the notice
    await chat.deliver()
    admin = chat.session.sent_messages(ADMIN_TG)
    assert len(admin) == 1 and "未关联客户" in admin[0]["text"]
    async with db.sessions() as s:
        ticket = await s.scalar(select(Ticket))
    assert ticket.manager_id is None and ticket.client_id is None


async def test_admin_replaces_a_document_in_the_real_knowledge_base(settings, db, tmp_path, fake_bot, fake_session):
    service = build_knowledge_service(chroma_path=tmp_path / "chroma", embedding="lexical", use_llm=False)
    dp = build_dispatcher(settings, db.sessions, service, throttling=ThrottlingMiddleware(limit=1000))
    chat = Chat(dp, fake_bot, fake_session)
    texts = []
    for body in ("# 年费\n\n## 免年费\n白金卡刷卡6次免年费。", "# 年费\n\n## 免年费\n白金卡刷卡12次免年费。"):
        update = document_update(ADMIN_TG, file_name="fee.md", file_size=len(body.encode()), language_code="en")
        fake_session.add_file(update.message.document.file_id, body.encode())
        texts += await chat.texts(update)
    assert texts[0].startswith("Loaded fee.md") and texts[1].startswith("Replaced fee.md")
    answer = await chat.texts(message_update(STRANGER, "白金卡刷卡几次免年费?"))
    assert "12次" in answer[0] and "6次" not in answer[0]
