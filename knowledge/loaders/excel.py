"""Excel (.xlsx): each sheet an FAQ or a table (see `sheets`); a workbook of several sheets names the
sheet in each block's section."""

from __future__ import annotations

import io
from pathlib import Path

from knowledge.errors import LoadError
from knowledge.loaders import zipguard
from knowledge.loaders.base import Block, Parsed
from knowledge.loaders.sheets import rows_to_blocks

SUFFIXES = (".xlsx",)


def parse(name: str, data: bytes) -> Parsed:
    zipguard.check_zip(name, data)
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001
        raise LoadError(name, f"not a valid Excel .xlsx file ({type(exc).__name__})") from None
    blocks: list[Block] = []
    try:
        for ws in wb.worksheets:
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            blocks.extend(rows_to_blocks(rows, sheet=ws.title if len(wb.worksheets) > 1 else ""))
        title = (wb.properties.title or "").strip() if wb.properties else ""
    finally:
        wb.close()
    return Parsed(title or Path(name).stem, blocks, 1, "xlsx")
