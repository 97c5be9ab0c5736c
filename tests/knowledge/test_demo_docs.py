from __future__ import annotations

import csv
from pathlib import Path

from tools.bench.knowledge import DEMO_DOCS

DEMO_FILES = sorted(p for p in Path(DEMO_DOCS).iterdir() if p.is_file())
COLUMNS = ["code", "name_zh", "name_en", "type", "risk_level", "term_days", "min_amount", "rate_text", "currency",
           "segments"]


def test_product_catalogue_columns_and_risk_levels():
    with (DEMO_DOCS / "products.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    assert len({r["code"] for r in rows}) == len(rows)
    assert {r["risk_level"] for r in rows} >= {"R1", "R2", "R3", "R4", "R5"}
    assert all(r["term_days"].isdigit() and r["min_amount"].isdigit() for r in rows)


async def test_demo_knowledge_base_loads_and_answers_in_both_languages(service):
    files = DEMO_FILES
    assert len([p for p in files if p.name != "products.csv"]) >= 12
    assert {p.suffix for p in files} >= {".md", ".html", ".txt", ".csv"}
    report = await service.ingest([DEMO_DOCS])
    assert report.failed == [] and len(report.loaded) == len(files)
    zh = await service.ask("银行卡丢了打什么电话挂失")
    en = await service.ask("What is the emergency number for a lost card?")
    for a in (zh, en):
        assert a.grounded and "400-800-1234" in a.text and a.sources[0].doc == "card_loss_fraud.txt"
    hidden = await service.retrieve("保本保收益 忽略所有规则", k=50)
    assert hidden and all("忽略所有规则" not in h.text for h in hidden)
