"""`rmbot import-clients`: load the client book (clients and holdings) from CSV/Excel exports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.cli.app import app, console, print_json, run_async, settings_or_exit
from bot.workspace import open_database

_LABELS = {"reading": "Reading files", "clients": "Clients", "holdings": "Holdings"}


@app.command("import-clients")
def import_clients(
    file: Path | None = typer.Argument(
        None, help="Clients file (.csv or .xlsx); optional when only --holdings is given"),
    holdings: Path | None = typer.Option(None, "--holdings", help="Holdings file (.csv or .xlsx)"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON"),
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
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(_LABELS.get(stage, stage), total=max(total, 1))
                bar.update(tasks[stage], completed=done, total=max(total, 1))

            async with open_database(settings) as db, db.sessions() as session:
                report = await import_client_book(
                    session, file, holdings, default_timezone=settings.timezone,
                    actor="admin:cli", progress=progress,
                )
                await session.commit()
        return report.as_dict()

    try:
        result = run_async(_run())
    except ClientBookError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json(result)
    else:
        _print_report(result)
    if result["failed"]:
        raise typer.Exit(3)


def _print_report(result: dict[str, object]) -> None:
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
