"""HTML (.html, .htm): what a reader sees. Scripts, styles, navigation, comments and hidden elements
(inline styles, `hidden`, `aria-hidden`, classes a <style> hides) are dropped; headings open sections;
tables become one line per row."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from knowledge.loaders.base import Block, Parsed, push_heading, section_path
from knowledge.loaders.decoding import decode_text
from knowledge.loaders.tables import table_rows_to_lines

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import Tag

SUFFIXES = (".html", ".htm")

_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|content-visibility\s*:\s*hidden", re.I)
_BLOCK_TAGS = {
    "p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td", "th", "caption",
    "div", "section", "article", "main", "header", "footer", "aside", "figcaption", "address", "table", "tr",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_DROPPED = ["script", "style", "head", "noscript", "template", "iframe", "object", "svg", "meta", "nav"]
# bs4 puts a space between inline pieces; between Chinese characters it is not in the source
_CJK_SPACE_RE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])")


def _hidden(tag: Tag) -> bool:
    attrs = tag.attrs or {}
    if "hidden" in attrs:
        return True
    if str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE_RE.search(str(style)):
        return True
    return tag.name == "input" and str(attrs.get("type", "")).lower() == "hidden"


def _hidden_classes(soup: BeautifulSoup) -> set[str]:
    """Class names that a <style> element of the page hides (`.x { display: none }`)."""
    hidden: set[str] = set()
    for style in soup.find_all("style"):
        css = style.get_text(" ")
        for m in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
            if _HIDDEN_STYLE_RE.search(m.group(2)):
                for sel in m.group(1).split(","):
                    sel = sel.strip()
                    if re.fullmatch(r"\.[\w-]+", sel):
                        hidden.add(sel[1:])
    return hidden


def _prune(soup: BeautifulSoup) -> None:
    """Drop what a reader does not see."""
    from bs4 import Comment

    hidden_classes = _hidden_classes(soup)
    for tag in soup.find_all(_DROPPED):
        tag.decompose()
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for tag in list(soup.find_all(True)):
        if getattr(tag, "decomposed", False) or tag.attrs is None:
            continue
        classes = set(tag.get("class") or [])
        if _hidden(tag) or (classes & hidden_classes):
            tag.decompose()


class _Walker:
    """The blocks of a page, in document order, with the headings above each."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.h1_title = ""
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []

    def section(self) -> tuple[str, ...]:
        return section_path(self.path, (self.title, self.h1_title))

    def add(self, text: str, kind: str = "text") -> None:
        self.blocks.append(Block(text, self.section(), kind=kind))

    def walk(self, node: Tag) -> None:
        from bs4.element import NavigableString, Tag

        inline: list[str] = []  # text and inline elements between blocks: one block together
        for child in node.children:
            if isinstance(child, NavigableString):
                s = str(child).strip()
                if s:
                    inline.append(s)
            elif isinstance(child, Tag):
                if child.name in _HEADINGS or child.name in _BLOCK_TAGS or child.name == "br":
                    self.flush_inline(inline)
                    self.block(child)
                else:
                    inline.append(child.get_text(" ", strip=True))
        self.flush_inline(inline)

    def flush_inline(self, inline: list[str]) -> None:
        s = " ".join(x for x in inline if x).strip()
        inline.clear()
        if s:
            self.add(s)

    def block(self, tag: Tag) -> None:
        if tag.name in _HEADINGS:
            self.heading(_HEADINGS[tag.name], tag.get_text(" ", strip=True))
        elif tag.name == "table":
            self.table(tag)
        elif tag.name != "br":
            self.block_element(tag)

    def heading(self, level: int, heading: str) -> None:
        if not heading:
            return
        if level == 1 and not self.h1_title:
            self.h1_title = heading
        push_heading(self.path, level, heading)

    def table(self, table: Tag) -> None:
        rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]
        cap = table.find("caption")
        if cap and cap.get_text(strip=True):
            self.add(cap.get_text(" ", strip=True))
        for line in table_rows_to_lines(rows):
            self.add(line, kind="table")

    def block_element(self, tag: Tag) -> None:
        """A paragraph-like element: one block, or walked when it holds blocks of its own."""
        from bs4.element import Tag

        nested = _BLOCK_TAGS | set(_HEADINGS)
        if any(isinstance(d, Tag) and d.name in nested for d in tag.descendants):
            self.walk(tag)
            return
        s = tag.get_text(" ", strip=True)
        if s:
            self.add(s)


def parse(name: str, data: bytes) -> Parsed:
    from bs4 import BeautifulSoup

    text = decode_text(name, data) if not data.lstrip().startswith(b"<?xml") else data.decode("utf-8", "replace")
    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    _prune(soup)
    walker = _Walker(title)
    walker.walk(soup.body or soup)
    for b in walker.blocks:
        b.text = _CJK_SPACE_RE.sub("", b.text)
    return Parsed(walker.h1_title or title, walker.blocks, 1, "html")
