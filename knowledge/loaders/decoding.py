"""Text decoding for the text formats (plain text, Markdown, HTML, CSV)."""

from __future__ import annotations

from knowledge.errors import LoadError


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, then GB18030 (a superset of GBK/GB2312);
    anything else is refused rather than indexed as mojibake."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text: str | None = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _plausible(text):
        return text
    raise LoadError(name, "cannot decode the text: it is neither UTF-8 nor GB18030/GBK (save it as UTF-8)")


def _plausible(text: str) -> bool:
    """GB18030 decodes almost any byte string; accept it only when the result is mostly common
    Chinese characters, ASCII and punctuation."""
    if not text:
        return False
    bad = 0
    for ch in text:
        o = ord(ch)
        if ch.isascii():
            if o < 32 and ch not in "\r\n\t\f":
                bad += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or 0x2000 <= o <= 0x206F:
            continue
        else:
            bad += 1
    return bad / len(text) < 0.02
