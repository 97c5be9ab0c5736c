from __future__ import annotations

import asyncio
import time
from pathlib import Path

from knowledge import MemoryRegistry, build_knowledge_service
from knowledge.chunking import chunk_document
from knowledge.embeddings import HashEmbeddings
from knowledge.loaders import load_path
from tests.knowledge.conftest import RATES_V1, RATES_V2, zip_bomb_docx


async def test_ingest_folder_then_again_is_a_no_op(service, docs: Path):
    names = sorted(p.name for p in docs.iterdir())  # noqa: ASYNC240 - a test fixture folder
    first = await service.ingest([docs], loaded_by="admin-1")
    assert sorted(first.loaded) == names
    assert first.failed == [] and first.replaced == [] and first.unchanged == []
    count = service.index.count()
    again = await service.ingest([docs])
    assert sorted(again.unchanged) == sorted(first.loaded)
    assert again.loaded == [] and again.replaced == []
    assert service.index.count() == count
    records = {r.name: r for r in await service.documents()}
    assert records["rates.md"].version == 1 and records["rates.md"].loaded_by == "admin-1"
    assert records["guide.pdf"].pages == 2
    assert records["rates.md"].chunk_count == len(chunk_document(load_path(docs / "rates.md")))


async def test_replacement_leaves_only_the_current_rates(service, tmp_path: Path):
    old = tmp_path / "old" / "rates.md"
    new = tmp_path / "new" / "rates.md"
    old.parent.mkdir()
    new.parent.mkdir()
    old.write_text(RATES_V1, encoding="utf-8")
    new.write_text(RATES_V2, encoding="utf-8")
    assert (await service.ingest([old])).loaded == ["rates.md"]
    before = await service.ask("一年定期利率多少")
    assert "1.55%" in before.text
    report = await service.ingest([new])
    assert report.replaced == ["rates.md"]
    records = await service.documents()
    assert [(r.name, r.version) for r in records] == [("rates.md", 2)]
    answer = await service.ask("一年定期利率多少")
    assert "1.25%" in answer.text and "1.55%" not in answer.text
    for q in ("3个月定期利率", "提前支取怎么计息", "三年定期利率"):
        for hit in await service.retrieve(q, k=20):
            assert "1.15%" not in hit.text and "1.55%" not in hit.text and "2.05%" not in hit.text
            assert "0.20%" not in hit.text
    # nothing of the old version is left in either channel
    assert service.index.count() == len(chunk_document(load_path(new)))


async def test_no_query_sees_a_document_missing_or_twice_during_replacement(service, tmp_path: Path):
    path = tmp_path / "rates.md"
    path.write_text(RATES_V1, encoding="utf-8")
    await service.ingest([path])
    path.write_text(RATES_V2, encoding="utf-8")
    n_chunks = len(chunk_document(load_path(path)))
    seen: list[tuple[str, int, set[str]]] = []

    async def probe(stage: str) -> None:
        hits = await service.retrieve("定期存款利率 提前支取", k=50)
        keys = {str(h.meta["doc_key"]) for h in hits}
        seen.append((stage, len(hits), keys))

    index = service.index
    real_add, real_delete = index.add_chunks, index.delete_key
    loop = asyncio.get_running_loop()

    def probe_from_thread(stage: str) -> None:
        asyncio.run_coroutine_threadsafe(probe(stage), loop).result()

    def add_then_probe(chunks, vectors=None, tokens=None):
        real_add(chunks, vectors, tokens)
        probe_from_thread("new version stored, registry not switched yet")

    def probe_then_delete(key):
        probe_from_thread("registry switched, old version still stored")
        return real_delete(key)

    index.add_chunks = add_then_probe  # type: ignore[method-assign]
    index.delete_key = probe_then_delete  # type: ignore[method-assign]
    old_key = next(iter(index.keys()))
    await service.ingest([path])
    await probe("after")
    assert [s for s, _, _ in seen] == [
        "new version stored, registry not switched yet",
        "registry switched, old version still stored",
        "after",
    ]
    for stage, n, keys in seen:
        assert n > 0, stage  # never missing
        assert len(keys) == 1, stage  # never doubled
    assert seen[0][2] == {old_key}
    assert seen[1][2] == seen[2][2] != {old_key}
    assert n_chunks == seen[2][1]


async def test_remove_and_list(service, docs: Path):
    await service.ingest([docs / "card_loss.txt", docs / "faq.csv"])
    removed = await service.remove("card_loss.txt")
    assert removed.name == "card_loss.txt"
    assert [r.name for r in await service.documents()] == ["faq.csv"]
    hits = await service.retrieve("挂失电话")
    assert hits and all(h.doc != "card_loss.txt" for h in hits)
    assert await service.remove("card_loss.txt") is None


async def test_bad_files_fail_clearly_and_the_rest_of_the_batch_loads(service, docs: Path, tmp_path: Path):
    await service.ingest([docs / "rates.md"])
    before = (service.index.count(), [(r.name, r.content_hash) for r in await service.documents()])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a_corrupt.pdf").write_bytes(b"%PDF-1.4\n garbage")
    (bad / "b_empty.txt").write_bytes(b"")
    (bad / "c_photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (bad / "d_bomb.docx").write_bytes(zip_bomb_docx(1))
    (bad / "e_big.md").write_text("大" * 4000, encoding="utf-8")
    (bad / "f_koi8.txt").write_bytes("Текст в KOI8-R ".encode("koi8_r") * 5 + bytes(range(128, 160)))
    service.max_bytes = 10_000
    from knowledge.loaders import zipguard

    old_limit = zipguard.DEFAULT_MAX_UNZIPPED_BYTES
    zipguard.DEFAULT_MAX_UNZIPPED_BYTES = 512 * 1024
    try:
        report = await service.ingest([bad, docs / "faq.csv"])
    finally:
        zipguard.DEFAULT_MAX_UNZIPPED_BYTES = old_limit
    failed = {f["file"]: f["reason"] for f in report.failed}
    assert set(failed) == {"a_corrupt.pdf", "b_empty.txt", "c_photo.jpg", "d_bomb.docx", "e_big.md", "f_koi8.txt"}
    assert "PDF" in failed["a_corrupt.pdf"]
    assert "empty" in failed["b_empty.txt"]
    assert "unsupported" in failed["c_photo.jpg"]
    assert "expands" in failed["d_bomb.docx"]
    assert "limit" in failed["e_big.md"]
    assert "decode" in failed["f_koi8.txt"]
    assert report.loaded == ["faq.csv"]
    names = [r.name for r in await service.documents()]
    assert names == ["faq.csv", "rates.md"]
    assert before[1][0] in [(r.name, r.content_hash) for r in await service.documents()]


async def test_restart_rebuilds_the_lexical_channel_and_drops_stale_chunks(tmp_path: Path, docs: Path):
    registry = MemoryRegistry()

    def build():
        return build_knowledge_service(None, registry, chroma_path=tmp_path / "c", embedding=HashEmbeddings(),
                                       use_llm=False)

    svc = build()
    await svc.ingest([docs / "card_loss.txt", docs / "rates.md"])
    # a replacement interrupted after adding the new chunks: they are not current
    orphan = chunk_document(load_path(docs / "rates.md"))
    for c in orphan:
        c.id = "orphan-" + c.id
        c.metadata["doc_key"] = "rates.md#deadbeefdeadbeef"
        c.metadata["indexed_at"] = time.time() - 2 * 3600  # left two hours ago
    fresh = chunk_document(load_path(docs / "faq.csv"))
    for c in fresh:
        c.id = "fresh-" + c.id
        c.metadata["doc_key"] = "faq.csv#0123456789abcdef"  # another process is replacing it right now
    svc.index.add_chunks(orphan + fresh)
    svc2 = build()
    await svc2.start()
    assert "rates.md#deadbeefdeadbeef" not in set(svc2.index.keys())
    assert "faq.csv#0123456789abcdef" in set(svc2.index.keys())
    answer = await svc2.ask("借记卡丢了打什么电话")
    assert "400-800-1234" in answer.text


async def test_metadata_filters(service, docs: Path):
    await service.ingest([docs])
    hits = await service.retrieve("annual fee loan", filters={"lang": "en"})
    assert hits and all(h.meta["lang"] == "en" for h in hits)
    hits = await service.retrieve("挂失", filters={"doc": "faq.csv"})
    assert hits and all(h.doc == "faq.csv" for h in hits)


async def test_a_second_process_sees_documents_loaded_by_the_first(tmp_path: Path, docs: Path):
    registry = MemoryRegistry()
    from knowledge.index import make_chroma_client

    client = make_chroma_client(tmp_path / "shared-chroma")

    def build():
        return build_knowledge_service(None, registry, client=client, embedding=HashEmbeddings(), use_llm=False)

    reader, writer = build(), build()
    await reader.start()
    assert (await reader.ask("借记卡丢了打哪个电话")).handoff
    await writer.ingest([docs / "card_loss.txt"])
    assert await reader.refresh() is True
    assert "400-800-1234" in (await reader.ask("借记卡丢了打哪个电话")).text
    await writer.remove("card_loss.txt")
    assert await reader.refresh() is True
    assert await reader.refresh() is False
    assert (await reader.ask("借记卡丢了打哪个电话")).handoff


async def test_an_english_question_about_being_asked_for_a_code_finds_the_banks_never_ask(service, tmp_path: Path):
    """'Will the bank ask for my SMS code?' is answered by the document saying the bank never asks (索要), not
    by a passage that only mentions SMS codes (binding a card): 'ask for' is a banking word in the glossary."""
    folder = tmp_path / "scam"
    folder.mkdir()
    (folder / "binding.md").write_text(
        "# 绑定第三方支付\n\n银行卡可以绑定第三方支付平台。绑定时需验证卡号、预留手机号和短信验证码，"
        "短信验证码五分钟内有效。\n",
        encoding="utf-8")
    (folder / "notice.md").write_text(
        "# 防范诈骗提示\n\n本行工作人员不会以任何理由向您索要短信验证码或密码。\n", encoding="utf-8")
    await service.ingest([folder])
    hits = await service.retrieve("Will the bank ever ask for my SMS code?", k=2)
    assert str(hits[0].meta["doc_key"]).startswith("notice.md"), [h.meta["doc_key"] for h in hits]
