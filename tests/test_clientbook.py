"""Client book import: CSV and Excel, validation with row numbers, idempotent upsert, holdings snapshots."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditLog, Client, Holding, Manager
from bot.services.clientbook import CLIENT_REQUIRED, ClientBookError, import_client_book
from bot.workspace import Database

HEADER = [*CLIENT_REQUIRED, "salutation", "segment", "phone", "id_expiry", "opted_out"]
HOLDING_HEADER = ["client_no", "kind", "product_code", "amount", "currency", "start_date", "maturity_date",
                  "next_due_date", "next_due_amount"]


def client_row(i: int, **over: str) -> dict[str, str]:
    row = {
        "client_no": f"C{i:05d}",
        "name": f"客户{i}",
        "manager": "M01" if i % 2 else "M02",
        "language": "en" if i % 10 == 0 else "zh",
        "timezone": "Asia/Shanghai",
        "birthday": f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}",
        "risk_rating": f"C{1 + i % 5}",
        "risk_assessed_on": "2026-03-01",
        "marketing_consent": ["yes", "no", "1", "0", "是", "否", "true", "false"][i % 8],
        "salutation": "王先生",
        "segment": "mass",
        "phone": f"1380000{i:04d}",
        "id_expiry": "2030-01-01",
        "opted_out": "no",
    }
    row.update(over)
    return row


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def hundred_with_three_bad(tmp_path: Path) -> Path:
    rows = [client_row(i) for i in range(1, 101)]
    rows[9]["risk_rating"] = "C7"  # row 11 (header is row 1)
    rows[39]["birthday"] = "1985/13/01"  # row 41
    rows[69]["client_no"] = ""  # row 71
    return write_csv(tmp_path / "clients.csv", HEADER, rows)


async def count(db: Database, model: type) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def run_import(db: Database, clients: Path | None, holdings: Path | None = None):  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        report = await import_client_book(session, clients, holdings)
        await session.commit()
    return report


async def check_three_bad_rows(db: Database, tmp_path: Path) -> None:
    path = hundred_with_three_bad(tmp_path)
    report = await run_import(db, path)
    assert report.imported == 97
    assert report.updated == 0
    failed = {(f.file, f.row): f.reason for f in report.failed}
    assert set(failed) == {("clients.csv", 11), ("clients.csv", 41), ("clients.csv", 71)}
    assert "risk_rating" in failed[("clients.csv", 11)] and "C7" in failed[("clients.csv", 11)]
    assert "birthday" in failed[("clients.csv", 41)] and "ISO" in failed[("clients.csv", 41)]
    assert "1985" not in failed[("clients.csv", 41)]  # personal data is not echoed
    assert "client_no" in failed[("clients.csv", 71)]
    assert await count(db, Client) == 97
    assert sorted(report.managers_created) == ["M01", "M02"]

    again = await run_import(db, path)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 97)
    assert len(again.failed) == 3
    assert again.managers_created == []
    assert await count(db, Client) == 97
    assert await count(db, Manager) == 2


async def test_csv_three_bad_rows_then_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    await check_three_bad_rows(db, tmp_path)


@pytest.mark.postgres
async def test_csv_three_bad_rows_postgres(pg_db: Database, tmp_path: Path) -> None:
    await check_three_bad_rows(pg_db, tmp_path)
    await check_holdings_snapshot(pg_db, tmp_path)


async def test_values_are_typed_and_defaults_applied(db: Database, tmp_path: Path) -> None:
    rows = [client_row(1, marketing_consent="是", language="EN", risk_rating="c3"),
            client_row(2, timezone="", language="", birthday="", marketing_consent="否")]
    await run_import(db, write_csv(tmp_path / "c.csv", HEADER, rows))
    async with db.sessions() as session:
        one = await session.scalar(select(Client).where(Client.client_no == "C00001"))
        two = await session.scalar(select(Client).where(Client.client_no == "C00002"))
    assert one is not None and two is not None
    assert one.marketing_consent is True and one.language == "en" and one.risk_rating == "C3"
    assert one.birthday == date(1961, 2, 11)
    assert two.marketing_consent is False and two.language == "zh" and two.timezone == "Asia/Shanghai"
    assert two.birthday is None


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("marketing_consent", "maybe", ["marketing_consent", "maybe"]),
        ("language", "fr", ["language", "zh or en"]),
        ("timezone", "Mars/Olympus", ["timezone", "IANA"]),
        ("risk_assessed_on", "01.03.2026", ["risk_assessed_on", "ISO"]),
        ("manager", "", ["manager"]),
        ("name", "", ["name"]),
        ("phone", "1" * 40, ["phone", "longer"]),
    ],
)
async def test_each_bad_value_is_named(db: Database, tmp_path: Path, column: str, value: str,
                                       words: list[str]) -> None:
    rows = [client_row(1), client_row(2, **{column: value})]
    report = await run_import(db, write_csv(tmp_path / "c.csv", HEADER, rows))
    assert report.imported == 1
    assert [(f.row) for f in report.failed] == [3]
    for word in words:
        assert word in report.failed[0].reason


async def test_update_keeps_what_is_not_given_and_never_undoes_opt_out(db: Database, tmp_path: Path) -> None:
    await run_import(db, write_csv(tmp_path / "a.csv", HEADER, [client_row(1, opted_out="yes"), client_row(2)]))
    # Second export: fewer columns, a changed rating, an empty phone and "not opted out".
    header = [*CLIENT_REQUIRED, "phone", "opted_out"]
    rows = [
        {k: v for k, v in client_row(1, opted_out="no", risk_rating="C5").items() if k in header},
        {k: v for k, v in client_row(2, phone="").items() if k in header},
    ]
    report = await run_import(db, write_csv(tmp_path / "b.csv", header, rows))
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 1)
    async with db.sessions() as session:
        one = await session.scalar(select(Client).where(Client.client_no == "C00001"))
        two = await session.scalar(select(Client).where(Client.client_no == "C00002"))
    assert one is not None and two is not None
    assert one.risk_rating == "C5"
    assert one.opted_out is True  # the client's opt-out outlives the export
    assert one.salutation == "王先生"  # column absent from the second file: kept
    assert two.phone == "13800000002"  # empty cell: kept


async def test_duplicate_client_no_in_file_is_reported(db: Database, tmp_path: Path) -> None:
    rows = [client_row(1), client_row(2), client_row(1, name="另一个")]
    report = await run_import(db, write_csv(tmp_path / "c.csv", HEADER, rows))
    assert report.imported == 2
    assert len(report.failed) == 1 and report.failed[0].row == 4
    assert "row 2" in report.failed[0].reason


async def test_bad_header_is_one_clear_error_and_stores_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("number,full_name,officer\nC1,张三,M01\n", encoding="utf-8")
    with pytest.raises(ClientBookError) as err:
        await run_import(db, path)
    message = str(err.value)
    assert "wrong.csv" in message and "client_no" in message and "risk_rating" in message
    assert await count(db, Client) == 0
    assert await count(db, Manager) == 0


async def test_missing_file_and_unknown_type(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ClientBookError, match="not found"):
        await run_import(db, tmp_path / "nope.csv")
    other = tmp_path / "clients.pdf"
    other.write_bytes(b"%PDF")
    with pytest.raises(ClientBookError, match="unsupported"):
        await run_import(db, other)
    broken = tmp_path / "clients.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ClientBookError, match="clients.xlsx: not a readable Excel workbook"):
        await run_import(db, broken)


async def test_xlsx_import_and_gbk_csv(db: Database, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([h.upper() for h in HEADER])  # headers are case-insensitive
    for i in range(1, 6):
        row = client_row(i)
        values: list[object] = [row[h] for h in HEADER]
        values[HEADER.index("birthday")] = date(1970 + i, 1, i)  # a real Excel date cell
        values[HEADER.index("marketing_consent")] = 1  # a number cell
        sheet.append(values)
    sheet.append(["C00009", "坏行", "M01", "zh", "Asia/Shanghai", "not a date", "C1", "2026-01-01", "yes"])
    path = tmp_path / "clients.xlsx"
    workbook.save(path)
    report = await run_import(db, path)
    assert report.imported == 5
    assert [(f.file, f.row) for f in report.failed] == [("clients.xlsx", 7)]
    async with db.sessions() as session:
        three = await session.scalar(select(Client).where(Client.client_no == "C00003"))
    assert three is not None and three.birthday == date(1973, 1, 3) and three.marketing_consent is True

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(("\n".join([",".join(HEADER), ",".join(client_row(20).values())]) + "\n").encode("gbk"))
    report = await run_import(db, gbk)
    assert report.imported == 1 and not report.failed
    async with db.sessions() as session:
        twenty = await session.scalar(select(Client).where(Client.client_no == "C00020"))
    assert twenty is not None and twenty.name == "客户20"


async def test_unknown_manager_is_created_with_its_name(db: Database, tmp_path: Path) -> None:
    header = [*HEADER, "manager_name"]
    rows = [{**client_row(1, manager="SZ-088"), "manager_name": "陈静"}]
    report = await run_import(db, write_csv(tmp_path / "c.csv", header, rows))
    assert report.managers_created == ["SZ-088"]
    async with db.sessions() as session:
        manager = await session.scalar(select(Manager).where(Manager.code == "SZ-088"))
        client = await session.scalar(select(Client).where(Client.client_no == "C00001"))
    assert manager is not None and manager.name == "陈静"
    assert client is not None and client.manager_id == manager.id


def holding(client_no: str, kind: str, code: str, amount: str, maturity: str = "2026-12-20",
            **over: str) -> dict[str, str]:
    row = {"client_no": client_no, "kind": kind, "product_code": code, "amount": amount, "currency": "CNY",
           "start_date": "2026-06-20", "maturity_date": maturity, "next_due_date": "", "next_due_amount": ""}
    row.update(over)
    return row


async def holdings_of(db: Database, client_no: str) -> list[tuple[str, str, Decimal]]:
    async with db.sessions() as session:
        rows = (await session.execute(
            select(Holding.kind, Holding.product_code, Holding.amount)
            .join(Client, Client.id == Holding.client_id).where(Client.client_no == client_no)
            .order_by(Holding.product_code)
        )).all()
    return [(k, c, Decimal(a)) for k, c, a in rows]


async def check_holdings_snapshot(db: Database, tmp_path: Path) -> None:
    await run_import(db, write_csv(tmp_path / "cl.csv", HEADER, [client_row(i) for i in range(1, 4)]))
    first = [
        holding("C00001", "deposit", "TD1Y", "50,000.00"),
        holding("C00001", "card", "CARD-GOLD", "0", maturity="2027-01-31"),
        holding("C00002", "loan", "MORTGAGE", "800000", next_due_date="2026-12-05", next_due_amount="4321.50"),
        holding("C00003", "wealth", "WM90", "20000"),
    ]
    report = await run_import(db, None, write_csv(tmp_path / "h1.csv", HOLDING_HEADER, first))
    assert report.holdings is not None
    assert (report.holdings.imported, report.holdings.clients) == (4, 3)
    assert not report.failed
    assert await holdings_of(db, "C00001") == [("card", "CARD-GOLD", Decimal("0")),
                                               ("deposit", "TD1Y", Decimal("50000"))]

    again = await run_import(db, None, tmp_path / "h1.csv")
    assert again.holdings is not None
    assert (again.holdings.imported, again.holdings.updated, again.holdings.unchanged,
            again.holdings.removed) == (0, 0, 4, 0)

    # Next snapshot: C00001's deposit grew, its card is gone; C00002 has a bad row; C00003 absent;
    # C99999 unknown.
    second = [
        holding("C00001", "deposit", "TD1Y", "60000"),
        holding("C00002", "loan", "MORTGAGE", "790000", next_due_date="2027-01-05"),
        holding("C00002", "stock", "AAPL", "1"),
        holding("C99999", "deposit", "TD1Y", "1"),
    ]
    report = await run_import(db, None, write_csv(tmp_path / "h2.csv", HOLDING_HEADER, second))
    assert report.holdings is not None
    assert (report.holdings.clients, report.holdings.updated, report.holdings.removed) == (1, 1, 1)
    reasons = {f.row: f.reason for f in report.failed}
    assert set(reasons) == {3, 4, 5}
    assert "kind" in reasons[4] and "stock" in reasons[4]
    assert "held back" in reasons[3]
    assert "C99999" in reasons[5] and "not in the client book" in reasons[5]
    assert await holdings_of(db, "C00001") == [("deposit", "TD1Y", Decimal("60000"))]
    assert await holdings_of(db, "C00002") == [("loan", "MORTGAGE", Decimal("800000"))]  # left as stored
    assert await holdings_of(db, "C00003") == [("wealth", "WM90", Decimal("20000"))]  # absent: kept


async def test_holdings_snapshot(db: Database, tmp_path: Path) -> None:
    await check_holdings_snapshot(db, tmp_path)
    async with db.sessions() as session:
        loan = await session.scalar(select(Holding).where(Holding.product_code == "MORTGAGE"))
        audits = await session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "import"))
    assert loan is not None and loan.next_due_date == date(2026, 12, 5)
    assert loan.next_due_amount == Decimal("4321.50")
    assert audits and audits >= 4


def test_cli_import_clients_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    path = hundred_with_three_bad(tmp_path)
    holdings = write_csv(tmp_path / "h.csv", HOLDING_HEADER, [holding("C00001", "deposit", "TD1Y", "100")])
    runner = CliRunner()
    result = runner.invoke(app, ["import-clients", str(path), "--holdings", str(holdings), "--json"])
    assert result.exit_code == 3, result.output  # some rows failed
    data = json.loads(result.stdout)
    assert data["imported"] == 97 and len(data["failed"]) == 3
    assert {"file", "row", "reason"} <= set(data["failed"][0])
    assert data["holdings"]["imported"] == 1

    # --dry-run reports the same and stores nothing
    other = write_csv(tmp_path / "other.csv", HEADER, [client_row(i) for i in range(200, 205)])
    result = runner.invoke(app, ["import-clients", str(other), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 5 and json.loads(result.stdout)["dry_run"] is True
    result = runner.invoke(app, ["import-clients", str(other), "--json"])
    assert json.loads(result.stdout)["imported"] == 5  # the dry run stored nothing

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    result = runner.invoke(app, ["import-clients", str(bad)])
    assert result.exit_code == 1
    assert "missing column" in result.output and "Traceback" not in result.output


def test_bench_import_clients_prints_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.chdir(tmp_path)
    for fmt in ("csv", "xlsx"):
        result = CliRunner().invoke(app, ["bench", "import-clients", "--clients", "60", "--format", fmt, "--json"])
        assert result.exit_code == 0, result.output
        first, second = json.loads(result.stdout)
        assert (first["imported"], first["failed"], second["unchanged"], second["imported"]) == (60, 0, 60, 0)
        assert first["holdings_added"] > 0 and second["holdings_unchanged"] == first["holdings_added"]
        assert isinstance(first["seconds"], float)


async def test_chinese_headers_and_kinds(db: Database, tmp_path: Path) -> None:
    clients = tmp_path / "客户.csv"
    clients.write_text(
        "客户号,姓名,客户经理,语言,时区,出生日期,风险等级,风险评估日期,营销同意,称呼\n"
        "C1,张伟,M01,zh,Asia/Shanghai,1980-05-06,C3,2026-02-01,是,张先生\n",
        encoding="utf-8",
    )
    holdings = tmp_path / "持仓.csv"
    holdings.write_text(
        "客户号,产品类型,产品代码,金额,币种,起息日,到期日\n"
        "C1,定期存款,TD1Y,50000,CNY,2026-01-01,2027-01-01\n"
        "C1,股票,X,1,CNY,,\n",
        encoding="utf-8",
    )
    report = await run_import(db, clients)
    assert report.imported == 1 and not report.failed
    report = await run_import(db, None, holdings)
    assert [(f.row, "股票" in f.reason) for f in report.failed] == [(2, False), (3, True)]
    holdings.write_text("客户号,产品类型,产品代码,金额,币种,起息日,到期日\n"
                        "C1,定期存款,TD1Y,50000,CNY,2026-01-01,2027-01-01\n", encoding="utf-8")
    report = await run_import(db, None, holdings)
    assert not report.failed
    assert await holdings_of(db, "C1") == [("deposit", "TD1Y", Decimal("50000"))]


async def test_names_and_phones_never_reach_logs_or_reasons(db: Database, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    import logging

    rows = [client_row(1, name="欧阳娜娜", phone="13912345678"),
            client_row(2, name="司马相如", phone="13787654321", birthday="bad-date"),
            client_row(3, name="Secret Person", phone="+44 20 7946 0000", risk_rating="X")]
    # INFO everywhere (the default LOG_LEVEL), DEBUG for the project's own loggers. (At DEBUG,
    # aiosqlite itself logs SQL parameters: never run production at LOG_LEVEL=DEBUG.)
    with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="bot"):
        report = await run_import(db, write_csv(tmp_path / "c.csv", HEADER, rows))
    assert report.imported == 1 and len(report.failed) == 2
    text = caplog.text + json.dumps(report.as_dict(), ensure_ascii=False)
    for secret in ("欧阳娜娜", "司马相如", "Secret Person", "13912345678", "13787654321", "7946", "bad-date"):
        assert secret not in text
    assert "imported=1" in caplog.text  # the import does log its counts
