"""Backups of the embedded default (SQLite database + embedded Chroma directory).

`create_backup` takes consistent copies while the application runs: every SQLite file (the
application database and Chroma's own catalogue) is copied through SQLite's online backup API,
which reads one consistent snapshot even while writers work; Chroma's vector segment files are
copied after its catalogue. The archive is a .tar.gz with a manifest. For PostgreSQL and a Chroma
server use their own tools (`pg_dump`, the Chroma server's volume snapshot): see the README.

A backup holds names, phones and chats, so it is written 0600 and, given BACKUP_KEY, encrypted:
the tar.gz stream is cut into 1 MiB chunks, each sealed with Fernet (AES-128-CBC + HMAC-SHA256,
from `cryptography`) together with its index and an end mark, so a chunk cannot be altered,
reordered, dropped or cut off unnoticed. Only the demo's invented bank may be backed up without a
key (`require_key`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cryptography.fernet import Fernet, InvalidToken

FORMAT = 1
MAGIC = b"RMBOT-BACKUP-FERNET-1\n"
CHUNK = 1024 * 1024
DEMO_MARKER = ".demo-workspace"  # written by `rmbot demo`: this workspace holds invented data only
_HEADER = struct.Struct(">QB")  # chunk index, 1 on the last chunk
_LENGTH = struct.Struct(">I")


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


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def require_key(key: str | None, data_dir: Path) -> str | None:
    """The key to encrypt with; refuses (BackupError) to go on without one, except in the demo."""
    if key:
        return key
    if (data_dir / DEMO_MARKER).exists():
        return None
    raise BackupError("BACKUP_KEY is not set: backups hold clients' personal data and are written only "
                      "encrypted (make a key with `rmbot backup-key`, keep it apart from the backups)")


class _SealingWriter:
    """A write-only file object that seals what is written into Fernet chunks."""

    def __init__(self, raw: IO[bytes], key: str) -> None:
        self.raw, self.fernet = raw, Fernet(key.encode("ascii"))
        self.buffer = bytearray()
        self.index = 0
        raw.write(MAGIC)

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) > CHUNK:
            self._seal(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def _seal(self, data: bytes, *, last: bool) -> None:
        token = self.fernet.encrypt(_HEADER.pack(self.index, 1 if last else 0) + data)
        self.raw.write(_LENGTH.pack(len(token)) + token)
        self.index += 1

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._seal(bytes(self.buffer), last=True)
        self.buffer.clear()


def _open_chunks(raw: IO[bytes], key: str) -> Iterator[bytes]:
    fernet = Fernet(key.encode("ascii"))
    index = 0
    while True:
        head = raw.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            raise BackupError("the backup is cut short (no end mark): incomplete or altered")
        token = raw.read(_LENGTH.unpack(head)[0])
        try:
            plain = fernet.decrypt(token)
        except InvalidToken:
            raise BackupError("the backup does not open with this BACKUP_KEY (wrong key, or altered)") from None
        number, last = _HEADER.unpack_from(plain)
        if number != index:
            raise BackupError("the backup's chunks are out of order: altered")
        yield plain[_HEADER.size:]
        if last:
            if raw.read(1):
                raise BackupError("data after the backup's end mark: altered")
            return
        index += 1


def _private_file(path: Path) -> IO[bytes]:
    """A new file only its owner can read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def create_backup(database_path: Path, chroma_path: Path | None, out: Path, *,
                  key: str | None = None) -> BackupResult:
    """Write the backup to `out` (0600): encrypted with `key` (a Fernet key), or a plain .tar.gz
    when None (the caller decides: `require_key`)."""
    if not database_path.exists():
        raise BackupError(f"no database at {database_path}")
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        partial = out.with_name(out.name + ".partial")
        with _private_file(partial) as raw:
            sink: IO[bytes] = _SealingWriter(raw, key) if key else raw  # type: ignore[assignment]
            with tarfile.open(fileobj=sink, mode="w|gz") as tar:
                for item in sorted(stage.iterdir()):
                    tar.add(item, arcname=item.name)
            if key:
                sink.close()
        partial.replace(out)
    return BackupResult(path=out, files=files, bytes=out.stat().st_size)


def _plain_archive(archive: Path, key: str | None, stage: Path) -> Path:
    """The archive as a plain tar.gz (decrypted into `stage` when it is encrypted)."""
    with archive.open("rb") as raw:
        if raw.read(len(MAGIC)) != MAGIC:
            return archive
        if not key:
            raise BackupError(f"{archive} is encrypted: set BACKUP_KEY to the key it was made with")
        plain = stage / "archive.tar.gz"
        with _private_file(plain) as out:
            for chunk in _open_chunks(raw, key):
                out.write(chunk)
    return plain


def restore_backup(archive: Path, database_path: Path, chroma_path: Path | None, *, force: bool = False,
                   key: str | None = None) -> None:
    if not archive.exists():
        raise BackupError(f"no backup archive at {archive}")
    if database_path.exists() and not force:
        raise BackupError(f"{database_path} exists; stop the application and pass --force to overwrite it")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        plain = _plain_archive(archive, key, stage)
        try:
            with tarfile.open(plain, "r:gz") as tar:
                tar.extractall(stage / "x", filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{archive} is not a readable backup: {exc}") from None
        stage = stage / "x"
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
