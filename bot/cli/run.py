"""`rmbot run`, `rmbot invite`, `rmbot chat`: run the application, invite a client, try the bot locally."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bot.cli.app import app, console, dev_tool, exit_if_port_busy, print_json, run_async, settings_or_exit

if TYPE_CHECKING:
    from bot.settings import Settings

DEFAULT_BOT_USERNAME = "rm_assistant_bot"


@app.command("run")
def run_cmd(
    role: str = typer.Option("all", "--role", help="all | bot | worker | scheduler | console"),
) -> None:
    """Run the bot (polling, or webhook when WEBHOOK_URL is set), scheduler, sender and console."""
    from bot.app import ROLES, exit_now, run
    from bot.logs import setup_logging

    if role not in ROLES:
        console.print(f"[red]Error:[/red] unknown role {role!r}; use one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    settings = settings_or_exit()
    setup_logging(settings.log_format, settings.log_level, secrets=(settings.token,))
    if not settings.token and role in ("all", "bot"):
        console.print("BOT_TOKEN is not set: running without Telegram. Try the customer side with "
                      "[bold]rmbot chat --client <CLIENT_NO>[/bold], or point BOT_TOKEN and TELEGRAM_API_BASE at "
                      "a Bot API server such as ../shared/tg_emulator.")
        if role == "bot":
            raise typer.Exit(1)
    if role in ("all", "console") or (role == "bot" and settings.webhook_url):
        exit_if_port_busy(settings.web_host, settings.web_port)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(run(settings, role, settle=True))
    exit_now()  # stopped and released: within the SIGTERM allowance, whatever the host's load


async def _bot_username(settings: Settings, given: str | None) -> str:
    """--bot, else BOT_USERNAME, else the Bot API's answer, else a placeholder (said so)."""
    if given or settings.bot_username:
        return (given or settings.bot_username).lstrip("@")
    from bot.app import build_bot

    bot = build_bot(settings)
    if bot is None:
        console.print(f"[yellow]Neither BOT_TOKEN nor BOT_USERNAME is set; the link uses @{DEFAULT_BOT_USERNAME} "
                      f"(set BOT_USERNAME or pass --bot to name your bot).[/yellow]")
        return DEFAULT_BOT_USERNAME
    try:
        me = await bot.get_me()
        return me.username or DEFAULT_BOT_USERNAME
    finally:
        await bot.session.close()


@app.command("invite")
def invite_cmd(
    client_no: str | None = typer.Argument(None, help="Client number, e.g. C000123 (or --manager for a book)"),
    days: int = typer.Option(7, "--days", min=1, max=90, help="Days the link stays valid (bulk: default 30)"),
    bot_username: str | None = typer.Option(None, "--bot",
                                            help="Bot username (default: BOT_USERNAME, else asked from the Bot API)"),
    json_out: bool = typer.Option(False, "--json", help="Print JSON with link and token"),
    manager: str | None = typer.Option(None, "--manager", help="Invite this manager's clients (id or code)"),
    unbound: bool = typer.Option(False, "--unbound", help="Only clients not reachable on Telegram yet"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Write the links and QR codes to this .xlsx file"),
) -> None:
    """Create single-use invite links that bind a client's Telegram chat to their record: one client,
    or a manager's book (`--manager RM001 --unbound --xlsx invites.xlsx`: personal links and QR codes
    for the bank's SMS or in-branch channel)."""
    if manager is not None:
        _bulk_invites(manager, unbound=unbound, xlsx=xlsx, bot_username=bot_username,
                      days=days if days != 7 else 30, json_out=json_out)
        return
    if client_no is None:
        console.print("[red]Error:[/red] give a client number, or --manager CODE (with --unbound --xlsx FILE)")
        raise typer.Exit(2)
    from datetime import timedelta

    from bot.services.invites import InviteError, create_invite
    from bot.workspace import open_database

    settings = settings_or_exit()

    async def _run() -> dict[str, object]:
        username = await _bot_username(settings, bot_username)
        async with open_database(settings) as db, db.sessions() as session:
            invite = await create_invite(session, client_no, bot_username=username, ttl=timedelta(days=days))
            await session.commit()
            return invite.as_dict()

    try:
        result = run_async(_run())
    except InviteError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json(result)
    else:
        sys.stdout.write(f"{result['link']}\n")
        console.print(f"Single use, valid until {result['expires_at']}.")


def _bulk_invites(manager: str, *, unbound: bool, xlsx: Path | None, bot_username: str | None, days: int,
                  json_out: bool) -> None:
    from datetime import timedelta

    from bot.services.invite_export import write_xlsx
    from bot.services.invites import bulk_invites, reach_counts
    from bot.services.managers import resolve_manager
    from bot.workspace import open_database

    if xlsx is not None and xlsx.suffix.lower() != ".xlsx":
        console.print(f"[red]Error:[/red] --xlsx must name an .xlsx file, got {xlsx}")
        raise typer.Exit(2)
    settings = settings_or_exit()

    async def _run() -> dict[str, Any] | str:
        username = await _bot_username(settings, bot_username)
        async with open_database(settings) as db, db.sessions() as session:
            found = await resolve_manager(session, manager)
            if found is None:
                return f"manager {manager!r} not found (give a manager id or code; see `rmbot manager list`)"
            before = await reach_counts(session, found.id)
            rows = await bulk_invites(session, found, bot_username=username, unbound=unbound,
                                      ttl=timedelta(days=days))
            if xlsx is not None:  # written before the commit: no invites without their file
                await asyncio.to_thread(write_xlsx, rows, xlsx, language=found.language or "zh",
                                        tz=settings.tz)
            await session.commit()
            return {"manager": found.code, "invites": len(rows), "reach_before": before,
                    "xlsx": str(xlsx) if xlsx else None, "rows": [] if xlsx else [
                        {"client_no": r.client_no, "link": r.link} for r in rows]}

    result = run_async(_run())
    if isinstance(result, str):
        console.print(f"[red]Error:[/red] {result}")
        raise typer.Exit(1)
    if json_out:
        print_json(result)
        return
    reach = result["reach_before"]
    console.print(f"{result['manager']}: {result['invites']} invites created "
                  f"(book {reach['book']}: bound {reach['bound']}, invited {reach['invited']}, "
                  f"not invited {reach['not_invited'] + reach['invite_expired']}, blocked {reach['blocked']}).")
    if result["xlsx"]:
        console.print(f"Links and QR codes: {result['xlsx']}")
    else:
        for row in result["rows"]:
            sys.stdout.write(f"{row['client_no']}\t{row['link']}\n")


CHAT_HELP = ("Type a message as the customer. Commands: :press N (press button N), "
             ":manager TEXT (the manager replies to the open ticket), :quit")


@app.command("chat")
def chat_cmd(
    client_no: str | None = typer.Option(None, "--client", help="Chat as this client (bound through an invite)"),
    lang: str = typer.Option("zh", "--lang", help="zh | en (Telegram's language of the customer)"),
) -> None:
    """Try the customer side in the terminal: no token, no Telegram, the real bot logic."""
    from bot.app import build_knowledge
    LocalChat = dev_tool("tools.localchat").LocalChat  # noqa: N806
    from bot.workspace import open_database

    if lang not in ("zh", "en"):
        console.print("[red]Error:[/red] --lang must be zh or en")
        raise typer.Exit(2)
    settings = settings_or_exit()

    def show(sent: list[Any], chat_id: int) -> None:
        for s in sent:
            who = "bot" if s.chat_id == chat_id else f"bot → chat {s.chat_id} (manager)"
            sys.stdout.write(f"[{who}] {s.plain}\n")
            for i, (label, _data) in enumerate(s.buttons, 1):
                sys.stdout.write(f"    [{i}] {label}\n")
        sys.stdout.flush()

    async def _run() -> None:
        async with open_database(settings) as db:
            knowledge = await build_knowledge(settings, db.sessions)
            async with LocalChat.open(settings, db, knowledge, client_no=client_no, lang=lang) as chat:
                sys.stdout.write(CHAT_HELP + "\n")
                if chat.start_token:
                    sys.stdout.write(f"> /start {chat.start_token}\n")
                    show(await chat.say(f"/start {chat.start_token}"), chat.chat_id)
                while True:
                    try:
                        line = await asyncio.to_thread(input, "> ")
                    except EOFError:
                        break
                    line = line.strip()
                    if not line:
                        continue
                    if line in (":quit", ":q"):
                        break
                    try:
                        if line.startswith(":press"):
                            show(await chat.press(int(line.split()[1])), chat.chat_id)
                        elif line.startswith(":manager "):
                            show(await chat.manager_reply(line.removeprefix(":manager ").strip(), db), chat.chat_id)
                        else:
                            show(await chat.say(line), chat.chat_id)
                    except (ValueError, IndexError) as exc:
                        sys.stdout.write(f"! {exc}\n")

    try:
        run_async(_run())
    except ValueError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
