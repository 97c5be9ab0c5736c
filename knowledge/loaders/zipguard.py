"""The zip-bomb guard of the Office formats (.docx, .xlsx are zip containers)."""

from __future__ import annotations

import io
import zipfile

from knowledge.errors import LoadError

# an Office file may not expand to more than this when unzipped (a "zip bomb" guard)
DEFAULT_MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200


def check_zip(name: str, data: bytes, *, max_unzipped: int | None = None) -> None:
    if max_unzipped is None:
        max_unzipped = DEFAULT_MAX_UNZIPPED_BYTES
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LoadError(name, "not a valid Office file (the zip container is corrupt)") from None
    with zf:
        total = 0
        for info in zf.infolist():
            total += info.file_size
            if info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_COMPRESSION_RATIO * 10:
                raise LoadError(name, f"suspicious compression in '{info.filename}' (a zip bomb?); refused")
        if total > max_unzipped:
            raise LoadError(
                name,
                f"expands to {total / 1048576:.0f} MB when unpacked, over the {max_unzipped / 1048576:.0f} MB limit "
                "(a zip bomb?); refused",
            )
