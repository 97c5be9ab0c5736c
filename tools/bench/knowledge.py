"""`rmbot bench retrieval`: retrieval latency with N chunks in the index, ingestion pages/second.

Prints figures; never asserts on time. Synthetic chunks are built from the sentences of the real
documents (shuffled, with other product names and numbers), so the vocabulary is realistic.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from knowledge.chunking import Chunk, chunk_document, doc_key
from knowledge.factory import build_knowledge_service
from knowledge.loaders import load_path
from knowledge.registry import DocumentRecord, MemoryRegistry
from knowledge.service import KnowledgeService, expand_paths
from knowledge.text import split_sentences
from tools.demo import DEMO_DOCS

DEFAULT_QUERIES = [
    "一年定期利率多少", "大额存单起存金额", "信用卡年费怎么免", "挂失电话是多少", "手机银行转账限额",
    "个人养老金每年最多缴多少", "基金定投最低多少钱", "理财产品可以提前赎回吗", "消费贷款提前还款违约金",
    "what is the annual fee of the platinum card", "how do I report a lost card", "3 month deposit rate",
    "现金管理产品风险等级", "购汇额度一年多少", "ATM吞卡怎么办", "what documents do I need to open an account",
]


def _synthetic_chunks(sources: list[Chunk], n: int, seed: int = 7) -> list[tuple[str, list[Chunk]]]:
    rng = random.Random(seed)
    sentences = [s for c in sources for s in split_sentences(c.body) if len(s) > 8] or ["示例文本。"]
    names = ["安盈", "季享", "月月盈", "鑫悦", "聚财", "稳健", "益农", "星河", "锦程", "Premier", "Harvest", "Golden"]
    docs: list[tuple[str, list[Chunk]]] = []
    per_doc = 20
    for d in range(max(1, -(-n // per_doc))):
        name = f"synthetic_{d:05d}.md"
        title = f"{rng.choice(names)}{rng.randint(1, 999)}号产品说明书"
        chash = f"{d:016x}" + "0" * 48
        chunks = []
        for i in range(per_doc):
            body = "".join(rng.sample(sentences, k=min(4, len(sentences))))
            meta = {"doc": name, "title": title, "section": f"第{i + 1}节", "page": 0, "kind": "text", "lang": "zh",
                    "product_type": "general", "doc_key": doc_key(name, chash), "content_hash": chash,
                    "chunk_index": i}
            chunks.append(Chunk(id=f"syn-{d:05d}-{i:03d}", text=f"《{title}》 第{i + 1}节\n{body}", body=body,
                                metadata=meta))
        docs.append((name, chunks))
    return docs


def _stored_vectors(svc: KnowledgeService) -> list[list[float]]:
    if not svc.index.dense_enabled:
        return []
    got = svc.index.store._collection.get(include=["embeddings"], limit=2000)  # noqa: SLF001 - the bench reads the store
    embeddings = got["embeddings"]
    return [] if embeddings is None else [[float(x) for x in v] for v in embeddings]


def _filler_vectors(pool: list[list[float]], n: int, rng: random.Random) -> list[list[float]] | None:
    """Stored vectors of real chunks with a little noise, for the synthetic filler."""
    if not pool:
        return None
    out = []
    for _ in range(n):
        v = [x + rng.gauss(0.0, 0.02) for x in rng.choice(pool)]
        norm = sum(x * x for x in v) ** 0.5 or 1.0
        out.append([x / norm for x in v])
    return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return 0.0
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


async def run_retrieval_bench(
    *,
    chunks: int = 20_000,
    queries: list[str] | None = None,
    rounds: int = 5,
    corpus: list[Path] | None = None,
    embedding: str | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    corpus = corpus or [DEMO_DOCS]
    with tempfile.TemporaryDirectory(prefix="rmbot-kb-bench-") as tmp:
        svc: KnowledgeService = build_knowledge_service(
            None, MemoryRegistry(), chroma_path=Path(tmp) / "chroma", embedding=embedding, use_llm=False
        )
        # 0. start: dictionaries and the embedding model load once per process, timed apart
        t0 = time.perf_counter()
        await svc.start()
        start_s = time.perf_counter() - t0
        # 1. ingestion of real documents; CPU time too (the machine may be shared: wall time is not all ours)
        t0, c0 = time.perf_counter(), time.process_time()
        report = await svc.ingest(corpus)
        ingest_s, ingest_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        pages = report.pages
        # 2. fill the index up to `chunks` with synthetic documents
        pool, rng = _stored_vectors(svc), random.Random(11)
        real = []
        for p in expand_paths(corpus):
            try:
                real.extend(chunk_document(load_path(p)))
            except Exception:  # noqa: BLE001, S112 - unsupported files are simply not used as material
                continue
        have = svc.index.count()
        t1 = time.perf_counter()
        for name, cs in _synthetic_chunks(real, max(0, chunks - have)):
            # the filler's vectors are stored vectors of real chunks with a little noise: embedding 20,000
            # synthetic texts would time the model, not the search; queries are embedded by the real model
            await asyncio.to_thread(svc.index.add_chunks, cs, _filler_vectors(pool, len(cs), rng))
            await svc.registry.save(DocumentRecord(name=name, title=str(cs[0].metadata["title"]),
                                                   content_hash=str(cs[0].metadata["content_hash"]),
                                                   chunk_count=len(cs), pages=1))
            svc.ingestion.current[name] = str(cs[0].metadata["doc_key"])  # the bench fills the index directly
            if progress:
                progress(len(cs))
        fill_s = time.perf_counter() - t1
        total = svc.index.count()
        # 3. latency
        qs = queries or DEFAULT_QUERIES
        await svc.retrieve(qs[0])  # warm-up (tokeniser dictionaries)
        retrieve_ms: list[float] = []
        ask_ms: list[float] = []
        for _ in range(rounds):
            for q in qs:
                t = time.perf_counter()
                await svc.retrieve(q)
                retrieve_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await svc.ask(q)
                ask_ms.append((time.perf_counter() - t) * 1000)
        return {
            "embedding": svc.index.collection_name,
            "chunks_in_index": total,
            "queries": len(retrieve_ms),
            "retrieve_p50_ms": round(statistics.median(retrieve_ms), 2),
            "retrieve_p95_ms": round(_pct(retrieve_ms, 95), 2),
            "ask_p50_ms": round(statistics.median(ask_ms), 2),
            "ask_p95_ms": round(_pct(ask_ms, 95), 2),
            "ingest_files": len(report.items),
            "ingest_failed": len(report.failed),
            "ingest_pages": pages,
            "ingest_seconds": round(ingest_s, 3),
            "ingest_pages_per_s": round(pages / ingest_s, 1) if ingest_s else 0.0,
            "ingest_cpu_seconds": round(ingest_cpu_s, 3),
            "ingest_pages_per_cpu_s": round(pages / ingest_cpu_s, 1) if ingest_cpu_s else 0.0,
            "start_seconds": round(start_s, 3),
            "fill_chunks_per_s": round((total - have) / fill_s, 1) if fill_s else 0.0,
        }
