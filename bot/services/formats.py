"""How amounts and dates appear in messages and reasons (one definition each)."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

from babel.dates import format_skeleton
from babel.numbers import format_currency

# Money is written the bank's way in every language ("¥50,000.00" in an English message too); dates in the
# language of the message. Babel (CLDR) gives both.
BANK_LOCALE = "zh_CN"
DATE_LOCALES = {"zh": "zh_CN", "en": "en_GB"}  # 2026年12月3日 / 3 Dec 2026
_CNY = ("CNY", "RMB", "", None)

Amount = Decimal | int | float


def _currency(code: str | None) -> str:
    return "CNY" if code in _CNY else str(code).upper()


def fmt_amount(value: Amount | None, currency: str | None = "CNY") -> str:
    """¥50,000.00 (US$1,200.00, HK$80.00), exactly the stored value in the currency's decimals; "-" when there is
    no amount."""
    if value is None:
        return "-"
    return format_currency(Decimal(str(value)), _currency(currency), locale=BANK_LOCALE)


def fmt_money_short(value: Amount | None, currency: str | None = "CNY") -> str:
    """¥10,000 (decimals only when there are any): the compact form used in the manager's reasons."""
    amount = Decimal(str(value if value is not None else 0))
    if amount == amount.to_integral_value():
        return format_currency(amount, _currency(currency), format="¤#,##0", currency_digits=False,
                               locale=BANK_LOCALE)
    return format_currency(amount, _currency(currency), locale=BANK_LOCALE)


def _date_locale(language: str) -> str:
    return DATE_LOCALES.get(language, DATE_LOCALES["en"])


def fmt_date(value: date, language: str) -> str:
    """2026年12月3日 / 3 Dec 2026."""
    return format_skeleton("yMMMd", value, locale=_date_locale(language))


def fmt_day_month(value: date, language: str) -> str:
    """12月3日 / 3 Dec."""
    return format_skeleton("MMMd", value, locale=_date_locale(language))


_TAG = re.compile(r"</?(b|i|u|s|a|code|pre|blockquote|tg-spoiler)(\s[^>]*)?>")


def plain_text(telegram_html: str | None) -> str:
    """A stored message as the client read it: Telegram's HTML tags dropped, entities decoded (a
    page escapes it again; a summary never shows a literal <b>)."""
    return html.unescape(_TAG.sub("", telegram_html or ""))
