"""Rows of a sheet (CSV, Excel) -> blocks: an FAQ sheet (question and answer columns, found by their
header or by the look of a two-column sheet) gives one block per row, with the approved wording
(标准话术) when the sheet has it; any other sheet is a table, one line per row."""

from __future__ import annotations

import re
from collections.abc import Sequence

from knowledge.loaders.base import Block
from knowledge.loaders.tables import table_rows_to_lines
from knowledge.text import nfkc, to_simplified

_Q_HEADERS = ("问题", "问", "question", "questions", "q", "常见问题", "提问", "标准问", "标准问题", "问法", "faq")
_A_HEADERS = ("答案", "答", "answer", "answers", "a", "回答", "解答", "答复", "回复", "标准答案", "说明")
# an FAQ sheet's column of approved wording (标准话术): given verbatim to close paraphrases
_CURATED_HEADERS = ("标准话术", "话术", "审核话术", "approvedanswer", "approved", "curatedanswer", "curated")
_ASK_RE = re.compile(r"[?？]\s*$|^(如何|怎么|怎样|什么|为什么|能否|可以|how|what|can|why)", re.I)


def _header_word(cell: object) -> str:
    # Traditional headers (問題 / 答案) and decorations ('问题：', 'Question (EN)') count alike
    text = to_simplified(nfkc(str(cell or ""))).strip().lower()
    return re.sub(r"[\s:：()（）\[\]_\-]+|en$|zh$|中文$|英文$", "", text) or text


def _qa_columns(header: list[str]) -> tuple[int, int] | None:
    h = [_header_word(c) for c in header]
    qi = next((i for i, c in enumerate(h) if c in _Q_HEADERS), None)
    ai = next((i for i, c in enumerate(h) if c in _A_HEADERS and i != qi), None)
    if qi is None or ai is None:
        return None
    return qi, ai


def _looks_like_qa(rows: list[list[str]]) -> bool:
    """A two-column sheet without a known header whose first column is mostly questions."""
    if len(rows) < 3 or any(len([c for c in r if c]) > 2 for r in rows[:20]):
        return False
    firsts = [r[0] for r in rows if r and r[0]]
    asks = sum(1 for f in firsts if _ASK_RE.search(f))
    return asks >= 0.6 * max(len(firsts), 1)


def _is_zh(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def _cell(row: list[str], i: int | None) -> str:
    return row[i] if i is not None and i < len(row) else ""


def _faq_blocks(header: list[str], body: list[list[str]], cols: tuple[int, int], base: tuple[str, ...]) -> list[Block]:
    qi, ai = cols
    ci = next((i for i, c in enumerate(header) if _header_word(c) in _CURATED_HEADERS), None)
    blocks: list[Block] = []
    overflow = ai == len(header) - 1  # the answer is the last column
    for r in body:
        q, a, approved = _cell(r, qi), _cell(r, ai), _cell(r, ci)
        if overflow and len(r) > len(header):  # an unquoted comma in the answer: the rest is still the answer
            a = ", ".join(c for c in r[ai:] if c)
        if approved and q:
            a, kind = approved, "curated"
        else:
            kind = "faq"
        if not q and not a:
            continue
        blocks.append(Block(f"问：{q}\n答：{a}" if _is_zh(q + a) else f"Q: {q}\nA: {a}", (*base, q), kind=kind))
    return blocks


def rows_to_blocks(rows: Sequence[Sequence[object]], sheet: str = "") -> list[Block]:
    """A sheet's rows (cells of any type; None is empty); `sheet` names it in the section of a workbook
    with several sheets."""
    cleaned = [[str(c).strip() if c is not None else "" for c in r] for r in rows]
    cleaned = [r for r in cleaned if any(r)]
    if not cleaned:
        return []
    base = (sheet,) if sheet else ()
    cols = _qa_columns(cleaned[0])
    body = cleaned[1:]
    if cols is None and _looks_like_qa(cleaned):
        cols, body = (0, 1), cleaned
    if cols:
        return _faq_blocks(cleaned[0], body, cols, base)
    return [Block(line, base, kind="table") for line in table_rows_to_lines(cleaned)]
