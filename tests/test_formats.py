"""How amounts and dates appear (bot/services/formats.py, the one definition, on Babel's CLDR data)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.services.formats import fmt_amount, fmt_date, fmt_day_month, fmt_money_short


def test_money_is_written_the_banks_way() -> None:
    assert fmt_amount(Decimal("50000")) == "¥50,000.00"
    assert fmt_amount(Decimal("1234567.89"), "RMB") == "¥1,234,567.89"
    assert fmt_amount(12, None) == "¥12.00"
    assert fmt_amount(Decimal("1200"), "USD") == "US$1,200.00"
    assert fmt_amount(Decimal("80"), "hkd") == "HK$80.00"
    assert fmt_amount(None) == "-"  # a missing amount is not zero


def test_short_money_drops_zero_decimals_only() -> None:
    assert fmt_money_short(Decimal("10000.00")) == "¥10,000"
    assert fmt_money_short(Decimal("54000.5")) == "¥54,000.50"
    assert fmt_money_short(None) == "¥0"


def test_dates_in_the_message_language() -> None:
    assert fmt_date(date(2026, 12, 3), "zh") == "2026年12月3日"
    assert fmt_date(date(2027, 3, 8), "en") == "8 Mar 2027"
    assert fmt_day_month(date(2027, 2, 5), "zh") == "2月5日"
    assert fmt_day_month(date(2027, 2, 5), "en") == "5 Feb"
