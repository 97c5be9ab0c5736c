"""What every loader produces: text `Block`s with their section path and page, and the
`LoadedDocument` made of them; the `Parser` contract a format module fulfils."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

# headings of Chinese documents ('第一章', '一、', '（二）', '【办理渠道】'), used by the text and PDF loaders
ZH_HEADING_RE = re.compile(
    r"^(?:第[一二三四五六七八九十百零〇\d]+[章节条部分篇]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|【[^】]{1,30}】)"
)


@dataclass
class Block:
    text: str
    section: tuple[str, ...] = ()
    page: int | None = None
    kind: str = "text"  # text | table | faq | curated (an FAQ row with approved wording)


@dataclass
class LoadedDocument:
    name: str
    title: str
    language: str
    blocks: list[Block]
    pages: int
    size_bytes: int
    content_hash: str
    doc_type: str
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


class Parsed(NamedTuple):
    """What a format's parser read: the title it found (may be empty), the blocks, the page count
    (PDF only; other formats count pages by length) and the document type."""

    title: str
    blocks: list[Block]
    pages: int
    doc_type: str


class Parser(Protocol):
    """A format's parser: the file's name (for errors) and bytes -> what it read. Raises `LoadError`
    with a reason an admin can act on; any other exception is reported as a corrupt file."""

    def __call__(self, name: str, data: bytes, /) -> Parsed: ...


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def section_path(path: list[tuple[int, str]], skip_titles: tuple[str, ...]) -> tuple[str, ...]:
    """The headings above a block, without a top-level heading that is the document's title."""
    return tuple(t for lvl, t in path if not (lvl <= 1 and t in skip_titles))


def push_heading(path: list[tuple[int, str]], level: int, heading: str) -> None:
    """Enter a heading: it closes the headings of its level and below."""
    while path and path[-1][0] >= level:
        path.pop()
    path.append((level, heading))
