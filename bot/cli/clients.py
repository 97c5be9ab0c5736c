"""`rmbot import-clients`: load the client book (clients and holdings) from CSV/Excel exports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app
from bot.workspace import open_database

_LABELS = {"reading": "Reading files", "clients": "Clients", "holdings": "Holdings"}


@app.command("import-clients")
def import_clients(
    file: Path | None = typer.Argument(
        None, help="Clients file (.csv or .xlsx); optional when only --holdings is given"),
    holdings: Path | None = typer.Option(None, "--holdings", help="Holdings file (.csv or .xlsx)"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the files and report; store nothing"),
) -> None:
    """Import clients (upsert by client_no) and holdings (a snapshot per client) from a CRM export."""
    from bot.services.clientbook import ClientBookError, import_client_book

    settings = settings_or_exit()
    if file is None and holdings is None:
        console.print("[red]Error:[/red] give a clients FILE and/or --holdings FILE")
        raise typer.Exit(2)

    async def _run() -> dict[str, object]:
        with Progress(
            TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=json_out,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(_LABELS.get(stage, stage), total=max(total, 1))
                bar.update(tasks[stage], completed=done, total=max(total, 1))

            async with open_database(settings) as db, db.sessions() as session:
                report = await import_client_book(
                    session, file, holdings, default_timezone=settings.timezone,
                    actor="admin:cli", progress=progress,
                )
                if dry_run:
                    await session.rollback()
                else:
                    await session.commit()
        return {**report.as_dict(), "dry_run": dry_run}

    try:
        result = run_async(_run())
    except ClientBookError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("Interrupted: nothing was stored (the import is one transaction).")
        raise typer.Exit(130) from None
    if json_out:
        print_json(result)
    else:
        _print_report(result)
    if result["failed"]:
        raise typer.Exit(3)


def _print_report(result: dict[str, object]) -> None:
    if result.get("dry_run"):
        console.print("[yellow]Dry run: nothing was stored. This is what an import would do:[/yellow]")
    console.print(
        f"Clients: [green]{result['imported']} imported[/green], {result['updated']} updated, "
        f"{result['unchanged']} unchanged, "
        f"[{'red' if result['failed'] else 'green'}]{len(result['failed'])} failed[/]."  # type: ignore[arg-type]
    )
    if result["managers_created"]:
        console.print(f"Managers created: {', '.join(result['managers_created'])}")  # type: ignore[arg-type]
    holdings = result.get("holdings")
    if isinstance(holdings, dict):
        console.print(
            f"Holdings of {holdings['clients']} clients: {holdings['imported']} added, {holdings['updated']} "
            f"updated, {holdings['unchanged']} unchanged, {holdings['removed']} removed."
        )
    failed = result["failed"]
    assert isinstance(failed, list)
    for item in failed[:50]:
        console.print(f"  [red]{item['file']} row {item['row']}:[/red] {item['reason']}")
    if len(failed) > 50:
        console.print(f"  ... and {len(failed) - 50} more (use --json for the full list)")


@bench_app.command("import-clients")
def bench_import_clients(
    clients: int = typer.Option(10_000, "--clients", min=1, help="Clients in the synthetic export"),
    fmt: str = typer.Option("csv", "--format", help="csv or xlsx"),
    database_url: str = typer.Option(
        "", "--database-url", help="Database to import into (default: a fresh temporary SQLite file)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Import a synthetic CRM export (clients + holdings) twice; print rows and seconds."""
    import tempfile

    run_import_bench = dev_tool("tools.bench.clientbook").run_import_bench

    if fmt not in ("csv", "xlsx"):
        console.print(f"[red]Error:[/red] --format must be csv or xlsx, got {fmt!r}")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="rmbot-bench-db-") as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp)}
        if database_url:
            overrides["database_url"] = database_url
        settings = settings_or_exit(**overrides)
        runs = run_async(run_import_bench(settings, clients, fmt))
    rows = []
    for run in runs:
        holdings = run.report["holdings"] or {}
        total = run.report["imported"] + run.report["updated"] + run.report["unchanged"]
        rows.append({
            "run": run.label, "format": fmt, "clients": total, "seconds": round(run.seconds, 2),
            "clients_per_s": round(total / run.seconds) if run.seconds else None,
            "imported": run.report["imported"], "unchanged": run.report["unchanged"],
            "holdings_added": holdings.get("imported", 0), "holdings_unchanged": holdings.get("unchanged", 0),
            "failed": len(run.report["failed"]),
        })
    if json_out:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['run']:<13} {row['format']}: {row['clients']:,} clients in {row['seconds']:.2f} s "
            f"({row['clients_per_s']:,}/s); imported {row['imported']:,}, unchanged {row['unchanged']:,}, "
            f"holdings added {row['holdings_added']:,}, unchanged {row['holdings_unchanged']:,}, "
            f"failed {row['failed']}"
        )
