"""Answering: the `Answer` and its `Source`s, is the question grounded in the passages, the reply
rendered from the composed lines (`compose`), and the LLM path.

Document text is data. Passages reach an LLM only inside delimited, numbered blocks under a
system prompt that says so; the LLM's answer is then checked (every number, link and contact handle
must appear in the cited passages; no request for codes, passwords, card details or transfers) and
replaced by the extractive answer when it fails the check or the call fails. The extractive answer
quotes the passages and never follows them; a passage that itself asks for such secrets is not
quoted to a customer at all (`asks_for_secrets`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.bm25 import BM25Index
from knowledge.chunking import meta_int
from knowledge.compose import Composed, english_lead, fact_in_english
from knowledge.index import Hit
from knowledge.query import Concept, analyze
from knowledge.text import detect_language, nfkc, normalize_query, numbers_in, tokenize

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

log = logging.getLogger(__name__)


@dataclass
class Source:
    doc: str
    title: str
    section: str
    score: float
    page: int | None = None

    def as_dict(self) -> dict[str, str | float]:
        return {"doc": self.doc, "title": self.title, "section": self.section, "score": round(self.score, 4)}


@dataclass
class Answer:
    text: str
    sources: list[Source]
    grounded: bool
    handoff: bool
    prompt_id: str | None = None
    prompt_hash: str | None = None
    mode: str = "extractive"  # extractive | llm | curated | declined
    reason: str = ""
    retrieved: list[str] = field(default_factory=list)  # ranked document names (first occurrence)

    @property
    def declined(self) -> bool:
        return not self.grounded

    def as_dict(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "sources": [s.as_dict() for s in self.sources],
            "grounded": self.grounded,
            "handoff": self.handoff,
            "prompt_id": self.prompt_id,
            "prompt_hash": self.prompt_hash,
            "mode": self.mode,
        }


def declined(lang: str, reason: str, retrieved: list[str], *, personal: bool = False) -> Answer:
    """The polite decline (with the offer of the manager)."""
    return Answer(decline_text(lang, personal=personal), [], False, True, mode="declined", reason=reason,
                  retrieved=retrieved)


def _same_document(a: Hit, b: Hit) -> bool:
    """One document in two formats (faq.csv and faq.xlsx) is one source."""
    return Path(a.doc).stem == Path(b.doc).stem and a.meta.get("title") == b.meta.get("title")


def sources_of(hits: list[Hit]) -> list[Source]:
    """One source per document, in the order given."""
    out: list[Source] = []
    kept: list[Hit] = []
    for h in hits:
        if any(h.doc == k.doc or _same_document(h, k) for k in kept):
            continue
        kept.append(h)
        page = meta_int(h.meta.get("page")) or None
        out.append(Source(h.doc, str(h.meta.get("title", "")), str(h.meta.get("section", "")), h.score, page))
    return out


def ranked_docs(hits: list[Hit]) -> list[str]:
    """The documents of the hits, best first, each once."""
    out: list[str] = []
    for h in hits:
        if h.doc not in out:
            out.append(h.doc)
    return out


# Requests a bank's answer never makes, whatever a document says: the customer's codes, passwords
# or card details, or money moved to an account. "Never give anyone your code" is not a request:
# a negation just before the verb is skipped.
_ASK_SECRET_RE = re.compile(
    r"(提供|告诉|告知|发送|发给|发到|发至|报给|报出|说出|回复|提交给|转发)"
    r".{0,12}(验证码|动态码|校验码|短信码|密码|口令|cvv|cvc|安全码|卡号|卡背|有效期)|"
    r"\b(send|tell|give|provide|share|reply with|read out|forward|text)\b"
    r".{0,30}\b(verification code|sms code|one[- ]time (?:pass)?code|otp|code (?:we|you) (?:sent|received)|"
    r"password|passcode|pin|cvv|cvc|security code|card number|card details|expiry date)",
    re.I,
)
_ASK_TRANSFER_RE = re.compile(
    r"(转账|汇款|转入|打款|汇入|转到|转至|存入).{0,12}(安全账户|指定账户|以下账户|这个账户|该账户|账号[:：]?\s*\d)|"
    r"\b(transfer|wire|send|move|deposit)\b.{0,30}\b(money|funds|balance|savings)\b.{0,30}\b(to|into)\b.{0,20}"
    r"\b(account|wallet)\b",
    re.I,
)
_NEGATION_RE = re.compile(
    r"(勿|不要|不会|别|切勿|绝不|从不|不得|不可|never|not|n't|no one|nobody)[^。.!！?？;；]{0,20}$", re.I)
# A warning describes a request, it does not make one: "no need to give anyone the code", "scammers
# lure you into giving your code" (the one asking is the fraudster warned of). Only in the same clause,
# close before the verb: "无需到网点，直接回复验证码" still asks.
_WARNING_RE = re.compile(
    r"(?:(无需|无须|不需要|不必|不用|诱导|诱骗|骗取|套取|骗子|冒充)[^。.!！?？;；,，:：]{0,10}|"
    r"\b(no need|scam\w*|fraudsters?|criminals?|tricks?|lures?)\b[^.!?;,:]{0,30})$", re.I)
# Where an answer may send a customer: only to links, addresses and handles the passages contain.
_LINK_RE = re.compile(
    r"https?://[^\s<>\"'，。）)]+|www\.[^\s<>\"'，。）)]+|"
    r"\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|io|xyz|top|cc|me|info|biz|app|link|site|online|"
    r"shop|vip|club|ly|co)\b(?:/[^\s<>\"'，。）)]*)?",
    re.I,
)
_HANDLE_RE = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,}|"
    r"(?:微信|weixin|wechat|vx|v信|qq|whatsapp|telegram|line|skype|signal)\s*(?:号|id|账号)?\s*[:：]?\s*"
    r"([A-Za-z][A-Za-z0-9_-]{3,}|\d{5,})",
    re.I,
)


def _asks(pattern: re.Pattern[str], text: str) -> bool:
    def warned(start: int) -> bool:
        return bool(_NEGATION_RE.search(text[max(0, start - 24):start])
                    or _WARNING_RE.search(text[max(0, start - 48):start]))

    return any(not warned(m.start()) for m in pattern.finditer(text))


def asks_for_secrets(text: str) -> str | None:
    """Why `text` must not reach a customer (it asks for a code, password or card details, or for
    a transfer), or None."""
    if _asks(_ASK_SECRET_RE, text):
        return "asks for a code, password or card details"
    if _asks(_ASK_TRANSFER_RE, text):
        return "asks for a transfer"
    return None


def _unsourced(pattern: re.Pattern[str], text: str, sources: str) -> list[str]:
    found = []
    for m in pattern.finditer(text):
        value = (m.group(m.lastindex) if m.lastindex else m.group(0)).rstrip(".,;:!?")
        if value.lower() not in sources:
            found.append(value)
    return found


ASK_WEIGHT = 0.4  # share of an ask-word's weight in the coverage


@dataclass
class Grounding:
    grounded: bool
    coverage: float
    reason: str
    missing: list[str] = field(default_factory=list)


def _coverage(concepts: list[Concept], text: str) -> tuple[float, list[str]]:
    low = nfkc(text).lower()
    toks = set(tokenize(text))
    weights = [c.weight * (ASK_WEIGHT if c.ask else 1.0) for c in concepts]
    total = sum(weights) or 1.0
    found = 0.0
    missing = []
    for c, w in zip(concepts, weights, strict=True):
        if c.found_in(low, toks):
            found += w
        else:
            missing.append(c.word)
    return found / total, missing


def grounding(question: str, hits: list[Hit], bm25: BM25Index, *, threshold: float = 0.6) -> Grounding:
    """Share (weighted by rarity and part of speech) of the question's concepts that one of the
    best passages contains. A question whose rare words appear in no passage (another bank, a
    product the bank does not have...) is not grounded, however similar its common words are."""
    if not hits:
        return Grounding(False, 0.0, "no passage found")
    concepts = analyze(question, bm25)
    if not concepts:
        return Grounding(False, 0.0, "no content words in the question")
    for c in concepts:
        if c.strict and not any(c.found_in(nfkc(h.text).lower(), set()) for h in hits[:5]):
            return Grounding(False, 0.0, f"not in the documents: {c.word}", [c.word])
    best = (0.0, [c.word for c in concepts])
    for h in hits[:3]:
        cov, missing = _coverage(concepts, h.text)
        if cov > best[0]:
            best = (cov, missing)
    cov, missing = best
    reason = f"coverage {cov:.2f}" + (f" (missing: {', '.join(missing)})" if missing else "")
    return Grounding(cov >= threshold, cov, reason, missing)


def prefer_covering(hits: list[Hit], question: str, bm25: BM25Index, threshold: float) -> list[Hit]:
    """The first passage must itself hold what the question names (its coverage reaches the grounding
    threshold); when it does not and another of the best passages does, that one goes first: ranked
    first for a word of its title ('Daily Cash' for 'my daily transfer limit'), a passage that never
    names the transfer limit does not answer, the one about the transfer limit does. A first passage
    that is grounded keeps its place, though another names more words (the ranking knows meaning)."""
    if len(hits) < 2:
        return hits
    concepts = analyze(question, bm25)
    if not concepts or _coverage(concepts, hits[0].text)[0] >= threshold:
        return hits
    covs = [_coverage(concepts, h.text)[0] for h in hits]
    best = max(range(len(hits)), key=lambda i: (covs[i], -i))
    if best and covs[best] >= threshold:
        return [hits[best], *hits[:best], *hits[best + 1:]]
    return hits


# a question naming a currency is about that currency: a passage that never names it does not answer
_CURRENCIES = [
    ("美元", "usd", "us dollar", "dollar"), ("欧元", "eur", "euro"), ("港币", "港元", "hkd", "hong kong dollar"),
    ("日元", "jpy", "yen"), ("英镑", "gbp", "pound"), ("澳元", "澳大利亚元", "aud"), ("加元", "加拿大元", "cad"),
    ("新加坡元", "sgd"), ("瑞士法郎", "chf"), ("新西兰元", "nzd"), ("外币",),
]


def subject_covered(question: str, hit: Hit) -> bool:
    q = normalize_query(question).lower()
    text = nfkc(hit.text).lower()
    for names in _CURRENCIES:
        named = [n for n in names if (n in q if not n.isascii() else re.search(rf"\b{re.escape(n)}s?\b", q))]
        if named and not any(n in text for n in names):
            return False
    return True


def render_answer(composed: Composed, lead: Hit, lang: str, effective: str = "") -> str:
    """The reply: the answer line first, then at most two supporting lines, then the effective
    date. An English question answered from a Chinese passage gets an English lead built from
    the facts, the Chinese lines labelled as the original, and the offer of an English speaker."""
    from prompts import load_prompt

    lines = list(composed.lines)
    passage_lang = detect_language(lines[0])  # the line's, not the document's: documents may be bilingual
    if lang == "en" and passage_lang != "en":
        title = str(lead.meta.get("title", ""))
        lead_line = english_lead(composed, effective)
        original = load_prompt("knowledge/replies/original_zh_en.txt").text.strip()
        help_line = load_prompt("knowledge/replies/english_help_en.txt").text.strip()
        # the deciding line only: the reply stays an English one, with the Chinese original to check against
        return f"{lead_line}\n{original}\n《{title}》{lines[0]}\n{help_line}"
    if effective:
        lines.append(f"（执行日期：{effective}）" if lang == "zh" else f"(Effective: {fact_in_english(effective)})")
    if lang == "zh" and passage_lang == "en":
        return "以下为英文资料原文：\n" + "\n".join(lines)
    return "\n".join(lines)


def decline_text(lang: str, *, personal: bool = False) -> str:
    if personal:
        if lang == "en":
            return (
                "Sorry, this needs your own account records, which the product documents do not hold. "
                "I can pass your question to your relationship manager."
            )
        return "抱歉，这个问题需要查询您本人的账户信息，产品资料中无法回答。我可以为您转接客户经理。"
    if lang == "en":
        return (
            "Sorry, I couldn't find the answer in the bank's documents, so I won't guess. "
            "I can pass your question to your relationship manager."
        )
    return "抱歉，银行的资料里没有找到能回答这个问题的内容，我不便猜测。我可以为您转接客户经理。"


# ----------------------------------------------------------------------------- LLM path

NOT_FOUND_MARK = "NOT_FOUND"


def format_passages(hits: list[Hit]) -> str:
    parts = []
    for i, h in enumerate(hits, start=1):
        title = h.meta.get("title", "")
        section = h.meta.get("section", "")
        body = h.body.replace("</document>", "</ document>")
        parts.append(f'<document index="{i}" title="{title}" section="{section}">\n{body}\n</document>')
    return "\n\n".join(parts)


def build_llm_chain(llm: BaseChatModel, system_prompt: str) -> Runnable[dict[str, str], str]:
    """LCEL: prompt | llm | text. Inputs: question, passages (formatted), lang."""
    from langchain_core.messages import SystemMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    # the system prompt is a file, used as it is (no template syntax inside it)
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessage(content=system_prompt),
            ("human", "<passages>\n{passages}\n</passages>\n\n<question>\n{question}\n</question>"),
        ]
    )
    return prompt | llm | StrOutputParser()


def check_llm_answer(answer: str, hits: list[Hit], question: str) -> str | None:
    """None when the answer passes; else why it fails. Numbers, links, e-mail addresses and messenger
    handles must come from the passages (the cited ones when the answer cites); a request for codes,
    passwords, card details or a transfer fails whatever the passages say."""
    text = answer.strip()
    if not text:
        return "empty answer"
    allowed = set()
    for h in hits:
        allowed |= numbers_in(h.text)
    allowed |= numbers_in(question)
    # citation markers [1] [2] are not facts
    stripped = re.sub(r"\[\d{1,2}\]", "", text)
    extra = {n for n in numbers_in(stripped) if n not in allowed}
    if extra:
        return f"numbers not in the passages: {', '.join(sorted(extra))}"
    secret = asks_for_secrets(text)
    if secret:
        return secret
    cited = {int(n) for n in re.findall(r"\[(\d{1,2})\]", text)}
    sources = "\n".join(h.text for i, h in enumerate(hits, start=1) if not cited or i in cited).lower()
    links = _unsourced(_LINK_RE, stripped, sources)
    if links:
        return f"links not in the cited passages: {', '.join(links[:3])}"
    handles = _unsourced(_HANDLE_RE, stripped, sources)
    if handles:
        return f"contact handles not in the cited passages: {', '.join(handles[:3])}"
    return None


async def llm_answer(
    llm: BaseChatModel,
    timeout_s: float,
    question: str,
    lang: str,
    hits: list[Hit],
    sources: list[Source],
    extractive: str,
    retrieved: list[str],
) -> Answer:
    """The LLM's answer from the passages, checked; the extractive answer when the call fails or
    the check rejects it; a decline when the LLM finds nothing in the passages."""
    from prompts import load_prompt

    prompt = load_prompt(f"knowledge/answer_{lang}.txt")
    chain = build_llm_chain(llm, prompt.text)
    try:
        text = await asyncio.wait_for(
            chain.ainvoke({"question": question, "passages": format_passages(hits)}), timeout_s
        )
    except Exception as exc:  # noqa: BLE001 - 429, 5xx, timeouts...: the extractive answer instead
        log.warning("knowledge: LLM failed (%s); extractive answer instead", type(exc).__name__)
        return Answer(extractive, sources, True, False, prompt.id, prompt.hash, mode="extractive",
                      reason=f"llm error: {type(exc).__name__}", retrieved=retrieved)
    text = (text or "").strip()
    if text.upper().startswith(NOT_FOUND_MARK) or text == "":
        return Answer(decline_text(lang), [], False, True, prompt.id, prompt.hash, mode="declined",
                      reason="llm: not in passages", retrieved=retrieved)
    problem = check_llm_answer(text, hits, question)
    if problem:
        log.warning("knowledge: LLM answer rejected (%s); extractive answer instead", problem)
        return Answer(extractive, sources, True, False, prompt.id, prompt.hash, mode="extractive",
                      reason=f"llm answer rejected: {problem}", retrieved=retrieved)
    return Answer(text, sources, True, False, prompt.id, prompt.hash, mode="llm", retrieved=retrieved)
