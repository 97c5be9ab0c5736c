"""How amounts and dates appear in messages and reasons (one definition each)."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CNY = ("CNY", "RMB", "", None)


def fmt_amount(value: Decimal | int | float | None, currency: str | None = "CNY") -> str:
    """¥50,000.00 (other currencies: USD 1,200.00), exactly the stored value with two decimals."""
    amount = Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}"
    return f"¥{text}" if currency in _CNY else f"{currency} {text}"


def fmt_money_short(value: Decimal | int | float | None, currency: str | None = "CNY") -> str:
    """¥10,000 (decimals only when there are any): the compact form used in the manager's reasons."""
    amount = Decimal(str(value if value is not None else 0))
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"¥{text}" if currency in _CNY else f"{currency} {text}"


def fmt_date(value: date, language: str) -> str:
    """2026年12月3日 / 3 Dec 2026."""
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


_TAG = re.compile(r"</?(b|i|u|s|a|code|pre|blockquote|tg-spoiler)(\s[^>]*)?>")


def plain_text(telegram_html: str | None) -> str:
    """A stored message as the client read it: Telegram's HTML tags dropped, entities decoded (a
    page escapes it again; a summary never shows a literal <b>)."""
    return html.unescape(_TAG.sub("", telegram_html or ""))
