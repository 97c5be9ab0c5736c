"""`rmbot bench urgent`: a burst of customers in trouble and ordinary customers through the Bot API
emulator, against one `rmbot run` (SQLite, embedded Chroma, the demo documents).

Each of `urgent + ordinary` distinct customers writes one message; all arrive within `seconds`.
Half the customers are bound to a manager, the others are not (their alerts go to the admin). The
first reply of each customer is timed at a tap between the bot and the emulator (as in `bench load`).
Printed: p50/p95/max of the first reply, the share of urgent customers whose reply carries a hotline
number from the documents, the alerts (tickets) delivered to the manager or admin, and the emulator's
429 count."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from bot.db.models import Client, Manager, OutboxItem, OutboxStatus, Ticket
from bot.settings import load_settings
from bot.workspace import open_database
from tools.bench.load import ReplyTap, _doc_files, _env, _percentile, _spawn, _wait_http, free_port

CHAT_BASE = 6_000_000
MANAGER_CHAT = 5_999_999
ADMIN_CHAT = 5_999_998
URGENT = [
    "我的信用卡刚才在商场被偷了", "银行卡找不到了，是不是丢在出租车上了", "收到一条消费短信，但那不是我刷的",
    "有人自称公安说我涉嫌洗钱，让我把钱转到安全账户", "客服打电话让我把短信验证码念给他", "ATM把我的卡吞了，现在怎么办",
    "刚才点了短信里的链接还输了密码", "网贷说要先交保证金才放款，我已经交了一笔", "手机丢了，上面装着手机银行",
    "账户里突然少了八千块，我没有用过", "对方让我开屏幕共享说帮我退款", "刷单返利让我垫钱，现在提不出来了",
    "My wallet with my card was stolen on the train", "There's a card payment I never made",
    "Someone called from the bank and asked for my SMS code", "The ATM swallowed my card",
    "I think someone stole my card details, what should I do?", "I got a text that my card is frozen with a link",
    "Money was taken out of my account and it wasn't me", "My phone with the banking app was stolen",
]
ORDINARY = [
    "信用卡年费怎么免？", "大额存单起存金额是多少？", "跨行转账要手续费吗", "怎么修改登录密码", "谢谢提醒",
    "个人养老金每年最多存多少？", "定期存款提前支取怎么算利息？", "收到，谢谢王经理",
    "What is the annual fee of the gold card?",
    "How do I change my login password?", "Thanks!", "How much can I put into the personal pension account each year?",
]
_TICKET_RE = re.compile(r"#(\d+)")


async def _seed(settings: Any, n: int, docs: Path) -> None:
    from bot.services.documents import SqlDocumentRegistry
    from knowledge import build_knowledge_service

    async with open_database(settings) as db, db.sessions() as session:
        manager = Manager(code="URG", name="王经理", telegram_id=MANAGER_CHAT)
        session.add(manager)
        await session.flush()
        await session.execute(insert(Client), [
            {"client_no": f"U{i:05d}", "name": f"客户{i}", "salutation": "客户", "manager_id": manager.id,
             "telegram_chat_id": CHAT_BASE + i, "language": "zh", "timezone": "Asia/Shanghai"}
            for i in range(0, n, 2)])  # every other customer is bound; the rest are strangers to the bot
        await session.commit()
        service = build_knowledge_service(settings, SqlDocumentRegistry(db.sessions))
        await service.ingest(_doc_files(docs), loaded_by="bench")


async def _outbox_waiting(settings: Any) -> int:
    async with open_database(settings) as db, db.sessions() as session:
        return int(await session.scalar(select(func.count()).where(
            OutboxItem.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENDING)))) or 0)


async def _tickets(settings: Any) -> list[int]:
    async with open_database(settings) as db, db.sessions() as session:
        return list((await session.scalars(select(Ticket.id))).all())


async def run_urgent(*, urgent: int, ordinary: int, seconds: float, emulator: Path, workdir: Path,
                     docs: Path) -> dict[str, Any]:
    rng = random.Random(14)
    n = urgent + ordinary
    emu_port, tap_port, web_port = free_port(), free_port(), free_port()
    emu = subprocess.Popen([sys.executable, str(emulator), "--port", str(emu_port)],  # noqa: ASYNC220
                           stdout=(workdir / "emulator.log").open("ab"), stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{emu_port}"
    proc: subprocess.Popen[bytes] | None = None
    first: dict[int, float] = {}
    sent_at: dict[int, float] = {}

    def answered(chat: int) -> None:
        if chat in sent_at and chat not in first:
            first[chat] = time.perf_counter() - sent_at[chat]

    tap = ReplyTap(api, answered)
    # the tap's upstream calls end with "server disconnected" when the run stops mid long-poll: not a finding
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    try:
        await _wait_http(f"{api}/_emu/stats", within_s=30)
        settings = load_settings(_env_file=None, data_dir=workdir, database_url="", redis_url="", chroma_url="",
                                 bot_token="700000014:URGENTurgentURGENTurgent", telegram_api_base=api)
        await _seed(settings, n, docs)
        await tap.start(tap_port)
        async with httpx.AsyncClient(base_url=api, timeout=30) as control:
            users = [{"id": CHAT_BASE + i, "first_name": f"客户{i}", "language_code": "zh"} for i in range(n)]
            users += [{"id": MANAGER_CHAT, "first_name": "经理", "language_code": "zh"},
                      {"id": ADMIN_CHAT, "first_name": "管理员", "language_code": "zh"}]
            await control.post("/_emu/users", json=users)
            env = _env(settings, TELEGRAM_API_BASE=f"http://127.0.0.1:{tap_port}", WEB_PORT=str(web_port),
                       ADMIN_IDS=str(ADMIN_CHAT), WEBHOOK_URL="", REDIS_URL="", CHROMA_URL="")
            proc = _spawn(["run"], env, workdir / "bot.log")
            await _wait_http(f"http://127.0.0.1:{web_port}/healthz", within_s=180)
            await asyncio.sleep(2)  # polling starts
            kinds = ["urgent"] * urgent + ["ordinary"] * ordinary
            rng.shuffle(kinds)
            plan = sorted((rng.uniform(0, seconds), i, kind) for i, kind in enumerate(kinds))
            texts: dict[int, tuple[str, str]] = {}
            start = time.perf_counter()
            for at, i, kind in plan:
                await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
                chat = CHAT_BASE + i
                text = rng.choice(URGENT if kind == "urgent" else ORDINARY)
                texts[chat] = (kind, text)
                sent_at[chat] = time.perf_counter()
                await control.post("/_emu/message", json={"chat_id": chat, "text": text})
            deadline = time.perf_counter() + 120
            # waiting on another process's database: nothing here to wait on but time
            while time.perf_counter() < deadline and (len(first) < n or await _outbox_waiting(settings)):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            await asyncio.sleep(1)
            stats = (await control.get("/_emu/stats")).json()
            hotline = 0
            for chat, (kind, _text) in texts.items():
                if kind != "urgent":
                    continue
                messages = (await control.get("/_emu/sent", params={"chat_id": chat})).json()["messages"]
                if messages and re.search(r"400-800-\d{4}", str(messages[0].get("text", ""))):
                    hotline += 1
            staff_text, staff_messages = "", {}
            for chat, who in ((MANAGER_CHAT, "manager"), (ADMIN_CHAT, "admin")):
                messages = (await control.get("/_emu/sent", params={"chat_id": chat})).json()["messages"]
                staff_text += " ".join(str(m.get("text", "")) for m in messages)
                staff_messages[who] = len(messages)
        tickets = await _tickets(settings)
        alerted = {int(x) for x in _TICKET_RE.findall(staff_text)}
        latencies = sorted(v * 1000 for v in first.values())
        return {
            "customers": n, "urgent": urgent, "ordinary": ordinary, "window_s": seconds,
            "first_reply_ms": {"p50": round(_percentile(latencies, 0.50)), "p95": round(_percentile(latencies, 0.95)),
                               "max": round(latencies[-1]) if latencies else None},
            "customers_answered": len(first),
            "urgent_with_hotline": f"{hotline}/{urgent}",
            "tickets": len(tickets), "tickets_alerted": len(alerted & set(tickets)),
            "staff_messages": staff_messages,
            "emulator_429": stats.get("served_429"), "emulator": stats,
        }
    finally:
        if proc is not None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            if proc.poll() is None:
                proc.kill()
        await tap.stop()
        emu.terminate()
        emu.wait(timeout=10)
