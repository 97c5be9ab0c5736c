"""Server-side SVG charts: no JavaScript library, no CDN (the console works offline)."""

from __future__ import annotations

from html import escape


def bars(series: list[tuple[str, float]], *, width: int = 640, height: int = 180, color: str = "#2d6cdf",
         title: str = "") -> str:
    """A bar chart; labels under the bars (thinned when there are many), values on hover."""
    if not series:
        return f'<svg role="img" aria-label="{escape(title)}" height="40"><text x="4" y="24">—</text></svg>'
    top = max(v for _, v in series) or 1
    pad, base = 28, height - 24
    step = (width - pad) / len(series)
    every = max(1, len(series) // 12)
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'preserveAspectRatio="xMinYMin meet" class="chart">']
    for i, (label, value) in enumerate(series):
        h = (base - 8) * value / top
        x = pad + i * step
        parts.append(f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                     f'fill="{color}"><title>{escape(label)}: {value:g}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
                         f'{escape(label)}</text>')
    parts.append(f'<text x="2" y="12" font-size="10">{top:g}</text><line x1="{pad}" y1="{base}" x2="{width}" '
                 f'y2="{base}" stroke="#999"/></svg>')
    return "".join(parts)


def funnel(steps: list[tuple[str, float]], *, width: int = 640) -> str:
    top = max((v for _, v in steps), default=0) or 1
    row = 30
    parts = [f'<svg role="img" aria-label="funnel" viewBox="0 0 {width} {row * len(steps) + 4}" class="chart">']
    for i, (label, value) in enumerate(steps):
        w = (width - 190) * value / top
        parts.append(f'<text x="0" y="{i * row + 19}" font-size="13">{escape(label)}</text>'
                     f'<rect x="110" y="{i * row + 4}" width="{w:.1f}" height="{row - 8}" fill="#1f9d55"/>'
                     f'<text x="{116 + w:.1f}" y="{i * row + 19}" font-size="13">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
