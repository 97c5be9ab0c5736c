"""Plan a range of days and check every draft against the bank's invariants (`rmbot bench plan-days`).

Per day the planner runs as `rmbot plan --dry-run` does (nothing stored), by default for every
client whether reachable on Telegram or not (`reach=False`: the texts of all clients are checked,
not only of those who would be put in review). Checked for each draft:

- one message per client per day;
- a recommendation's product: its minimum <= the amount it was matched against, currency, term,
  segment, suitability (risk level <= rating, a valid assessment), and the policy (at most one
  level above a maturing deposit);
- risk notices: the wealth notice only where a wealth product is the subject, the fund notice on
  fund messages, nothing on deposit-only messages;
- no 快乐 / happy on 清明; English drafts carry no Chinese except names;
- tense: no "将于 <today>" / "matures on <today>" for what matures today;
- and no blocking finding of the compliance gate (promise words, numbers, wording for the day...).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client, Product
from bot.services import compliance, rules
from bot.settings import Settings
from scheduler.calendar import QINGMING, festivals
from scheduler.planner import PlannedDraft, plan_day


@dataclass
class VerifyReport:
    days: int = 0
    drafts: int = 0
    recommendations: int = 0
    clients_with_drafts: int = 0
    seconds: float = 0.0
    violations: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, rule: str, example: str) -> None:
        self.violations[rule] += 1
        self.examples.setdefault(rule, example)


def _qingming(day: date) -> bool:
    return any(f.key == QINGMING and f.first_day == day for f in festivals(day.year, qingming_greeting=True))


def _product_violations(d: PlannedDraft, client: rules.SegmentedClient, product: rules.ProductTerms,
                        day: date) -> Iterable[str]:
    if d.amount is None:
        yield "recommendation_without_amount"
        return
    if product.min_amount is not None and Decimal(product.min_amount) > d.amount:
        yield "below_product_minimum"
    if rules.suitability_problem(client, product, day) is not None:
        yield "unsuitable_product"
    segments = [s for s in (product.segments or "").split(",") if s]
    if segments and (client.segment or "") not in segments:
        yield "wrong_segment"
    if (product.currency or "CNY") != "CNY":
        yield "wrong_currency"
    if d.occasion in ("maturity_product", "maturity_renewal") and \
            rules.product_level(product) > rules.DEPOSIT_LEVEL + rules.MAX_STEP_UP:
        yield "above_policy"


def _notice_violations(d: PlannedDraft, product: rules.ProductTerms | None) -> Iterable[str]:
    notices = set(d.context.get("notices") or ())
    has_wealth = compliance.carries_notice(d.text, "wealth")
    wealth_subject = "wealth" in notices
    if product is not None and compliance.notice_for_type(product.type) == "wealth":
        wealth_subject = True
    if has_wealth and not wealth_subject:
        yield "wealth_notice_on_deposit"
    if wealth_subject and not has_wealth:
        yield "wealth_notice_missing"
    if "fund" in notices and not compliance.carries_notice(d.text, "fund"):
        yield "fund_notice_missing"


def _text_violations(d: PlannedDraft, day: date) -> Iterable[str]:
    lowered = d.text.lower()
    if _qingming(day) and ("快乐" in d.text or "happy" in lowered):
        yield "festive_on_qingming"
    if d.language == "en":
        rest = d.text
        for name in sorted(d.context.get("names") or (), key=len, reverse=True):
            rest = rest.replace(name, "")
        if compliance._CJK.search(rest):
            yield "chinese_in_english_draft"
    for part in d.context.get("parts") or ():
        values = part.get("values") or {}
        if values.get("due_today") and ("将于" in part.get("body", "") or "matures on" in part.get("body", "")):
            yield "future_tense_on_the_day"
    if compliance.blocking(d.flags):
        yield "compliance:" + ",".join(compliance.blocking(d.flags))


def check_day(report: VerifyReport, day: date, drafts: list[PlannedDraft], clients: Mapping[int, rules.SegmentedClient],
              products: Mapping[str, rules.ProductTerms]) -> None:
    per_client = Counter(d.client_id for d in drafts)
    for client_id, n in per_client.items():
        if n > 1:
            report.add("more_than_one_message", f"{day} client {client_id}: {n}")
    report.drafts += len(drafts)
    report.clients_with_drafts += len(per_client)
    for d in drafts:
        report.kinds[d.kind] += 1
        client = clients[d.client_id]
        product = products.get(d.product["code"]) if d.product else None
        found: list[str] = []
        if d.kind == "recommendation" and product is None:
            found.append("recommendation_without_product")
        elif d.kind == "recommendation" and product is not None:
            report.recommendations += 1
            found += _product_violations(d, client, product, day)
        found += _notice_violations(d, product)
        found += _text_violations(d, day)
        for rule in found:
            report.add(rule, f"{day} {d.client_no} {d.occasion}: {d.text[:120]!r}")


async def verify_days(session: AsyncSession, settings: Settings, start: date, end: date, *, reach: bool = False,
                      manager_id: int | None = None,
                      progress: Callable[[date], None] | None = None) -> VerifyReport:
    """Plan each day of [start, end] (dry run) and check every draft; see the module docstring."""
    started = time.perf_counter()
    report = VerifyReport()
    clients = {c.id: c for c in (await session.scalars(select(Client))).all()}
    products = {p.code: p for p in (await session.scalars(select(Product))).all()}
    day = start
    while day <= end:
        result = await plan_day(session, settings, day, dry_run=True, reach=reach, manager_id=manager_id)
        check_day(report, day, result.drafts, clients, products)
        report.days += 1
        if progress is not None:
            progress(day)
        day += timedelta(days=1)
    report.seconds = time.perf_counter() - started
    return report
