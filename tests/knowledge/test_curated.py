"""Curated answers (标准话术): verbatim for a close paraphrase, with their source; edited by saving
the same question again; removed; given by an FAQ sheet's approved-answer column."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import MemoryRegistry, build_knowledge_service
from knowledge.curated import CuratedError

APPROVED = "本行理财产品不承诺保本保收益，适合您的产品需结合您的风险测评结果，请联系您的客户经理。"


@pytest.fixture
async def svc(tmp_path: Path):
    s = build_knowledge_service(None, MemoryRegistry(), chroma_path=tmp_path / "c", embedding="e5", use_llm=False)
    (tmp_path / "rates.md").write_text("# 存款利率表\n\n一年期定期存款年利率1.30%。\n", encoding="utf-8")
    await s.ingest([tmp_path / "rates.md"])
    return s


async def test_a_close_paraphrase_gets_the_approved_wording_verbatim(svc):
    saved = await svc.save_curated("理财产品保本吗？", APPROVED, source="理财销售话术（2026版）", by="admin:1")
    a = await svc.ask("你们的理财保本吗", lang="zh")
    assert a.text == APPROVED and a.mode == "curated" and a.grounded
    assert a.sources[0].title == "理财销售话术（2026版）"
    other = await svc.ask("一年定期利率多少", lang="zh")
    assert other.mode != "curated" and "1.30%" in other.text
    assert [c.id for c in await svc.list_curated()] == [saved.id]
    assert all(not r.name.startswith("curated:") for r in await svc.documents())


async def test_saving_the_same_question_edits_and_remove_deletes(svc):
    first = await svc.save_curated("理财产品保本吗？", "旧话术：不保本。", by="admin:1")
    second = await svc.save_curated("理财产品保本吗", APPROVED, by="admin:2")
    assert first.id == second.id
    assert (await svc.ask("理财产品保本吗？", lang="zh")).text == APPROVED
    assert len(await svc.list_curated()) == 1
    assert await svc.remove_curated(second.id)
    assert (await svc.ask("理财产品保本吗？", lang="zh")).mode != "curated"
    assert await svc.list_curated() == []


async def test_bad_input_is_refused(svc):
    with pytest.raises(CuratedError):
        await svc.save_curated("  ", "x")
    with pytest.raises(CuratedError):
        await svc.save_curated("问题", "长" * 5000)


async def test_an_faq_sheet_column_gives_curated_answers(svc, tmp_path: Path):
    sheet = tmp_path / "faq.csv"
    sheet.write_text("问题,答案,标准话术\n信用卡年费怎么免？,刷卡满6次免年费。,您好，本行信用卡刷卡消费满6笔即可免次年年费。\n"
                     "营业时间？,9:00-17:00,\n", encoding="utf-8")
    await svc.ingest([sheet])
    a = await svc.ask("信用卡年费怎么免", lang="zh")
    # the loader normalises the sheet's text (NFKC: full-width commas become ',')
    assert a.text == "您好,本行信用卡刷卡消费满6笔即可免次年年费。" and a.sources[0].doc == "faq.csv"
    assert (await svc.ask("营业时间", lang="zh")).mode != "curated"
