from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.services.documents import SqlDocumentRegistry
from knowledge import build_knowledge_service
from knowledge.embeddings import HashEmbeddings
from knowledge.registry import DocumentRecord
from tests.knowledge.conftest import SHARED_KB


async def test_sql_registry_round_trip(db):
    reg = SqlDocumentRegistry(db.sessions)
    assert await reg.get("a.md") is None
    await reg.save(DocumentRecord(name="a.md", title="A", content_hash="h1", chunk_count=3, pages=1,
                                  language="zh", size_bytes=10, loaded_by="admin"))
    await reg.save(DocumentRecord(name="a.md", title="A2", content_hash="h2", version=2, chunk_count=4))
    rec = await reg.get("a.md")
    assert rec is not None and (rec.title, rec.content_hash, rec.version, rec.chunk_count) == ("A2", "h2", 2, 4)
    assert [r.name for r in await reg.all()] == ["a.md"]
    await reg.delete("a.md")
    assert await reg.all() == []


async def test_service_with_the_database_registry(db, tmp_path: Path, docs: Path):
    svc = build_knowledge_service(None, SqlDocumentRegistry(db.sessions), chroma_path=tmp_path / "c",
                                  embedding=HashEmbeddings(), use_llm=False)
    report = await svc.ingest([docs / "card_loss.txt"], loaded_by="admin-7")
    assert report.loaded == ["card_loss.txt"]
    rec = (await svc.documents())[0]
    assert rec.loaded_by == "admin-7" and rec.version == 1 and rec.chunk_count > 0
    assert "400-800-1234" in (await svc.ask("借记卡挂失电话")).text


def test_cli_ingest_list_ask_remove_eval(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch):
    from bot.cli import app, load_commands

    load_commands()
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")
    res = runner.invoke(app, ["ingest", str(docs), str(bad), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"loaded", "unchanged", "replaced", "failed"}
    assert "card_loss.txt" in data["loaded"] and data["failed"][0]["file"] == "bad.pdf"
    res = runner.invoke(app, ["ingest", str(docs / "rates.md"), "--json"])
    assert json.loads(res.stdout)["unchanged"] == ["rates.md"]
    res = runner.invoke(app, ["ask", "借记卡丢了打哪个电话", "--json"])
    assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert "400-800-1234" in ans["answer"] and ans["grounded"] is True and ans["handoff"] is False
    assert set(ans["sources"][0]) == {"doc", "title", "section", "score"}
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(json.dumps(q, ensure_ascii=False) for q in [
            {"id": "q1", "question": "借记卡丢了打哪个电话", "lang": "zh", "expected_doc": "card_loss.txt",
             "expected_facts": ["400-800-1234"], "kind": "answerable"},
            {"id": "q2", "question": "我的定期什么时候到期", "lang": "zh", "expected_doc": None,
             "expected_facts": [], "kind": "personal"},
        ]),
        encoding="utf-8",
    )
    preds = tmp_path / "p.jsonl"
    res = runner.invoke(app, ["eval", "retrieval", str(questions), "--json", "--predictions", str(preds)])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)
    assert figures["hit@1"] == 1.0 and figures["facts_rate"] == 1.0 and figures["declined_rate"] == 1.0
    lines = [json.loads(x) for x in preds.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["retrieved"][0] == "card_loss.txt" and lines[1]["declined"] is True
    res = runner.invoke(app, ["kb", "remove", "card_loss.txt"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["kb", "list", "--json"])
    assert "card_loss.txt" not in [r["name"] for r in json.loads(res.stdout)]
    assert runner.invoke(app, ["kb", "remove", "card_loss.txt"]).exit_code == 1


@pytest.mark.skipif(not SHARED_KB.exists(), reason="../shared/kb_eval is not present")
async def test_kb_eval_dev_set_targets_and_reference_scorer_agree(tmp_path: Path):
    from knowledge import MemoryRegistry
    from knowledge.evaluation import load_questions, predict, score

    svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", use_llm=False)
    await svc.ingest([SHARED_KB / "corpus_outdated"])
    report = await svc.ingest([SHARED_KB / "corpus"])
    assert report.replaced == ["time_deposit_rates.md"] and report.failed == []
    questions = load_questions(SHARED_KB / "dev.jsonl")
    preds = await predict(svc, questions)
    traps = json.loads((SHARED_KB / "dev_traps.json").read_text(encoding="utf-8"))
    s = score(questions, preds, k=5, traps=traps)
    assert s["hit@5"] >= 0.95 and s["mrr"] >= 0.85
    assert s["answered_rate"] >= 0.9 and s["facts_rate"] >= 0.8
    assert s["declined_rate"] >= 0.9 and s["trap_violations"] == []
    out = tmp_path / "preds.jsonl"
    out.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in preds), encoding="utf-8")
    ref = (await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(SHARED_KB / "score_reference.py"), str(SHARED_KB / "dev.jsonl"), str(out)],
        capture_output=True, text=True, check=True,
    )).stdout
    assert f"hit@5: {s['hit@5']:.3f}" in ref and f"MRR@10: {s['mrr']:.3f}" in ref
    assert f"facts contained: {s['facts_rate']:.3f}" in ref
    # the outdated edition is gone: no passage with its rates is retrieved
    for q in ("一年定期利率", "3个月定期利率", "提前支取利息"):
        for h in await svc.retrieve(q, k=20):
            assert "2024年10月8日起执行" not in h.text or "废止" in h.text
