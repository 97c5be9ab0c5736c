"""Operations: backup and restore of the embedded default workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.backup import BackupError, create_backup, generate_key, require_key, restore_backup
from bot.cli.app import app, console, dev_tool, print_json, run_async, settings_or_exit
from bot.cli.bench import bench_app

if TYPE_CHECKING:
    from bot.settings import Settings


def _sqlite_path(database_url: str) -> Path:
    if not database_url.startswith("sqlite"):
        console.print(
            "[red]Error:[/red] backup/restore cover the embedded SQLite default; for PostgreSQL use "
            "pg_dump / pg_restore (see README, Backups)."
        )
        raise typer.Exit(2)
    return Path(database_url.split(":///", 1)[1])


@app.command("backup")
def backup_cmd(
    out: Path | None = typer.Option(None, "--out",
                                    help="Archive path (default DATA_DIR/backups/rmbot-<time>.tar.gz.enc)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Consistent backup of the SQLite database and the embedded Chroma index, safe while running;
    encrypted with BACKUP_KEY and readable by its owner only (0600)."""
    settings = settings_or_exit()
    db_path = _sqlite_path(settings.database_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    chroma = None if settings.chroma_url else settings.chroma_path
    try:
        key = require_key(_key(settings), settings.data_dir)
        target = out or settings.data_dir / "backups" / f"rmbot-{stamp}.tar.gz{'.enc' if key else ''}"
        result = create_backup(db_path, chroma, target, key=key)
    except BackupError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json({"path": str(result.path), "files": result.files, "bytes": result.bytes})
    else:
        console.print(f"Backup written to {result.path} ({result.files} files, {result.bytes:,} bytes).")


def _key(settings: Settings) -> str | None:
    key = settings.backup_key
    return key.get_secret_value() if key else None


@app.command("backup-key")
def backup_key_cmd() -> None:
    """Print a new BACKUP_KEY (keep it apart from the backups: without it they cannot be read)."""
    typer.echo(generate_key())


@app.command("restore")
def restore_cmd(
    archive: Path = typer.Argument(..., help="An archive written by `rmbot backup` (BACKUP_KEY opens it)"),
    force: bool = typer.Option(False, "--force", help="Overwrite the current workspace (stop the app first)"),
) -> None:
    """Restore a backup into the workspace (DATABASE_URL and CHROMA_PATH)."""
    settings = settings_or_exit()
    db_path = _sqlite_path(settings.database_url)
    chroma = None if settings.chroma_url else settings.chroma_path
    try:
        restore_backup(archive, db_path, chroma, force=force, key=_key(settings))
    except BackupError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"Restored {archive} into {db_path.parent}.")


@bench_app.command("load")
def bench_load(
    customers: int = typer.Option(500, "--customers", help="Emulated customers"),
    rate: float = typer.Option(50.0, "--rate", help="Questions per second"),
    seconds: float = typer.Option(120.0, "--seconds", help="Duration of the load"),
    api_base: str = typer.Option(..., "--api-base", help="Bot API server (tg_emulator started with --global-rate 200)"),
    instances: int = typer.Option(2, "--instances", help="Bot instances in webhook mode"),
    workers: int = typer.Option(2, "--workers", help="Sending workers"),
    database_url: str = typer.Option("", "--database-url", help="PostgreSQL server (a scratch database is made)"),
    redis_url: str = typer.Option("", "--redis-url", help="Redis (required; rmbot:* keys are cleared)"),
    chaos: bool = typer.Option(False, "--chaos", help="SIGKILL one bot instance and one worker halfway"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Run the scale-out topology and drive customer questions through it; print latency and losses."""
    import tempfile

    from rich.progress import Progress

    run_load = dev_tool("tools.bench.load").run_load

    settings = settings_or_exit()
    database_url = database_url or settings.database_url
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        console.print("[red]Error:[/red] --redis-url (or REDIS_URL) is required for several bot instances")
        raise typer.Exit(2)
    docs = dev_tool("tools.demo").DEMO_DOCS
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console, transient=True) as progress:
        task = progress.add_task("Asking", total=int(rate * seconds))
        try:
            result = run_async(run_load(
                customers=customers, rate=rate, seconds=seconds, api_base=api_base.rstrip("/"),
                database_url=database_url if database_url.startswith("postgres") else "", redis_url=redis_url,
                instances=instances, workers=workers, chaos=chaos, workdir=Path(tmp), docs=docs,
                progress=lambda n: progress.update(task, completed=n)))
        except (RuntimeError, ValueError) as exc:
            console.print(f"[red]Error:[/red] {exc}")
            raise typer.Exit(1) from None
    if json_out:
        from dataclasses import asdict

        print_json(asdict(result))
        return
    lat = result.latency_ms
    console.print(
        f"{result.asked} questions in {seconds:.0f} s, {result.answered} answered ({result.throughput}/s), "
        f"lost {result.lost}, errors {result.errors}; latency p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms, "
        f"p99 {lat.get('p99')} ms; scheduler leaders {result.scheduler_leaders}"
    )
    console.print(f"p95 by 10 s of the run (ms): {result.p95_by_10s}")
    if result.chaos:
        console.print(f"chaos: {result.chaos}")
    console.print(f"emulator: {result.emulator}")
