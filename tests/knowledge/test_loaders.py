from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge.errors import LoadError
from knowledge.loaders import load_bytes, load_path, zipguard
from tests.knowledge.conftest import (
    ANNUAL_FEE_HTML,
    CARD_LOSS,
    RATES_V1,
    docx_bytes,
    pdf_bytes,
    xlsx_bytes,
    zip_bomb_docx,
)


def test_markdown_headings_and_table_rows():
    doc = load_bytes("rates.md", RATES_V1.encode())
    assert doc.title == "星海银行存款利率表"
    rows = [b for b in doc.blocks if b.kind == "table"]
    assert any("存期:1年" in b.text and "1.55%" in b.text for b in rows)
    assert all(b.section == ("一、定期存款利率",) for b in rows)
    assert doc.language == "zh"


def test_html_drops_scripts_styles_head_and_hidden_elements():
    doc = load_bytes("fee.html", ANNUAL_FEE_HTML.encode())
    text = doc.text
    assert "8笔" in text and "1800元" in text
    for hidden in ("忽略之前", "10%", "脚本里", "隐藏类", "隐藏属性", "读屏隐藏", "不可见", "首页"):
        assert hidden not in text, hidden
    assert doc.title == "星海信用卡年费规则"


def test_text_gb18030_is_detected():
    doc = load_bytes("card.txt", CARD_LOSS.encode("gb18030"))
    assert "400-800-1234" in doc.text
    assert doc.title == "星海银行银行卡挂失说明"
    assert any(b.section == ("一、挂失电话",) for b in doc.blocks)


def test_text_in_an_unknown_encoding_is_refused():
    data = "Привет, это текст в кодировке KOI8-R. ".encode("koi8_r") * 5 + bytes(range(128, 160))
    with pytest.raises(LoadError) as err:
        load_bytes("notes.txt", data)
    assert err.value.file == "notes.txt"
    assert "decode" in err.value.reason


def test_csv_and_xlsx_faq_give_one_block_per_row():
    rows = [["问题", "答案"], ["ATM吞卡怎么办", "3个工作日内领取"], ["SWIFT代码", "XHBKCNSH"]]
    for name, data in (
        ("faq.csv", "\n".join(",".join(r) for r in rows).encode()),
        ("faq.xlsx", xlsx_bytes(rows)),
    ):
        doc = load_bytes(name, data)
        assert [b.kind for b in doc.blocks] == ["faq", "faq"], name
        assert doc.blocks[0].text.startswith("问:ATM吞卡怎么办")
        assert "XHBKCNSH" in doc.blocks[1].text


def test_docx_headings_paragraphs_and_tables():
    data = docx_bytes("产品说明书", [("一、要素", ["风险等级R2。"])], [["项目", "内容"], ["费率", "0.25%"]])
    doc = load_bytes("p.docx", data)
    assert doc.title == "产品说明书"
    assert doc.blocks[0].section == ("一、要素",)
    assert any("项目:费率" in b.text and "0.25%" in b.text for b in doc.blocks)


def test_pdf_pages_running_header_and_page_numbers(tmp_path: Path):
    data = pdf_bytes([["Bank Guide", "1. Accounts", "Bring your passport.", "Page 1"],
                      ["Bank Guide", "2. Limits", "Up to RMB 5,000 a day.", "Page 2"]])
    doc = load_bytes("g.pdf", data)
    assert doc.pages == 2
    assert doc.title == "Bank Guide" or "Bank Guide" not in doc.text
    assert [b.page for b in doc.blocks] == [1, 2]
    assert doc.blocks[1].section == ("2. Limits",)
    assert "Page 2" not in doc.text


def test_corrupt_pdf():
    with pytest.raises(LoadError) as err:
        load_bytes("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage\n%%EOF")
    assert err.value.file == "broken.pdf"
    assert "PDF" in err.value.reason


def test_not_a_pdf_at_all():
    with pytest.raises(LoadError, match="not a PDF"):
        load_bytes("fake.pdf", b"hello, I am text")


def test_encrypted_pdf():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes([["secret page"]]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="pw", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(LoadError) as err:
        load_bytes("locked.pdf", buf.getvalue())
    assert "encrypted" in err.value.reason


def test_empty_file(tmp_path: Path):
    p = tmp_path / "empty.md"
    p.write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        load_path(p)
    with pytest.raises(LoadError, match="empty"):
        load_bytes("blank.txt", b"  \n\n ")


def test_unsupported_type(tmp_path: Path):
    p = tmp_path / "photo.jpg"
    p.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(LoadError) as err:
        load_path(p)
    assert err.value.file == "photo.jpg" and "unsupported" in err.value.reason


def test_file_over_the_size_limit(tmp_path: Path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"a" * 2048)
    with pytest.raises(LoadError, match="over the"):
        load_path(p, max_bytes=1024)


def test_docx_zip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(zipguard, "DEFAULT_MAX_UNZIPPED_BYTES", 4 * 1024 * 1024)
    with pytest.raises(LoadError) as err:
        load_bytes("bomb.docx", zip_bomb_docx(16))
    assert "expands" in err.value.reason or "zip bomb" in err.value.reason


def test_docx_that_is_not_a_zip():
    with pytest.raises(LoadError, match="corrupt"):
        load_bytes("x.docx", b"PK\x03\x04 definitely not a zip")


def test_an_unquoted_comma_in_an_faq_answer_loses_nothing():
    data = ("问题,答案\nATM吞卡了怎么办？,请在5个工作日内到网点领取。If an ATM keeps your card, collect it within 5 "
            "working days.\n密码忘了怎么办？,带身份证到柜台重置。\n").encode()
    blocks = load_bytes("faq.csv", data).blocks
    assert blocks[0].text.endswith("If an ATM keeps your card, collect it within 5 working days.")
    assert blocks[1].text.endswith("带身份证到柜台重置。")
