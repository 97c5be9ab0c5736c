"""`rmbot demo`: build the demo workspace (two managers, 12,000 clients, the demo knowledge base),
print what it holds and how long it took, then serve the bot and the console."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from bot.cli.app import app, console, dev_tool, exit_if_port_busy, print_json, run_async, settings_or_exit
from bot.settings import Settings
from bot.workspace import Database, open_database

_LABELS = {"generate": "Generating", "clients": "Clients", "holdings": "Holdings", "knowledge": "Knowledge",
           "plan": "Planning today"}
# Who the demo prints a console sign-in link for: a manager with a client book, and the admin.
SIGN_IN = ("RM001", "ADMIN")


@app.command("demo")
def demo(
    no_serve: bool = typer.Option(False, "--no-serve", help="Stop after building the workspace"),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    simulate_days: int = typer.Option(
        0, "--simulate-days", min=0, help="Then simulate N days of planning, review and sending"),
    no_knowledge: bool = typer.Option(False, "--no-knowledge", help="Skip loading the demo knowledge base"),
    no_plan: bool = typer.Option(False, "--no-plan", help="Do not plan today (the 07:00 job's work)"),
) -> None:
    """Build the demo bank in DATA_DIR (./var): 2 managers and an admin, 12,000 clients, products, knowledge
    base, today's drafts; print console sign-in links; then serve."""
    demo_tool = dev_tool("tools.demo")
    DemoError, build_demo = demo_tool.DemoError, demo_tool.build_demo  # noqa: N806
    settings = settings_or_exit()
    simulate = dev_tool("tools.simulate") if simulate_days else None
    if not no_serve:
        exit_if_port_busy(settings.web_host, settings.web_port)  # before building: a second demo stops at once

    async def _run() -> dict[str, object]:
        async with open_database(settings) as db:
            with Progress(
                TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, transient=True,
            ) as bar:
                tasks: dict[str, TaskID] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(_LABELS.get(stage, stage), total=max(total, 1))
                    bar.update(tasks[stage], completed=done, total=max(total, 1))

                summary = await build_demo(settings, db, knowledge=not no_knowledge, plan=not no_plan,
                                           progress=progress)
            result: dict[str, object] = summary.as_dict()
            if simulate is not None:
                result["simulation"] = await simulate.simulate_days(settings, db, simulate_days)
            result["sign_in"] = await _sign_in_links(settings, db)
            return result

    try:
        result = run_async(_run())
    except DemoError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("Interrupted. The client book is written in one transaction, so nothing half-done was "
                      "kept; run [bold]rmbot demo[/bold] again to finish.")
        raise typer.Exit(130) from None
    if json_out:
        print_json(result)
    else:
        _print_summary(result, settings)
    if not no_serve:
        _serve(settings, str(result.get("sample_client") or ""))


async def _sign_in_links(settings: Settings, db: Database) -> dict[str, str]:
    """One-time console sign-in links (10 minutes) for the demo manager and the admin."""
    from sqlalchemy import select

    from bot.db.models import Manager
    from bot.services.auth import create_login_link, login_url

    links: dict[str, str] = {}
    async with db.sessions() as session:
        for manager in (await session.scalars(select(Manager).where(Manager.code.in_(SIGN_IN)))).all():
            links[manager.code] = login_url(settings, await create_login_link(session, manager))
        await session.commit()
    return {code: links[code] for code in SIGN_IN if code in links}


def _print_summary(result: dict[str, object], settings: Settings) -> None:
    changes = result["changes"]
    assert isinstance(changes, dict)
    changed = any(v for k, v in changes.items() if not k.endswith("_unchanged"))
    verb = ("Built" if changes.get("clients_imported") else "Updated" if changed
            else "Already up to date, nothing changed")
    console.print(
        f"[bold]Demo workspace[/bold] in {settings.data_dir}/: {result['managers']} managers, "
        f"{result['clients']:,} clients, {result['holdings']:,} holdings, {result['products']} products, "
        f"{result['documents']} documents ({result['chunks']} chunks)."
    )
    console.print(f"Knowledge base: {result['knowledge']}")
    console.print(
        f"{verb} in "
        f"[bold green]{result['seconds']:.1f} s[/bold green]."
    )
    if result.get("sample_client"):
        console.print(f"Try the customer side: [bold]rmbot chat --client {result['sample_client']}[/bold] "
                      "(ask 我的定期什么时候到期?).")
    console.print(
        "Managers: RM001 王敏 (clients D1000001-D1010000), RM002 陈静 (D2000001-D2002000); admin: ADMIN 刘洋. "
        "Bind your own Telegram account to one: [bold]rmbot manager add RM001 --name 王敏 --telegram-id YOUR_ID[/bold]."
    )
    if result.get("plan_date"):
        console.print(f"Today ({result['plan_date']}): {result['drafts_today']:,} drafts waiting for review.")
    links = result.get("sign_in")
    if isinstance(links, dict) and links:
        console.print("Sign in to the web console (each link works once, within 10 minutes; a new one: "
                      "[bold]rmbot console-link --manager RM001[/bold]):")
        for code, link in links.items():
            role = "admin" if code == "ADMIN" else "manager"
            # stdout, unwrapped: the links are what a reader copies
            sys.stdout.write(f"  {role:<8} {code:<6} {link}\n")
        sys.stdout.flush()


def _serve(settings: Settings, sample_client: str = "") -> None:
    bot_app = importlib.import_module("bot.app")  # late: `rmbot demo --no-serve` needs no aiogram or uvicorn
    if not settings.token:
        console.print(
            "No BOT_TOKEN set: starting without a Telegram bot. The web console is at "
            f"http://{settings.web_host}:{settings.web_port}/ (sign in with a link above). To try the customer "
            "side, run in another "
            f"terminal: [bold]rmbot chat --client {sample_client or 'D1000001'}[/bold]. To connect a real bot, "
            "set BOT_TOKEN (and TELEGRAM_API_BASE for a local Bot API server) in .env."
        )
    try:
        run_async(bot_app.run(settings, settle=True))
    except KeyboardInterrupt:
        console.print("Stopped.")
