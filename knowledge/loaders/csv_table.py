"""CSV (.csv): an FAQ or a table (see `sheets`); the delimiter is sniffed (comma, semicolon, tab)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from knowledge.loaders.base import Parsed
from knowledge.loaders.decoding import decode_text
from knowledge.loaders.sheets import rows_to_blocks

SUFFIXES = (".csv",)


def parse(name: str, data: bytes) -> Parsed:
    text = decode_text(name, data)
    dialect: type[csv.Dialect]
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return Parsed(Path(name).stem, rows_to_blocks(rows), 1, "csv")
