"""Every user-facing string is in both catalogs, translated, and the compiled .mo match the .po."""

from __future__ import annotations

import gettext
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, t

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["conversations/**.py", "tickets.py", "consent.py", "invites.py", "notices.py", "placeholders.py",
            "documents.py"]
KEYWORDS = {"t": None, "_": None}


def _used_msgids() -> set[str]:
    found = set()
    for folder, pattern in [(ROOT / "handlers", "**.py")] + [(ROOT / "bot" / "services", f) for f in SERVICES]:
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map=[(pattern, "python")], keywords=KEYWORDS
        ):
            if isinstance(message, str) and message:
                found.add(message)
    return found


def _catalog(lang: str):
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def test_every_used_string_is_translated_in_both_languages():
    used = _used_msgids()
    assert len(used) > 50
    for lang in ("zh", "en"):
        catalog = _catalog(lang)
        missing = sorted(m for m in used if m not in catalog or not catalog[m].string)
        assert not missing, f"{lang}: untranslated {missing[:5]}"


def test_catalogs_agree_and_mo_files_are_compiled_from_the_po():
    zh, en = _catalog("zh"), _catalog("en")
    assert {m.id for m in zh if m.id} == {m.id for m in en if m.id}
    for lang, catalog in (("zh", zh), ("en", en)):
        with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        for message in catalog:
            if message.id:
                assert compiled.gettext(message.id) == message.string, (lang, message.id)


def test_chinese_text_is_chinese_and_values_are_escaped():
    assert t("Saved.", "zh") == "已保存。"
    assert t("Saved.", "en") == "Saved."
    assert t("Sent to the customer (ticket #{id}).", "en", id="<b>1</b>") == \
        "Sent to the customer (ticket #&lt;b&gt;1&lt;/b&gt;)."
    assert t("Saved.", "zh-hans") == "已保存。" and t("Saved.", "fr") == "已保存。"  # default zh
