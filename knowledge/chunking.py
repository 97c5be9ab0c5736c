"""Chunking: blocks -> chunks sized for Chinese and English, each standing alone.

A chunk never crosses a section; it is filled with whole paragraphs (or table rows) up to a size
in characters (Chinese) or words (English); a paragraph that is too long is split at sentence
ends. Each chunk's text starts with its document title and section path, so a chunk read alone
(by the retriever, the reader or an LLM) still says what it is about. FAQ rows are one chunk each.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from knowledge.loaders import Block, LoadedDocument
from knowledge.text import CJK_RE, split_sentences

ZH_MAX_CHARS = 360
ZH_MIN_CHARS = 60
EN_MAX_CHARS = 1100
EN_MIN_CHARS = 200

_ROWS = ("faq", "curated")  # one question and its answer: a chunk of their own

PRODUCT_TYPES: list[tuple[str, tuple[str, ...]]] = [
    ("credit_card", ("信用卡", "credit card", "年费", "annual fee")),
    ("pension", ("养老金", "pension")),
    ("fund", ("基金", "定投", "fund")),
    ("wealth", ("理财", "wealth", "现金管理", "risk level")),
    ("loan", ("贷款", "loan", "房贷", "mortgage")),
    ("deposit", ("存款", "存单", "定期", "deposit", "cd")),
    ("fx", ("购汇", "外汇", "结汇", "foreign exchange", "fx")),
    ("card", ("挂失", "借记卡", "银行卡", "盗刷", "lost card", "fraud")),
    ("digital", ("手机银行", "app", "网银", "mobile banking")),
    ("account", ("开户", "account opening", "account")),
    ("fees", ("收费", "手续费", "fee schedule")),
]


# a chunk's metadata as stored with it (Chroma keeps str, int, float and bool values): doc, doc_key, title,
# section, kind, lang, page, chunk_index, question...
ChunkMeta = dict[str, object]


def meta_int(value: object) -> int:
    """A whole number kept in chunk metadata ('page', 'chunk_index'); absent or empty: 0."""
    return int(value) if isinstance(value, int | float | str) and value else 0


def meta_float(value: object) -> float:
    """A number kept in chunk metadata ('indexed_at'); absent or empty: 0."""
    return float(value) if isinstance(value, int | float | str) and value else 0.0


@dataclass
class Chunk:
    id: str
    text: str  # what is indexed and shown: header line + body
    body: str
    metadata: ChunkMeta = field(default_factory=dict)


def product_type(title: str, name: str) -> str:
    hay = f"{title} {name}".lower()
    for kind, words in PRODUCT_TYPES:
        if any(w in hay for w in words):
            return kind
    return "general"


def doc_key(name: str, content_hash: str) -> str:
    """Identity of one version of a document; chunks carry it, retrieval filters on it."""
    return f"{name}#{content_hash[:16]}"


def chunk_id(name: str, content_hash: str, index: int) -> str:
    h = hashlib.sha1(name.encode("utf-8")).hexdigest()[:12]
    return f"{h}-{content_hash[:12]}-{index:05d}"


def _is_cjk(text: str) -> bool:
    return len(CJK_RE.findall(text[:400])) >= len(re.findall(r"[A-Za-z]+", text[:400])) * 0.5


def _limits(text: str) -> tuple[int, int]:
    return (ZH_MAX_CHARS, ZH_MIN_CHARS) if _is_cjk(text) else (EN_MAX_CHARS, EN_MIN_CHARS)


def _split_long(text: str, max_len: int) -> list[str]:
    """Split at sentence ends into pieces of at most max_len; one sentence of overlap keeps
    the thread between pieces."""
    sentences = split_sentences(text)
    pieces: list[str] = []
    cur: list[str] = []
    size = 0
    joiner = "" if _is_cjk(text) else " "
    for s in sentences:
        while len(s) > max_len:  # a sentence longer than a chunk: hard cut
            if cur:
                pieces.append(joiner.join(cur))
                cur, size = [], 0
            pieces.append(s[:max_len])
            s = s[max_len:]
        if size + len(s) > max_len and cur:
            pieces.append(joiner.join(cur))
            last = cur[-1]
            cur = [last] if len(last) < max_len // 3 else []
            size = sum(len(x) for x in cur)
        cur.append(s)
        size += len(s)
    if cur:
        pieces.append(joiner.join(cur))
    return pieces


def header(title: str, section: tuple[str, ...]) -> str:
    sec = " > ".join(section)
    roman = romanize(title)
    return f"《{title}》{(' ' + sec) if sec else ''}{(' [' + roman + ']') if roman else ''}"


@lru_cache(maxsize=1024)
def romanize(title: str) -> str:
    """Pinyin of a Chinese title's words and of adjacent word pairs ('活钱宝' -> 'huoqianbao'), so an
    English question naming a product by its pinyin ('Huoqianbao', 'Wenying 180') finds it."""
    if not CJK_RE.search(title):
        return ""
    try:
        from pypinyin import lazy_pinyin
    except ImportError:  # pragma: no cover - optional
        return ""
    from knowledge.text import get_jieba

    words = []
    for w in get_jieba().lcut(title):
        if CJK_RE.search(w):
            words.append("".join(lazy_pinyin(w)))
        elif w.strip() and w.isascii() and w.isalpha():
            words.append(w.lower())
        else:
            words.append("")
    out: list[str] = []
    for i, w in enumerate(words):
        if w and w not in out:
            out.append(w)
        if i and w and words[i - 1]:
            pair = words[i - 1] + w
            if pair not in out:
                out.append(pair)
    return " ".join(out[:40])


def chunk_document(doc: LoadedDocument) -> list[Chunk]:
    groups: list[tuple[tuple[str, ...], int | None, str, str]] = []  # section, page, kind, body
    cur: list[Block] = []

    def flush() -> None:
        if not cur:
            return
        sep = "\n"
        body = sep.join(b.text for b in cur)
        groups.append((cur[0].section, cur[0].page, cur[0].kind, body))
        cur.clear()

    for block in doc.blocks:
        max_len, _ = _limits(block.text)
        if block.kind in ("faq", "curated"):
            flush()
            groups.append((block.section, block.page, block.kind, block.text))
            continue
        if len(block.text) > max_len:
            flush()
            for piece in _split_long(block.text, max_len):
                groups.append((block.section, block.page, block.kind, piece))
            continue
        if cur:
            same = cur[0].section == block.section
            size = sum(len(b.text) + 1 for b in cur)
            if not same or size + len(block.text) > max_len:
                flush()
        cur.append(block)
    flush()

    # merge a tiny trailing piece into its predecessor of the same section
    merged: list[tuple[tuple[str, ...], int | None, str, str]] = []
    for g in groups:
        if merged and g[2] not in _ROWS and merged[-1][2] not in _ROWS and merged[-1][0] == g[0]:
            max_len, min_len = _limits(g[3])
            prev = merged[-1]
            if (len(g[3]) < min_len or len(prev[3]) < min_len) and len(prev[3]) + len(g[3]) <= max_len * 1.2:
                merged[-1] = (prev[0], prev[1], prev[2], prev[3] + "\n" + g[3])
                continue
        merged.append(g)

    ptype = product_type(doc.title, doc.name)
    key = doc_key(doc.name, doc.content_hash)
    chunks: list[Chunk] = []
    for i, (section, page, kind, body) in enumerate(merged):
        head = header(doc.title, section)
        text = f"{head}\n{body}"
        meta: dict[str, object] = {
            "doc": doc.name,
            "title": doc.title,
            "section": " > ".join(section),
            "page": int(page or 0),
            "kind": kind,
            "lang": doc.language,
            "product_type": ptype,
            "doc_key": key,
            "content_hash": doc.content_hash,
            "chunk_index": i,
        }
        if kind in _ROWS and section:
            meta["question"] = section[-1]  # matched on its own by the dense channel
        if kind == "curated":
            meta["answer"] = re.split(r"\n(?:答|A)\s*[:：]\s*", body, maxsplit=1)[-1]
            meta["source"] = doc.title
        chunks.append(Chunk(id=chunk_id(doc.name, doc.content_hash, i), text=text, body=body, metadata=meta))
    return chunks
