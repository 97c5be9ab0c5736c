"""`rmbot plan` (one day's drafts) and `rmbot bench plan` (planning throughput)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app


def _parse_date(value: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        console.print(f"[red]Error:[/red] {option} must be a date YYYY-MM-DD, got {value!r}")
        raise typer.Exit(2) from None


def _run_or_exit(coro: Any) -> Any:
    """Run; a database that cannot be reached or used is one clear line, not a traceback."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        return run_async(coro)
    except (OperationalError, DBAPIError, OSError) as exc:
        detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        console.print(f"[red]Error:[/red] the database (DATABASE_URL) cannot be used: {detail}")
        raise typer.Exit(1) from None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


@app.command("plan")
def plan_cmd(
    day: str | None = typer.Option(None, "--date", help="Day to plan, YYYY-MM-DD (default: today in TIMEZONE)"),
    manager: str | None = typer.Option(None, "--manager", help="Only this manager (id or code)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be drafted; store nothing"),
    json_out: bool = typer.Option(False, "--json", help="Print campaigns, drafts and skipped counts as JSON"),
    no_llm: bool = typer.Option(False, "--no-llm", help="Template text only, even when an LLM is configured"),
    personalise: int | None = typer.Option(None, "--personalise", help="At most this many LLM rewrites"),
) -> None:
    """Draft the day's greetings, reminders and recommendations for review, within the bank's rules.
    Re-running the same date adds nothing already planned."""
    from bot.db.models import Client
    from bot.services.drafting import personaliser_from_settings
    from bot.services.managers import resolve_manager
    from bot.workspace import open_database
    from scheduler.planner import plan_day

    settings = settings_or_exit()
    plan_date = _parse_date(day) if day is not None else datetime.now(settings.tz).date()

    async def _run() -> dict[str, Any] | str:
        async with open_database(settings) as db, db.sessions() as session:
            manager_id = None
            if manager is not None:
                found = await resolve_manager(session, manager)
                if found is None:
                    return f"manager {manager!r} not found (give a manager id or code; see `rmbot manager list`)"
                manager_id = found.id
            query = select(func.count(Client.id))
            if manager_id is not None:
                query = query.where(Client.manager_id == manager_id)
            total = int(await session.scalar(query) or 0)
            personaliser = None if no_llm else personaliser_from_settings(settings)
            with _progress() as bar:
                task = bar.add_task(f"Planning {plan_date.isoformat()}", total=total)
                result = await plan_day(session, settings, plan_date, manager_id=manager_id, dry_run=dry_run,
                                        now=datetime.now(UTC), personaliser=personaliser,
                                        personalise_limit=personalise, actor="cli",
                                        progress=lambda n: bar.advance(task, n))
            if not dry_run:
                await session.commit()
            out = result.as_json()
            out["seconds"] = round(result.seconds, 3)
            return out

    result = _run_or_exit(_run())
    if isinstance(result, str):
        console.print(f"[red]Error:[/red] {result}")
        raise typer.Exit(1)
    if json_out:
        print_json(result)
        return
    verb = "would be drafted" if dry_run else "drafted"
    console.print(f"{result['plan_date']}: {len(result['drafts'])} drafts {verb} for {result['clients']} clients "
                  f"in {result['seconds']:.1f} s")
    for camp in result["campaigns"]:
        ident = f"#{camp['id']}" if camp["id"] is not None else "-"
        console.print(f"  {ident:>6}  {camp['manager']:<8} {camp['kind']:<15} {camp['occasion']:<26} "
                      f"{camp['count']:>6}")
    if result["skipped"]:
        console.print("  skipped: " + ", ".join(f"{k}={v}" for k, v in result["skipped"].items()))
    if result.get("not_reachable"):
        console.print("  not reachable on Telegram (not put in review): "
                      + ", ".join(f"{k}={v}" for k, v in result["not_reachable"].items())
                      + "; invite them: rmbot invite --manager CODE --unbound --xlsx FILE")


@bench_app.command("plan")
def bench_plan(
    clients: int = typer.Option(100_000, "--clients", min=1, help="Synthetic clients to plan"),
    managers: int = typer.Option(10, "--managers", min=1, help="Managers sharing them"),
    day: str = typer.Option("2027-02-05", "--date", help="Day to plan (default: Spring Festival eve 2027)"),
    llm_stub_ms: int | None = typer.Option(None, "--llm-stub-ms", min=0,
                                           help="Personalise through an in-process LLM stub taking this long"),
    personalised: int = typer.Option(3000, "--personalised", min=0, help="LLM rewrites (with --llm-stub-ms)"),
    concurrency: int = typer.Option(100, "--concurrency", min=1, help="LLM requests in flight"),
    database_url: str = typer.Option("", "--database-url", help="Scratch database (default: SQLite in a temp dir)"),
) -> None:
    """Plan one day for synthetic clients in a scratch workspace; print drafts/s and total time."""
    run_plan_bench = dev_tool("tools.bench.planning").run_plan_bench

    plan_date = _parse_date(day)

    async def _run() -> Any:
        with _progress() as bar:
            seed_task = bar.add_task("Seeding clients", total=clients)
            plan_task = bar.add_task("Planning", total=clients)
            return await run_plan_bench(
                clients=clients, managers=managers, plan_date=plan_date, llm_stub_ms=llm_stub_ms,
                personalised=personalised, concurrency=concurrency, database_url=database_url,
                seed_progress=lambda n: bar.advance(seed_task, n), plan_progress=lambda n: bar.advance(plan_task, n))

    figures = _run_or_exit(_run())
    print(f"clients:        {figures.clients}")
    print(f"seed time:      {figures.seed_s:.1f} s")
    print(f"drafts:         {figures.drafts}")
    print(f"planning time:  {figures.plan_s:.1f} s")
    print(f"drafts/s:       {figures.drafts_per_s:.0f}")
    print(f"clients/s:      {figures.clients / figures.plan_s:.0f}")
    print("skipped:        " + ", ".join(f"{k}={v}" for k, v in sorted(figures.skipped.items())))
    if llm_stub_ms is not None:
        print(f"LLM stub:       {llm_stub_ms} ms per call, {concurrency} in flight allowed, "
              f"max seen {figures.max_in_flight}")
        print(f"personalised:   {figures.personalised} rewritten, {figures.llm_fallbacks} fell back to the template, "
              f"{figures.llm_calls} calls in {figures.llm_s:.1f} s")


@bench_app.command("plan-days")
def bench_plan_days(
    start: str = typer.Option("2027-01-01", "--start", help="First day, YYYY-MM-DD"),
    end: str = typer.Option("2027-12-31", "--end", help="Last day, YYYY-MM-DD"),
    manager: str | None = typer.Option(None, "--manager", help="Only this manager (id or code)"),
    reachable_only: bool = typer.Option(False, "--reachable-only",
                                        help="Only clients reachable on Telegram (as `rmbot plan` puts in review)"),
) -> None:
    """Plan every day of a range on this workspace (dry run, nothing stored) and check each draft
    against the bank's invariants; print the figures. Exit code 1 when anything is violated."""
    from bot.services.managers import resolve_manager
    from bot.workspace import open_database
    from scheduler.verify import verify_days

    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if last < first:
        console.print("[red]Error:[/red] --end is before --start")
        raise typer.Exit(2)
    settings = settings_or_exit()

    async def _run() -> Any:
        async with open_database(settings) as db, db.sessions() as session:
            manager_id = None
            if manager is not None:
                found = await resolve_manager(session, manager)
                if found is None:
                    return f"manager {manager!r} not found"
                manager_id = found.id
            with _progress() as bar:
                task = bar.add_task("Planning and checking", total=(last - first).days + 1)
                return await verify_days(session, settings, first, last, reach=reachable_only,
                                         manager_id=manager_id, progress=lambda _d: bar.advance(task))

    report = _run_or_exit(_run())
    if isinstance(report, str):
        console.print(f"[red]Error:[/red] {report}")
        raise typer.Exit(1)
    print(f"days:             {report.days} ({first} .. {last})")
    print(f"drafts:           {report.drafts} ({', '.join(f'{k} {v}' for k, v in sorted(report.kinds.items()))})")
    print(f"recommendations:  {report.recommendations} with a product (minimum, suitability, policy checked)")
    print(f"clients/day max:  1 message each ({report.clients_with_drafts} client-days)")
    print(f"time:             {report.seconds:.1f} s")
    if not report.violations:
        print("violations:       0")
        return
    print(f"violations:       {sum(report.violations.values())}")
    for rule, n in report.violations.most_common():
        print(f"  {rule}: {n}  e.g. {report.examples[rule]}")
    raise typer.Exit(1)
