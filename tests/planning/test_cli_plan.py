"""`rmbot plan` JSON shape, dry run vs stored, errors; `rmbot bench plan` prints figures."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app, load_commands
from bot.workspace import open_database
from tests.conftest import make_settings
from tests.planning import seed

D = date(2027, 2, 5)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))

    async def build() -> None:
        async with open_database(make_settings(tmp_path)) as db, db.sessions() as session:
            seed.add_products(session)
            m = await seed.add_manager(session, code="RM9")
            await seed.add_client(session, m, [seed.deposit("50000.00", D + timedelta(days=3)), seed.pension()],
                                  client_no="X1")
            await seed.add_client(session, m, [seed.pension()], client_no="X2", language="en",
                                  timezone="Europe/London")
            await seed.add_client(session, m, [], client_no="X3", opted_out=True)
            await session.commit()

    asyncio.run(build())
    return tmp_path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_plan_json_shape_dry_run_then_store(workspace: Path) -> None:
    dry = run("plan", "--date", D.isoformat(), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert set(data) >= {"campaigns", "drafts", "skipped"}
    assert {c["kind"] for c in data["campaigns"]} >= {"greeting"}
    for c in data["campaigns"]:
        assert {"id", "manager", "kind", "occasion", "count"} <= set(c) and c["id"] is None
    kinds = {d["kind"] for d in data["drafts"]}
    assert kinds <= {"greeting", "reminder", "recommendation"}
    for d in data["drafts"]:
        assert {"client_no", "language", "kind", "occasion", "text", "reasons", "scheduled_at", "client"} <= set(d)
        assert set(d["client"]) >= {"risk_rating", "risk_assessed_on", "marketing_consent", "opted_out", "timezone"}
        assert d["scheduled_at"][-6:] in ("+08:00", "+00:00")  # ISO time with the client's offset
        if d["kind"] == "recommendation" and "product" in d:
            assert {"code", "risk_level", "min_amount"} <= set(d["product"]) and "amount" in d
    assert len({d["client_no"] for d in data["drafts"]}) == len(data["drafts"])  # one message per client
    x1 = {o: d for d in data["drafts"] if d["client_no"] == "X1" for o in d.get("occasions", [d["occasion"]])}
    assert set(x1) == {"deposit_maturity_7d", "spring_festival"}  # the reminder first, then the greeting
    assert x1["deposit_maturity_7d"]["scheduled_at"] == "2027-02-05T09:00:00+08:00"
    x2 = [d for d in data["drafts"] if d["client_no"] == "X2"]
    assert x2 and x2[0]["language"] == "en" and x2[0]["scheduled_at"].startswith("2027-02-05T09:30:00+00:00")
    assert data["skipped"].get("opted_out") == 1

    stored = json.loads(run("plan", "--date", D.isoformat(), "--manager", "RM9", "--json").stdout)
    assert len(stored["drafts"]) == len(data["drafts"]) and all(c["id"] for c in stored["campaigns"])
    again = json.loads(run("plan", "--date", D.isoformat(), "--json").stdout)
    assert again["drafts"] == [] and again["campaigns"] == [] and again["skipped"]["already_planned"] == 2  # clients
    text = run("plan", "--date", D.isoformat())
    assert text.exit_code == 0 and "0 drafts drafted" in text.output


def test_plan_errors_are_one_line(workspace: Path) -> None:
    bad = run("plan", "--date", "2027-02-30")
    assert bad.exit_code == 2 and "--date must be a date YYYY-MM-DD" in bad.output and "Traceback" not in bad.output
    unknown = run("plan", "--date", D.isoformat(), "--manager", "NOPE")
    assert unknown.exit_code == 1 and "manager 'NOPE' not found" in unknown.output


def test_bench_plan_prints_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_commands()
    monkeypatch.chdir(tmp_path)
    result = run("bench", "plan", "--clients", "200", "--managers", "2")
    assert result.exit_code == 0, result.output
    assert "drafts/s:" in result.stdout and "planning time:" in result.stdout
    drafts = int(next(line for line in result.stdout.splitlines() if line.startswith("drafts:")).split()[-1])
    assert drafts > 0
    llm = run("bench", "plan", "--clients", "100", "--llm-stub-ms", "10", "--personalised", "20")
    assert llm.exit_code == 0, llm.output
    assert "personalised:   20 rewritten, 0 fell back" in llm.stdout


def test_unreachable_database_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = run("plan", "--date", D.isoformat())
    assert result.exit_code == 1 and "the database (DATABASE_URL) cannot be used" in result.output
    assert "Traceback" not in result.output


def test_bench_plan_days_checks_every_day(workspace: Path) -> None:
    result = run("bench", "plan-days", "--start", D.isoformat(), "--end", (D + timedelta(days=2)).isoformat())
    assert result.exit_code == 0, result.output
    assert "days:             3" in result.stdout and "violations:       0" in result.stdout


def test_plan_defaults_to_today(workspace: Path) -> None:
    from datetime import datetime

    from bot.settings import load_settings

    result = run("plan", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    today = datetime.now(load_settings(data_dir=workspace / "var", _env_file=None).tz).date()
    assert json.loads(result.stdout)["plan_date"] == today.isoformat()
