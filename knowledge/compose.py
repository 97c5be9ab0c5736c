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
from knowledge.query import Concept, analyze, prepare
from knowledge.text import EN_STOP, detect_language, led_lines, nfkc, numbers_in, split_sentences, tokenize

MAX_SUPPORT = 2
_STEM_LEN = 5  # 'devices' / 'device' / 'devicing': an English noun by its first letters
MAX_LINE = 160

# what the question asks -> (question words, the shape of the fact that answers it)
_DATE = r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}月\d{1,2}日|每月\d{1,2}日|T\s*\+\s*\d"
ASKS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "rate": (re.compile(r"利率|利息|收益率|年化|基准|\brates?\b|interest(?![- ]free)|yield|apr\b|benchmark", re.I),
             re.compile(r"\d+(?:\.\d+)?\s*%")),
    "date": (re.compile(r"哪天|哪几天|哪些天|哪(?:一|几)?日|几号|什么时候|何时|日期|到期日|截止|\bwhen\b|\bdates?\b|"
                        r"deadline|matur|which days?\b", re.I),
             re.compile(_DATE)),
    "fee": (re.compile(r"费|收费|违约金|要钱|花钱|收钱|多少钱|\bfees?\b|charge|cost|penalt", re.I),
            re.compile(r"\d[\d,.]*\s*(?:元|%|美元|yuan|rmb)|免|waive|free", re.I)),
    "limit": (re.compile(r"多少|最多|最少|最低|最高|上限|限额|额度|起存|起购|起投|几次|几个|minimum|maximum|limit|"
                         r"quota|\bcap\b|how much|how many|at least|at most", re.I),
              re.compile(r"\d[\d,.]*\s*(?:万|元|美元|份|笔|次|%|rmb|usd|yuan)|rmb\s*\d|usd\s*\d", re.I)),
    "period": (re.compile(r"多久|多长|(?<!哪)几天|期限|免息期|宽限期|冷静期|how long|period|how many days", re.I),
               # '2026年' is a year, not a period
               re.compile(r"(?<![\d.])\d{1,3}\s*(?:天|个月|年(?!\d{1,2}月)|小时|个工作日|分钟|days?|months?|years?|hours?|"
                          r"working days)", re.I)),
    "hours": (re.compile(r"几点|营业时间|时间段|开门|关门|\bhours\b|what time|opening", re.I),
              re.compile(r"\d{1,2}[:：]\s?\d{2}")),
    "phone": (re.compile(r"电话|热线|号码|客服|phone|hotline|call|contact", re.I),
              re.compile(r"\d{3,4}-\d{3,4}-\d{3,4}|\+\d{2}")),
    # a code or identifier ('SWIFT code', '产品代码'): the line holding one ('HRBKCNSHXXX', 'XH-CASH01')
    "code": (re.compile(r"代码|编号|\bswift\b|\bbic\b|\b(?:product|bank|branch|swift|routing|sort) code\b", re.I),
             re.compile(r"\b[A-Z][A-Z0-9-]{5,}\b")),
    # how to have a fee waived, what it takes: the line that says the condition, not the fee
    "condition": (re.compile(r"(?:怎么|怎样|如何|能|可以|才)\s*免|免(?:年费|除|掉)|减免|豁免|条件|waive|waiver|"
                             r"condition|eligib|qualif", re.I),
                  re.compile(r"满\s*\d|达到|符合|只要|免[^收费]{0,4}年费|免除|\bif\b|\bonce\b|provided|as long as|"
                             r"waive|at least", re.I)),
}
# what it takes ('消费满6笔'; '年满16周岁' is an age)
_REQUIREMENT_RE = re.compile(r"(?<!年)满\s*\d|达到|符合|只要|\bif\b|\bonce\b|provided|as long as|at least", re.I)
# a rule that does not apply is the exception, not the way to it
_NOT_APPLY_RE = re.compile(r"不适用|不设|不享受|does not apply|do not apply|not applicable|not eligible", re.I)
_EFFECTIVE_RE = re.compile(
    r"(?:执行日期|生效日期|利率执行日期|施行日期|effective(?: date| from)?|last updated)\s*[:：]?\s*"
    r"(\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|\d{4}-\d{1,2}-\d{1,2}|[A-Z][a-z]+ \d{4})"
    r"|(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)\s*起(?:执行|施行|生效)",
    re.I,
)
_ROW_CELL_RE = re.compile(r"^([^:：]{1,24})[:：]\s*(.+)$")
# column headers that say nothing of their own ('项目' / '内容'): the value speaks alone
_GENERIC_KEYS = {
    "项目", "内容", "说明", "备注", "名称", "详情", "规则", "item", "value", "details", "description", "name",
    "content", "rule", "rules",
}
# a penalty or overdue rate is not the product's rate, unless the question asks about one
_SECONDARY_RATE_RE = re.compile(r"罚息|逾期|违约|滞纳|penalt|overdue|late (?:payment|fee)|default interest", re.I)
# a term a line names ('1年', '6个月', '90天', '3 months', '180-day'), as months or days
_TERM_ZH_RE = re.compile(r"(?<![\d.])(\d{1,3})\s*(个月|年(?!\d{1,2}月)|天|周)")
_TERM_EN_RE = re.compile(r"(?<![\d.])(\d{1,3})[- ]?(months?|years?|yrs?|days?|weeks?)\b", re.I)
_TERM_UNIT = {"个月": ("m", 1), "年": ("m", 12), "天": ("d", 1), "周": ("d", 7), "month": ("m", 1),
              "year": ("m", 12), "yr": ("m", 12), "day": ("d", 1), "week": ("d", 7)}
# the name a line or row starts with ('金卡：…', 'Gold card (XH-CC-GOLD): …', a row's first cell)
_LABEL_RE = re.compile(r"^\s*(?:[-*•]\s*|\(?\d{1,2}[.、)）]\s*)?([^:：,，。;；()（）]{1,24}?)\s*"
                       r"(?:[(（][^)）]{0,30}[)）])?\s*[:：]")
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
    count: str = ""  # the count the lead gives, when the question asks 'how many' ('3台', '3 devices')


def asked_kinds(question: str) -> list[str]:
    kinds = [k for k, (q_re, _f) in ASKS.items() if q_re.search(question)]
    if "condition" in kinds and "fee" in kinds:
        kinds.remove("fee")  # 'how do I get the annual fee waived' asks what it takes, not the fee
    return kinds


# 'how many devices' / '几台' asks for a count of things: a number with a measure word ('3台', '6笔') or
# the thing counted ('3 devices'), not an amount of money or a period
_MEASURE = r"(?:个(?!月|工作日|小时|人所得)|(?<!第\d)(?<!第\d\d)期|[台张次笔份只名位家户种项部条])"
_COUNT_ZH_RE = re.compile(r"(?:几|多少)\s*(个(?!月|工作日|小时)|[台张次笔份只名位家户种项部条])")
# English counts are plural: the first plural word after 'how many' is what is counted
_COUNT_EN_RE = re.compile(r"\bhow many\s+(?:[a-z-]+\s+){0,2}?([a-z-]+?)e?s\b", re.I)
_PERIOD_NOUN_RE = re.compile(r"(?:working |business )?(?:day|month|year|hour|minute|week|second)$", re.I)


def _phrases(question: str) -> list[re.Pattern[str]]:
    """The question's English two-word phrases ('equity funds', 'risk level'): a line saying one as the
    question does is about it, more than a line with the two words apart ('equity products; balanced
    funds')."""
    out = []
    for part in re.split(r"[^a-z' -]+", nfkc(question).lower()):
        words = re.findall(r"[a-z][a-z'-]*", part)
        for a, b in zip(words, words[1:], strict=False):
            if a in EN_STOP or b in EN_STOP or len(a) < 3 or len(b) < 3:
                continue
            a, b = (re.escape(w.removesuffix("s")) for w in (a, b))
            out.append(re.compile(rf"\b{a}s?\s+{b}s?\b", re.I))
    return out


def count_asked(question: str) -> re.Pattern[str] | None:
    """The shape of the count a question asks for ('最多绑几台设备' -> '3台'; 'how many devices' ->
    '3台' or '3 devices'), or None when it asks for no count."""
    q = nfkc(question)
    m = _COUNT_ZH_RE.search(q)
    if m:
        # the measure asked, or another one the document counts in ('几次' answered by '连续3期')
        unit = _MEASURE if m.group(1) == "个" else "(?:" + re.escape(m.group(1)) + "|" + _MEASURE + ")"
        return re.compile(r"(?<![\d.])\d+\s*" + unit)
    m = _COUNT_EN_RE.search(q)
    if not m or _PERIOD_NOUN_RE.search(m.group(1)):
        return None
    noun = re.escape(m.group(1)[:_STEM_LEN])
    return re.compile(r"(?<![\d.])\d+\s*" + _MEASURE + r"|(?<![\d.,])\d+\s+(?:[a-z-]+\s+)?" + noun, re.I)


def asks_word(word: str) -> bool:
    """A word that says what kind of fact is asked ('利率', '年费', 'fee'), not what it is about."""
    return any(q_re.fullmatch(word) or (len(word) <= 3 and q_re.search(word)) for q_re, _f in ASKS.values())


def terms_in(text: str) -> set[str]:
    """The terms a text names, comparable across languages: '1年' / '12个月' / '1-year' -> '12m'."""
    out = set()
    t = nfkc(text)
    for m in [*_TERM_ZH_RE.finditer(t), *_TERM_EN_RE.finditer(t)]:
        unit, factor = _TERM_UNIT[m.group(2).lower().rstrip("s")]
        out.add(f"{int(m.group(1)) * factor}{unit}")
    return out


def _asked_terms(question: str) -> tuple[set[str], bool]:
    """The terms the question names ('半年' is '6个月'), and whether it is only 'a year' / '一年',
    which often means 'per year'."""
    q = prepare(question)
    terms = terms_in(q)
    loose = terms == {"12m"} and not re.search(r"12\s*个月|12[- ]?months?", q, re.I)
    return terms, loose


def _label(unit: str) -> str:
    """The name a line starts with: a row's first value, or the words before a colon."""
    if _is_row(unit):
        first = re.split(r"[;；]", unit, maxsplit=1)[0]
        m = _ROW_CELL_RE.match(first.strip())
        return nfkc(m.group(2) if m else first).strip().lower()
    m = _LABEL_RE.match(nfkc(unit))
    return m.group(1).strip().lower() if m else ""


def _other_variants(units: list[str], concepts: list[Concept]) -> set[int]:
    """Lines named after another variant of what the question names: asked about '金卡', the
    lines named '金卡' answer, those named '白金卡' are about another card, though they contain it."""
    # a name and its parts: '标准信用卡·金卡' and '航空联名卡(金卡)' are named '金卡' too
    labels = [{lab, *(p.strip() for p in re.split(r"[·・/()（）]", lab) if p.strip())} if lab else set()
              for lab in map(_label, units)]
    # Chinese names only: English compounds are spaced ('platinum card' is the platinum one)
    named = [{n.lower() for n in [c.word, *c.alts] if len(n) >= 2 and re.search(r"[\u3400-\u9fff]", n)}
             for c in concepts if c.pattern is None]
    asked = set().union(*named) if named else set()
    out: set[int] = set()
    for names in named:
        if not any(parts & names for parts in labels):
            continue
        # a line named after something else the question names ('那白金卡呢' after '金卡') stays
        out |= {i for i, parts in enumerate(labels)
                if parts and not parts & asked and any(len(p) <= 24 and p.endswith(n) for p in parts for n in names)}
    return out


def _named_in_brackets_only(unit: str, concepts: list[Concept]) -> bool:
    """The line's name holds a name the question names only in brackets, as the tier of another item."""
    label = _label(unit)
    if not label or not re.search(r"[(（]", label):
        return False
    outside = re.sub(r"[(（][^)）]*[)）]", " ", label)
    named = [c for c in concepts if c.pattern is None and len(c.word) >= 2]
    return any(c.found_in(label, set()) and not c.found_in(outside, set()) for c in named) and \
        not any(c.found_in(outside, set()) for c in named)


def _head(label: str) -> str:
    """What a name is a kind of: its last word ('gold card' -> 'card'), or last character ('金卡' -> '卡')."""
    label = re.sub(r"\s*[(（][^)）]*[)）]\s*$", "", label) or label
    words = label.split()
    if words and words[-1].isascii():
        return words[-1]
    return label[-1:]


def _names_concept(label: str, concepts: list[Concept]) -> bool:
    # a one-character word ('卡') names nothing in particular
    return any(c.found_in(label, set()) for c in concepts if c.pattern is None and len(c.word) >= 2)


def _amounts(text: str) -> set[str]:
    """The numbers of a line, '1万' as 10000, so a line and its translation compare."""
    t = re.sub(r"(\d+(?:\.\d+)?)\s*万", lambda m: str(round(float(m.group(1)) * 10_000)), nfkc(text))
    return numbers_in(t)


# a row's cells: split where the next cell's header starts ('项目:扣款日;规则:每月1日至28日;周一至周五'
# is two cells, the second value holding a semicolon of its own)
_CELL_SPLIT_RE = re.compile(r"[;；](?=[^;；:：]{1,24}[:：])")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _CELL_SPLIT_RE.split(line) if c.strip()]


def readable_row(line: str, lang: str) -> str:
    """'存款品种:整存整取;存期:1年;年利率:1.30%' -> '整存整取，存期：1年，年利率：1.30%'."""
    cells = _cells(line)
    if len(cells) < 2 or not all(_ROW_CELL_RE.match(c) for c in cells):
        return line
    out = []
    for i, c in enumerate(cells):
        m = _ROW_CELL_RE.match(c)
        assert m is not None
        key, value = m.group(1).strip(), m.group(2).strip()
        if re.fullmatch(r"[-—–/]*", value):
            continue  # an empty cell ('—') says nothing
        # the row's name stands alone ('整存整取'); every other value needs its header ('年利率 1.30%',
        # '附属卡年费 免收'); a number does even first ('产品代码 XH-TD1Y')
        named = (i > 0 or re.search(r"\d", value)) and key not in value and key.lower() not in _GENERIC_KEYS
        out.append((f"{key}：{value}" if lang == "zh" else f"{key}: {value}") if named else value)
    return ("，" if lang == "zh" else ", ").join(out)


def _is_row(line: str) -> bool:
    cells = _cells(line)
    return len(cells) >= 2 and all(_ROW_CELL_RE.match(c) for c in cells)


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
           title: str = "", secondary_rate: bool = False, count: re.Pattern[str] | None = None,
           phrases: list[re.Pattern[str]] | None = None) -> float:
    low = nfkc(unit).lower()
    toks = set(tokenize(unit))
    sc = 0.0
    in_line = False
    for c in concepts:
        here = c.found_in(low, toks)
        in_line = in_line or here
        if here or c.found_in(title, set()):
            sc += c.weight  # the document's title sets the subject for every line of it
        elif c.found_in(head, set()):
            sc += c.weight * 0.5  # a row of the large-CD table is about large CDs
    # the fact asked is one about something the question names in the line itself: 'when can I transfer
    # the large CD' is not answered by the CD's issue dates, a line naming nothing asked
    if kinds and in_line and any(ASKS[k][1].search(unit) for k in kinds):
        sc *= 1.6
        if "condition" in kinds and _REQUIREMENT_RE.search(unit) and not _NOT_APPLY_RE.search(unit):
            # 'what does it take to waive the fee': the line saying what it takes ('满6笔'), before one
            # saying only that it is waived ('首年免年费') or that a rule does not apply
            sc *= 1.3
    elif kinds and any(k in kinds for k in ("rate", "fee", "limit", "period", "date", "phone")):
        sc *= 0.7  # a number was asked for and this line has none of that kind
    if phrases and any(p.search(low) for p in phrases):
        sc *= 1.25  # 'Equity funds' for 'what risk level are equity funds'
    if count is not None:
        sc *= 1.8 if count.search(nfkc(unit)) else 0.6  # '几台设备': the line with '3台', not '5,000元'
    if numbers:
        matched = sum(1 for c in numbers if c.found_in(low, set()))
        sc *= 1.0 + matched if matched else 0.35  # '1年' wants the 1-year row, not the 2-year one
    if _ASIDE_RE.search(unit):
        sc *= 0.5
    if secondary_rate and _SECONDARY_RATE_RE.search(unit):
        sc *= 0.4  # the overdue penalty rate is not the rate asked
    if kinds and _is_row(unit) and _labels_name(unit, concepts):
        sc *= 1.3  # the row's label names what is asked ('起存金额: 20万元')
    return sc / (1.0 + len(unit) / 300)


def _labels_name(row: str, concepts: list[Concept]) -> bool:
    cells = _cells(row)
    label = nfkc(" ".join(cells[:-1]) if len(cells) > 1 else row).lower()
    # a one-character word ('卡') names nothing in particular
    return any(c.found_in(label, set()) for c in concepts if c.pattern is None and len(c.word) >= 2)


Scored = tuple[float, int, int, str]  # score, hit index, unit index, text


def compose(question: str, pool: list[Hit], bm25: BM25Index, lang: str) -> Composed:
    """`pool`: the best passages, first the one retrieval ranks first, then the rest of its document."""
    concepts = analyze(question, bm25)
    kinds = asked_kinds(question)
    # a penalty is not the product's rate or amount ('能借多少' is not answered by the overdue surcharge)
    secondary_rate = bool({"rate", "limit"} & set(kinds)) and not _SECONDARY_RATE_RE.search(question)
    count = count_asked(question)
    phrases = _phrases(question)
    units = [(hi, ui, unit) for hi, h in enumerate(pool) for ui, unit in enumerate(_units(h))]
    if not units:
        return Composed([], 0)
    others = _off_subject(question, [u for _, _, u in units], concepts)
    scored: list[Scored] = []
    excluded: set[tuple[int, int]] = set()
    for i, (hi, ui, unit) in enumerate(units):
        h = pool[hi]
        head = nfkc(h.text.split("\n", 1)[0]).lower()
        title = nfkc(str(h.meta.get("title", ""))).lower()
        numbers = _number_concepts(concepts, title)
        # the retrieval chose the document; within it, the line that answers is found here
        rank_w = 1.0 if h.doc == pool[0].doc else 0.6
        # a bilingual document answers in the question's language where it can
        same = 1.3 if detect_language(unit) == lang else 1.0
        sc = _score(unit, head, concepts, kinds, numbers, title, secondary_rate, count, phrases) * rank_w * same
        if _named_in_brackets_only(unit, concepts):
            sc *= 0.9  # '航空联名卡(金卡)' is the airline card in its gold tier; '标准信用卡·金卡' is the gold card
        if i in others:
            sc *= 0.3
            excluded.add((hi, ui))
        scored.append((sc, hi, ui, unit))
    scored.sort(key=lambda x: -x[0])
    doc = pool[scored[0][1]].doc
    same_doc = [s for s in scored if pool[s[1]].doc == doc and (s[1], s[2]) not in excluded]
    lead = _in_language(scored[0], same_doc, lang)
    chosen = _with_support(lead, scored[0][0], same_doc, concepts)
    lines = [readable_row(u, lang) for _, _, _, u in chosen]
    counted = count.search(nfkc(lines[0])) if count is not None else None
    return Composed(lines, lead[1], [doc], facts=_facts_asked(lines[0], kinds, concepts), kinds=kinds,
                    count=re.sub(r"\s+", "", counted.group(0)) if counted else "")


def _facts_asked(line: str, kinds: list[str], concepts: list[Concept]) -> list[str]:
    """The facts of the lead; of several, those in the part of the line naming what the question
    names ('借记卡 400-…；信用卡 400-…' asked about the credit card: the second)."""
    facts = facts_of(line, kinds)
    if len(facts) < 2:
        return facts
    parts = [p for p in re.split(r"[;；。，]|,(?!\d{3})", nfkc(line)) if p.strip()]
    named = [c for c in concepts if c.pattern is None and len(c.word) >= 2]
    # a word every part names (the product of the whole line) does not tell the parts apart
    telling = [c for c in named if not all(c.found_in(p.lower(), set()) for p in parts)]
    keep = [f for p in parts if any(c.found_in(p.lower(), set()) for c in telling)
            for f in facts if f in re.sub(r"\s+", "", p)]
    keep = list(dict.fromkeys(keep))
    return keep if keep and len(keep) < len(facts) else facts


def _off_subject(question: str, units: list[str], concepts: list[Concept]) -> set[int]:
    """Lines about another variant or another term than the question names: asked about '1年'
    ('半年' = '6个月'), the rate sheet's 3-month row is about another term."""
    others = _other_variants(units, concepts)
    asked_terms, loose = _asked_terms(question)
    named = [terms_in(u) for u in units]
    # '一年' may mean 'per year': only a table row naming it picks it
    if not any(t & asked_terms and (not loose or _is_row(units[i])) for i, t in enumerate(named)):
        return others
    return others | {i for i, t in enumerate(named) if t and not t & asked_terms}


def _in_language(lead: Scored, same_doc: list[Scored], lang: str) -> Scored:
    """A line in another language than the question's: the document's line in the question's
    language that says the same (the same numbers), when it has one."""
    if detect_language(lead[3]) == lang:
        return lead
    amounts = _amounts(lead[3])
    for s in same_doc:
        if s[0] < lead[0] * 0.3:
            break
        if s is lead or detect_language(s[3]) != lang:
            continue
        if (amounts and amounts <= _amounts(s[3])) or (not amounts and s[0] >= lead[0] * 0.75):
            return s
    return lead


def _with_support(lead: Scored, top: float, same_doc: list[Scored], concepts: list[Concept]) -> list[Scored]:
    """The lead, then at most MAX_SUPPORT lines of its document in its language, in document order."""
    chosen = [lead]
    # the lead is named after what the question names ('Gold card: …'): a line named after
    # something else ('Platinum card: …') is about another item of the list
    lead_label = _label(lead[3])
    named_lead = bool(lead_label) and _names_concept(lead_label, concepts)
    lead_lang = detect_language(lead[3])
    for s in same_doc:
        unit = s[3]
        if len(chosen) > MAX_SUPPORT or s[0] < top * 0.55:
            break
        if any(unit == c[3] or unit in c[3] or c[3] in unit for c in chosen):
            continue
        label = _label(unit)
        if named_lead and label and label != lead_label and _head(label) == _head(lead_label) \
                and not _names_concept(label, concepts):
            continue
        if detect_language(unit) != lead_lang:
            continue  # a bilingual document: the supporting lines in the lead's language only
        chosen.append(s)
    # the lead stays first; the supporting lines keep their document order
    return [lead, *sorted(chosen[1:], key=lambda x: (x[1], x[2]))]


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
    r"\b[A-Z]{1,3}\d{1,2}\b|T\s*\+\s*\d+|(?<![A-Za-z0-9-])[A-Z][A-Z0-9-]{5,}(?![A-Za-z0-9-])|(?<![\d:])\d{1,2}:\s?\d{2}(?![\d:])|"
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


_EN_LEADS = {"code": "The code is {}.", "rate": "The rate is {}.", "fee": "The fee is {}.",
             "limit": "The amount is {}.", "period": "The period is {}.", "date": "The date is {}.",
             "hours": "The hours are {}.", "phone": "The number is {}."}


def english_lead(composed: Composed, effective: str = "") -> str:
    """An English first line from the facts of a Chinese line: 'The rate is 1.30% (effective 2026-06-01).'
    Only what reads as one answer makes a sentence (one fact of the kind asked, or a range); facts of
    several kinds glued together ('T+0, 10,000 yuan, T+1') would mislead: a plain lead instead."""
    plain = "Here is what the bank's document says."
    if composed.count:
        number = re.match(r"\d+", composed.count)
        unit = composed.count[number.end():] if number else ""
        said = fact_in_english(composed.count) if any(unit == zh for zh, _en in _UNITS_EN) else composed.count[
            : number.end()] if number and not unit.isascii() else composed.count
        return f"The number is {said}."
    raw = composed.facts
    if not raw:
        return plain
    line = re.sub(r"\s+", "", nfkc(composed.lines[0]))
    kind = next((k for k in composed.kinds if k in _EN_LEADS and any(ASKS[k][1].search(f) for f in raw)), "")
    if not kind:
        return f"In short: {fact_in_english(raw[0])}." if len(raw) == 1 else plain
    of_kind = list(dict.fromkeys(f for f in raw if ASKS[kind][1].search(f)))
    of_kind = [f for i, f in enumerate(of_kind) if fact_in_english(f) not in map(fact_in_english, of_kind[:i])]
    # ranges: '9:00-17:00', or several ('9:00-17:00 on weekdays, 9:30-16:00 at weekends')
    spans = [(a, b) for a, b in zip(of_kind[::2], of_kind[1::2], strict=False)
             if re.search(re.escape(a) + r"\s*(?:至|到|~|～|—|-|to)\s*" + re.escape(b), line)]
    ranged = bool(of_kind) and len(of_kind) % 2 == 0 and len(spans) == len(of_kind) // 2
    if any(not ASKS[kind][1].search(f) for f in raw) and len(of_kind) != 1 and not ranged:
        return plain  # facts of other kinds too: which one answers is not clear
    said = "; ".join(f"{fact_in_english(a)} to {fact_in_english(b)}" for a, b in spans) if ranged \
        else ", ".join(fact_in_english(f) for f in of_kind)
    lead = _EN_LEADS[kind].format(said)
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
