"""Scoring the understanding step on a labelled file (`text,lang,intent`, optional `kind`).

`rmbot eval intents FILE --json` prints what `score` returns: per-intent precision and recall,
urgent recall per language (an urgent message is one whose reply must carry the hotline), the share
of ordinary messages that would be escalated (a ticket for a person: emergency, request for a
person, complaint) and the share of English urgent messages answered in English.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.understanding import URGENT_INTENTS, Intent, Understanding

# intents whose turn opens a ticket for a person
ESCALATING = frozenset({"emergency", "person", "complaint"})


@dataclass(frozen=True)
class Labelled:
    text: str
    lang: str
    intent: str
    kind: str = ""


def load_labelled(path: Path) -> list[Labelled]:
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    missing = {"text", "lang", "intent"} - set(rows.fieldnames or [])
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
    out = [Labelled(r["text"].strip(), (r["lang"] or "").strip(), r["intent"].strip(), (r.get("kind") or "").strip())
           for r in rows if (r.get("text") or "").strip()]
    if not out:
        raise ValueError(f"{path.name}: no labelled rows")
    return out


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score(rows: Sequence[Labelled], predicted: Sequence[Intent]) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    urgent: Counter[str] = Counter()
    urgent_hit: Counter[str] = Counter()
    ordinary: Counter[str] = Counter()
    escalated: Counter[str] = Counter()
    en_urgent = en_reply = kinds = kind_hit = 0
    misses: list[dict[str, str]] = []
    for row, pred in zip(rows, predicted, strict=True):
        if pred.intent == row.intent:
            tp[row.intent] += 1
        else:
            fp[pred.intent] += 1
            fn[row.intent] += 1
            misses.append({"text": row.text, "expected": row.intent, "got": pred.intent})
        if row.intent in URGENT_INTENTS:
            urgent[row.lang] += 1
            urgent_hit[row.lang] += pred.intent in URGENT_INTENTS
            if row.lang == "en":
                en_urgent += 1
                en_reply += pred.lang == "en"
            if row.kind and pred.intent == row.intent:
                kinds += 1
                kind_hit += pred.kind == row.kind
        elif row.intent not in ESCALATING:
            ordinary[row.lang] += 1
            escalated[row.lang] += pred.intent in ESCALATING
    intents = sorted(set(tp) | set(fp) | set(fn))
    return {
        "messages": len(rows),
        "accuracy": _ratio(sum(tp.values()), len(rows)),
        "urgent_recall": {lang: _ratio(urgent_hit[lang], n) for lang, n in sorted(urgent.items())},
        "urgent_messages": dict(sorted(urgent.items())),
        "ordinary_escalated": _ratio(sum(escalated.values()), sum(ordinary.values())),
        "ordinary_escalated_by_lang": {lang: _ratio(escalated[lang], n) for lang, n in sorted(ordinary.items())},
        "ordinary_messages": dict(sorted(ordinary.items())),
        "english_urgent_in_english": _ratio(en_reply, en_urgent),
        "emergency_kind_accuracy": _ratio(kind_hit, kinds),
        "per_intent": {i: {"precision": _ratio(tp[i], tp[i] + fp[i]), "recall": _ratio(tp[i], tp[i] + fn[i]),
                           "support": tp[i] + fn[i]} for i in intents},
        "misses": misses,
    }


def evaluate(understanding: Understanding, rows: Sequence[Labelled]) -> dict[str, Any]:
    # the chat's language is unknown here: the step must tell the message's own language
    predicted = [understanding.classify(r.text, default_lang="zh") for r in rows]
    return score(rows, predicted)
