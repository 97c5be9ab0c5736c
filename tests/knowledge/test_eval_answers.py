"""`rmbot eval answers`: every reply as the customer reads it and the figures; the labelled sets
are well formed (every expected fact is in its document, as the scorer matches it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge.evaluation import contains_fact, load_questions
from knowledge.loaders import load_path
from tests.knowledge.conftest import SHARED_KB

SETS = Path(__file__).parent / "answers"
DEMO_DOCS = Path(__file__).resolve().parents[2] / "tools" / "demo_docs"


def test_eval_answers_prints_replies_and_figures(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch):
    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KB_EMBEDDING", "hash")
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "a", "question": "借记卡丢了打哪个电话", "lang": "zh", "expected_doc": "card_loss.txt",
         "expected_facts": ["400-800-1234"], "kind": "answerable"},
        {"id": "b", "question": "推荐一个收益最高的理财", "lang": "zh", "expected_doc": None, "expected_facts": [],
         "kind": "unanswerable"},
    ]), encoding="utf-8")
    res = CliRunner().invoke(app, ["eval", "answers", str(questions), "--corpus", str(docs), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    a, b = data["answers"]
    assert a["fact_present"] and a["answer_first"] and "来源" in a["reply"] and a["distinct_sources"]
    assert b["correct_decline"] and "客户经理" in b["reply"]
    assert data["figures"]["fact_present"] == 1.0 and data["figures"]["correct_decline"] == 1.0


def _check(set_file: Path, corpus: Path) -> list[dict]:
    questions = load_questions(set_file)
    for q in questions:
        assert q["kind"] in ("answerable", "unanswerable", "personal") and q["lang"] in ("zh", "en")
        if q["kind"] == "answerable":
            text = load_path(corpus / q["expected_doc"]).text
            assert all(contains_fact(text, f) for f in q["expected_facts"]), q["id"]
    return questions


def test_own_demo_set_is_well_formed():
    questions = _check(SETS / "demo.jsonl", DEMO_DOCS)
    assert {q["lang"] for q in questions} == {"zh", "en"}


@pytest.mark.skipif(not SHARED_KB.exists(), reason="../shared/kb_eval is not present")
def test_own_shared_set_is_well_formed():
    questions = _check(SETS / "shared.jsonl", SHARED_KB / "corpus")
    assert len(questions) + len(load_questions(SETS / "demo.jsonl")) >= 150
