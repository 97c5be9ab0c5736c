"""Text helpers shared by chunking, BM25 and answering: language, tokens, sentences, numbers."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Protocol

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD_RE = re.compile(r"[A-Za-z]+")
# sentence ends for Chinese and English, keeping the punctuation with its sentence; an English ";" joins two
# halves of one sentence ("… refunded after checks; report to the police within 24 hours"), a Chinese "；" ends one
SENTENCE_END_RE = re.compile(r"(?<=[。！？!?；])|(?<=[.])(?=\s)")
NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")



class _JiebaDictionary(Protocol):
    FREQ: dict[str, int]  # word -> frequency; a word jieba knows has one


class Jieba(Protocol):
    """The part of jieba (the Chinese word segmenter, untyped) that the knowledge base uses."""

    dt: _JiebaDictionary

    def lcut(self, sentence: str) -> list[str]: ...

    def lcut_for_search(self, sentence: str, HMM: bool = True) -> list[str]: ...


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


_jieba_lock = threading.Lock()
_jieba: Jieba | None = None

def _words(text: str) -> list[str]:
    return text.split()


# words that carry no meaning for retrieval (question words, particles, polite forms)
ZH_STOP = frozenset(
    _words(
        """
    的 了 吗 呢 吧 啊 呀 么 嘛 哦 哈 是 在 有 和 与 及 或 都 也 就 还 又 要 会 能 可 可以 请 请问 一下 一个 个 这 那
    这个 那个 什么 怎么 怎么样 怎样 如何 多少 几 哪 哪个 哪些 哪里 为什么 咋 咋办 咋算 啥 你们 你 我 我们 他 她 它 您
    银行 本行 想 想要 需要 知道 问 问下 一下子 现在 目前 最 最多 最少 多 少 上 下 中 给 把 被 让 对 从 到 向 如果
    没有 不 没 办 能不能 可不可以 块 元 呗 嗯 自己 时候 之后 以后 以前 已经 然后 还是 但是 因为 所以 一般 这样 那样
    这么 那么 哟 得 地 着 过 等 等等 不会 会不会 才 才能 别人 多久"""
    )
)
EN_STOP = frozenset(
    _words(
        """
    a an the is are was were be been being am do does did doing have has had i me my we our you your he she it its
    they them their what which who whom this that these those of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now much many if or and but as please tell know want need could would bank"""
    )
)


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def detect_language(text: str) -> str:
    """'zh' when the text has a real share of Chinese characters, else 'en'."""
    sample = text[:4000]
    cjk = len(CJK_RE.findall(sample))
    latin = len(LATIN_WORD_RE.findall(sample))
    if cjk == 0:
        return "en"
    # one Chinese character carries about as much as one English word
    return "zh" if cjk >= latin * 0.5 else "en"


_t2s: _Converter | None = None
_t2s_tried = False


def _t2s_converter() -> _Converter | None:  # pragma: no cover - depends on an optional package
    """OpenCC's Traditional-to-Simplified converter, or None when OpenCC is not installed."""
    global _t2s, _t2s_tried
    if not _t2s_tried:
        try:
            import opencc

            _t2s = opencc.OpenCC("t2s")
        except Exception:  # noqa: BLE001 - optional: fall back to a small built-in table
            _t2s = None
        _t2s_tried = True
    return _t2s


# the commonest traditional characters of banking questions, used when OpenCC is not installed
_T2S_TABLE = str.maketrans(
    "銀行卡帳戶轉賬號碼會員費額貸款還掛護動務費鐘時間問題請個們這麼為從將對開證辦據種類點數關於與進錢幣滙匯"
    "億萬單續營業戶頭標準電話網絡線聯繫機構區域買賣價評險級風產財經濟稅務養老險種額現後實際當該應頁碼圖書館簡體繁體"
    "讓說話記錄條規則製造廣東華東會計師專員設備歲數長餘額還清結餘詢查詢密碼驗證碼簽約終止變更損壞補發換領",
    "银行卡帐户转账号码会员费额贷款还挂护动务费钟时间问题请个们这么为从将对开证办据种类点数关于与进钱币汇汇"
    "亿万单续营业户头标准电话网络线联系机构区域买卖价评险级风产财经济税务养老险种额现后实际当该应页码图书馆简体繁体"
    "让说话记录条规则制造广东华东会计师专员设备岁数长余额还清结余询查询密码验证码签约终止变更损坏补发换领",
)


def to_simplified(text: str) -> str:
    conv = _t2s_converter()
    if conv:
        return conv.convert(text)
    return text.translate(_T2S_TABLE)


def normalize_query(text: str) -> str:
    return to_simplified(nfkc(text)).strip()


def get_jieba() -> Jieba:
    """jieba, initialised once per process with the banking words (thread-safe)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                for word in DOMAIN_WORDS:
                    jieba.add_word(word, freq=20000)
                for word in DOMAIN_NOUNS:
                    jieba.add_word(word, freq=20000, tag="n")
                _jieba = jieba
    assert _jieba is not None
    return _jieba


# banking words jieba's default dictionary splits badly
DOMAIN_WORDS = [
    "大额存单", "通知存款", "整存整取", "零存整取", "活期存款", "定期存款", "手机银行", "网上银行", "信用卡", "借记卡",
    "年费", "免年费", "免息期", "最低还款", "分期", "挂失", "盗刷", "养老金", "个人养老金", "定投", "基金定投",
    "风险等级", "风险评估", "理财产品", "提前赎回", "提前支取", "提前还款", "违约金", "手续费", "转账限额", "验证码",
    "结售汇", "购汇", "外汇", "额度", "起购", "起存", "到账", "赎回", "申购", "认购", "业绩比较基准", "销售服务费",
    "托管费", "管理费", "白金卡", "金卡", "普卡", "征信", "宽限期", "临时挂失", "正式挂失", "境外",
]
# banking terms jieba splits and does not know as nouns ('冷静' + '期'): a question naming one is about it
DOMAIN_NOUNS = ["冷静期", "犹豫期"]

_TOKEN_SPLIT_RE = re.compile(
    r"[A-Za-z]+\d[A-Za-z\d]*|[A-Za-z]+(?:[-'][A-Za-z]+)*|\d+(?:\.\d+)?%?|[\u3400-\u9fff\uf900-\ufaff]+"
)


def _stem(word: str) -> str:
    """A light English stemmer: plurals and -ing/-ed ('fees' -> 'fee', 'transfers' -> 'transfer')."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suf in ("ing", "ed"):
        if len(word) > len(suf) + 3 and word.endswith(suf):
            return word[: -len(suf)]
    return word


@lru_cache(maxsize=4096)
def _cut_cjk(run: str) -> tuple[str, ...]:
    return tuple(get_jieba().lcut_for_search(run, HMM=True))


def tokenize(text: str, *, keep_stop: bool = False) -> list[str]:
    """Tokens for BM25: jieba words (search mode) plus character bigrams for Chinese, stemmed
    lower-case words for English, numbers as they are (with a % sign when they carry one)."""
    text = to_simplified(nfkc(text)).lower()
    out: list[str] = []
    for m in _TOKEN_SPLIT_RE.finditer(text):
        piece = m.group(0)
        first = piece[0]
        if first.isdigit():
            out.append(piece)
        elif first.isascii():
            if any(c.isdigit() for c in piece):  # a code: C3, R4, HGWY180018
                out.append(piece)
            elif keep_stop or piece not in EN_STOP:
                out.append(_stem(piece))
        else:
            words = _cut_cjk(piece)
            for w in words:
                if keep_stop or w not in ZH_STOP:
                    out.append(w)
            # bigrams make the index robust to segmentation differences and typos
            if len(piece) > 1:
                for i in range(len(piece) - 1):
                    bg = piece[i : i + 2]
                    if keep_stop or not (bg[0] in ZH_STOP and bg[1] in ZH_STOP):
                        out.append("§" + bg)
    return out


def content_terms(text: str) -> list[str]:
    """Meaningful words of a question (no bigrams, no stop words), deduplicated in order."""
    seen: list[str] = []
    for t in tokenize(text):
        if t.startswith("§"):
            continue
        if t not in seen:
            seen.append(t)
    return seen


def split_sentences(text: str) -> list[str]:
    """Sentences, line by line; never cut inside brackets ('(credit cards: …; from abroad …)' stays whole)."""
    sentences: list[str] = []
    for line in text.split("\n"):
        pending = ""
        for piece in SENTENCE_END_RE.split(line):
            pending += piece
            if _bracket_depth(pending) > 0:
                continue  # the sentence goes on past the bracket
            if pending.strip():
                sentences.append(pending.strip())
            pending = ""
        if pending.strip():
            sentences.append(pending.strip())
    return sentences


def _bracket_depth(text: str) -> int:
    return sum(text.count(c) for c in "(（[【") - sum(text.count(c) for c in ")）]】")


_ITEM_START_RE = re.compile(r"^(\d+[.、)]|[•·▪●\-*]|[（(]?[一二三四五六七八九十\d]+[)）、])\s*")


def led_lines(body: str) -> list[str]:
    """The non-empty lines of a passage (table rows, list items, sentences); a short line ending with a
    colon leads the lines after it ('柜台跨行转账：' + '1万元以下：5元/笔') until a new item starts, so they
    stay together. The lead-in lines themselves are not returned."""
    lines: list[str] = []
    lead = ""
    for raw in body.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line[-1] in ":：" and len(line) <= 60:
            lead = line
            continue
        if _ITEM_START_RE.match(line):
            lead = ""  # a new item: the lead-in is over
        lines.append(f"{lead} {line}" if lead else line)
    return lines


def numbers_in(text: str) -> set[str]:
    """Numbers written in the text, normalised (thousands separators removed, trailing zeros of
    decimals dropped), for the 'every number must appear in the passages' check."""
    found = set()
    for m in NUMBER_RE.finditer(nfkc(text)):
        raw = m.group(0)
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw):
            raw = raw.replace(",", "")
        for part in raw.split(","):
            if "." in part:
                part = part.rstrip("0").rstrip(".")
            if part:
                found.add(part)
    return found
