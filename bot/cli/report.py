"""`rmbot report`: a manager's figures for a period, as text or JSON (the dashboard's numbers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table

from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app
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
    from bot.services.reports import ManagerReport, Period, manager_report, report_tables, to_xlsx

    settings = settings_or_exit()
    today = datetime.now(settings.tz).date()
    end = _parse_date(date_to, "--to", today)
    start = _parse_date(date_from, "--from", end - timedelta(days=6))
    if start > end:
        console.print("[red]Error:[/red] --from is after --to")
        raise typer.Exit(2)

    async def _run() -> ManagerReport:
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
        table.add_row(str(section), str(figure), "-" if value is None else str(value))
    console.print(table)


@bench_app.command("report")
def bench_report(
    outbox_rows: int = typer.Option(1_000_000, "--outbox-rows", help="Outbox rows of history for one manager"),
    clients: int = typer.Option(10_000, "--clients", help="Clients in the book"),
    days: int = typer.Option(365, "--days", help="Days of history"),
    database_url: str = typer.Option("", "--database-url", help="Use this database instead of a scratch SQLite"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Time one manager's report over a year of synthetic history (target: under 2 s)."""
    import tempfile

    from rich.progress import Progress

    bench_report = dev_tool("tools.bench.report")
    build_history, time_report = bench_report.build_history, bench_report.time_report

    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp)}
        if database_url:
            overrides["database_url"] = database_url
        settings = settings_or_exit(**overrides)
        end = datetime.now(settings.tz).date()
        start_build = datetime.now(settings.tz)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Writing history", total=outbox_rows)
            info = run_async(build_history(settings, outbox_rows=outbox_rows, clients=clients, days=days, end=end,
                                           progress=lambda n: progress.advance(task, n)))
        build_s = (datetime.now(settings.tz) - start_build).total_seconds()
        timings = run_async(time_report(settings, info["manager_id"], end - timedelta(days=days - 1), end))
    result = {"outbox_rows": info["outbox"], "clients": clients, "days": days, "build_seconds": round(build_s, 1),
              "report_seconds": [round(t, 3) for t in timings], "report_seconds_best": round(min(timings), 3)}
    if json_out:
        print_json(result)
    else:
        console.print(f"History: {info['outbox']:,} outbox rows, {clients:,} clients, {days} days "
                      f"(built in {build_s:.1f} s)")
        console.print(f"Report for one manager over the year: best {min(timings):.3f} s, "
                      f"runs {', '.join(f'{t:.3f}' for t in timings)} s (target < 2 s)")
