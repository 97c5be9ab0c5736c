"""Operations: backup and restore of the embedded default workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.backup import BackupError, create_backup, restore_backup
from bot.cli.app import app, console, print_json, settings_or_exit


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
    out: Path | None = typer.Option(None, "--out", help="Archive path (default DATA_DIR/backups/rmbot-<time>.tar.gz)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Consistent backup of the SQLite database and the embedded Chroma index, safe while running."""
    settings = settings_or_exit()
    db_path = _sqlite_path(settings.database_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or settings.data_dir / "backups" / f"rmbot-{stamp}.tar.gz"
    chroma = None if settings.chroma_url else settings.chroma_path
    try:
        result = create_backup(db_path, chroma, target)
    except BackupError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    if json_out:
        print_json({"path": str(result.path), "files": result.files, "bytes": result.bytes})
    else:
        console.print(f"Backup written to {result.path} ({result.files} files, {result.bytes:,} bytes).")


@app.command("restore")
def restore_cmd(
    archive: Path = typer.Argument(..., help="A .tar.gz written by `rmbot backup`"),
    force: bool = typer.Option(False, "--force", help="Overwrite the current workspace (stop the app first)"),
) -> None:
    """Restore a backup into the workspace (DATABASE_URL and CHROMA_PATH)."""
    settings = settings_or_exit()
    db_path = _sqlite_path(settings.database_url)
    chroma = None if settings.chroma_url else settings.chroma_path
    try:
        restore_backup(archive, db_path, chroma, force=force)
    except BackupError as exc:
        console.print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"Restored {archive} into {db_path.parent}.")
