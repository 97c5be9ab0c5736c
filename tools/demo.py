"""The demo workspace: a fictional bank with two managers and 12,000 synthetic clients.

`build_demo` is deterministic (seeded generator, dates anchored to the day the demo was first
built, i.e. the demo manager's creation date) and idempotent: it upserts through the client book
service (`bot.services.clientbook`), so a second run reports everything unchanged. Generation is
plain Python; storage is bulk inserts. The knowledge base (`tools/demo_docs/`) is ingested
through the knowledge service when it is available, and skips documents already indexed.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client, Holding, InviteToken, KnowledgeDocument, Manager, Product
from bot.services.clientbook import client_ids, replace_holdings, upsert_clients
from bot.settings import Settings
from bot.workspace import Database

log = logging.getLogger(__name__)

DEMO_DOCS = Path(__file__).resolve().parent / "demo_docs"
SEED = 20261122
# Reach: the share of each book that opened the manager's invite in Telegram, and the share invited
# (a personal link sent by SMS or in the branch) who have not opened it yet.
BOUND_SHARE = 0.35
INVITED_SHARE = 0.15
CHAT_BASE = 5_000_000_000  # the demo's Telegram chat ids: CHAT_BASE + client id
BANK_ZH = "星海银行"  # the fictional bank of the demo documents
BANK_EN = "Star Sea Bank"


@dataclass(frozen=True)
class DemoManager:
    code: str
    name: str
    branch: str
    clients: int
    prefix: str  # client numbers: prefix + 6 digits


DEFAULT_MANAGERS = (
    DemoManager("RM001", "王敏", "深圳分行 南山支行", 10_000, "D1"),
    DemoManager("RM002", "陈静", "深圳分行 福田支行", 2_000, "D2"),
)

# The demo's admin: signs in to the console's admin pages (documents, managers); has no client book.
DEMO_ADMIN = DemoManager("ADMIN", "刘洋", "深圳分行", 0, "")

ProgressFn = Callable[[str, int, int], None]


class DemoError(Exception):
    """The demo cannot be built (e.g. its product list is missing); the message says why."""


@dataclass
class DemoSummary:
    managers: int = 0
    clients: int = 0
    holdings: int = 0
    products: int = 0
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0
    anchor: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    knowledge: str = ""  # what happened to the knowledge base, in one line
    sample_client: str = ""  # a client worth trying the customer side with (`rmbot chat --client`)
    plan_date: str = ""  # today, planned so the console's first screen has campaigns to review
    drafts_today: int = 0  # drafts of today waiting for review (planned now or before)

    def as_dict(self) -> dict[str, Any]:
        return {
            "managers": self.managers, "clients": self.clients, "holdings": self.holdings,
            "products": self.products, "documents": self.documents, "chunks": self.chunks,
            "seconds": round(self.seconds, 2), "anchor": self.anchor, "changes": dict(self.changes),
            "knowledge": self.knowledge, "sample_client": self.sample_client,
            "plan_date": self.plan_date, "drafts_today": self.drafts_today,
        }


# --------------------------------------------------------------------------------------------
# Synthetic people

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Rough frequency: the first surnames are far more common.
SURNAME_WEIGHTS = [max(1.0, 30.0 - i * 0.6) for i in range(len(SURNAMES))]
GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文博晨"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英红燕萍雪琳洁梅莉婷慧颖佳琪欣怡晶倩蕾璐月"
EN_FIRST_MALE = ("James", "David", "Michael", "Daniel", "Thomas", "Peter", "Andrew", "Mark", "Paul", "Ryan")
EN_FIRST_FEMALE = ("Emma", "Olivia", "Sophie", "Grace", "Emily", "Hannah", "Lucy", "Sarah", "Anna", "Claire")
EN_LAST = ("Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright", "Green", "Hall", "Clarke",
           "Baker", "Turner", "Hill", "Cooper", "Ward", "Morgan", "Bennett", "Hughes", "Reed", "Foster")
EN_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Europe/London", "America/New_York")
SEGMENTS = ("mass", "affluent", "wealth")
SEGMENT_WEIGHTS = (70, 25, 5)
RATINGS = ("C1", "C2", "C3", "C4", "C5")
RATING_WEIGHTS = (15, 30, 30, 18, 7)
# products.csv `type` -> the catalogue shelf the generator picks holdings from
KIND_FOR_TYPE = {"deposit": "deposit", "wealth": "wealth", "fund": "fund", "cash_management": "cash",
                 "card": "card", "credit_card": "card", "loan": "loan", "pension": "pension"}
# Product types sold under the suitability rules (适当性); only these keep a risk level R1-R5.
INVESTMENT_TYPES = frozenset({"wealth", "fund", "cash_management", "insurance", "bond", "gold"})


def _person(rng: random.Random) -> dict[str, Any]:
    male = rng.random() < 0.5
    if rng.random() < 0.05:
        first = rng.choice(EN_FIRST_MALE if male else EN_FIRST_FEMALE)
        last = rng.choice(EN_LAST)
        return {"name": f"{first} {last}", "salutation": f"{'Mr.' if male else 'Ms.'} {last}",
                "language": "en", "timezone": rng.choice(EN_ZONES)}
    surname = rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
    pool = GIVEN_MALE if male else GIVEN_FEMALE
    given = "".join(rng.choice(pool) for _ in range(rng.choice((1, 2, 2))))
    return {"name": surname + given, "salutation": surname + ("先生" if male else "女士"),
            "language": "zh", "timezone": "Asia/Shanghai"}


def make_clients(manager: DemoManager, anchor: date, seed: int = SEED) -> list[dict[str, Any]]:
    """Client records (clientbook upsert format) for one demo manager; same input, same output."""
    rng = random.Random(f"{seed}:clients:{manager.code}")
    records = []
    for i in range(1, manager.clients + 1):
        person = _person(rng)
        age_days = rng.randint(22 * 365, 80 * 365)
        expired = rng.random() < 0.10
        assessed_ago = rng.randint(370, 900) if expired else rng.randint(0, 360)
        id_expiry = anchor + timedelta(days=rng.randint(1, 60) if rng.random() < 0.03 else rng.randint(61, 3650))
        records.append({
            "client_no": f"{manager.prefix}{i:06d}",
            "manager": manager.code,
            **person,
            "birthday": anchor - timedelta(days=age_days),
            "customer_since": anchor - timedelta(days=rng.randint(30, 20 * 365)),
            "segment": rng.choices(SEGMENTS, SEGMENT_WEIGHTS)[0],
            "phone": f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}",
            "id_expiry": id_expiry,
            "risk_rating": rng.choices(RATINGS, RATING_WEIGHTS)[0],
            "risk_assessed_on": anchor - timedelta(days=assessed_ago),
            "marketing_consent": rng.random() >= 0.30,
            "opted_out": rng.random() < 0.05,
        })
    return records


def _money(rng: random.Random, low: int, high: int, step: int = 1000) -> Decimal:
    return Decimal(rng.randrange(low, high, step)).quantize(Decimal("0.01"))


def make_holdings(
    records: Sequence[dict[str, Any]], products: dict[str, list[dict[str, Any]]], anchor: date, seed: int = SEED
) -> dict[str, list[dict[str, Any]]]:
    """client_no -> holdings: deposits and wealth maturing over the next 90 days (some later),
    cards expiring at month ends, loans with the next instalment, pension accounts."""
    holdings: dict[str, list[dict[str, Any]]] = {}

    def pick(kind: str, rng: random.Random, max_level: int = 5) -> tuple[str | None, int | None]:
        """A product of this kind the client may hold (risk level within the rating), or None."""
        candidates = [p for p in products.get(kind, [])
                      if not p["risk_level"] or int(p["risk_level"][1:]) <= max_level]
        if not candidates:
            return None, None
        product = rng.choice(candidates)
        return product["code"], product["term_days"]

    def holding(kind: str, code: str | None, amount: Decimal, rng: random.Random, *, start: date | None = None,
                maturity: date | None = None, due: date | None = None, due_amount: Decimal | None = None
                ) -> dict[str, Any]:
        return {"kind": kind, "product_code": code, "amount": amount, "currency": "CNY", "start_date": start,
                "maturity_date": maturity, "next_due_date": due, "next_due_amount": due_amount,
                "account_tail": f"{rng.randint(0, 9999):04d}"}

    def maturity(rng: random.Random, term: int) -> date:
        """Mostly within the next 90 days, never further than the product's term (so every holding
        started on or before the anchor day)."""
        days = rng.randint(0, min(90, term)) if rng.random() < 0.75 else rng.randint(0, term)
        return anchor + timedelta(days=days)

    for record in records:
        rng = random.Random(f"{seed}:holdings:{record['client_no']}")
        rows: list[dict[str, Any]] = []
        rich = {"mass": 1, "affluent": 4, "wealth": 15}[record["segment"]]
        if rng.random() < 0.60:
            code, term = pick("deposit", rng)
            term = term or 365
            due = maturity(rng, term)
            rows.append(holding("deposit", code, _money(rng, 10_000, 200_000 * rich), rng,
                                start=due - timedelta(days=term), maturity=due))
        level = int(record["risk_rating"][1:])
        if rng.random() < 0.35 and record["risk_assessed_on"] > anchor - timedelta(days=365):
            code, term = pick("wealth", rng, level)
            term = term or 180
            due = maturity(rng, term)
            rows.append(holding("wealth", code, _money(rng, 10_000, 300_000 * rich), rng,
                                start=due - timedelta(days=term), maturity=due))
        valid = record["risk_assessed_on"] > anchor - timedelta(days=365)
        if rng.random() < 0.20 and valid:  # cash management (日日金): no maturity
            code, _ = pick("cash", rng, level)
            rows.append(holding("wealth", code, _money(rng, 1_000, 100_000 * rich), rng,
                                start=anchor - timedelta(days=rng.randint(10, 700))))
        if rng.random() < 0.10 and valid and level >= 4:  # funds, for the clients who may hold them
            code, _ = pick("fund", rng, level)
            rows.append(holding("wealth", code, _money(rng, 1_000, 200_000 * rich), rng,
                                start=anchor - timedelta(days=rng.randint(10, 1500))))
        if rng.random() < 0.50:
            code, _ = pick("card", rng)
            months = rng.randint(0, 47)
            year, month = divmod(anchor.month - 1 + months + 1, 12)
            first_next = date(anchor.year + year, month + 1, 1)
            expiry = first_next - timedelta(days=1)  # last day of the month
            rows.append(holding("card", code, Decimal("0.00"), rng,
                                start=expiry - timedelta(days=5 * 365), maturity=expiry))
        if rng.random() < 0.15:
            code, term = pick("loan", rng)
            term = term or 1095
            principal = _money(rng, 10_000, 300_000, 1000)
            start = anchor - timedelta(days=rng.randint(30, term - 30))
            instalments = max(1, term // 30)
            rows.append(holding("loan", code, principal, rng, start=start, maturity=start + timedelta(days=term),
                                due=anchor + timedelta(days=rng.randint(1, 30)),
                                due_amount=(principal * Decimal("1.06") / instalments).quantize(Decimal("0.01"))))
        if rng.random() < 0.20:
            code, _ = pick("pension", rng)
            rows.append(holding("pension", code, _money(rng, 0, 12_001, 500), rng,
                                start=anchor - timedelta(days=rng.randint(30, 1000))))
        # a kind the catalogue has no suitable product for is left out
        holdings[record["client_no"]] = [r for r in rows if r["product_code"]]
    return holdings


# --------------------------------------------------------------------------------------------
# Products


def read_products(path: Path) -> list[dict[str, Any]]:
    """products.csv (code,name_zh,name_en,type,risk_level,term_days,min_amount,rate_text[,currency,segments])
    as rows; `segments` lists the target segments (mass,affluent,wealth), empty for everyone."""
    if not path.is_file():
        raise DemoError(f"{path} is missing: the demo's product list comes with the demo knowledge base")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"code", "name_zh", "name_en", "type"} - set(reader.fieldnames or [])
        if missing:
            raise DemoError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for number, raw in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in raw.items() if k}
            if not row.get("code"):
                continue
            try:
                term = int(row["term_days"]) if row.get("term_days") else None
                minimum = Decimal(row["min_amount"]).quantize(Decimal("0.01")) if row.get("min_amount") else None
            except (ValueError, ArithmeticError):
                raise DemoError(f"{path.name} row {number}: term_days/min_amount is not a number") from None
            kind = row["type"].lower()
            investment = kind in INVESTMENT_TYPES
            # A deposit's "R1" in the file is not a suitability level: risk levels are for investments.
            level = (row.get("risk_level", "").upper() or None) if investment else None
            rows.append({
                "code": row["code"], "name_zh": row["name_zh"], "name_en": row["name_en"], "type": kind,
                "risk_level": level, "is_investment": investment,
                "term_days": term, "min_amount": minimum, "rate_text": row.get("rate_text") or None,
                "active": True, "currency": (row.get("currency") or "CNY").upper(),
                "segments": ",".join(s.strip().lower() for s in (row.get("segments") or "").split(",") if s.strip())
                or None,
            })
    return rows


async def upsert_products(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert or update products by code; returns how many rows changed."""
    fields = ("name_zh", "name_en", "type", "risk_level", "is_investment", "term_days", "min_amount",
              "rate_text", "active", "currency", "segments")
    stored = {p.code: p for p in (await session.execute(
        select(Product.id, Product.code, *[getattr(Product, f) for f in fields])
    )).all()}
    inserts, updates = [], []
    for row in rows:
        old = stored.get(row["code"])
        if old is None:
            inserts.append(row)
        elif any(getattr(old, f) != row[f] for f in fields):
            updates.append({"id": old.id, **{f: row[f] for f in fields}})
    if inserts:
        await session.execute(insert(Product), inserts)
    if updates:
        await session.execute(update(Product), updates)
    return len(inserts) + len(updates)


def products_by_kind(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kind = KIND_FOR_TYPE.get(row["type"])
        if kind:
            out.setdefault(kind, []).append(row)
    return out


# --------------------------------------------------------------------------------------------
# The workspace


async def _ensure_managers(
    session: AsyncSession, managers: Sequence[DemoManager], settings: Settings
) -> tuple[dict[str, int], date]:
    """The demo managers (created or left as they are) and the anchor date (first build)."""
    stored = {m.code: m for m in (await session.scalars(
        select(Manager).where(Manager.code.in_([m.code for m in managers]))
    )).all()}
    for demo in managers:
        manager = stored.get(demo.code)
        if manager is None:
            manager = Manager(code=demo.code, name=demo.name, branch=demo.branch,
                              signature=f"{BANK_ZH} {demo.branch} 客户经理 {demo.name}")
            session.add(manager)
            stored[demo.code] = manager
    await session.flush()
    anchor = min(m.created_at for m in stored.values()).astimezone(settings.tz).date()
    return {code: m.id for code, m in stored.items()}, anchor


async def _ensure_admin(session: AsyncSession) -> None:
    if await session.scalar(select(Manager.id).where(Manager.code == DEMO_ADMIN.code)) is None:
        session.add(Manager(code=DEMO_ADMIN.code, name=DEMO_ADMIN.name, branch=DEMO_ADMIN.branch, is_admin=True,
                            signature=f"{BANK_ZH} {DEMO_ADMIN.branch} {DEMO_ADMIN.name}"))


async def plan_today(settings: Settings, db: Database) -> tuple[date, int]:
    """Plan today (in the bank's time zone) as the 07:00 job would, so the console has campaigns to review at
    once; a second call adds nothing. Returns the day and its drafts waiting for review."""
    from bot.db.models import Draft, DraftStatus
    from scheduler.planner import plan_day

    today = datetime.now(settings.tz).date()
    async with db.sessions() as session:
        await plan_day(session, settings, today, now=datetime.now(UTC), collect=False, actor="demo")
        await session.commit()
        waiting = await session.scalar(select(func.count()).select_from(Draft).where(
            Draft.plan_date == today, Draft.status == DraftStatus.PENDING))
    return today, int(waiting or 0)


async def build_demo(
    settings: Settings,
    db: Database,
    *,
    managers: Sequence[DemoManager] | None = None,
    docs_dir: Path | None = None,
    knowledge: bool = True,
    embedding: str | None = None,
    seed: int = SEED,
    plan: bool = True,
    progress: ProgressFn | None = None,
) -> DemoSummary:
    """Build (or confirm) the demo workspace in `db`; a second call changes nothing.
    Pass smaller `managers` (e.g. `scaled_managers(0.01)`) for tests; `embedding` is the knowledge
    service's embedding kind (None: its default; "hash" for tests). With `plan`, today is planned too."""
    started = time.perf_counter()
    managers = DEFAULT_MANAGERS if managers is None else managers
    docs_dir = DEMO_DOCS if docs_dir is None else docs_dir
    summary = DemoSummary()
    changes = summary.changes

    def step(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    product_rows = await asyncio.to_thread(read_products, docs_dir / "products.csv")
    catalogue = products_by_kind(product_rows)
    async with db.sessions() as session:
        manager_ids, anchor = await _ensure_managers(session, managers, settings)
        await _ensure_admin(session)
        summary.anchor = anchor.isoformat()
        changes["products"] = await upsert_products(session, product_rows)

        step("generate", 0, len(managers))
        records: list[dict[str, Any]] = []
        for i, manager in enumerate(managers, start=1):
            records.extend(await asyncio.to_thread(make_clients, manager, anchor, seed))
            step("generate", i, len(managers))
        holdings = await asyncio.to_thread(make_holdings, records, catalogue, anchor, seed)

        counts, _ = await upsert_clients(session, records, default_timezone=settings.timezone, progress=step)
        changes.update({f"clients_{k}": v for k, v in counts.items()})
        ids = await client_ids(session, holdings)
        report = await replace_holdings(session, {ids[no]: rows for no, rows in holdings.items()}, progress=step)
        changes.update({f"holdings_{k}": v for k, v in report.as_dict().items() if k != "clients"})
        bound = await _bind_share(session, list(ids.values()), anchor, seed)
        if bound:
            changes["clients_bound"] = bound
        await session.commit()

    if knowledge:
        summary.knowledge = await ingest_demo_knowledge(
            settings, db, docs_dir, embedding=embedding, progress=step)
    else:
        summary.knowledge = "skipped (--no-knowledge)"
    if plan:
        step("plan", 0, 1)
        day, summary.drafts_today = await plan_today(settings, db)
        summary.plan_date = day.isoformat()
        step("plan", 1, 1)

    async with db.sessions() as session:
        summary.managers = int(await session.scalar(
            select(func.count()).select_from(Manager).where(Manager.id.in_(list(manager_ids.values())))) or 0)
        summary.clients = int(await session.scalar(
            select(func.count()).select_from(Client).where(Client.manager_id.in_(list(manager_ids.values()))))
            or 0)
        summary.holdings = int(await session.scalar(select(func.count()).select_from(Holding)) or 0)
        summary.products = int(await session.scalar(select(func.count()).select_from(Product)) or 0)
        summary.documents = int(await session.scalar(select(func.count()).select_from(KnowledgeDocument)) or 0)
        summary.chunks = int(await session.scalar(
            select(func.coalesce(func.sum(KnowledgeDocument.chunk_count), 0))) or 0)
        summary.sample_client = await _sample_client(session, manager_ids[managers[0].code], anchor) or ""
    summary.seconds = time.perf_counter() - started
    from bot.backup import DEMO_MARKER

    # this workspace holds invented clients only: `rmbot backup` may write it without BACKUP_KEY
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / DEMO_MARKER).write_text("rmbot demo: invented data only\n", encoding="utf-8")
    return summary


async def _bind_share(session: AsyncSession, client_ids: Sequence[int], anchor: date, seed: int) -> int:
    """The demo's reach, once: a seeded share of clients has redeemed an invite (bound to a chat),
    another share holds an open invite. Nothing happens when any demo client is already bound or
    invited (a second build, or after `--simulate-days`)."""
    from bot.services.auth import hash_token
    from bot.services.invites import new_token

    if not client_ids:
        return 0
    ids = sorted(client_ids)
    already = await session.scalar(select(func.count()).select_from(InviteToken).where(
        InviteToken.client_id.in_(ids[:1000])))
    bound = await session.scalar(select(func.count()).select_from(Client).where(
        Client.id.in_(ids[:1000]), Client.telegram_chat_id.is_not(None)))
    if already or bound:
        return 0
    rng = random.Random(f"{seed}:reach")
    sent_at = datetime.combine(anchor - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    tokens, binds = [], []
    for client_id in ids:
        roll = rng.random()
        if roll < BOUND_SHARE + INVITED_SHARE:
            used = roll < BOUND_SHARE
            tokens.append({"token_hash": hash_token(new_token()), "client_id": client_id, "created_at": sent_at,
                           "expires_at": sent_at + timedelta(days=30), "used_at": sent_at if used else None})
            if used:
                binds.append({"id": client_id, "telegram_chat_id": CHAT_BASE + client_id, "bound_at": sent_at})
    for i in range(0, len(tokens), 5000):
        await session.execute(insert(InviteToken), tokens[i:i + 5000])
    if binds:
        await session.execute(update(Client), binds)
    return len(binds)


async def _sample_client(session: AsyncSession, manager_id: int, anchor: date) -> str | None:
    """A Chinese-speaking, consenting client of the first manager with the soonest maturing deposit."""
    return await session.scalar(
        select(Client.client_no).join(Holding, Holding.client_id == Client.id).where(
            Client.manager_id == manager_id, Client.language == "zh", Client.marketing_consent.is_(True),
            Client.opted_out.is_(False), Holding.kind == "deposit", Holding.maturity_date >= anchor + timedelta(days=1),
        ).order_by(Holding.maturity_date, Client.client_no).limit(1)
    )


def scaled_managers(factor: float) -> tuple[DemoManager, ...]:
    """The demo managers with their books scaled (at least one client each)."""
    return tuple(DemoManager(m.code, m.name, m.branch, max(1, int(m.clients * factor)), m.prefix)
                 for m in DEFAULT_MANAGERS)


def demo_documents(docs_dir: Path) -> list[Path]:
    """The knowledge files of the demo (everything in docs_dir except hidden files)."""
    if not docs_dir.is_dir():
        return []
    return sorted(p for p in docs_dir.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(docs_dir).parts))


async def ingest_demo_knowledge(
    settings: Settings,
    db: Database,
    docs_dir: Path,
    *,
    embedding: str | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Load the demo documents through the knowledge service (registry in the project database);
    documents already indexed with the same content are reported unchanged by the service.
    Returns one line on what happened."""
    files = demo_documents(docs_dir)
    if not files:
        return f"no demo documents in {docs_dir}"
    try:
        from bot.services.documents import SqlDocumentRegistry
        from knowledge import build_knowledge_service
    except ImportError as exc:
        return f"knowledge service not available ({exc}); the knowledge base was not loaded"
    service = await asyncio.to_thread(
        build_knowledge_service, settings, registry=SqlDocumentRegistry(db.sessions), embedding=embedding)
    done = 0

    def on_item(_: Any) -> None:
        nonlocal done
        done += 1
        if progress:
            progress("knowledge", done, len(files))

    if progress:
        progress("knowledge", 0, len(files))
    report = await service.ingest(files, loaded_by="demo", progress=on_item)
    line = (f"{len(report.loaded)} documents loaded, {len(report.replaced)} replaced, "
            f"{len(report.unchanged)} already up to date")
    if report.failed:
        line += "; failed: " + "; ".join(f"{f['file']}: {f['reason']}" for f in report.failed)
    return line
