"""The understanding step: what a customer's message means, by example, offline, in Chinese and English.

A multinomial logistic regression over character n-grams (1-4: Chinese needs no word segmentation,
and typos or unseen inflections still share most n-grams) and English word uni/bigrams, fitted on
the example files in `knowledge/intents/` (`*.csv` with `text,label`, plus BANKING77 through its
label map). A bank extends the step by adding rows or files; nothing here names a keyword.

Labels are `intent` or `intent.sub` (`emergency.lost_card`, `personal.maturity`); an intent's
probability is the sum of its labels'. Fitting takes a few seconds, so `Understanding.start()` fits
in a thread at start-up and the weights are cached on disk, keyed by the hash of the data and of
this model's settings (a changed example file means a refit, never stale weights).

    understanding = Understanding.load()            # or .start() in the background
    result = understanding.classify("卡丢了怎么办")  # Intent(intent="emergency", kind="lost_card", ...)
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge.text import CJK_RE, LATIN_WORD_RE, to_simplified

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "intents"
BANKING77_FILE = "banking77/train.csv"
BANKING77_MAP = "banking77/labels.csv"
MODEL_VERSION = "lr-char14-word12-v1"

EMERGENCY = "emergency"
URGENT_INTENTS = frozenset({EMERGENCY})
# Below this, a message that is not an emergency goes to the documents (a question) rather than to
# a ticket, a canned reply or a refusal: a low-confidence guess must not send an ordinary question away.
MIN_CONFIDENCE = 0.5
# A possible emergency is treated as one: missing a stolen card costs far more than one needless
# hotline line, so the emergency intent wins from this probability on, even when it is not the top.
EMERGENCY_THRESHOLD = 0.25
INTENTS = ("emergency", "person", "complaint", "action", "optout", "thanks", "greeting", "abuse", "personal",
           "question", "out_of_scope")
GREETING = "greeting"
# A leading sentence that reads as a greeting at least this surely ("你好，", "Hello Mr Li,", "在吗？") is set
# aside when more follows: the message means what follows it. Only a short one is tried (a greeting is short).
GREETING_PREFIX_CONFIDENCE = 0.6
GREETING_PREFIX_MAX_CHARS = 24

_SPACE_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
# where a leading greeting can end: a pause or a sentence end (and the spaces after it)
_PAUSE_RE = re.compile(r"[,.;:!?~，。；：！？、～…]+\s*|\n\s*")
_EDGE_PUNCT_RE = re.compile(r"^[\W_]+|[\W_]+$")
_LEAD_PUNCT_RE = re.compile(r"^[\W_]+")
_LATIN_END_RE = re.compile(r"[a-z0-9]$")
_CONTENT_RE = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Intent:
    """What one message means. `kind` is the sub-label (emergency kind, personal topic) or ''."""

    intent: str
    kind: str
    confidence: float
    lang: str
    label: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # intent -> probability
    kinds: dict[str, str] = field(default_factory=dict)  # intent -> its most probable kind ('' for none)

    @property
    def urgent(self) -> bool:
        return self.intent in URGENT_INTENTS


def question_language(text: str, default: str = "zh") -> str:
    """The language a message is written in ('zh' | 'en'); `default` when it has no letters at all
    (digits, emoji): the reply language is the message's, not the chat's."""
    if text.lstrip().startswith("/"):
        return default  # a command says nothing of the language
    cjk = len(CJK_RE.findall(text))
    latin = sum(len(w) for w in LATIN_WORD_RE.findall(text))
    if cjk == 0 and latin <= 3:
        return default  # "TD", "ok", "6": too little to tell
    # a Chinese character carries about as much as an English word of ~4 letters
    return "zh" if cjk * 4 >= latin * 0.7 else "en"


def normalize(text: str) -> str:
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return _SPACE_RE.sub(" ", text).strip()


def features(text: str) -> Counter[str]:
    """Character 1-4-grams of the normalised text and English word 1-2-grams."""
    norm = normalize(text)
    padded = f" {norm} "
    grams: Counter[str] = Counter()
    for n in (1, 2, 3, 4):
        for i in range(len(padded) - n + 1):
            gram = padded[i:i + n]
            if gram.strip():
                grams[gram] += 1
    words = _WORD_RE.findall(norm)
    for i, word in enumerate(words):
        grams["w:" + word] += 1
        if i:
            grams["b:" + words[i - 1] + " " + word] += 1
    return grams


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def load_examples(data_dir: Path = DATA_DIR) -> list[Example]:
    """Every `*.csv` (columns `text,label`) under `data_dir`, plus BANKING77 mapped through its label
    map (a category mapped to nothing is left out)."""
    examples: list[Example] = []
    for path in sorted(data_dir.glob("*.csv")):
        for row in _read_csv(path.read_text(encoding="utf-8")):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if text and label:
                examples.append(Example(text, label))
    b77, b77_map = data_dir / BANKING77_FILE, data_dir / BANKING77_MAP
    if b77.exists() and b77_map.exists():
        mapping = {r["category"]: r["label"] for r in _read_csv(b77_map.read_text(encoding="utf-8")) if r.get("label")}
        for row in _read_csv(b77.read_text(encoding="utf-8")):
            mapped = mapping.get(row.get("category", ""))
            if mapped and row.get("text"):
                examples.append(Example(row["text"].strip(), mapped))
    return examples


def data_hash(examples: Sequence[Example]) -> str:
    h = hashlib.sha256(MODEL_VERSION.encode())
    for ex in examples:
        h.update(f"{ex.label}\t{ex.text}\n".encode())
    return h.hexdigest()[:24]


# ----------------------------------------------------------------------------- model


@dataclass
class Model:
    vocab: dict[str, int]
    idf: np.ndarray  # (features,)
    weights: np.ndarray  # (features, labels)
    bias: np.ndarray  # (labels,)
    labels: list[str]

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, tf-idf values, L2-normalised) of one message."""
        grams = features(text)
        idx = [self.vocab[g] for g in grams if g in self.vocab]
        if not idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ix = np.fromiter(idx, dtype=np.int64, count=len(idx))
        tf = np.fromiter((1.0 + math.log(grams[g]) for g in grams if g in self.vocab), dtype=np.float32,
                         count=len(idx))
        val = tf * self.idf[ix]
        val /= float(np.linalg.norm(val)) or 1.0
        return ix, val

    def probabilities(self, text: str) -> np.ndarray:
        ix, val = self.vector(text)
        logits = self.bias + (val @ self.weights[ix] if len(ix) else 0.0)
        logits = logits - logits.max()
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum())

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        words = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        np.savez(tmp, words=words, idf=self.idf, weights=self.weights, bias=self.bias,
                 labels=np.array(self.labels, dtype=object))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> Model:
        data = np.load(path, allow_pickle=True)
        words = [str(w) for w in data["words"]]
        return cls({w: i for i, w in enumerate(words)}, data["idf"], data["weights"], data["bias"],
                   [str(x) for x in data["labels"]])


def _matrix(grams: Sequence[Counter[str]], vocab: dict[str, int], idf: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (indptr, indices, values) of L2-normalised tf-idf rows."""
    indptr, cols, vals = [0], [], []
    for g in grams:
        ix = [vocab[w] for w in g if w in vocab]
        v = np.array([(1.0 + math.log(g[w])) for w in g if w in vocab], dtype=np.float32) * idf[ix]
        v /= float(np.linalg.norm(v)) or 1.0
        cols.extend(ix)
        vals.append(v)
        indptr.append(len(cols))
    return np.asarray(indptr, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.concatenate(vals)


def fit(examples: Sequence[Example], *, epochs: int = 14, batch: int = 128, l2: float = 1e-6, lr: float = 0.02,
        emergency_weight: float = 1.5, seed: int = 7) -> Model:
    """Multinomial logistic regression, mini-batch Adam over the sparse tf-idf rows (numpy only).
    Every intent weighs the same in total (a small intent counts as much as a big one), the
    emergency intent `emergency_weight` times more: a missed emergency is the costly mistake."""
    grams = [features(ex.text) for ex in examples]
    df: Counter[str] = Counter()
    for g in grams:
        df.update(g.keys())
    words = sorted(df)
    vocab = {w: i for i, w in enumerate(words)}
    n = len(examples)
    idf = np.array([math.log((1 + n) / (1 + df[w])) + 1.0 for w in words], dtype=np.float32)
    labels = sorted({ex.label for ex in examples})
    label_ix = {lab: i for i, lab in enumerate(labels)}
    indptr, cols, vals = _matrix(grams, vocab, idf)
    y = np.array([label_ix[ex.label] for ex in examples])
    intents = [ex.label.split(".", 1)[0] for ex in examples]
    per_intent = Counter(intents)
    sample_w = np.array([(emergency_weight if i == EMERGENCY else 1.0) / per_intent[i] for i in intents],
                        dtype=np.float32)
    sample_w *= n / sample_w.sum()

    d, k = len(vocab), len(labels)
    weights = np.zeros((d, k), dtype=np.float32)
    counts = np.bincount(y, minlength=k).astype(np.float32)
    bias = np.log(counts / counts.sum()).astype(np.float32)
    m_w, v_w, m_b, v_b = np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)
    b1, b2, eps = 0.9, 0.999, 1e-8
    rng = np.random.default_rng(seed)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            lengths = indptr[rows + 1] - indptr[rows]
            offsets = np.repeat(indptr[rows] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
            nz = np.arange(int(lengths.sum())) + offsets
            col, val = cols[nz], vals[nz]
            row_of = np.repeat(np.arange(len(rows)), lengths)
            bounds = np.r_[0, np.cumsum(lengths)[:-1]]
            logits = np.add.reduceat(val[:, None] * weights[col], bounds, axis=0) + bias
            logits -= logits.max(axis=1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(axis=1, keepdims=True)
            prob[np.arange(len(rows)), y[rows]] -= 1.0
            g = prob * (sample_w[rows] / len(rows))[:, None]
            # X^T g for the touched features: sort by feature, one reduceat
            srt = np.argsort(col, kind="stable")
            col_s = col[srt]
            first = np.flatnonzero(np.r_[True, col_s[1:] != col_s[:-1]])
            touched = col_s[first]
            grad = np.add.reduceat(val[srt, None] * g[row_of[srt]], first, axis=0) + l2 * weights[touched]
            step += 1
            c1, c2 = 1 - b1 ** step, 1 - b2 ** step
            # lazy Adam: only the rows this batch touched move (the others' gradient is only the tiny L2)
            m_w[touched] = b1 * m_w[touched] + (1 - b1) * grad
            v_w[touched] = b2 * v_w[touched] + (1 - b2) * grad * grad
            weights[touched] -= lr * (m_w[touched] / c1) / (np.sqrt(v_w[touched] / c2) + eps)
            grad_b = g.sum(axis=0)
            m_b = b1 * m_b + (1 - b1) * grad_b
            v_b = b2 * v_b + (1 - b2) * grad_b * grad_b
            bias -= lr * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
    return Model(vocab, idf, weights, bias, labels)


# ----------------------------------------------------------------------------- the step


def _cache_dir() -> Path:
    root = os.environ.get("RMBOT_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "rmbot-cache")
    return Path(root) / "intents"


def greeting_phrases(examples: Iterable[Example]) -> tuple[str, ...]:
    """The greetings the examples list ("你好", "good morning", "王经理好"), normalised, without their
    punctuation, longest first: what a message may open with, glued to what follows ("你好请问...")."""
    found = {_EDGE_PUNCT_RE.sub("", normalize(ex.text)) for ex in examples if ex.label.split(".", 1)[0] == GREETING}
    return tuple(sorted((g for g in found if g and len(g) <= GREETING_PREFIX_MAX_CHARS), key=lambda g: (-len(g), g)))


class Understanding:
    """The fitted step. `classify` is pure CPU (well under a millisecond); call it anywhere."""

    def __init__(self, model: Model, emergency_threshold: float = EMERGENCY_THRESHOLD,
                 greetings: Sequence[str] = ()) -> None:
        self.model = model
        self.emergency_threshold = emergency_threshold
        self.greetings = tuple(greetings)
        self._intent_of = [lab.split(".", 1)[0] for lab in model.labels]
        self._kind_of = [lab.split(".", 1)[1] if "." in lab else "" for lab in model.labels]
        self._greeting_ix = np.array([i for i, name in enumerate(self._intent_of) if name == GREETING], dtype=np.int64)

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR, *, cache: bool = True) -> Understanding:
        """Fit on the examples (or read the cached weights for exactly these examples)."""
        with _fit_lock:
            examples = load_examples(data_dir)
            key = data_hash(examples)
            greetings = greeting_phrases(examples)
            hit = _fitted.get(key)
            if hit is not None:
                return cls(hit, greetings=greetings)
            path = _cache_dir() / f"{key}.npz"
            model = None
            if cache and path.exists():
                try:
                    model = Model.read(path)
                except Exception:  # noqa: BLE001 - a damaged cache file is refitted
                    log.warning("intent model cache unreadable, refitting")
            if model is None:
                started = time.perf_counter()
                model = fit(examples)
                log.info("intent model fitted", extra={"examples": len(examples), "labels": len(model.labels),
                                                       "seconds": round(time.perf_counter() - started, 2)})
                if cache:
                    try:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        model.save(path)
                    except OSError:
                        log.warning("intent model cache not written")
            _fitted[key] = model
            return cls(model, greetings=greetings)

    def classify(self, text: str, default_lang: str = "zh") -> Intent:
        """What the message means. A message that opens with a greeting and goes on ("你好，请问有基金定投吗",
        "Hi, what is the annual fee?", "在吗？信用卡年费多少") means what follows the greeting: that is understood
        (a greeting alone, or followed by another greeting, stays one). The reply's language is the whole
        message's."""
        lang = question_language(text, default_lang)
        rest = self.after_greeting(text)
        whole = self._classify(text, lang)
        if rest is None:
            return whole
        meant = self._classify(rest, lang)
        # the costly mistake stays the one to avoid: a possible emergency in the whole message is kept
        return whole if whole.urgent and not meant.urgent else meant

    def after_greeting(self, text: str) -> str | None:
        """What follows a leading greeting, when something does; None when the message does not open with one.
        A greeting ends at a pause ("你好，", "Hello Mr Li!", "在吗？") and reads as one to the step itself, or is
        one of the examples' greetings followed by more ("你好请问...", "hi what's..."). Repeated: "Hi, good
        morning, ..." sets both aside."""
        rest = text.strip()
        found = False
        for _ in range(3):
            after = self._after_one_greeting(rest)
            if not after or len(_CONTENT_RE.findall(after)) < 2:
                break  # nothing, or a particle ("你好呀", "hi u"): the greeting is the message
            rest, found = after, True
        return rest if found else None

    def _after_one_greeting(self, text: str) -> str | None:
        pause = _PAUSE_RE.search(text, 1, GREETING_PREFIX_MAX_CHARS + 1)
        if pause is not None and pause.end() < len(text) and self._reads_as_greeting(text[:pause.start()]):
            return text[pause.end():].strip() or None
        norm = normalize(text)
        for greeting in self.greetings:
            if not norm.startswith(greeting) or len(norm) <= len(greeting):
                continue
            follows = norm[len(greeting)]
            if _LATIN_END_RE.search(greeting) and (follows.isalnum() or follows == "'"):
                continue  # "hi" is not the start of "his", "hey" not of "heyday"
            # the same number of characters of the original text (normalising keeps the length, bar spaces)
            cut = _prefix_length(text, len(greeting))
            return _LEAD_PUNCT_RE.sub("", text[cut:]).strip() or None
        return None

    def _reads_as_greeting(self, segment: str) -> bool:
        if not segment.strip() or not len(self._greeting_ix):
            return False
        probs = self.model.probabilities(segment)
        return float(probs[self._greeting_ix].sum()) >= GREETING_PREFIX_CONFIDENCE

    def _classify(self, text: str, lang: str) -> Intent:
        probs = self.model.probabilities(text)
        scores: dict[str, float] = {}
        top: dict[str, int] = {}  # intent -> its most probable label
        for i, (p, intent) in enumerate(zip(probs, self._intent_of, strict=True)):
            scores[intent] = scores.get(intent, 0.0) + float(p)
            if intent not in top or p > probs[top[intent]]:
                top[intent] = i
        if scores.get(EMERGENCY, 0.0) >= self.emergency_threshold:
            intent = EMERGENCY
        else:
            intent = max(scores, key=scores.__getitem__)
            if scores[intent] < MIN_CONFIDENCE and "question" in scores:
                intent = "question"
        best = top[intent]
        return Intent(intent, self._kind_of[best], round(scores[intent], 4), lang, self.model.labels[best],
                      {k: round(v, 4) for k, v in scores.items()}, {k: self._kind_of[i] for k, i in top.items()})

    def classify_many(self, texts: Iterable[str], default_lang: str = "zh") -> list[Intent]:
        return [self.classify(t, default_lang) for t in texts]


def _prefix_length(text: str, norm_chars: int) -> int:
    """How many characters of `text` make up its first `norm_chars` normalised characters (NFKC and the
    folding of spaces can change the count; this walks the text)."""
    for end in range(len(text) + 1):
        if len(normalize(text[:end])) >= norm_chars:
            return end
    return len(text)


_fit_lock = threading.Lock()
_fitted: dict[str, Model] = {}
_shared: Understanding | None = None


def shared() -> Understanding:
    """The process's step, fitted on first use (start-up warms it in a thread: `warm_up`)."""
    global _shared
    if _shared is None:
        _shared = Understanding.load()
    return _shared


def warm_up() -> None:
    """Fit (or read) the step now; for a thread at start-up, so the first message does not wait."""
    shared()
