"""Loaders: a file -> a `LoadedDocument` of text blocks with their section path and page.

One module per format (`pdf`, `word`, `markdown`, `html_page`, `plain_text`, `csv_table`, `excel`), each
with its `SUFFIXES` and a `parse(name, data) -> Parsed`; `dispatch` picks the parser by suffix and
cleans what it returns. Every failure is a `LoadError(file, reason)` with a reason an admin can act
on. Loaders are synchronous and CPU-bound; the service runs them in a worker thread.
"""

from __future__ import annotations

from knowledge.loaders.base import Block, LoadedDocument, Parsed, Parser, content_hash
from knowledge.loaders.decoding import decode_text
from knowledge.loaders.dispatch import (
    CHARS_PER_PAGE,
    DEFAULT_MAX_BYTES,
    PARSERS,
    SUPPORTED_SUFFIXES,
    load_bytes,
    load_path,
)
from knowledge.loaders.tables import table_rows_to_lines

__all__ = [
    "CHARS_PER_PAGE",
    "DEFAULT_MAX_BYTES",
    "PARSERS",
    "SUPPORTED_SUFFIXES",
    "Block",
    "LoadedDocument",
    "Parsed",
    "Parser",
    "content_hash",
    "decode_text",
    "load_bytes",
    "load_path",
    "table_rows_to_lines",
]
