"""What the customer reads: Telegram HTML, escaped, split under Telegram's limit; holdings lines,
sources, the emergency playbooks (templates in `prompts/customer/`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Protocol

from bot.db.models import Client, Holding, HoldingKind, Product
from bot.i18n import Html, escape, t
from bot.services.formats import fmt_amount, fmt_date
from prompts import render

MESSAGE_LIMIT = 4000  # Telegram allows 4096 visible characters; keep a margin for markup
TELEGRAM_TEXT_MAX = 4096  # no Telegram message is longer: nothing longer is stored as one
# phone numbers as documents write them: 95599, 400-820-8888, +86 21 1234 5678, 95599-8888
_DATE_RE = re.compile(r"(19|20)\d\d[- ]\d{1,2}[- ]\d{1,2}")
_PHONE_RE = re.compile(r"(?<![\d.])(?:\+?\d[\d\- ]{3,16}\d)(?![\d.%])")


class SourceLike(Protocol):
    doc: str
    title: str
    section: str


SourceDict = dict[str, object]


def day(value: date | None, lang: str) -> str:
    """A date as the customer reads it in their language (3 Dec 2026 / 2026年12月3日)."""
    return fmt_date(value, lang) if value else "-"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML text (no tag spans a line) into parts under `limit`, at line breaks where possible,
    never inside an HTML entity."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = limit
            amp = line.rfind("&", 0, cut)
            if amp != -1 and ";" not in line[amp:cut]:
                cut = amp
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


def source_dicts(sources: Sequence[object]) -> list[SourceDict]:
    out: list[SourceDict] = []
    for s in sources:
        if isinstance(s, dict):
            out.append({k: s.get(k) for k in ("doc", "title", "section", "score")})
        else:
            out.append({k: getattr(s, k, None) for k in ("doc", "title", "section", "score")})
    return out


def render_sources(sources: Sequence[SourceDict], lang: str) -> str:
    if not sources:
        return ""
    lines = [t("<b>Sources</b>", lang)]
    for s in sources:
        title = str(s.get("title") or s.get("doc") or "")
        section = str(s.get("section") or "")
        lines.append("• " + escape(title) + (f" — {escape(section)}" if section and section != title else ""))
    return "\n".join(lines)


def answer_with_sources(text: str, sources: Sequence[SourceDict], lang: str) -> str:
    src = render_sources(sources, lang)
    return escape(text) + ("\n\n" + src if src else "")


def phone_numbers(text: str) -> list[str]:
    """The phone numbers a passage gives, in order, once each (dates and amounts are not numbers to call)."""
    found: list[str] = []
    for match in _PHONE_RE.finditer(text):
        number = match.group(0).strip()
        digits = re.sub(r"\D", "", number)
        if not 5 <= len(digits) <= 15 or _DATE_RE.fullmatch(number) or number in found:
            continue
        found.append(number)
    digits_of = {n: re.sub(r"\D", "", n) for n in found}
    # a number cut short in a passage ("400-800") beside the whole one is not a second number
    return [n for n in found if not any(o != n and digits_of[n] in digits_of[o] for o in found)]


def playbook(kind: str, lang: str, *, hotlines: Sequence[str], hotline_passage: str) -> str:
    """The first lines of an emergency reply: what to do now (HTML)."""
    return render(f"customer/emergency/{kind}_{lang}.j2", hotlines=[escape(h) for h in hotlines],
                  passage=escape(hotline_passage))


def customer_text(template: str, lang: str, **values: object) -> str:
    """A short customer-side reply from `prompts/customer/<name>_<lang>.j2` (values escaped)."""
    return render(f"customer/{template}_{lang}.j2", **{k: escape(v) for k, v in values.items()})


def profile_line(client: Client, topic: str, lang: str) -> str:
    if topic == "assessment":
        from bot.services.rules import assessment_expires_on

        if not client.risk_rating or client.risk_assessed_on is None:
            return t("No valid risk assessment on file; your relationship manager can arrange one.", lang)
        return t("Risk rating {rating}, assessed on {assessed}, valid until {until}", lang, rating=client.risk_rating,
                 assessed=day(client.risk_assessed_on, lang), until=day(assessment_expires_on(client), lang))
    if client.id_expiry is None:
        return t("No ID document expiry date on file.", lang)
    return t("ID document on file valid until {date}", lang, date=day(client.id_expiry, lang))


def product_name(h: Holding, product: Product | None, lang: str) -> str:
    if product is None:
        return h.product_code
    return product.name_en if lang == "en" else product.name_zh


def holding_line(h: Holding, name: str, lang: str) -> str:
    tail = Html(t(" (ending {tail})", lang, tail=h.account_tail)) if h.account_tail else ""
    amount = fmt_amount(h.amount, h.currency)
    if h.kind == HoldingKind.DEPOSIT:
        return t("Time deposit {name}{tail}: {amount}, matures on {date}", lang, name=name, tail=tail, amount=amount,
                 date=day(h.maturity_date, lang))
    if h.kind == HoldingKind.WEALTH:
        if h.maturity_date is None:  # an open-ended product (daily liquidity): no date to show
            return t("Wealth product {name}: {amount}", lang, name=name, amount=amount)
        return t("Wealth product {name}: {amount}, matures on {date}", lang, name=name, amount=amount,
                 date=day(h.maturity_date, lang))
    if h.kind == HoldingKind.CARD:
        return t("Card {name}{tail}: valid until {date}", lang, name=name, tail=tail, date=day(h.maturity_date, lang))
    if h.kind == HoldingKind.LOAN:
        return t("Loan {name}: next repayment {due_amount} on {date}", lang, name=name,
                 due_amount=fmt_amount(h.next_due_amount, h.currency), date=day(h.next_due_date, lang))
    if h.kind == HoldingKind.PENSION:
        return t("Personal pension account {name}: balance {amount}", lang, name=name, amount=amount)
    return f"{escape(name)}: {escape(amount)}"


def rate_line(h: Holding, product: Product | None, lang: str) -> str:
    """The rate of one holding as the product record gives it (never computed or guessed)."""
    name = product_name(h, product, lang)
    tail = Html(t(" (ending {tail})", lang, tail=h.account_tail)) if h.account_tail else ""
    rate = product.rate_text if product is not None and product.rate_text else None
    return customer_text("rate_line", lang, name=name, tail=tail, rate=rate or "")
