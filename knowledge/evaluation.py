"""Evaluation on a question file in the kb_eval format (README §3-4) and the retrieval benchmark.

The metrics are computed exactly as the reference scorer does (`score_reference.py`), with the
same normalisation for facts; `--predictions` writes lines that scorer reads.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path, PurePath
from typing import Any

from knowledge.service import KnowledgeService

EQUIVALENT_DOCS = {"faq.csv": "faq.xlsx"}


def _wan(m: re.Match[str]) -> str:
    v = float(m.group(1)) * (10_000 if m.group(2) == "万" else 100_000_000)
    return str(int(round(v))) if abs(v - round(v)) < 1e-6 else repr(v)


def _pct(m: re.Match[str]) -> str:
    return m.group(1) + ("." + m.group(2) if m.group(2) else "") + "%"


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).lower()
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    s = re.sub(r"(\d+(?:\.\d+)?)([万亿])", _wan, s)
    s = re.sub(r"(\d+)\.(\d*?)0+%", _pct, s)
    s = re.sub(r"(\d{4})年(\d{1,2})月(\d{1,2})日", lambda m: f"{m[1]}-{int(m[2])}-{int(m[3])}", s)
    return re.sub(r"(?<!\d)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)", lambda m: f"{m[1]}-{int(m[2])}-{int(m[3])}", s)


def contains_fact(text: str, fact: str) -> bool:
    f = norm(fact)
    pat = re.escape(f)
    if f[:1].isdigit():
        pat = r"(?<![\d.])" + pat
    if f[-1:].isdigit():
        pat = pat + r"(?!\d|\.\d)"
    return re.search(pat, norm(text)) is not None


def canon_doc(name: str | None) -> str | None:
    if not name:
        return None
    base = PurePath(str(name)).name
    return EQUIVALENT_DOCS.get(base, base)


def rank_of(expected: str, retrieved: list[str]) -> int | None:
    seen: list[str | None] = []
    for r in retrieved:
        c = canon_doc(r)
        if c not in seen:
            seen.append(c)
    exp = canon_doc(expected)
    return seen.index(exp) + 1 if exp in seen else None


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


async def predict(service: KnowledgeService, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    preds = []
    for q in questions:
        ans = await service.ask(q["question"], lang=q.get("lang"))
        preds.append({"id": q["id"], "retrieved": ans.retrieved, "answer": ans.text, "declined": ans.declined})
    return preds


def score(questions: list[dict[str, Any]], preds: list[dict[str, Any]], k: int = 5,
          traps: dict[str, Any] | None = None) -> dict[str, Any]:
    by_id = {p["id"]: p for p in preds}
    ans = [q for q in questions if q["kind"] == "answerable"]
    n = max(len(ans), 1)
    hit1 = hitk = 0
    rr = facts = answered = 0.0
    misses = []
    for q in ans:
        p = by_id.get(q["id"], {})
        r = rank_of(q["expected_doc"], p.get("retrieved") or [])
        hit1 += int(r is not None and r <= 1)
        hitk += int(r is not None and r <= k)
        rr += (1.0 / r) if (r is not None and r <= 10) else 0.0
        ok = all(contains_fact(p.get("answer") or "", f) for f in q["expected_facts"])
        facts += ok
        answered += not p.get("declined", False)
        if not ok or r != 1:
            misses.append(q["id"])
    other = [q for q in questions if q["kind"] in ("unanswerable", "personal")]
    declined = sum(bool(by_id.get(q["id"], {}).get("declined", False)) for q in other)
    violations = []
    for qid, t in (traps or {}).items():
        a = (by_id.get(qid) or {}).get("answer") or ""
        if any(re.search(rx, a) for rx in t.get("must_not_match", [])):
            violations.append(qid)
    return {
        "questions": len(questions),
        "answerable": len(ans),
        "hit@1": round(hit1 / n, 4),
        f"hit@{k}": round(hitk / n, 4),
        "hit@k": round(hitk / n, 4),
        "k": k,
        "mrr": round(rr / n, 4),
        "answered_rate": round(answered / n, 4),
        "false_decline_rate": round(1 - answered / n, 4),
        "facts_rate": round(facts / n, 4),
        "declined_rate": round(declined / max(len(other), 1), 4),
        "declinable": len(other),
        "trap_violations": violations,
        "not_perfect": misses,
    }


# --------------------------------------------------------------------------- answers as customers read them

_PREAMBLE_RE = re.compile(r"^(根据|按照|from the bank's document|according to)", re.I)


def customer_view(answer: Any, lang: str) -> str:
    """The reply as the customer reads it: the text, then one line per source."""
    titles = [s.title or s.doc for s in getattr(answer, "sources", [])]
    if not titles:
        return str(answer.text)
    label = "Sources: " if lang == "en" else "来源："
    return f"{answer.text}\n{label}{'；'.join(titles) if lang != 'en' else '; '.join(titles)}"


def answer_record(q: dict[str, Any], answer: Any) -> dict[str, Any]:
    """Per question: the reply and the figures the bank reads it by."""
    from knowledge.text import detect_language

    text = str(answer.text)
    first = text.strip().split("\n", 1)[0]
    declined = bool(answer.declined)
    answerable = q["kind"] == "answerable"
    facts = q.get("expected_facts") or []
    docs = [canon_doc(s.doc) for s in getattr(answer, "sources", [])]
    rec: dict[str, Any] = {
        "id": q["id"], "question": q["question"], "lang": q.get("lang"), "kind": q["kind"],
        "reply": customer_view(answer, q.get("lang") or "zh"), "declined": declined,
        "retrieved": list(getattr(answer, "retrieved", [])),
        "language_match": detect_language(first) == (q.get("lang") or detect_language(q["question"])),
        "distinct_sources": len(docs) == len(set(docs)),
    }
    if answerable:
        rec["fact_present"] = all(contains_fact(text, f) for f in facts)
        rec["false_decline"] = declined
        rec["answer_first"] = (not declined and (any(contains_fact(first, f) for f in facts) if facts
                                                 else not _PREAMBLE_RE.search(first)))
    else:
        rec["correct_decline"] = declined
    return rec


def answer_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    def share(key: str, rows: list[dict[str, Any]]) -> float | None:
        vals = [r[key] for r in rows if key in r]
        return round(sum(bool(v) for v in vals) / len(vals), 4) if vals else None

    answerable = [r for r in records if r["kind"] == "answerable"]
    english = [r for r in records if r.get("lang") == "en"]
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "fact_present": share("fact_present", answerable),
        "false_decline": share("false_decline", answerable),
        "correct_decline": share("correct_decline", [r for r in records if r["kind"] != "answerable"]),
        "language_match": share("language_match", records),
        "english_in_english": share("language_match", english),
        "answer_first": share("answer_first", answerable),
        "distinct_sources": share("distinct_sources", records),
    }


async def evaluate_answers(service: KnowledgeService, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for q in questions:
        out.append(answer_record(q, await service.ask(q["question"], lang=q.get("lang"))))
    return out
