"""Which parser reads which file type, and `load_bytes` / `load_path`: size and type checks, the
format's parser, the blocks cleaned, the document's title, language and page count."""

from __future__ import annotations

import math
import re
from pathlib import Path

from knowledge.errors import LoadError
from knowledge.loaders import csv_table, excel, html_page, markdown, pdf, plain_text, word
from knowledge.loaders.base import Block, LoadedDocument, Parser, content_hash
from knowledge.text import detect_language, nfkc

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# formats without pages count one page per this many characters (a printed A4 page of Chinese text)
CHARS_PER_PAGE = 1800

# one module per format: its SUFFIXES and its parse(name, data)
PARSERS: dict[str, Parser] = {
    suffix: fmt.parse
    for fmt in (pdf, word, markdown, html_page, plain_text, csv_table, excel)
    for suffix in fmt.SUFFIXES
}
SUPPORTED_SUFFIXES = set(PARSERS)


def _unsupported(name: str, suffix: str) -> LoadError:
    return LoadError(
        name, f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
    )


def _too_big(name: str, size: int, max_bytes: int) -> LoadError:
    return LoadError(name, f"file is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")


def load_path(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None) -> LoadedDocument:
    """Load one file; `name` (default: the file name) identifies the document in the registry."""
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _unsupported(name, suffix)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(name, f"cannot read the file ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise _too_big(name, size, max_bytes)
    if size == 0:
        raise LoadError(name, "file is empty")
    data = path.read_bytes()
    return load_bytes(name, data, max_bytes=max_bytes)


def load_bytes(name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _unsupported(name, suffix)
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    if not data.strip():
        raise LoadError(name, "file is empty")
    parser = PARSERS[suffix]
    try:
        title, blocks, pages, doc_type = parser(name, data)
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes one clear error
        raise LoadError(name, f"cannot read the {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from None
    blocks = [b for b in (_clean_block(b) for b in blocks) if b is not None]
    if not blocks:
        raise LoadError(name, "no text found in the file (empty, or scanned images without a text layer)")
    full = "\n".join(b.text for b in blocks)
    title = (title or "").strip() or Path(name).stem
    return LoadedDocument(
        name=name,
        title=nfkc(title)[:300],
        language=detect_language(title + "\n" + full),
        blocks=blocks,
        pages=max(pages, 1) if doc_type == "pdf" else max(1, math.ceil(len(full) / CHARS_PER_PAGE)),
        size_bytes=len(data),
        content_hash=content_hash(data),
        doc_type=doc_type,
    )


def _clean_block(block: Block) -> Block | None:
    text = nfkc(block.text).replace("\u00a0", " ")
    text = re.sub(r"[ \t\u3000]+", " ", text)
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    if not text:
        return None
    block.text = text
    block.section = tuple(nfkc(s).strip() for s in block.section if s and s.strip())
    return block
