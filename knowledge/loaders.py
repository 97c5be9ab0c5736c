"""Loaders: a file -> a `LoadedDocument` of text blocks with their section path and page.

Every failure is a `LoadError(file, reason)` with a reason an admin can act on. Loaders are
synchronous and CPU-bound; the service runs them in a worker thread.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.errors import LoadError
from knowledge.text import detect_language, nfkc, to_simplified

SUPPORTED_SUFFIXES = {".pdf", ".docx", ".md", ".markdown", ".html", ".htm", ".txt", ".csv", ".xlsx"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# formats without pages count one page per this many characters (a printed A4 page of Chinese text)
CHARS_PER_PAGE = 1800
# a .docx may not expand to more than this when unzipped (a "zip bomb" guard)
DEFAULT_MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200

_ZH_HEADING_RE = re.compile(
    r"^(?:第[一二三四五六七八九十百零〇\d]+[章节条部分篇]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|【[^】]{1,30}】)"
)
_EN_HEADING_RE = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+[A-Z][^.!?]{0,70}|[A-Z][A-Za-z ,&/'-]{2,60}:?)$")
_PAGE_NO_RE = re.compile(
    r"^(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|-\s*\d+\s*-|\d+\s*/\s*\d+|page\s+\d+(?:\s+of\s+\d+)?|\d{1,3})$",
    re.IGNORECASE,
)
_SENT_END = "。！？；：!?;:"


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


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_path(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None) -> LoadedDocument:
    """Load one file; `name` (default: the file name) identifies the document in the registry."""
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(
            name, f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(name, f"cannot read the file ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise LoadError(name, f"file is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")
    if size == 0:
        raise LoadError(name, "file is empty")
    data = path.read_bytes()
    return load_bytes(name, data, max_bytes=max_bytes)


def load_bytes(name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(
            name, f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
        )
    if len(data) > max_bytes:
        raise LoadError(name, f"file is {len(data) / 1048576:.1f} MB, over the {max_bytes / 1048576:.0f} MB limit")
    if not data.strip():
        raise LoadError(name, "file is empty")
    parser = _PARSERS[suffix]
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


# ---------------------------------------------------------------- text decoding

def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, then GB18030 (a superset of GBK/GB2312);
    anything else is refused rather than indexed as mojibake."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _plausible(text):
        return text
    raise LoadError(name, "cannot decode the text: it is neither UTF-8 nor GB18030/GBK (save it as UTF-8)")


def _plausible(text: str) -> bool:
    """GB18030 decodes almost any byte string; accept it only when the result is mostly common
    Chinese characters, ASCII and punctuation."""
    if not text:
        return False
    bad = 0
    for ch in text:
        o = ord(ch)
        if ch.isascii():
            if o < 32 and ch not in "\r\n\t\f":
                bad += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or 0x2000 <= o <= 0x206F:
            continue
        else:
            bad += 1
    return bad / len(text) < 0.02


# ---------------------------------------------------------------- plain text and Markdown

def _is_plain_heading(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 40:
        return False
    if _ZH_HEADING_RE.match(s):
        return s[-1] not in "。；;" or len(s) < 20
    return False


def _parse_txt(name: str, data: bytes):
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
    return title, blocks, 1, "txt"


_MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _strip_md(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    return re.sub(r"^\s*>\s?", "", text)


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


def _parse_md(name: str, data: bytes):
    text = decode_text(name, data)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    title = ""
    para: list[str] = []
    table: list[list[str]] = []
    in_code = False

    def section() -> tuple[str, ...]:
        return tuple(t for lvl, t in path if not (lvl == 1 and t == title))

    def flush() -> None:
        if para:
            blocks.append(Block("\n".join(para), section()))
            para.clear()
        if table:
            for line in table_rows_to_lines(table):
                blocks.append(Block(line, section(), kind="table"))
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        m = _MD_HEADING_RE.match(line) if not in_code else None
        if m:
            flush()
            level, heading = len(m.group(1)), _strip_md(m.group(2)).strip()
            if not title and level == 1:
                title = heading
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading))
            continue
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            if para:
                blocks.append(Block("\n".join(para), section()))
                para.clear()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue
            table.append([_strip_md(c) for c in cells])
            continue
        if table:
            flush()
        if not stripped:
            flush()
            continue
        if re.fullmatch(r"[-*_]{3,}", stripped):
            flush()
            continue
        item = re.match(r"^([-*+]|\d+[.)])\s+", stripped)
        if item and para:
            # each list item is its own paragraph
            flush()
        para.append(_strip_md(stripped))
    flush()
    return title, blocks, 1, "md"


# ---------------------------------------------------------------- HTML

_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|content-visibility\s*:\s*hidden", re.I)
_BLOCK_TAGS = {
    "p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td", "th", "caption",
    "div", "section", "article", "main", "header", "footer", "aside", "figcaption", "address", "table", "tr",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def _hidden(tag) -> bool:  # noqa: ANN001 - bs4 Tag
    attrs = tag.attrs or {}
    if "hidden" in attrs:
        return True
    if str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE_RE.search(str(style)):
        return True
    return tag.name == "input" and str(attrs.get("type", "")).lower() == "hidden"


def _hidden_classes(soup) -> set[str]:  # noqa: ANN001
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


def _parse_html(name: str, data: bytes):
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, Tag

    text = decode_text(name, data) if not data.lstrip().startswith(b"<?xml") else data.decode("utf-8", "replace")
    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    hidden_classes = _hidden_classes(soup)
    dropped = ["script", "style", "head", "noscript", "template", "iframe", "object", "svg", "meta", "nav"]
    for tag in soup.find_all(dropped):
        tag.decompose()
    from bs4 import Comment

    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for tag in list(soup.find_all(True)):
        if getattr(tag, "decomposed", False) or tag.attrs is None:
            continue
        classes = set(tag.get("class") or [])
        if _hidden(tag) or (classes & hidden_classes):
            tag.decompose()

    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    h1_title = ""

    def section() -> tuple[str, ...]:
        return tuple(t for lvl, t in path if not (lvl == 1 and t in (title, h1_title)))

    def walk(node) -> None:  # noqa: ANN001
        nonlocal h1_title
        inline: list[str] = []

        def flush_inline() -> None:
            s = " ".join(x for x in inline if x).strip()
            inline.clear()
            if s:
                blocks.append(Block(s, section()))

        for child in node.children:
            if isinstance(child, NavigableString):
                s = str(child).strip()
                if s:
                    inline.append(s)
                continue
            if not isinstance(child, Tag):
                continue
            if child.name in _HEADINGS:
                flush_inline()
                heading = child.get_text(" ", strip=True)
                level = _HEADINGS[child.name]
                if heading:
                    if level == 1 and not h1_title:
                        h1_title = heading
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, heading))
                continue
            if child.name == "table":
                flush_inline()
                rows = []
                for tr in child.find_all("tr"):
                    rows.append([c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])])
                cap = child.find("caption")
                if cap and cap.get_text(strip=True):
                    blocks.append(Block(cap.get_text(" ", strip=True), section()))
                for line in table_rows_to_lines(rows):
                    blocks.append(Block(line, section(), kind="table"))
                continue
            if child.name == "br":
                flush_inline()
                continue
            if child.name in _BLOCK_TAGS:
                flush_inline()
                nested = _BLOCK_TAGS | set(_HEADINGS)
                has_block = any(isinstance(d, Tag) and d.name in nested for d in child.descendants)
                if has_block:
                    walk(child)
                else:
                    s = child.get_text(" ", strip=True)
                    if s:
                        blocks.append(Block(s, section()))
                continue
            inline.append(child.get_text(" ", strip=True))
        flush_inline()

    walk(soup.body or soup)
    # Chinese text: the spaces bs4 put between inline pieces are not in the source
    for b in blocks:
        b.text = re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", b.text)
    return h1_title or title, blocks, 1, "html"


# ---------------------------------------------------------------- Word

def _check_zip(name: str, data: bytes, *, max_unzipped: int | None = None) -> None:
    if max_unzipped is None:
        max_unzipped = DEFAULT_MAX_UNZIPPED_BYTES
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LoadError(name, "not a valid Office file (the zip container is corrupt)") from None
    with zf:
        total = 0
        for info in zf.infolist():
            total += info.file_size
            if info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_COMPRESSION_RATIO * 10:
                raise LoadError(name, f"suspicious compression in '{info.filename}' (a zip bomb?); refused")
        if total > max_unzipped:
            raise LoadError(
                name,
                f"expands to {total / 1048576:.0f} MB when unpacked, over the {max_unzipped / 1048576:.0f} MB limit "
                "(a zip bomb?); refused",
            )


def _docx_heading_level(paragraph) -> int | None:  # noqa: ANN001
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    m = re.match(r"(?:Heading|标题)\s*(\d)", style, re.I)
    if m:
        return int(m.group(1))
    if style.lower() == "title":
        return 0
    return None


def _parse_docx(name: str, data: bytes):
    _check_zip(name, data)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise LoadError(name, f"not a valid Word .docx file ({type(exc).__name__})") from None
    title = (document.core_properties.title or "").strip()
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    first_heading = ""

    def section() -> tuple[str, ...]:
        return tuple(t for lvl, t in path if t not in (title, first_heading) or lvl > 1)

    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            level = _docx_heading_level(item)
            if level is not None:
                if level <= 1 and not first_heading:
                    first_heading = text
                    if not title:
                        title = text
                    continue
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, text))
                continue
            if not title and not blocks:
                title = text
                continue
            blocks.append(Block(text, section()))
        elif isinstance(item, Table):
            rows = []
            for row in item.rows:
                cells = []
                for cell in row.cells:
                    cells.append(cell.text.strip())
                rows.append(cells)
            for line in table_rows_to_lines(rows):
                blocks.append(Block(line, section(), kind="table"))
    return title, blocks, 1, "docx"


# ---------------------------------------------------------------- PDF

def _parse_pdf(name: str, data: bytes):
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError(name, "not a PDF file (no %PDF header); the file is corrupt or mislabelled")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001
                ok = 0
            if not ok:
                raise LoadError(name, "PDF is encrypted (password protected); upload an unprotected copy")
        page_texts = [(p.extract_text() or "") for p in reader.pages]
        meta_title = ""
        try:
            if reader.metadata and reader.metadata.title:
                meta_title = str(reader.metadata.title)
        except Exception:  # noqa: BLE001
            meta_title = ""
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError(name, "PDF is encrypted (password protected); upload an unprotected copy") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise LoadError(name, f"corrupt PDF ({type(exc).__name__}: {exc})") from None
    return _pdf_blocks(page_texts, meta_title)


def _pdf_blocks(page_texts: list[str], meta_title: str = ""):
    pages = [[ln.strip() for ln in t.splitlines() if ln.strip()] for t in page_texts]
    # running headers/footers: a line found at the top or bottom of most pages
    repeated: set[str] = set()
    if len(pages) >= 2:
        edge = Counter()
        for lines in pages:
            for ln in set(lines[:2] + lines[-2:]):
                edge[ln] += 1
        repeated = {ln for ln, c in edge.items() if c >= max(2, int(len(pages) * 0.6))}
    title = meta_title.strip()
    blocks: list[Block] = []
    section: list[str] = []
    for pno, lines in enumerate(pages, start=1):
        lines = [ln for ln in lines if ln not in repeated and not _PAGE_NO_RE.match(ln)]
        if not lines:
            continue
        width = max(len(ln) for ln in lines)
        para: list[str] = []

        def flush(pno: int = pno, para: list[str] = para) -> None:
            if para:
                blocks.append(Block(_join_lines(para), tuple(section), page=pno))
                para.clear()

        for ln in lines:
            if not title:
                title = ln
                continue
            if pno == 1 and not blocks and not para and ln == title:
                continue
            is_heading = (_ZH_HEADING_RE.match(ln) and len(ln) <= 30) or (
                _EN_HEADING_RE.match(ln) and len(ln) <= 60 and re.match(r"^\d+(\.\d+)*\.?\s", ln)
            )
            if is_heading:
                flush()
                section[:] = [ln]
                continue
            starts_item = bool(re.match(r"^([•·▪●◦\-*]|\(?\d+[.)、]|[（(][一二三四五六七八九十\d]+[)）])\s*", ln))
            if para and (starts_item or _ends_paragraph(para[-1], width)):
                flush()
            para.append(ln)
        flush()
    return title, blocks, len(page_texts), "pdf"


def _ends_paragraph(line: str, width: int) -> bool:
    if not line:
        return True
    cjk = bool(re.search(r"[\u4e00-\u9fff]", line))
    full = width * (0.85 if cjk else 0.75)
    if line[-1] in "。！？!?" or (line[-1] in ".:：" and len(line) < full):
        return True
    return len(line) < full


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for ln in lines[1:]:
        a, b = out[-1:], ln[:1]
        # a wrapped English line needs a space; Chinese lines and split numbers do not
        if a.isascii() and b.isascii() and a.isalpha() and b.isalnum() or a in ",;" and b.isalpha():
            out += " " + ln
        else:
            out += ln
    return re.sub(r"\s{2,}", " ", out)


# ---------------------------------------------------------------- FAQ and tables

_Q_HEADERS = ("问题", "问", "question", "questions", "q", "常见问题", "提问", "标准问", "标准问题", "问法", "faq")
_A_HEADERS = ("答案", "答", "answer", "answers", "a", "回答", "解答", "答复", "回复", "标准答案", "说明")


# an FAQ sheet's column of approved wording (标准话术): given verbatim to close paraphrases
_CURATED_HEADERS = ("标准话术", "话术", "审核话术", "approvedanswer", "approved", "curatedanswer", "curated")


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
    ask = re.compile(r"[?？]\s*$|^(如何|怎么|怎样|什么|为什么|能否|可以|how|what|can|why)", re.I)
    asks = sum(1 for f in firsts if ask.search(f))
    return asks >= 0.6 * max(len(firsts), 1)


def _rows_to_blocks(rows: list[list[str]], sheet: str = "") -> list[Block]:
    rows = [[str(c).strip() if c is not None else "" for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    cols = _qa_columns(rows[0])
    body = rows[1:]
    if cols is None and _looks_like_qa(rows):
        cols, body = (0, 1), rows
    blocks: list[Block] = []
    base = (sheet,) if sheet else ()
    if cols:
        qi, ai = cols
        ci = next((i for i, c in enumerate(rows[0]) if _header_word(c) in _CURATED_HEADERS), None)
        for r in body:
            q = r[qi] if qi < len(r) else ""
            a = r[ai] if ai < len(r) else ""
            approved = r[ci] if ci is not None and ci < len(r) else ""
            if approved and q:
                a, kind = approved, "curated"
            else:
                kind = "faq"
            if not q and not a:
                continue
            blocks.append(Block(f"问：{q}\n答：{a}" if _is_zh(q + a) else f"Q: {q}\nA: {a}", base + (q,), kind=kind))
        return blocks
    for line in table_rows_to_lines(rows):
        blocks.append(Block(line, base, kind="table"))
    return blocks


def _is_zh(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def _parse_csv(name: str, data: bytes):
    text = decode_text(name, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return Path(name).stem, _rows_to_blocks(rows), 1, "csv"


def _parse_xlsx(name: str, data: bytes):
    _check_zip(name, data)
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001
        raise LoadError(name, f"not a valid Excel .xlsx file ({type(exc).__name__})") from None
    blocks: list[Block] = []
    try:
        for ws in wb.worksheets:
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            blocks.extend(_rows_to_blocks(rows, sheet=ws.title if len(wb.worksheets) > 1 else ""))
        title = (wb.properties.title or "").strip() if wb.properties else ""
    finally:
        wb.close()
    return title or Path(name).stem, blocks, 1, "xlsx"


_PARSERS = {
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
    ".md": _parse_md,
    ".markdown": _parse_md,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".txt": _parse_txt,
    ".csv": _parse_csv,
    ".xlsx": _parse_xlsx,
}
