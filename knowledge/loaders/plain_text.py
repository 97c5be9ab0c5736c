"""Plain text (.txt): the first line is the title; Chinese numbered headings ('一、', '第二章') open sections."""

from __future__ import annotations

import re

from knowledge.loaders.base import ZH_HEADING_RE, Block, Parsed
from knowledge.loaders.decoding import decode_text

SUFFIXES = (".txt",)


def _is_plain_heading(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 40:
        return False
    if ZH_HEADING_RE.match(s):
        return s[-1] not in "。；;" or len(s) < 20
    return False


def parse(name: str, data: bytes) -> Parsed:
    text = decode_text(name, data)
    blocks: list[Block] = []
    section: list[str] = []
    title = ""
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(Block("\n".join(para), tuple(section)))
            para.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if re.fullmatch(r"[=\-_*#~]{3,}", line):
            flush()
            continue
        if not title and not blocks and not para:
            title = line.strip("《》#= ")
            continue
        if _is_plain_heading(line):
            flush()
            section[:] = [line.rstrip("：:")]
            continue
        para.append(line)
    flush()
    return Parsed(title, blocks, 1, "txt")
