"""Backups of the embedded default (SQLite database + embedded Chroma directory).

`create_backup` takes consistent copies while the application runs: every SQLite file (the
application database and Chroma's own catalogue) is copied through SQLite's online backup API,
which reads one consistent snapshot even while writers work; Chroma's vector segment files are
copied after its catalogue. The archive is a .tar.gz with a manifest. For PostgreSQL and a Chroma
server use their own tools (`pg_dump`, the Chroma server's volume snapshot): see the README.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FORMAT = 1


class BackupError(Exception):
    pass


@dataclass
class BackupResult:
    path: Path
    files: int
    bytes: int


def _sqlite_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def create_backup(database_path: Path, chroma_path: Path | None, out: Path) -> BackupResult:
    if not database_path.exists():
        raise BackupError(f"no database at {database_path}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        _sqlite_copy(database_path, stage / "database.sqlite3")
        files = 1
        if chroma_path and chroma_path.exists():
            for src in sorted(chroma_path.rglob("*")):
                if src.is_dir() or src.name.endswith(("-wal", "-shm", "-journal")):
                    continue
                dst = stage / "chroma" / src.relative_to(chroma_path)
                dst.parent.mkdir(parents=True, exist_ok=True)
                if _is_sqlite(src):
                    _sqlite_copy(src, dst)
                else:
                    shutil.copy2(src, dst)
                files += 1
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "database": "database.sqlite3",
            "chroma": "chroma" if (stage / "chroma").exists() else None,
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        with tarfile.open(out, "w:gz") as tar:
            for item in sorted(stage.iterdir()):
                tar.add(item, arcname=item.name)
    return BackupResult(path=out, files=files, bytes=out.stat().st_size)


def restore_backup(archive: Path, database_path: Path, chroma_path: Path | None, *, force: bool = False) -> None:
    if not archive.exists():
        raise BackupError(f"no backup archive at {archive}")
    if database_path.exists() and not force:
        raise BackupError(f"{database_path} exists; stop the application and pass --force to overwrite it")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(stage, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{archive} is not a readable backup: {exc}") from None
        manifest_path = stage / "manifest.json"
        if not manifest_path.exists():
            raise BackupError(f"{archive} has no manifest.json: not an rmbot backup")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{archive} has backup format {manifest.get('format')}, expected {FORMAT}")
        database_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database_path}{suffix}").unlink(missing_ok=True)
        shutil.copy2(stage / manifest["database"], database_path)
        if chroma_path is not None and manifest.get("chroma"):
            if chroma_path.exists():
                shutil.rmtree(chroma_path)
            shutil.copytree(stage / manifest["chroma"], chroma_path)
