"""Retrieval quality side by side, as the README's table measures it:

- dev: `../shared/kb_eval/dev.jsonl` (answerable questions) on `../shared/kb_eval/corpus`, hit@1 / MRR by document;
- FAQ zh-TW: the shared FAQ converted to Traditional Chinese with OpenCC (s2twp), asked with the colloquial
  paraphrases of `data/faq_paraphrases.jsonl` (written for this, converted too), hit@1 / MRR by FAQ row -
  a stand-in for a real bank's Traditional-Chinese FAQ;
- FAQ zh-TW, more: the same FAQ asked with `data/faq_paraphrases_more.jsonl`, 90 further paraphrases (three a
  row, written by another author before the FAQ question channel was measured, none copied from a test set),
  so that a decision does not rest on 38 questions.

    python -m tools.bench.retrieval_quality [--embedding e5|use|lexical] [--shared ../shared/kb_eval] [--misses]

Each run builds a temporary store; the embedding model's engine follows `KB_E5_ENGINE` (onnx, c).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from knowledge.evaluation import load_questions, predict, score
from knowledge.factory import build_knowledge_service
from knowledge.registry import MemoryRegistry

ROOT = Path(__file__).resolve().parents[2]
PARAPHRASES = Path(__file__).resolve().parent / "data" / "faq_paraphrases.jsonl"
MORE_PARAPHRASES = Path(__file__).resolve().parent / "data" / "faq_paraphrases_more.jsonl"


async def dev_figures(shared: Path, embedding: str | None) -> dict[str, Any]:
    questions = load_questions(shared / "dev.jsonl")
    with tempfile.TemporaryDirectory(prefix="rmbot-quality-") as tmp:
        svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=Path(tmp) / "c", embedding=embedding,
                                      use_llm=False)
        await svc.start()
        await svc.ingest([shared / "corpus"])
        result = score(questions, await predict(svc, questions))
    return {"hit@1": result["hit@1"], "mrr": result["mrr"], "questions": result["answerable"]}


def _asked(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def faq_tw_figures(shared: Path, embedding: str | None, misses: bool = False) -> dict[str, dict[str, Any]]:
    """Figures per paraphrase set ('faq_zh_tw', 'faq_zh_tw_more'), on one store."""
    import opencc

    convert = opencc.OpenCC("s2twp").convert
    with (shared / "corpus" / "faq.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    sets = {"faq_zh_tw": _asked(PARAPHRASES), "faq_zh_tw_more": _asked(MORE_PARAPHRASES)}
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rmbot-quality-") as tmp:
        faq = Path(tmp) / "faq.csv"
        with faq.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["問題", "答案"])
            writer.writerows([convert(q), convert(a)] for q, a in rows)
        svc = build_knowledge_service(None, MemoryRegistry(), chroma_path=Path(tmp) / "c", embedding=embedding,
                                      use_llm=False)
        await svc.start()
        await svc.ingest([faq])
        for name, asked in sets.items():
            hit1, rr = 0, 0.0
            for item in asked:
                ranked: list[int] = []  # FAQ rows (0-based) in the order first retrieved
                for hit in await svc.retrieve(convert(item["q"]), k=10):
                    row = hit.meta.get("chunk_index")
                    if isinstance(row, int) and row not in ranked:
                        ranked.append(row)
                want = int(item["row"]) - 1
                rank = ranked.index(want) + 1 if want in ranked else 0
                if rank:
                    hit1 += rank == 1
                    rr += 1 / rank
                if misses and rank != 1:
                    first = [r + 1 for r in ranked[:3]]
                    sys.stderr.write(f"{name}: row {item['row']} at {rank or '-'} (first {first}): {item['q']}\n")
            n = max(len(asked), 1)
            out[name] = {"hit@1": round(hit1 / n, 3), "mrr": round(rr / n, 3), "questions": len(asked)}
    return out


async def run(shared: Path, embedding: str | None, misses: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    dev = await dev_figures(shared, embedding)
    faq = await faq_tw_figures(shared, embedding, misses)
    return {"embedding": embedding or "default", "dev": dev, **faq, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedding", default=None, help="e5 (default), use, lexical")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "kb_eval")
    parser.add_argument("--misses", action="store_true", help="list the FAQ questions not found first (stderr)")
    args = parser.parse_args()
    sys.stdout.write(json.dumps(asyncio.run(run(args.shared, args.embedding, args.misses)), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
