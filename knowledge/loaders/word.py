"""Word (.docx): heading styles ('Heading 2', '标题 2') open sections, the first top-level heading
(or the first paragraph) is the title, tables become one line per row."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from knowledge.errors import LoadError
from knowledge.loaders import zipguard
from knowledge.loaders.base import Block, Parsed, push_heading, section_path
from knowledge.loaders.tables import table_rows_to_lines

if TYPE_CHECKING:
    from docx.text.paragraph import Paragraph

SUFFIXES = (".docx",)


def _heading_level(paragraph: Paragraph) -> int | None:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    m = re.match(r"(?:Heading|标题)\s*(\d)", style, re.I)
    if m:
        return int(m.group(1))
    if style.lower() == "title":
        return 0
    return None


class _Reader:
    def __init__(self, title: str) -> None:
        self.title = title
        self.first_heading = ""
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []

    def section(self) -> tuple[str, ...]:
        return section_path(self.path, (self.title, self.first_heading))

    def paragraph(self, paragraph: Paragraph) -> None:
        text = paragraph.text.strip()
        if not text:
            return
        level = _heading_level(paragraph)
        if level is not None:
            self.heading(level, text)
        elif not self.title and not self.blocks:
            self.title = text
        else:
            self.blocks.append(Block(text, self.section()))

    def heading(self, level: int, text: str) -> None:
        if level <= 1 and not self.first_heading:
            self.first_heading = text
            if not self.title:
                self.title = text
            return
        push_heading(self.path, level, text)

    def table(self, rows: list[list[str]]) -> None:
        for line in table_rows_to_lines(rows):
            self.blocks.append(Block(line, self.section(), kind="table"))


def parse(name: str, data: bytes) -> Parsed:
    zipguard.check_zip(name, data)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise LoadError(name, f"not a valid Word .docx file ({type(exc).__name__})") from None
    reader = _Reader((document.core_properties.title or "").strip())
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            reader.paragraph(item)
        elif isinstance(item, Table):
            reader.table([[cell.text.strip() for cell in row.cells] for row in item.rows])
    return Parsed(reader.title, reader.blocks, 1, "docx")
