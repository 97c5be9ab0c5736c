"""Markdown (.md, .markdown): headings open sections (the first level-1 heading is the title),
tables become one line per row, each list item is a paragraph; code fences are not headings."""

from __future__ import annotations

import re

from knowledge.loaders.base import Block, Parsed, push_heading, section_path
from knowledge.loaders.decoding import decode_text
from knowledge.loaders.tables import table_rows_to_lines

SUFFIXES = (".md", ".markdown")

_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _strip_md(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    return re.sub(r"^\s*>\s?", "", text)


class _Reader:
    """The blocks of one document, line by line."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.title = ""
        self.para: list[str] = []
        self.table: list[list[str]] = []

    def section(self) -> tuple[str, ...]:
        return section_path(self.path, (self.title,))

    def flush_paragraph(self) -> None:
        if self.para:
            self.blocks.append(Block("\n".join(self.para), self.section()))
            self.para.clear()

    def flush(self) -> None:
        self.flush_paragraph()
        if self.table:
            for line in table_rows_to_lines(self.table):
                self.blocks.append(Block(line, self.section(), kind="table"))
            self.table.clear()

    def heading(self, level: int, heading: str) -> None:
        self.flush()
        if not self.title and level == 1:
            self.title = heading
        push_heading(self.path, level, heading)

    def table_row(self, row: str) -> None:
        self.flush_paragraph()
        cells = [c.strip() for c in row.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            return  # the header's separator row
        self.table.append([_strip_md(c) for c in cells])

    def line(self, stripped: str) -> None:
        """A line that is not a heading (`stripped` of surrounding space)."""
        if stripped.startswith("|") and stripped.endswith("|"):
            self.table_row(stripped)
            return
        if self.table:
            self.flush()
        if not stripped or re.fullmatch(r"[-*_]{3,}", stripped):  # a blank line or a rule ends the paragraph
            self.flush()
            return
        if self.para and re.match(r"^([-*+]|\d+[.)])\s+", stripped):
            # each list item is its own paragraph
            self.flush()
        self.para.append(_strip_md(stripped))


def parse(name: str, data: bytes) -> Parsed:
    reader = _Reader()
    in_code = False
    for raw in decode_text(name, data).splitlines():
        line = raw.rstrip()
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        m = _MD_HEADING_RE.match(line) if not in_code else None
        if m:
            reader.heading(len(m.group(1)), _strip_md(m.group(2)).strip())
            continue
        reader.line(line.strip())
    reader.flush()
    return Parsed(reader.title, reader.blocks, 1, "md")
