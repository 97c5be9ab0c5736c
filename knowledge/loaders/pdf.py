"""PDF (.pdf): the text layer page by page, without running headers, footers and page numbers;
wrapped lines joined back into paragraphs; numbered headings open sections."""

from __future__ import annotations

import io
import re
from collections import Counter

from knowledge.errors import LoadError
from knowledge.loaders.base import ZH_HEADING_RE, Block, Parsed

SUFFIXES = (".pdf",)

_EN_HEADING_RE = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+[A-Z][^.!?]{0,70}|[A-Z][A-Za-z ,&/'-]{2,60}:?)$")
_PAGE_NO_RE = re.compile(
    r"^(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|-\s*\d+\s*-|\d+\s*/\s*\d+|page\s+\d+(?:\s+of\s+\d+)?|\d{1,3})$",
    re.IGNORECASE,
)
_ITEM_RE = re.compile(r"^([•·▪●◦\-*]|\(?\d+[.)、]|[（(][一二三四五六七八九十\d]+[)）])\s*")


def parse(name: str, data: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError(name, "not a PDF file (no %PDF header); the file is corrupt or mislabelled")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001
                ok = False
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
    return pdf_blocks(page_texts, meta_title)


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Running headers and footers: lines found at the top or bottom of most pages."""
    if len(pages) < 2:
        return set()
    edge: Counter[str] = Counter()
    for lines in pages:
        for ln in set(lines[:2] + lines[-2:]):
            edge[ln] += 1
    return {ln for ln, c in edge.items() if c >= max(2, int(len(pages) * 0.6))}


def _is_heading(line: str) -> bool:
    return bool(
        (ZH_HEADING_RE.match(line) and len(line) <= 30)
        or (_EN_HEADING_RE.match(line) and len(line) <= 60 and re.match(r"^\d+(\.\d+)*\.?\s", line))
    )


def pdf_blocks(page_texts: list[str], meta_title: str = "") -> Parsed:
    """The blocks of a PDF's pages of extracted text (the first line is the title when the metadata has none)."""
    pages = [[ln.strip() for ln in t.splitlines() if ln.strip()] for t in page_texts]
    repeated = _running_lines(pages)
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
            if _is_heading(ln):
                flush()
                section[:] = [ln]
                continue
            if para and (_ITEM_RE.match(ln) or _ends_paragraph(para[-1], width)):
                flush()
            para.append(ln)
        flush()
    return Parsed(title, blocks, len(page_texts), "pdf")


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
