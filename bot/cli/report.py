"""`rmbot report`: a manager's figures for a period, as text or JSON (the dashboard's numbers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from bot.cli.app import app, console, print_json, run_async, settings_or_exit
from bot.workspace import open_database


def _parse_date(value: str | None, name: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        console.print(f"[red]Error:[/red] {name} must be a date YYYY-MM-DD, got {value!r}")
        raise typer.Exit(2) from None


@app.command("report")
def report_cmd(
    manager: str = typer.Option(..., "--manager", help="Manager id or code"),
    date_from: str | None = typer.Option(None, "--from", help="First day, YYYY-MM-DD (default: 7 days ago)"),
    date_to: str | None = typer.Option(None, "--to", help="Last day, YYYY-MM-DD (default: today)"),
    json_out: bool = typer.Option(False, "--json", help="Print every figure as JSON"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Also write every table to this Excel file"),
) -> None:
    """What a manager achieved: drafts, review time, messages, replies, conversations, reach."""
    from bot.services.managers import resolve_manager
    from bot.services.reports import Period, manager_report, report_tables, to_xlsx

    settings = settings_or_exit()
    today = datetime.now(settings.tz).date()
    end = _parse_date(date_to, "--to", today)
    start = _parse_date(date_from, "--from", end - timedelta(days=6))
    if start > end:
        console.print("[red]Error:[/red] --from is after --to")
        raise typer.Exit(2)

    async def _run() -> dict:
        async with open_database(settings) as db, db.sessions() as session:
            found = await resolve_manager(session, manager)
            if found is None:
                console.print(f"[red]Error:[/red] no manager {manager!r} (an id or a code: `rmbot manager list`)")
                raise typer.Exit(1)
            return await manager_report(session, found.id, Period(start, end, settings.tz))

    report = run_async(_run())
    if xlsx is not None:
        xlsx.write_bytes(to_xlsx(report_tables(report)))
    if json_out:
        print_json(report)
        return
    table = Table(title=f"{report['manager']['name']} ({report['manager']['code']}) {start} – {end}")
    table.add_column("section")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for section, figure, value in report_tables(report)["summary"][1]:
        table.add_row(section, figure, "-" if value is None else str(value))
    console.print(table)
