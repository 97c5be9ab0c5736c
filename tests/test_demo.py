"""The demo workspace: a scaled-down build, its shape, and that a second run changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import types
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import Client, Holding, Manager, Product
from bot.settings import Settings
from bot.workspace import Database, open_database
from tools import demo

PRODUCTS = """code,name_zh,name_en,type,risk_level,term_days,min_amount,rate_text
TD3M,三个月定期存款,3-month time deposit,deposit,,90,50,1.05%
TD1Y,一年定期存款,1-year time deposit,deposit,,365,50,1.45%
WM90,稳盈90天理财,Steady 90-day wealth,wealth,R2,90,10000,2.6%-3.2%
WMEQ,进取权益理财,Equity wealth,wealth,R4,365,10000,
CARDG,金卡,Gold card,card,,,,
LOANM,住房贷款,Mortgage,loan,,,,
PEN,个人养老金账户,Personal pension account,pension,,,,
"""


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    """The real demo documents when present, else a products list written for the test."""
    if (demo.DEMO_DOCS / "products.csv").is_file():
        return demo.DEMO_DOCS
    path = tmp_path / "demo_docs"
    path.mkdir()
    (path / "products.csv").write_text(PRODUCTS, encoding="utf-8")
    return path


async def table_rows(db: Database) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    async with db.sessions() as session:
        for model in (Manager, Client, Holding, Product):
            table = model.__table__  # type: ignore[attr-defined]
            out[table.name] = [tuple(r) for r in (await session.execute(
                select(table).order_by(table.c.id))).all()]
    return out


SMALL = (
    demo.DemoManager("RM001", "王敏", "深圳分行 南山支行", 400, "D1"),
    demo.DemoManager("RM002", "陈静", "深圳分行 福田支行", 80, "D2"),
)


async def test_scaled_demo_builds_and_second_run_changes_nothing(
    settings: Settings, db: Database, docs_dir: Path
) -> None:
    first = await demo.build_demo(settings, db, managers=SMALL, docs_dir=docs_dir, knowledge=False)
    assert (first.managers, first.clients) == (2, 480)
    assert first.changes["clients_imported"] == 480
    assert first.holdings > 480  # most clients hold something; many hold several
    assert first.products >= 7

    async with db.sessions() as session:
        per_manager = dict((await session.execute(
            select(Manager.code, func.count(Client.id)).join(Client).group_by(Manager.code))).all())
        clients = (await session.scalars(select(Client))).all()
        holdings = (await session.scalars(select(Holding))).all()
        product_codes = set((await session.scalars(select(Product.code))).all())
    assert per_manager == {"RM001": 400, "RM002": 80}

    anchor = date.fromisoformat(first.anchor)
    share = lambda pred: sum(1 for c in clients if pred(c)) / len(clients)  # noqa: E731
    assert 0.01 < share(lambda c: c.opted_out) < 0.10
    assert 0.20 < share(lambda c: not c.marketing_consent) < 0.40
    assert 0.05 < share(lambda c: c.risk_assessed_on < anchor - timedelta(days=365)) < 0.16
    assert share(lambda c: c.language == "en") < 0.12
    assert {c.risk_rating for c in clients} == {"C1", "C2", "C3", "C4", "C5"}
    zh = [c for c in clients if c.language == "zh"]
    assert all(c.salutation and c.salutation[-2:] in ("先生", "女士") and c.salutation[0] == c.name[0] for c in zh)
    assert all(c.phone and c.birthday and c.customer_since and c.id_expiry for c in clients)

    kinds = {h.kind for h in holdings}
    assert kinds == {"deposit", "wealth", "card", "loan", "pension"}
    upcoming = [h for h in holdings if h.kind in ("deposit", "wealth") and h.maturity_date
                and anchor <= h.maturity_date <= anchor + timedelta(days=90)]
    assert len({h.maturity_date for h in upcoming}) > 30  # spread over the next 90 days
    assert all(h.next_due_date and h.next_due_amount for h in holdings if h.kind == "loan")
    assert all(h.start_date <= anchor for h in holdings)  # nothing starts in the future
    assert all(h.maturity_date is None or h.maturity_date >= anchor for h in holdings if h.kind != "loan")
    sample = next(c for c in clients if c.client_no == first.sample_client)
    assert sample.language == "zh" and sample.marketing_consent and not sample.opted_out
    assert any(h.client_id == sample.id and h.kind == "deposit" for h in holdings)
    assert {h.product_code for h in holdings} <= product_codes
    by_id = {c.id: c for c in clients}
    levels = {p: None for p in product_codes}
    async with db.sessions() as session:
        levels.update(dict((await session.execute(select(Product.code, Product.risk_level))).all()))
    for h in holdings:  # the demo's own holdings are suitable
        if h.kind == "wealth" and levels[h.product_code]:
            assert int(levels[h.product_code][1:]) <= int(by_id[h.client_id].risk_rating[1:])

    before = await table_rows(db)
    second = await demo.build_demo(settings, db, managers=SMALL, docs_dir=docs_dir, knowledge=False)
    assert await table_rows(db) == before  # every row identical, timestamps included
    assert second.changes == {
        "products": 0, "clients_imported": 0, "clients_updated": 0, "clients_unchanged": 480,
        "holdings_imported": 0, "holdings_updated": 0, "holdings_unchanged": first.holdings,
        "holdings_removed": 0,
    }
    assert (second.clients, second.holdings, second.anchor) == (480, first.holdings, first.anchor)


def test_generation_is_deterministic() -> None:
    anchor = date(2026, 11, 22)
    manager = demo.DemoManager("RM9", "测试", "branch", 50, "T9")
    assert demo.make_clients(manager, anchor) == demo.make_clients(manager, anchor)
    assert demo.make_clients(manager, anchor) != demo.make_clients(manager, anchor, seed=1)


async def test_missing_products_file_is_a_clear_error(settings: Settings, db: Database, tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="products.csv"):
        await demo.build_demo(settings, db, managers=SMALL, docs_dir=tmp_path / "nothing", knowledge=False)


def test_cli_demo_no_serve_json(tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "ws"))
    monkeypatch.setattr(demo, "DEFAULT_MANAGERS", SMALL)
    monkeypatch.setattr(demo, "DEMO_DOCS", docs_dir)
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--no-serve", "--json", "--no-knowledge"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"clients", "managers", "documents", "chunks", "seconds"} <= set(data)
    assert data["clients"] == 480 and data["managers"] == 2
    assert (tmp_path / "ws" / "rmbot.sqlite3").is_file()


def _cli(tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "ws"))
    monkeypatch.setattr(demo, "DEFAULT_MANAGERS", SMALL[1:])
    monkeypatch.setattr(demo, "DEMO_DOCS", docs_dir)
    return lambda *args: CliRunner().invoke(app, ["demo", *args])


def test_cli_simulate_days_without_simulator_is_a_clear_error(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tools.simulate", None)  # as if tools/ were not installed (the wheel)
    result = _cli(tmp_path, docs_dir, monkeypatch)("--no-serve", "--simulate-days", "3")
    assert result.exit_code == 2
    assert "tools.simulate" in result.output and "make install" in result.output
    assert "Traceback" not in result.output


def test_cli_simulate_days_calls_the_simulator(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, int]] = []

    async def simulate_days(settings: Settings, db: Database, days: int) -> dict[str, int]:
        calls.append((db, days))
        return {"days": days}

    monkeypatch.setitem(sys.modules, "tools.simulate", types.SimpleNamespace(simulate_days=simulate_days))
    result = _cli(tmp_path, docs_dir, monkeypatch)("--no-serve", "--no-knowledge", "--json", "--simulate-days", "2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["simulation"] == {"days": 2}
    assert [days for _, days in calls] == [2]


def test_cli_demo_serves_through_bot_app(tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Settings] = []
    settled: list[bool] = []

    async def run(settings: Settings, role: str = "all", *, settle: bool = False) -> None:
        served.append(settings)
        settled.append(settle)

    monkeypatch.setitem(sys.modules, "bot.app", types.SimpleNamespace(run=run))
    result = _cli(tmp_path, docs_dir, monkeypatch)("--no-knowledge")
    assert result.exit_code == 0, result.output
    assert len(served) == 1 and served[0].token is None
    assert settled == [True]  # a demo that serves until stopped settles its heap like `rmbot run`
    assert "rmbot chat --client" in result.output  # how to try the customer side without a bot


async def test_demo_knowledge_base_is_loaded_once(settings: Settings, db: Database, docs_dir: Path,
                                                  tmp_path: Path) -> None:
    pytest.importorskip("knowledge.factory")
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "products.csv").write_text((docs_dir / "products.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (kb / "deposit_faq.md").write_text(
        "# 定期存款常见问题\n\n## 提前支取\n定期存款可以提前支取,提前支取部分按活期利率计息。\n\n"
        "## Early withdrawal\nTime deposits can be withdrawn early; that part earns the demand rate.\n",
        encoding="utf-8",
    )
    first = await demo.build_demo(settings, db, managers=SMALL[1:], docs_dir=kb, embedding="hash")
    assert first.documents == 2 and first.chunks >= 2
    assert "2 documents loaded" in first.knowledge
    second = await demo.build_demo(settings, db, managers=SMALL[1:], docs_dir=kb, embedding="hash")
    assert (second.documents, second.chunks) == (first.documents, first.chunks)
    assert "2 already up to date" in second.knowledge


@pytest.mark.postgres
async def test_scaled_demo_on_postgres_is_idempotent(settings: Settings, pg_db: Database, docs_dir: Path) -> None:
    first = await demo.build_demo(settings, pg_db, managers=SMALL, docs_dir=docs_dir, knowledge=False)
    second = await demo.build_demo(settings, pg_db, managers=SMALL, docs_dir=docs_dir, knowledge=False)
    assert first.clients == second.clients == 480
    assert second.changes["clients_unchanged"] == 480 and second.changes["holdings_unchanged"] == first.holdings
    assert second.changes["clients_updated"] == second.changes["holdings_imported"] == 0


def test_cli_demo_plans_today_adds_an_admin_and_prints_both_sign_in_links(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app, load_commands
    from bot.db.models import Draft, LoginToken
    from bot.settings import load_settings

    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "ws"))
    monkeypatch.setattr(demo, "DEFAULT_MANAGERS", SMALL)
    monkeypatch.setattr(demo, "DEMO_DOCS", docs_dir)
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--no-knowledge"])
    assert result.exit_code == 0, result.output
    links = re.findall(r"^ +(manager|admin) +(\w+) +(http://127\.0\.0\.1:\d+/login/\S+)$", result.stdout, re.M)
    assert [(role, code) for role, code, _ in links] == [("manager", "RM001"), ("admin", "ADMIN")]

    settings = load_settings(data_dir=tmp_path / "ws", _env_file=None)
    today = datetime.now(settings.tz).date()

    async def stored() -> tuple[int, bool, int]:
        async with open_database(settings) as db, db.sessions() as session:
            drafts = await session.scalar(select(func.count()).select_from(Draft).where(Draft.plan_date == today))
            admin = await session.scalar(select(Manager).where(Manager.code == "ADMIN"))
            tokens = await session.scalar(select(func.count()).select_from(LoginToken))
            return int(drafts or 0), bool(admin and admin.is_admin), int(tokens or 0)

    drafts, is_admin, tokens = asyncio.run(stored())
    assert drafts > 0 and f"Today ({today.isoformat()}): {drafts:,} drafts" in result.output
    assert is_admin and tokens == 2

    again = CliRunner().invoke(app, ["demo", "--no-serve", "--no-knowledge", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["drafts_today"] == drafts  # planning today again adds nothing


def test_cli_demo_on_a_busy_port_is_one_clear_line(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("WEB_PORT", str(busy.getsockname()[1]))
        result = _cli(tmp_path, docs_dir, monkeypatch)("--no-knowledge")
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1 and "WEB_PORT" in result.output  # one sentence (wrapped at 80)
    assert "Traceback" not in result.output
    assert not (tmp_path / "ws").exists()  # stopped before building anything
