"""Fixtures for the customer side: a small bank (two managers, two bound-able clients with
holdings), a fake knowledge service with the real `ask` signature, and the real dispatcher."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import build_dispatcher
from bot.db.models import Client, Holding, Manager, Product
from bot.services.invites import create_invite
from bot.settings import Settings
from bot.workspace import Database
from handlers.middlewares import ThrottlingMiddleware
from knowledge import Answer, Source
from tests.conftest import make_settings
from tools.fakes.bot_api import BOT_USERNAME, FakeSession

ADMIN_TG = 7000
MANAGER_A_TG = 9001
MANAGER_B_TG = 9002
USER_A = 1001  # will bind to client A
USER_B = 1002  # will bind to client B
STRANGER = 1003  # never bound


@dataclass
class FakeKnowledge:
    """`ask(question, lang=None, history=None)` like KnowledgeService; grounded on a few topics."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    ingested: list[tuple[str, str | None, bytes]] = field(default_factory=list)

    async def ask(self, question: str, lang: str | None = None, history: list[Any] | None = None) -> Answer:
        self.calls.append({"question": question, "lang": lang, "history": list(history or [])})
        q = question.lower()
        if "挂失" in q or "hotline" in q:
            return Answer("24小时挂失热线 95599-8888", [Source("hotline.md", "服务热线", "挂失", 0.9)], True, False,
                          prompt_id="fake", prompt_hash="h1")
        if "180" in q or "定期" in q or "deposit" in q:
            return Answer("180天定期存款年利率1.45%,5万元起存 <b>", [Source("deposit.md", "定期存款", "利率", 0.8)],
                          True, False, prompt_id="fake", prompt_hash="h1")
        if "90" in q:  # a follow-up; whether the bot passed the history is checked on `calls`, not decided here
            return Answer("90天定期存款年利率1.25%", [Source("deposit.md", "定期存款", "利率", 0.7)], True, False,
                          prompt_id="fake", prompt_hash="h1")
        return Answer("抱歉,资料中没有找到。", [], False, True, prompt_id="fake", prompt_hash="h1")

    def supported_types(self) -> list[str]:
        return [".md", ".pdf", ".txt"]

    async def ingest_file(self, path: Path, *, name: str | None = None, loaded_by: str | None = None) -> Any:
        from knowledge import IngestItem

        content = await asyncio.to_thread(Path(path).read_bytes)
        self.ingested.append((name or Path(path).name, loaded_by, content))
        if not content.strip():
            return IngestItem(name or "", "failed", "no text to index")
        return IngestItem(name or "", "loaded", chunks=3)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, admin_ids=str(ADMIN_TG))


@pytest.fixture
async def bank(db: Database) -> dict[str, Any]:
    return await seed_bank(db)


async def seed_bank(db: Database) -> dict[str, Any]:
    """Two managers, client A (zh, manager 王敏) and client B (en, manager Li Qiang) with holdings and invites."""
    async with db.sessions() as s:
        ma = Manager(code="M1", name="王敏", telegram_id=MANAGER_A_TG)
        mb = Manager(code="M2", name="Li Qiang", telegram_id=MANAGER_B_TG)
        s.add_all([ma, mb])
        await s.flush()
        s.add_all([
            Product(code="TD180", name_zh="180天定期", name_en="180-day deposit", type="deposit", term_days=180),
            Product(code="CC01", name_zh="白金信用卡", name_en="Platinum card", type="card"),
            Product(code="LN01", name_zh="消费贷", name_en="Consumer loan", type="loan"),
        ])
        a = Client(client_no="C0001", manager_id=ma.id, name="张伟", language="zh", marketing_consent=False,
                   risk_rating="C3", risk_assessed_on=date(2026, 1, 15), id_expiry=date(2030, 5, 1))
        b = Client(client_no="C0002", manager_id=mb.id, name="Emily Chen", language="en", marketing_consent=True)
        s.add_all([a, b])
        await s.flush()
        s.add_all([
            Holding(client_id=a.id, kind="deposit", product_code="TD180", amount=Decimal("50000.00"),
                    maturity_date=date(2026, 12, 3), account_tail="1234"),
            Holding(client_id=a.id, kind="card", product_code="CC01", maturity_date=date(2027, 1, 31),
                    account_tail="8888"),
            Holding(client_id=a.id, kind="loan", product_code="LN01", amount=Decimal("120000.00"),
                    next_due_date=date(2026, 12, 15), next_due_amount=Decimal("3456.78")),
            Holding(client_id=b.id, kind="deposit", product_code="TD180", amount=Decimal("88888.00"),
                    maturity_date=date(2027, 3, 9), account_tail="5678"),
            Holding(client_id=b.id, kind="card", product_code="CC01", maturity_date=date(2028, 6, 30),
                    account_tail="4321"),
            Holding(client_id=b.id, kind="loan", product_code="LN01", amount=Decimal("10000.00"),
                    next_due_date=date(2027, 2, 1), next_due_amount=Decimal("999.01")),
        ])
        invite_a = await create_invite(s, "C0001", bot_username=BOT_USERNAME)
        invite_b = await create_invite(s, "C0002", bot_username=BOT_USERNAME)
        await s.commit()
        return {"a": a.id, "b": b.id, "ma": ma.id, "mb": mb.id, "invite_a": invite_a.token,
                "invite_b": invite_b.token}


@pytest.fixture
def knowledge() -> FakeKnowledge:
    return FakeKnowledge()


@pytest.fixture
def dp(settings: Settings, db: Database, knowledge: FakeKnowledge) -> Dispatcher:
    return build_dispatcher(settings, db.sessions, knowledge, throttling=ThrottlingMiddleware(limit=1000))


class Chat:
    """Feeds updates through the dispatcher and returns what the bot sent meanwhile."""

    def __init__(self, dp: Dispatcher, bot: Bot, session: FakeSession) -> None:
        self.dp, self.bot, self.session = dp, bot, session

    async def feed(self, update: Update) -> list[Any]:
        before = len(self.session.requests)
        await self.dp.feed_update(self.bot, update)
        return self.session.requests[before:]

    async def texts(self, update: Update, chat_id: int | None = None) -> list[str]:
        reqs = await self.feed(update)
        return [r.params.get("text", "") for r in reqs if r.method_name == "sendMessage"
                and (chat_id is None or r.params.get("chat_id") == chat_id)]

    async def deliver(self) -> list[Any]:
        """Run the outbox's sender until nothing is due (the notices to managers and admins go
        there); returns the requests it made."""
        from bot.app import notice_markup
        from scheduler.ratelimit import LocalLimiter
        from scheduler.sender import Sender

        settings = self.dp["settings"].model_copy(update={"chat_interval_s": 0.0})
        before = len(self.session.requests)
        sender = Sender(settings, self.dp["sessions"], self.bot, LocalLimiter(1000), notice_markup=notice_markup)
        await sender.run(asyncio.Event(), until_idle=True)
        return self.session.requests[before:]

    async def feed_and_deliver(self, update: Update) -> list[Any]:
        return await self.feed(update) + await self.deliver()


@pytest.fixture
def chat(dp: Dispatcher, fake_bot: Bot, fake_session: FakeSession) -> Chat:
    return Chat(dp, fake_bot, fake_session)
