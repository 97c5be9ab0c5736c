"""What a question asks about: its concepts, each with the words a document may use for it
and a weight (rarer words and nouns weigh more). Used by the grounding check and by the
extractive answer, so both reason about the same words."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from knowledge.bm25 import BM25Index
from knowledge.glossary import GLOSSARY, ZH_SYNONYMS, cn_numerals_to_digits
from knowledge.text import EN_STOP, ZH_STOP, _stem, get_jieba, normalize_query, tokenize

_EN_EXTRA_STOP = {
    "right", "now", "currently", "current", "only", "use", "using", "get", "got", "like", "also", "just",
    "thank", "thanks", "hi", "hello", "dear", "let", "ok", "okay", "there", "any", "way", "rated", "im",
    "i'm", "it's", "what's", "whats", "much", "many", "long", "does", "do", "yes", "still", "anyone",
    "someone", "somebody", "else", "something", "anything", "ever", "really", "possible", "able", "happen",
    "happens", "ways", "kind", "sort", "there's", "thing", "things", "tell", "explain",
}
_ASK_WORDS = {"最低", "最少", "起步", "最多", "最高", "最长", "钱", "minimum", "maximum", "max", "min", "most", "least"}
_POS_WEIGHT = {"n": 1.0, "v": 0.6, "a": 0.5}
_FUNCTION_CHARS = set("能是有会可要吗呢吧了的得在都也就还又")
_PREFIX_LEN = 6


@dataclass
class Concept:
    word: str
    alts: list[str] = field(default_factory=list)
    weight: float = 1.0
    parts: list[str] = field(default_factory=list)  # sub-words of an unknown compound
    strict: bool = False  # a noun no document uses: the passages must contain it
    pattern: re.Pattern[str] | None = None  # numbers: matched with number boundaries
    ask: bool = False  # says what is asked ('最多'), not what about: it picks lines, it hardly grounds

    def found_in(self, text: str, tokens: set[str]) -> bool:
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        if self.word in tokens or self.word in text:
            return True
        if any(a in text for a in self.alts):
            return True
        if self.word.isascii() and len(self.word) > _PREFIX_LEN and self.word[:_PREFIX_LEN] in text:
            return True
        return bool(self.parts) and all(p in text for p in self.parts)


def _idf(bm25: BM25Index, term: str) -> float:
    n = max(len(bm25), 1)
    df = bm25.df(term)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _typo_candidates(bm25: BM25Index, word: str, limit: int = 2) -> list[str]:
    """Known words of the same length differing in one character ('年废' -> '年费')."""
    if not (2 <= len(word) <= 4) or word.isascii():
        return []
    jieba = get_jieba()
    if jieba.dt.FREQ.get(word):  # a real word, not a typo
        return []
    best: list[tuple[int, str]] = []
    for term, post in list(bm25._postings.items()):  # noqa: SLF001 - same package; a copy: writers run meanwhile
        if len(term) != len(word) or term.startswith("§") or term.isascii():
            continue
        diff = sum(a != b for a, b in zip(term, word, strict=True))
        if diff == 1 and _sounds_alike(term, word):
            best.append((len(post), term))
    best.sort(reverse=True)
    return [t for _, t in best[:limit]]


def _sounds_alike(a: str, b: str) -> bool:
    """Chinese typos are mostly homophones picked from the input method ('年废' for '年费')."""
    try:
        from pypinyin import lazy_pinyin
    except ImportError:  # pragma: no cover - without pinyin any one-character difference counts
        return True
    return lazy_pinyin(a) == lazy_pinyin(b)


_EN_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
               "nine": "9", "ten": "10", "twelve": "12", "a": "1", "an": "1"}
_EN_UNITS = {"year": "年", "yr": "年", "month": "个月", "day": "天", "week": "周", "working day": "个工作日"}
_EN_TERM_RE = re.compile(r"\b(\d+|" + "|".join(_EN_NUMBERS) + r")[- ]?(working day|year|yr|month|day|week)s?\b", re.I)


def prepare(question: str) -> str:
    """Normalised question with numbers as documents write them: '一年' -> '1年', '半年' -> '6个月',
    and an English term ('5-year', 'six months') followed by its Chinese form ('5年', '6个月')."""
    q = cn_numerals_to_digits(normalize_query(question))
    q = re.sub(r"半年(?!度)", "6个月", q)
    terms = [_EN_NUMBERS.get(m[1].lower(), m[1]) + _EN_UNITS[m[2].lower()] for m in _EN_TERM_RE.finditer(q)]
    return q + (" " + " ".join(dict.fromkeys(terms)) if terms else "")


_ANALYZED_MAX = 2048
_analyzed: OrderedDict[tuple[str, int, int], tuple[Concept, ...]] = OrderedDict()
_analyzed_lock = threading.Lock()


def analyze(question: str, bm25: BM25Index) -> list[Concept]:
    """The question's concepts. One answer asks for them several times (the lexical query, the
    re-ranking, the grounding check, the extractive answer): computed once per question text and
    index contents (part-of-speech tagging is most of a question's analysis), then shared. The
    concepts are read, never changed, by every caller."""
    key = (question, bm25.uid, bm25.version)
    with _analyzed_lock:
        hit = _analyzed.get(key)
        if hit is not None:
            _analyzed.move_to_end(key)
            return list(hit)
    concepts = _analyze(question, bm25)
    with _analyzed_lock:
        _analyzed[key] = tuple(concepts)
        while len(_analyzed) > _ANALYZED_MAX:
            _analyzed.popitem(last=False)
    return concepts


def _analyze(question: str, bm25: BM25Index) -> list[Concept]:
    q = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", prepare(question).lower())
    seen: set[str] = set()
    concepts = _number_concepts(q, seen)
    phrases, q = _english_phrase_concepts(q, bm25, seen)
    concepts += phrases
    concepts += _english_word_concepts(q, bm25, seen)
    concepts += _chinese_concepts(q, bm25, seen)
    return concepts


def _number_concepts(q: str, seen: set[str]) -> list[Concept]:
    """Numbers with their unit ('1年', '90天', '5000元') are precise concepts."""
    concepts: list[Concept] = []
    for m in re.finditer(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(个月|年|天|日|万|元|块|笔|次|%|小时|个工作日)", q):
        num, unit = m.group(1), m.group(2)
        unit_alts = {"块": "元", "日": "天"}.get(unit, unit)
        units = "(?:" + re.escape(unit) + "|" + re.escape(unit_alts) + ")"
        rx = r"(?<![\d.])" + re.escape(num) + r"\s*" + units
        if num == "1":  # '一年' often means 'per year' ('每年')
            rx += r"|[每一单]" + units
        concepts.append(Concept(num + unit, [], 2.5 if num != "1" else 0.5, pattern=re.compile(rx)))
        seen.add(num)
    return concepts


def _english_phrase_concepts(q: str, bm25: BM25Index, seen: set[str]) -> tuple[list[Concept], str]:
    """The glossary's English phrases in the question, and the question without them."""
    concepts: list[Concept] = []
    for key in sorted(GLOSSARY, key=len, reverse=True):
        if " " in key and re.search(r"(?<![a-z])" + re.escape(key) + r"(?:e?s)?(?![a-z])", q):
            c = Concept(key, [z.lower() for z in GLOSSARY[key]], 1.0)
            c.weight = max(_idf(bm25, t) for t in [*c.alts, key]) if len(bm25) else 1.0
            # a term the glossary knows that no document uses in either language ('cooling-off
            # period'): the passages must contain it, like a Chinese noun no document uses
            words = [_stem(w) for w in key.split() if w not in EN_STOP]
            c.strict = bool(len(bm25)) and not any(bm25.df(a) for a in c.alts) and any(
                not bm25.df(w) for w in words)
            concepts.append(c)
            seen.update(key.split())
            q = re.sub(r"(?<![a-z])" + re.escape(key) + r"(?:e?s)?(?![a-z])", " ", q)
    return concepts, q


def _english_word_concepts(q: str, bm25: BM25Index, seen: set[str]) -> list[Concept]:
    concepts: list[Concept] = []
    for m in re.finditer(r"[a-z]+\d[a-z\d]*|[a-z][a-z']*|\d+(?:\.\d+)?%?", q):
        w = m.group(0)
        if w in seen or w in EN_STOP or w in _EN_EXTRA_STOP or len(w) < 2 and not w.isdigit():
            continue
        seen.add(w)
        stem = _stem(w)
        alts = [z.lower() for z in GLOSSARY.get(w, GLOSSARY.get(stem, []))]
        known = [t for t in [stem, w, *alts] if bm25.df(t)]
        weight = max((_idf(bm25, t) for t in known), default=_idf(bm25, "\0"))
        # an English word no document uses and the glossary does not know: it may be the topic
        # ('mortgage') or just a word the documents phrase differently; it weighs, it does not veto
        concepts.append(Concept(stem, [w, *alts], weight * (0.5 if w.isdigit() else 1.0), ask=w in _ASK_WORDS))
    return concepts


def _chinese_concepts(q: str, bm25: BM25Index, seen: set[str]) -> list[Concept]:
    """Chinese: question words with document synonyms, then the words with their part of speech."""
    import jieba.posseg as pseg

    get_jieba()
    concepts: list[Concept] = []
    for run in re.findall(r"[\u3400-\u9fff]+", q):
        concepts += _synonym_concepts(run, bm25, seen)
        prev_word = ""
        for pair in pseg.lcut(run):
            w, flag = pair.word, pair.flag
            prev_word, before = w, prev_word
            if w in seen or (w in ZH_STOP and not ZH_SYNONYMS.get(w)):
                continue
            if len(w) == 1 and w in "的了吗呢吧啊呀么嘛哦是在有和都也就还又要会能":
                continue
            seen.add(w)
            concepts.append(_chinese_word_concept(w, flag, before, q, bm25))
    return concepts


def _synonym_concepts(run: str, bm25: BM25Index, seen: set[str]) -> list[Concept]:
    """Question words with document synonyms, whatever the segmentation ('最多' -> '最' '多')."""
    concepts: list[Concept] = []
    for key, alts in ZH_SYNONYMS.items():
        if len(key) >= 2 and alts and key in run and key not in seen:
            seen.add(key)
            known = [t for t in alts if bm25.df(t)]
            weight = max((_idf(bm25, t) for t in known), default=1.0) * 0.6
            concepts.append(Concept(key, list(alts), weight, ask=key in _ASK_WORDS))
    return concepts


def _chinese_word_concept(w: str, flag: str, prev_word: str, q: str, bm25: BM25Index) -> Concept:
    """One segmented word (`flag`: its part of speech; `prev_word`: the word before it in the run)."""
    pos = _POS_WEIGHT.get(flag[:1], 0.3)
    if flag in ("vn", "nz", "eng") or flag.startswith("n"):
        pos = 1.0
    alts = list(ZH_SYNONYMS.get(w, []))
    parts: list[str] = []
    if not bm25.df(w):
        alts += _typo_candidates(bm25, w)
        if len(w) == 1 and prev_word and prev_word not in ZH_STOP:
            alts += [t for t in _typo_candidates(bm25, prev_word + w, 5) if t[:-1] == prev_word]
        parts = [t for t in tokenize(w) if not t.startswith("§") and t != w and len(t) < len(w)]
    known = [t for t in [w, *alts] if bm25.df(t)]
    idf = max((_idf(bm25, t) for t in known), default=_idf(bm25, "\0"))
    if len(w) == 1:
        pos *= 0.6
    # a two-character piece no dictionary knows, glued to a modal or particle ('贷能' of '易贷能借多少',
    # '费有', '能代'): a segmentation fragment, not a topic
    fragment = not known and len(w) == 2 and (w[0] in _FUNCTION_CHARS or w[1] in _FUNCTION_CHARS) \
        and not get_jieba().dt.FREQ.get(w)
    if not known and (not flag.startswith("n") or fragment):
        # colloquial words no document uses ('咋', '停掉', '一两天') say little about the topic
        idf = min(idf, 2.0) * 0.5
    noun = flag.startswith("n") or flag == "nz"
    # jieba glues a unit to the next character after a number ('180天能' -> '天能'): not a topic
    glued = w[0] in "天年月日元万个次笔期号" and re.search(r"\d" + re.escape(w), q) is not None
    # only a real word vetoes: segmentation fragments ('费有', '化是', '能代') are not topics
    real = bool(get_jieba().dt.FREQ.get(w))
    strict = noun and len(w) >= 2 and not known and flag != "vn" and not glued and real
    return Concept(w, alts, idf * pos, parts, strict)


def expansion_terms(question: str) -> list[str]:
    """Extra words for the lexical query: Chinese synonyms of the question's words."""
    q = prepare(question)
    out: list[str] = []
    for w in tokenize(q):
        for a in ZH_SYNONYMS.get(w, []):
            if a not in out:
                out.append(a)
    return out
