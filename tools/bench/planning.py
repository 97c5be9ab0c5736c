"""Planning benchmark: a scratch workspace with synthetic clients, and a tiny OpenAI-compatible
stub server (aiohttp, in-process) that sleeps a fixed time per call. Used by `rmbot bench plan`."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.db.models import Client, Holding, Manager, Product
from bot.settings import Settings, load_settings
from bot.workspace import open_database
from tools.fakes.openai_stub import OpenAIStub, echo_draft

BENCH_PRODUCTS = [
    ("TD1Y", "一年期定期存款", "1-year time deposit", "deposit", None, False, 365, "50.00"),
    ("TD3Y", "三年期定期存款", "3-year time deposit", "deposit", None, False, 1095, "50.00"),
    ("WM-R1", "天天盈现金管理理财", "Daily Cash wealth product", "wealth", "R1", True, None, "1.00"),
    ("WM-R2", "稳享90天理财", "Steady 90-day wealth product", "wealth", "R2", True, 90, "10000.00"),
    ("WM-R3", "均衡增长理财", "Balanced growth wealth product", "wealth", "R3", True, 365, "10000.00"),
    ("PEN-R2", "个人养老金理财", "Personal pension wealth product", "pension", "R2", True, None, "1.00"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


async def seed_synthetic(db: Any, *, clients: int, managers: int, plan_date: date, seed: int = 7,
                         progress: Callable[[int], None] | None = None) -> None:
    """`clients` synthetic clients spread over `managers`, with holdings that make a realistic mix
    of occasions around `plan_date`."""
    rng = random.Random(seed)
    async with db.sessions() as session:
        await session.execute(insert(Manager), [
            {"code": f"B{i:03d}", "name": f"经理{i:03d}", "active": True, "is_admin": False,
             "auto_approve_reminders": False, "created_at": datetime.now(UTC)} for i in range(1, managers + 1)])
        await session.execute(insert(Product), [
            {"code": c, "name_zh": zh, "name_en": en, "type": t, "risk_level": r, "is_investment": inv,
             "term_days": term, "min_amount": Decimal(m), "active": True}
            for c, zh, en, t, r, inv, term, m in BENCH_PRODUCTS])
        await session.commit()
    chunk = 5000
    now = datetime.now(UTC)
    for start in range(0, clients, chunk):
        client_rows, holding_rows = [], []
        for i in range(start, min(start + chunk, clients)):
            cid = i + 1
            surname = SURNAMES[i % len(SURNAMES)]
            en = rng.random() < 0.1
            client_rows.append({
                "id": cid, "client_no": f"S{cid:08d}", "manager_id": 1 + i % managers, "name": f"{surname}客户{cid}",
                "salutation": f"{surname}先生" if rng.random() < 0.5 else f"{surname}女士",
                "language": "en" if en else "zh", "timezone": "Europe/London" if en and rng.random() < 0.3
                else "Asia/Shanghai",
                "birthday": date(1960 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                "customer_since": date(2010 + rng.randrange(16), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                "segment": "long_tail", "id_expiry": plan_date + timedelta(days=rng.randrange(2000)),
                "risk_rating": f"C{1 + rng.randrange(5)}",
                "risk_assessed_on": plan_date - timedelta(days=rng.randrange(500)),
                "marketing_consent": rng.random() < 0.85, "opted_out": rng.random() < 0.05,
                "reminders_enabled": True, "blocked": rng.random() < 0.01, "telegram_chat_id": 10_000_000 + cid,
                "created_at": now, "updated_at": now,
            })
            roll = rng.random()
            if roll < 0.6:
                holding_rows.append({"client_id": cid, "kind": "deposit", "product_code": "TD1Y",
                                     "amount": Decimal(rng.randrange(1, 500)) * 1000, "currency": "CNY",
                                     "maturity_date": plan_date + timedelta(days=rng.randrange(0, 365)),
                                     "account_tail": f"{rng.randrange(10000):04d}"})
            if rng.random() < 0.3:
                holding_rows.append({"client_id": cid, "kind": "pension", "product_code": "PEN-R2",
                                     "amount": Decimal(rng.randrange(0, 12000)), "currency": "CNY"})
            if rng.random() < 0.2:
                holding_rows.append({"client_id": cid, "kind": "loan", "product_code": "LOAN",
                                     "amount": Decimal(200000), "currency": "CNY",
                                     "next_due_date": plan_date + timedelta(days=rng.randrange(0, 30)),
                                     "next_due_amount": Decimal("3123.45"), "account_tail": "0019"})
            if rng.random() < 0.3:
                holding_rows.append({"client_id": cid, "kind": "card", "product_code": "CARD", "currency": "CNY",
                                     "amount": Decimal(0), "account_tail": f"{rng.randrange(10000):04d}",
                                     "maturity_date": plan_date + timedelta(days=rng.randrange(0, 1000))})
        async with db.sessions() as session:
            await session.execute(insert(Client), client_rows)
            if holding_rows:
                await session.execute(insert(Holding), holding_rows)
            await session.commit()
        if progress is not None:
            progress(len(client_rows))


@dataclass
class BenchFigures:
    clients: int
    seed_s: float
    plan_s: float
    drafts: int
    skipped: dict[str, int]
    personalised: int = 0
    llm_fallbacks: int = 0
    llm_calls: int = 0
    max_in_flight: int = 0
    llm_s: float = 0.0

    @property
    def drafts_per_s(self) -> float:
        return self.drafts / self.plan_s if self.plan_s else 0.0


async def run_plan_bench(*, clients: int, managers: int, plan_date: date, llm_stub_ms: int | None,
                         personalised: int, concurrency: int, database_url: str = "",
                         seed_progress: Callable[[int], None] | None = None,
                         plan_progress: Callable[[int], None] | None = None) -> BenchFigures:
    from bot.services.drafting import personaliser_from_settings
    from scheduler.planner import plan_day

    with tempfile.TemporaryDirectory(prefix="rmbot-bench-plan-") as tmp:
        stub = None
        if llm_stub_ms is not None:
            stub = OpenAIStub(default_reply=echo_draft, latency=llm_stub_ms / 1000).start()
        try:
            values: dict[str, Any] = {"data_dir": Path(tmp), "_env_file": None}
            if database_url:
                values["database_url"] = database_url
            if stub is not None:
                values.update(openai_base_url=stub.base_url, openai_api_key="bench", llm_timeout_s=30.0)
            settings: Settings = load_settings(**values)
            async with open_database(settings) as db:
                t0 = time.perf_counter()
                await seed_synthetic(db, clients=clients, managers=managers, plan_date=plan_date,
                                     progress=seed_progress)
                seed_s = time.perf_counter() - t0
                personaliser = personaliser_from_settings(settings, concurrency=concurrency) if stub else None
                t1 = time.perf_counter()
                async with db.sessions() as session:
                    result = await plan_day(session, settings, plan_date, personaliser=personaliser,
                                            personalise_limit=personalised if stub else None, collect=False,
                                            progress=plan_progress)
                    await session.commit()
                plan_s = time.perf_counter() - t1
        finally:
            if stub is not None:
                stub.stop()
    return BenchFigures(
        clients=clients, seed_s=seed_s, plan_s=plan_s, drafts=result.drafted, skipped=dict(result.skipped),
        personalised=result.personalised, llm_fallbacks=result.llm_fallbacks, llm_s=result.llm_seconds,
        llm_calls=len(stub.chat_requests) if stub else 0, max_in_flight=stub.max_in_flight if stub else 0,
    )
