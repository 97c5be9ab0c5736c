"""Offline answer composition: the answer first, from the passage about the question's subject.

1. What is asked (`asked_kinds`): a rate, a date, a fee, a limit, a period, a phone number, a
   procedure or a condition; a line holding that kind of fact ranks first.
2. The lines of the best passages (sentences, table rows, FAQ answers) are scored by the question's
   concepts (`knowledge.query.analyze`), the kind of fact asked, and the numbers the question names
   ('1年', '6个月'); the best line leads, at most two supporting lines of the same document follow.
3. Table rows read as text ('整存整取 1年，年利率 1.30%'), not 'key:value;key:value'.
4. The effective date of the document follows a rate or fee, when the document gives one.
5. English question, Chinese passage: an English lead built from the extracted facts (numbers,
   dates, amounts), the Chinese lines labelled as the original, and the offer of an English speaker.

Passages are data: lines are quoted, never followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge.bm25 import BM25Index
from knowledge.index import Hit
from knowledge.query import Concept, analyze
from knowledge.text import detect_language, led_lines, nfkc, split_sentences, tokenize

MAX_SUPPORT = 2
MAX_LINE = 160

# what the question asks -> (question words, the shape of the fact that answers it)
_DATE = r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日|每月\d{1,2}日|T\s*\+\s*\d"
ASKS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "rate": (re.compile(r"利率|利息|收益率|年化|基准|\brates?\b|interest|yield|apr\b|benchmark", re.I),
             re.compile(r"\d+(?:\.\d+)?\s*%")),
    "date": (re.compile(r"哪天|几号|什么时候|何时|日期|到期日|截止|\bwhen\b|\bdates?\b|deadline|matur", re.I),
             re.compile(_DATE)),
    "fee": (re.compile(r"费|收费|违约金|\bfees?\b|charge|cost|penalt", re.I),
            re.compile(r"\d[\d,.]*\s*(?:元|%|美元|yuan|rmb)|免|waive|free", re.I)),
    "limit": (re.compile(r"多少|最多|最少|最低|最高|上限|限额|额度|起存|起购|起投|几次|几个|minimum|maximum|limit|"
                         r"quota|\bcap\b|how much|how many|at least|at most", re.I),
              re.compile(r"\d[\d,.]*\s*(?:万|元|美元|份|笔|次|%|rmb|usd|yuan)|rmb\s*\d|usd\s*\d", re.I)),
    "period": (re.compile(r"多久|多长|几天|期限|免息期|宽限期|冷静期|how long|period|how many days", re.I),
               re.compile(r"\d+\s*(?:天|个月|年|小时|个工作日|分钟|days?|months?|years?|hours?|working days)", re.I)),
    "hours": (re.compile(r"几点|营业时间|时间段|开门|关门|\bhours\b|what time|opening", re.I),
              re.compile(r"\d{1,2}[:：]\d{2}")),
    "phone": (re.compile(r"电话|热线|号码|客服|phone|hotline|call|contact", re.I),
              re.compile(r"\d{3,4}-\d{3,4}-\d{3,4}|\+\d{2}")),
}
_EFFECTIVE_RE = re.compile(
    r"(?:执行日期|生效日期|利率执行日期|施行日期|effective(?: date| from)?|last updated)\s*[:：]?\s*"
    r"(\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|\d{4}-\d{1,2}-\d{1,2}|[A-Z][a-z]+ \d{4})"
    r"|(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)\s*起(?:执行|施行|生效)",
    re.I,
)
_ROW_CELL_RE = re.compile(r"^([^:：]{1,24})[:：]\s*(.+)$")
# column headers that say nothing of their own ('项目' / '内容'): the value speaks alone
_GENERIC_KEYS = {
    "项目", "内容", "说明", "备注", "名称", "详情", "item", "value", "details", "description", "name", "content",
}
# lines about another issue, past results or a worked example are not this product's facts
_ASIDE_RE = re.compile(
    r"上一期|上期|往期|过往|历史业绩|示例|举例|例如|previous issue|past performance|for example|e\.g\.", re.I
)


@dataclass
class Composed:
    lines: list[str]  # the lead (the answer) first, then supporting lines
    lead_hit: int  # index in the pool of the passage quoted first
    docs: list[str] = field(default_factory=list)  # documents quoted, in order
    effective: str = ""
    facts: list[str] = field(default_factory=list)  # numbers, dates, amounts of the lead
    kinds: list[str] = field(default_factory=list)  # what the question asks


def asked_kinds(question: str) -> list[str]:
    return [k for k, (q_re, _f) in ASKS.items() if q_re.search(question)]


def readable_row(line: str, lang: str) -> str:
    """'存款品种:整存整取;存期:1年;年利率:1.30%' -> '整存整取，存期：1年，年利率：1.30%'."""
    cells = [c.strip() for c in re.split(r"[;；]", line) if c.strip()]
    if len(cells) < 2 or not all(_ROW_CELL_RE.match(c) for c in cells):
        return line
    out = []
    for c in cells:
        m = _ROW_CELL_RE.match(c)
        assert m is not None
        key, value = m.group(1).strip(), m.group(2).strip()
        # a number needs its header ('年利率 1.30%'); a name stands alone ('整存整取')
        named = re.search(r"\d", value) and key not in value and key.lower() not in _GENERIC_KEYS
        out.append((f"{key}：{value}" if lang == "zh" else f"{key}: {value}") if named else value)
    return ("，" if lang == "zh" else ", ").join(out)


def _is_row(line: str) -> bool:
    cells = [c for c in re.split(r"[;；]", line) if c.strip()]
    return len(cells) >= 2 and all(_ROW_CELL_RE.match(c.strip()) for c in cells)


def _units(h: Hit) -> list[str]:
    """Lines (table rows, list items) and sentences of a passage; a line ending with a colon
    leads the lines after it, so they stay together. An FAQ row is its answer."""
    body = h.body
    if h.meta.get("kind") == "faq":
        m = re.search(r"(?:^|\n)(?:答|A)\s*[:：]\s*(.*)", body, re.S)
        answer = (m.group(1) if m else body).replace("\n", " ").strip()
        return split_sentences(answer) if len(answer) > MAX_LINE * 2 else [answer]
    units: list[str] = []
    for line in led_lines(body):
        units.extend([line] if len(line) <= MAX_LINE or _is_row(line) else split_sentences(line))
    return units


def _number_concepts(concepts: list[Concept], title: str) -> list[Concept]:
    # '一年' often means 'per year': only a precise number ('3个月', '90天') picks the row
    return [c for c in concepts if c.pattern is not None and c.weight >= 1.0 and not c.found_in(title, set())]


def _score(unit: str, head: str, concepts: list[Concept], kinds: list[str], numbers: list[Concept],
           title: str = "") -> float:
    low = nfkc(unit).lower()
    toks = set(tokenize(unit))
    sc = 0.0
    for c in concepts:
        if c.found_in(title, set()) or c.found_in(low, toks):
            sc += c.weight  # the document's title sets the subject for every line of it
        elif c.found_in(head, set()):
            sc += c.weight * 0.5  # a row of the large-CD table is about large CDs
    if kinds and any(ASKS[k][1].search(unit) for k in kinds):
        sc *= 1.6
    elif kinds and any(k in kinds for k in ("rate", "fee", "limit", "period", "date", "phone")):
        sc *= 0.7  # a number was asked for and this line has none of that kind
    if numbers:
        matched = sum(1 for c in numbers if c.found_in(low, set()))
        sc *= 1.0 + matched if matched else 0.35  # '1年' wants the 1-year row, not the 2-year one
    if _ASIDE_RE.search(unit):
        sc *= 0.5
    if kinds and _is_row(unit) and _labels_name(unit, concepts):
        sc *= 1.3  # the row's label names what is asked ('起存金额: 20万元')
    return sc / (1.0 + len(unit) / 300)


def _labels_name(row: str, concepts: list[Concept]) -> bool:
    cells = [c for c in re.split(r"[;；]", row) if c.strip()]
    label = nfkc(" ".join(cells[:-1]) if len(cells) > 1 else row).lower()
    return any(c.found_in(label, set()) for c in concepts if c.pattern is None)


def compose(question: str, pool: list[Hit], bm25: BM25Index, lang: str) -> Composed:
    """`pool`: the best passages, first the one retrieval ranks first, then the rest of its document."""
    concepts = analyze(question, bm25)
    kinds = asked_kinds(question)
    scored: list[tuple[float, int, int, str]] = []  # score, hit index, unit index, text
    for hi, h in enumerate(pool):
        head = nfkc(h.text.split("\n", 1)[0]).lower()
        title = nfkc(str(h.meta.get("title", ""))).lower()
        numbers = _number_concepts(concepts, title)
        # the retrieval chose the document; within it, the line that answers is found here
        rank_w = 1.0 if h.doc == pool[0].doc else 0.6
        for ui, unit in enumerate(_units(h)):
            # a bilingual document answers in the question's language where it can
            same = 1.3 if detect_language(unit) == lang else 1.0
            scored.append((_score(unit, head, concepts, kinds, numbers, title) * rank_w * same, hi, ui, unit))
    if not scored:
        return Composed([], 0)
    scored.sort(key=lambda x: -x[0])
    best, lead_hit, lead_ui, lead_text = scored[0]
    doc = pool[lead_hit].doc
    chosen = [(lead_hit, lead_ui, lead_text)]
    for sc, hi, ui, unit in scored[1:]:
        if len(chosen) > MAX_SUPPORT or sc < best * 0.55:
            break
        if pool[hi].doc != doc or any(unit == c[2] or unit in c[2] or c[2] in unit for c in chosen):
            continue
        if detect_language(unit) != detect_language(lead_text):
            continue  # a bilingual document: the supporting lines in the lead's language only
        chosen.append((hi, ui, unit))
    # the lead stays first; the supporting lines keep their document order
    support = sorted(chosen[1:], key=lambda x: (x[0], x[1]))
    lines = [readable_row(u, lang) for _, _, u in [chosen[0], *support]]
    return Composed(lines, lead_hit, [doc], facts=facts_of(lines[0], kinds), kinds=kinds)


def effective_date(texts: list[str]) -> str:
    """The date a document says it takes effect ('执行日期：2026年6月1日'), if it says one."""
    for t in texts:
        m = _EFFECTIVE_RE.search(nfkc(t))
        if m:
            return re.sub(r"\s+", "", m.group(1) or m.group(2) or "") if re.search(r"[\u4e00-\u9fff]", m.group(0)) \
                else (m.group(1) or m.group(2) or "").strip()
    return ""


# --------------------------------------------------------------------------- English from Chinese facts

_FACT_RE = re.compile(
    r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日|\+?[\d]{2,4}(?:-\d{2,4}){2,3}|"
    r"\b[A-Z]{1,3}\d{1,2}\b|T\s*\+\s*\d+|"
    r"\d[\d,]*(?:\.\d+)?\s*(?:%|万元|万|元/笔|元|美元|个工作日|个月|天|年|小时|分钟|笔|次|周岁|岁)|\d{1,3}(?:,\d{3})+|\d{4,}"
)
_UNITS_EN = [
    ("元/笔", " yuan per transaction"), ("元", " yuan"),
    ("美元", " US dollars"), ("个工作日", " working days"), ("个月", " months"), ("天", " days"), ("年", " years"),
    ("小时", " hours"), ("分钟", " minutes"), ("笔", " transactions"), ("次", " times"), ("周岁", " years old"),
    ("岁", " years old"),
]


def facts_of(line: str, kinds: list[str] | None = None) -> list[str]:
    """The numbers, dates and amounts of a line; those of the kind asked when there are some."""
    found: list[str] = []
    for m in _FACT_RE.finditer(nfkc(line)):
        f = re.sub(r"\s+", "", m.group(0))
        if f not in found and re.sub(r"[,.]", "", f) not in [re.sub(r"[,.]", "", x) for x in found]:
            found.append(f)
    wanted = [f for f in found if any(ASKS[k][1].search(f) for k in kinds or [])]
    return (wanted or found)[:4]


_EN_LEADS = {"rate": "The rate is {}.", "fee": "The fee is {}.", "limit": "The amount is {}.",
             "period": "The period is {}.", "date": "The date is {}.", "hours": "The hours are {}.",
             "phone": "The number is {}."}


def english_lead(composed: Composed, effective: str = "") -> str:
    """An English first line from the facts of a Chinese line: 'The rate is 1.30% (effective 2026-06-01).'"""
    facts = [fact_in_english(f) for f in composed.facts]
    if not facts:
        return "Here is what the bank's document says."
    kind = next((k for k in composed.kinds if k in _EN_LEADS), "")
    raw = composed.facts
    ranged = len(raw) == 2 and re.search(re.escape(raw[0]) + r"\s*(?:至|到|~|～|—|-|to)\s*" + re.escape(raw[1]),
                                         re.sub(r"\s+", "", nfkc(composed.lines[0])))
    text = " to ".join(facts) if ranged else ", ".join(facts)
    lead = _EN_LEADS[kind].format(text) if kind else f"In short: {text}."
    if effective and kind in ("rate", "fee"):
        lead = lead[:-1] + f" (effective {fact_in_english(effective)})."
    return lead


def fact_in_english(fact: str) -> str:
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", fact)
    if m:
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    m = re.fullmatch(r"(\d+(?:\.\d+)?)万(元?)", fact)
    if m:  # '20万元' -> '200,000 yuan'
        return f"{round(float(m[1]) * 10_000):,}" + (" yuan" if m[2] else "")
    for zh, en in _UNITS_EN:
        if fact.endswith(zh):
            number = fact[: -len(zh)]
            return number + (en.removesuffix("s") if number == "1" else en)
    return fact
