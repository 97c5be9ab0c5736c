"""`rmbot worker` (the sending loop alone) and `rmbot bench delivery`."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from dataclasses import asdict
from pathlib import Path

import typer
from rich.progress import Progress

from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app


@app.command("worker")
def worker_cmd() -> None:
    """Send approved messages from the outbox (run several against PostgreSQL to scale out)."""
    from bot.app import build_bot, exit_now, notice_markup
    from bot.logs import setup_logging
    from bot.workspace import open_database
    from scheduler.sender import run_sender

    settings = settings_or_exit()
    setup_logging(settings.log_format, settings.log_level, secrets=(settings.token,))
    bot = build_bot(settings, retry_429=False)
    if bot is None:
        console.print("[red]Error:[/red] setting BOT_TOKEN: the worker needs a bot token to send messages")
        raise typer.Exit(2)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)  # finish the messages in hand, then exit
        try:
            async with open_database(settings) as db:
                await run_sender(settings, db, bot, stop, notice_markup=notice_markup)
        finally:
            await bot.session.close()

    run_async(_run())
    exit_now()  # the messages in hand are finished: no interpreter teardown past the SIGTERM allowance


@bench_app.command("delivery")
def bench_delivery(
    messages: int = typer.Option(3000, "--messages", help="Approved messages to send"),
    api_base: str = typer.Option(..., "--api-base", help="Bot API server, e.g. http://127.0.0.1:8081 (the emulator)"),
    workers: int = typer.Option(1, "--workers", help="Sending processes (more than 1 needs PostgreSQL + Redis)"),
    database_url: str = typer.Option("", "--database-url", help="PostgreSQL server for a scratch database"),
    redis_url: str = typer.Option("", "--redis-url", help="Redis for the shared rate limit (several workers)"),
    kill_after: float | None = typer.Option(None, "--kill-after", help="SIGKILL one worker after N s, restart it"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Send N approved messages through a Bot API server and print sent, failed, rate and 429s."""
    run_bench = dev_tool("tools.bench.delivery").run_bench

    if workers > 1 and not (database_url and redis_url):
        console.print("[red]Error:[/red] --workers > 1 needs --database-url (PostgreSQL) and --redis-url")
        raise typer.Exit(2)
    settings_or_exit()
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console, transient=True) as progress:
        task = progress.add_task("Sending", total=messages)
        result = run_async(run_bench(messages=messages, api_base=api_base.rstrip("/"), workers=workers,
                                     database_url=database_url, redis_url=redis_url, kill_after=kill_after,
                                     workdir=Path(tmp), progress=lambda n: progress.update(task, completed=n)))
    if json_out:
        print_json(asdict(result))
        return
    console.print(
        f"sent {result.sent}/{result.messages}, failed {result.failed}, cancelled {result.cancelled}, "
        f"lost {result.lost} in {result.seconds} s = {result.per_second} msg/s "
        f"({result.ratio_to_30:.0%} of 30/s); 429s {result.served_429} of {result.requests} requests"
        + (f"; worker killed {result.killed}x holding {result.leased_at_kill} rows" if result.killed else "")
    )
    if result.emulator:
        console.print(f"emulator: {result.emulator}")
