"""Small fixed books of clients for the planning tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client, Holding, Manager, Product

PRODUCTS = [
    # code, zh, en, type, risk, investment, term, min
    ("TD1Y", "一年期定期存款", "1-year time deposit", "deposit", None, False, 365, "50.00"),
    ("WM-R1", "天天盈现金管理理财", "Daily Cash wealth product", "wealth", "R1", True, None, "1.00"),
    ("WM-R2", "稳享90天理财", "Steady 90-day wealth product", "wealth", "R2", True, 90, "10000.00"),
    ("WM-R4", "进取成长理财", "Growth wealth product", "wealth", "R4", True, 365, "10000.00"),
    ("PEN-R2", "个人养老金理财", "Personal pension wealth product", "pension", "R2", True, None, "1.00"),
]


def add_products(session: AsyncSession) -> None:
    for code, zh, en, typ, risk, inv, term, minimum in PRODUCTS:
        session.add(Product(code=code, name_zh=zh, name_en=en, type=typ, risk_level=risk, is_investment=inv,
                            term_days=term, min_amount=Decimal(minimum), active=True))


async def add_manager(session: AsyncSession, code: str = "M001", **kw: Any) -> Manager:
    manager = Manager(code=code, name=kw.pop("name", "王敏"), **kw)
    session.add(manager)
    await session.flush()
    return manager


_counter = {"n": 0}


async def add_client(session: AsyncSession, manager: Manager, holdings: list[dict[str, Any]] | None = None,
                     **kw: Any) -> Client:
    _counter["n"] += 1
    values: dict[str, Any] = {
        "client_no": f"C{_counter['n']:06d}", "name": "张伟", "salutation": "张先生", "language": "zh",
        "timezone": "Asia/Shanghai", "risk_rating": "C3", "risk_assessed_on": date(2026, 12, 1),
        "marketing_consent": True, "opted_out": False, "telegram_chat_id": 10_000 + _counter["n"],
    }
    values.update(kw)
    client = Client(manager_id=manager.id, **values)
    session.add(client)
    await session.flush()
    for h in holdings or []:
        session.add(Holding(client_id=client.id, **h))
    await session.flush()
    return client


def pension(amount: str = "1000.00") -> dict[str, Any]:
    return {"kind": "pension", "product_code": "PEN-R2", "amount": Decimal(amount)}


def deposit(amount: str, maturity: date, tail: str = "8841", code: str = "TD1Y") -> dict[str, Any]:
    return {"kind": "deposit", "product_code": code, "amount": Decimal(amount), "maturity_date": maturity,
            "account_tail": tail}
