"""Tables as text: one self-standing line per row (Markdown, HTML, Word, CSV and Excel tables)."""

from __future__ import annotations


def table_rows_to_lines(rows: list[list[str]]) -> list[str]:
    """A table as one self-standing line per row: 'header: value; header: value'."""
    rows = [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = rows[0]
    if len(rows) == 1:
        return ["；".join(header)]
    lines = []
    for r in rows[1:]:
        cells = []
        for i, c in enumerate(r):
            if not c:
                continue
            h = header[i] if i < len(header) else ""
            cells.append(f"{h}：{c}" if h and h != c else c)
        # merged cells repeat the same value; keep one
        dedup = list(dict.fromkeys(cells))
        lines.append("；".join(dedup))
    return lines
