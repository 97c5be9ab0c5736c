"""Benchmark of the client book import: a synthetic CRM export (the demo's generator) written as
CSV or Excel, imported into a database twice (first all new, then all unchanged). Prints figures;
asserts nothing about time."""

from __future__ import annotations

import asyncio
import csv
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.services.clientbook import CLIENT_OPTIONAL, CLIENT_REQUIRED, HOLDING_OPTIONAL, HOLDING_REQUIRED
from bot.settings import Settings
from bot.workspace import open_database
from tools.demo import DemoManager, make_clients, make_holdings, products_by_kind, read_products

CLIENT_COLUMNS = [*CLIENT_REQUIRED, *[c for c in CLIENT_OPTIONAL if c != "manager_name"]]
HOLDING_COLUMNS = [*HOLDING_REQUIRED, *HOLDING_OPTIONAL]


@dataclass
class BenchRun:
    label: str
    seconds: float
    report: dict[str, Any]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def write_export(folder: Path, clients: int, fmt: str, docs_dir: Path | None = None) -> tuple[Path, Path]:
    """A clients file and a holdings file of `clients` synthetic clients (client numbers B...)."""
    from tools.demo import DEMO_DOCS

    anchor = date(2026, 1, 1)
    records = make_clients(DemoManager("BENCH1", "Bench", "bench", clients, "B1"), anchor)
    try:
        catalogue = products_by_kind(read_products((docs_dir or DEMO_DOCS) / "products.csv"))
    except Exception:  # noqa: BLE001 - the benchmark works without the demo's product list
        catalogue = {k: [{"code": f"{k.upper()}-1", "risk_level": None, "term_days": 365}]
                     for k in ("deposit", "wealth", "card", "loan", "pension")}
    holdings = make_holdings(records, catalogue, anchor)
    client_rows = [[_cell(r.get(c)) for c in CLIENT_COLUMNS] for r in records]
    holding_rows = [[_cell(no if c == "client_no" else h.get(c)) for c in HOLDING_COLUMNS]
                    for no, hs in holdings.items() for h in hs]
    paths = []
    for name, header, rows in (("clients", CLIENT_COLUMNS, client_rows), ("holdings", HOLDING_COLUMNS, holding_rows)):
        if fmt == "xlsx":
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet()
            sheet.append(header)
            for row in rows:
                sheet.append(row)
            path = folder / f"{name}.xlsx"
            workbook.save(path)
        else:
            path = folder / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(rows)
        paths.append(path)
    return paths[0], paths[1]


async def run_import_bench(settings: Settings, clients: int, fmt: str = "csv") -> list[BenchRun]:
    """Write the export, import it twice into `settings`' database; the figures of both runs."""
    from bot.services.clientbook import import_client_book

    runs: list[BenchRun] = []
    with tempfile.TemporaryDirectory(prefix="rmbot-bench-") as tmp:
        clients_file, holdings_file = await asyncio.to_thread(write_export, Path(tmp), clients, fmt)
        async with open_database(settings) as db:
            for label in ("first import", "re-import"):
                started = time.perf_counter()
                async with db.sessions() as session:
                    report = await import_client_book(session, clients_file, holdings_file, actor="bench")
                    await session.commit()
                runs.append(BenchRun(label, time.perf_counter() - started, report.as_dict()))
    return runs
