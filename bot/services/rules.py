"""The bank's rules, in one place: applied when drafting (the planner) and again right before
sending (the sender calls `send_problem`).

- Marketing = greeting + recommendation; service = reminder (exempt from consent and caps, not
  from a block, quiet hours or the client's "reminders off").
- Quiet hours are in the client's own time zone (default 21:00-08:00).
- Caps (`marketing_caps`, counted by `cap_problem`): at most `marketing_daily_cap` marketing messages
  on one of the client's local days and `marketing_weekly_cap` in any 7 consecutive local days.
- Suitability: product risk R1-R5 never above the client's rating C1-C5; no investment product
  when the risk assessment is missing or expired.

Functions accept ORM objects or any object with the same attribute names (rows of plain column
selects), so the planner can work in batches without loading entities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Draft, DraftKind, OutboxItem, OutboxStatus
from bot.settings import Settings, parse_hhmm

# Reason codes (send_problem, planner skips, suitability). Stable strings: they are stored,
# counted and shown to managers.
OPTED_OUT = "opted_out"
NO_CONSENT = "no_consent"
BLOCKED = "blocked"
UNBOUND = "unbound"
QUIET_HOURS = "quiet_hours"
DAILY_CAP = "daily_cap"
WEEKLY_CAP = "weekly_cap"
REMINDERS_OFF = "reminders_off"
STALE = "stale"  # a greeting whose day has passed (approved or retried too late)

# Suitability problems
NO_RISK_RATING = "no_risk_rating"
ASSESSMENT_EXPIRED = "assessment_expired"
RISK_TOO_HIGH = "risk_too_high"
PRODUCT_INACTIVE = "product_inactive"

MARKETING_KINDS = frozenset({DraftKind.GREETING.value, DraftKind.RECOMMENDATION.value})
SERVICE_KINDS = frozenset({DraftKind.REMINDER.value})
# A greeting may still go out this many days after the day it was planned for (client's local date).
GREETING_GRACE_DAYS = 1
# A risk assessment (风险测评) is valid for 12 months from the day it was taken.
ASSESSMENT_VALID_MONTHS = 12
# Product types that are investments even when the row lacks a risk level.
INVESTMENT_TYPES = frozenset({"wealth", "fund", "insurance", "bond", "gold"})


def is_marketing(kind: str) -> bool:
    """Greetings and recommendations are marketing; reminders (and replies) are not."""
    return str(kind) in MARKETING_KINDS


def in_quiet_hours(local_time: time, start: str, end: str) -> bool:
    """True when `local_time` is inside [start, end) (wrapping past midnight when start > end).
    start == end means no quiet hours."""
    t = local_time.replace(tzinfo=None)
    s, e = parse_hhmm(start), parse_hhmm(end)
    if s == e:
        return False
    if s < e:
        return s <= t < e
    return t >= s or t < e


@lru_cache(maxsize=512)
def zone(name: str | None, default: str = "Asia/Shanghai") -> ZoneInfo:
    """The client's zone; an unknown or empty name falls back to `default`."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def _local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)
    # Round-trip through UTC so a wall time in a DST gap lands on a real instant.
    return local.astimezone(UTC)


def next_send_time(now_utc: datetime, client_tz: str, start: str, end: str) -> datetime:
    """The earliest aware-UTC instant >= now that is outside quiet hours in the client's zone."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    tz = zone(client_tz)
    local = now_utc.astimezone(tz)
    if not in_quiet_hours(local.time(), start, end):
        return now_utc.astimezone(UTC)
    s, e = parse_hhmm(start), parse_hhmm(end)
    day = local.date()
    if s > e and local.time().replace(tzinfo=None) >= s:
        day = day + timedelta(days=1)  # evening: the night ends tomorrow morning
    return max(_local_to_utc(day, e, tz), now_utc.astimezone(UTC))


def local_time_utc(day: date, at: str, client_tz: str) -> datetime:
    """`day` at local wall time `at` (HH:MM) in the client's zone, as aware UTC."""
    return _local_to_utc(day, parse_hhmm(at), zone(client_tz))


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


class RiskProfile(Protocol):
    """What the suitability rules read of a client (`bot.db.models.Client` is one). Read as attributes, never
    with a default: a renamed column must fail loudly, not pass a product as suitable."""

    @property
    def risk_rating(self) -> str | None: ...  # C1..C5
    @property
    def risk_assessed_on(self) -> date | None: ...


class SegmentedClient(RiskProfile, Protocol):
    """A client a product is matched against: its risk profile and its segment (mass, affluent, wealth)."""

    @property
    def segment(self) -> str | None: ...


class ProductTerms(Protocol):
    """What the rules read of a product (`bot.db.models.Product` and the planner's `ProductInfo`)."""

    @property
    def code(self) -> str: ...
    @property
    def type(self) -> str: ...  # deposit, wealth, fund, pension, card, loan
    @property
    def risk_level(self) -> str | None: ...  # R1..R5 for investment products
    @property
    def is_investment(self) -> bool: ...
    @property
    def term_days(self) -> int | None: ...
    @property
    def min_amount(self) -> Decimal | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def segments(self) -> str | None: ...  # comma-separated; empty: every segment
    @property
    def active(self) -> bool: ...


_Product = TypeVar("_Product", bound=ProductTerms)


def assessment_expires_on(client: RiskProfile) -> date | None:
    """First day on which the client's risk assessment is no longer valid (None: never assessed)."""
    assessed = client.risk_assessed_on
    if assessed is None:
        return None
    return _add_months(assessed, ASSESSMENT_VALID_MONTHS)


def assessment_expired(client: RiskProfile, today: date) -> bool:
    """True when the client has no risk assessment or it is older than 12 months."""
    expires = assessment_expires_on(client)
    return expires is None or today >= expires


def is_investment(product: ProductTerms) -> bool:
    return bool(product.is_investment or (product.type or "").lower() in INVESTMENT_TYPES or product.risk_level)


def _level(value: str | None) -> int | None:
    if not value or len(value) < 2 or not value[1:].isdigit():
        return None
    return int(value[1:])


def suitability_problem(client: RiskProfile, product: ProductTerms, today: date) -> str | None:
    """Why this product may not be offered to this client today, or None when it may.

    Any product with a risk level (or of an investment type) needs a valid assessment and a
    client rating at least as high as the product's level; a product with no risk level and a
    non-investment type (a deposit) is always suitable."""
    if not product.active:
        return PRODUCT_INACTIVE
    if not is_investment(product):
        return None
    rating = _level(client.risk_rating)
    if rating is None:
        return NO_RISK_RATING
    if assessment_expired(client, today):
        return ASSESSMENT_EXPIRED
    level = _level(product.risk_level)
    if level is None:
        level = 5  # an investment with an unknown level is treated as the riskiest
    if level > rating:
        return RISK_TOO_HIGH
    return None


class Contactable(Protocol):
    """What the contact rules read of a client (`bot.db.models.Client` is one). Read as attributes, never with
    a default: a renamed column must fail loudly, not send marketing to an opted-out client."""

    @property
    def blocked(self) -> bool: ...
    @property
    def opted_out(self) -> bool: ...
    @property
    def marketing_consent(self) -> bool: ...
    @property
    def reminders_enabled(self) -> bool: ...


class Reachable(Contactable, Protocol):
    """A client a message can be sent to now: its chat and its time zone as well."""

    @property
    def telegram_chat_id(self) -> int | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def id(self) -> int: ...


def contact_problem(client: Contactable, kind: str) -> str | None:
    """The client-level rules (no time involved): block, consent/opt-out, reminders off.
    Used by the planner before drafting and by `send_problem`."""
    if client.blocked:
        return BLOCKED
    if is_marketing(kind):
        if client.opted_out:
            return OPTED_OUT
        if not client.marketing_consent:
            return NO_CONSENT
    elif str(kind) in SERVICE_KINDS and not client.reminders_enabled:
        return REMINDERS_OFF
    return None


@dataclass(frozen=True)
class Cap:
    """A marketing cap: at most `limit` marketing messages in any `days` consecutive local days."""

    reason: str
    days: int
    limit: int


def marketing_caps(settings: Settings) -> tuple[Cap, ...]:
    """The caps and their windows, in the order they are checked (the one definition: the planner counts
    planned drafts against them, `send_problem` counts sent messages)."""
    return (Cap(DAILY_CAP, 1, settings.marketing_daily_cap), Cap(WEEKLY_CAP, 7, settings.marketing_weekly_cap))


def cap_reach(caps: Iterable[Cap]) -> int:
    """How many days either side of a day can share a cap window with it (what to load to count)."""
    return max((cap.days for cap in caps), default=1) - 1


def cap_problem(caps: Iterable[Cap], day: date, others: Iterable[date]) -> str | None:
    """Whether one more marketing message on local day `day` would break a cap, given the local days of the
    client's other marketing messages: every window of `cap.days` consecutive days containing `day` must hold
    at most `cap.limit` messages, the new one included. The first cap broken, or None."""
    counted = Counter(others)
    for cap in caps:
        for first in range(cap.days):
            start = day - timedelta(days=first)
            in_window = sum(n for d, n in counted.items() if start <= d < start + timedelta(days=cap.days))
            if in_window + 1 > cap.limit:
                return cap.reason
    return None


async def _sent_marketing_days(
    session: AsyncSession, client_id: int, start: datetime, end: datetime, tz: ZoneInfo, exclude: int | None
) -> list[date]:
    """The client's local days of the marketing messages sent in [start, end)."""
    query = select(OutboxItem.sent_at).where(
        OutboxItem.client_id == client_id,
        OutboxItem.kind.in_(sorted(MARKETING_KINDS)),
        OutboxItem.status == OutboxStatus.SENT.value,
        OutboxItem.sent_at >= start,
        OutboxItem.sent_at < end,
    )
    if exclude is not None:
        query = query.where(OutboxItem.id != exclude)
    return [sent_at.astimezone(tz).date() for sent_at in (await session.scalars(query)).all() if sent_at]


async def send_problem(
    session: AsyncSession,
    *,
    client: Reachable,
    kind: str,
    when_utc: datetime,
    settings: Settings,
    outbox_id: int | None = None,
) -> str | None:
    """The re-check right before a message goes out. Returns a reason code, or None when the
    message may be sent now.

    Order: blocked, unbound, consent/opt-out (marketing) or reminders off (reminders), quiet
    hours, a greeting whose day has passed (more than GREETING_GRACE_DAYS after its plan date, in
    the client's local date; needs `outbox_id`), then the marketing caps (`cap_problem` over the
    local days of the marketing OutboxItems already SENT to the client; `outbox_id` is excluded).
    Manager replies (kind "reply") are only stopped by a block or a missing chat."""
    if client.blocked:
        return BLOCKED
    if client.telegram_chat_id is None:
        return UNBOUND
    if str(kind) not in MARKETING_KINDS and str(kind) not in SERVICE_KINDS:
        return None  # a reply in a conversation the customer started
    problem = contact_problem(client, kind)
    if problem:
        return problem
    tz = zone(client.timezone or settings.timezone, settings.timezone)
    local = when_utc.astimezone(tz)
    if in_quiet_hours(local.time(), settings.quiet_hours_start, settings.quiet_hours_end):
        return QUIET_HOURS
    if not is_marketing(kind):
        return None
    if str(kind) == DraftKind.GREETING.value and outbox_id is not None:
        planned_for = await session.scalar(
            select(Draft.plan_date).join(OutboxItem, OutboxItem.draft_id == Draft.id).where(OutboxItem.id == outbox_id))
        if planned_for is not None and local.date() > planned_for + timedelta(days=GREETING_GRACE_DAYS):
            return STALE
    caps = marketing_caps(settings)
    start = _local_to_utc(local.date() - timedelta(days=cap_reach(caps)), time(0, 0), tz)
    end = _local_to_utc(local.date() + timedelta(days=1), time(0, 0), tz)
    return cap_problem(caps, local.date(), await _sent_marketing_days(session, client.id, start, end, tz, outbox_id))


# --------------------------------------------------------------------------------------------
# Product eligibility and the suitability policy (which product a recommendation may name).
#
# Eligibility: the product's minimum amount, currency, term and target segments, plus
# suitability (risk level <= rating, a valid assessment for any investment). Policy, on top:
# conservative. The reference is the riskiest of the client's current holdings, capped at one
# level above what matures (a maturing deposit counts as R1); the product nearest that level
# is chosen (ties: the lower level, a deposit, the client's own product), never simply the riskiest
# the rating allows. Every rule gives a verdict the manager sees in their language.

DEPOSIT_LEVEL = 1  # a deposit (or pension savings) is the lowest risk there is
MAX_STEP_UP = 1

# Eligibility problems (skip reasons)
BELOW_MINIMUM = "below_minimum"
WRONG_CURRENCY = "wrong_currency"
TERM_TOO_LONG = "term_too_long"
WRONG_SEGMENT = "wrong_segment"
ABOVE_POLICY = "above_policy"

SEGMENT_LABELS = {"mass": ("大众客户", "mass"), "affluent": ("富裕客户", "affluent"),
                  "wealth": ("财富客户", "wealth")}


@dataclass(frozen=True)
class Verdict:
    """One rule's outcome for one product, e.g. ✓ 起购 ¥10,000 ≤ ¥54,000."""

    rule: str
    ok: bool
    zh: str
    en: str

    def text(self, language: str) -> str:
        return ("✓ " if self.ok else "✗ ") + (self.zh if language == "zh" else self.en)


@dataclass(frozen=True)
class Offer:
    """What a recommendation is matched against: the money (a maturing holding or the client's
    assets), its currency, the longest term that fits, and the reference risk level."""

    amount: Decimal
    currency: str = "CNY"
    max_term_days: int | None = None
    reference_level: int = DEPOSIT_LEVEL
    step_cap: int | None = None  # at most this level (what matures + MAX_STEP_UP)
    prefer_code: str | None = None  # the client's own product, on a tie


def product_level(product: ProductTerms) -> int:
    """R1..R5 as 1..5; a non-investment (deposit) counts as R1; an investment without a level as R5."""
    level = _level(product.risk_level)
    if level is not None:
        return level
    return 5 if is_investment(product) else DEPOSIT_LEVEL


def _segments(product: ProductTerms) -> list[str]:
    raw = product.segments
    if not raw:
        return []
    return [s.strip().lower() for s in raw.split(",") if s and s.strip()]


def _risk_verdicts(client: RiskProfile, product: ProductTerms, today: date) -> list[Verdict]:
    if not is_investment(product):
        return [Verdict("risk", True, "风险等级 存款类产品，不适用", "risk level: a deposit, not applicable")]
    rating = client.risk_rating or "-"
    level = product.risk_level or "R5"
    problem = suitability_problem(client, product, today)
    expires = assessment_expires_on(client)
    out = [Verdict("risk", problem not in (RISK_TOO_HIGH, NO_RISK_RATING),
                   f"风险等级 {level} ≤ {rating}", f"risk level {level} ≤ {rating}")]
    out.append(Verdict("assessment", problem not in (ASSESSMENT_EXPIRED, NO_RISK_RATING),
                       f"风险测评有效至 {expires.isoformat() if expires else '-'}",
                       f"risk assessment valid until {expires.isoformat() if expires else '-'}"))
    return out


def product_verdicts(client: SegmentedClient, product: ProductTerms, today: date, offer: Offer) -> list[Verdict]:
    """Every eligibility rule's verdict for this client, product and money."""
    from bot.services.formats import fmt_money_short

    out = _risk_verdicts(client, product, today)
    minimum = product.min_amount
    if minimum is not None:
        have, need = fmt_money_short(offer.amount, offer.currency), fmt_money_short(minimum, offer.currency)
        out.append(Verdict("min_amount", Decimal(minimum) <= offer.amount,
                           f"起购 {need} ≤ {have}", f"minimum {need} ≤ {have}"))
    currency = (product.currency or "CNY").upper()
    out.append(Verdict("currency", currency == (offer.currency or "CNY").upper(),
                       f"币种 {currency}", f"currency {currency}"))
    term = product.term_days
    if term and offer.max_term_days:
        out.append(Verdict("term", term <= offer.max_term_days, f"期限 {term}天 ≤ {offer.max_term_days}天",
                           f"term {term} days ≤ {offer.max_term_days} days"))
    segments = _segments(product)
    if segments:
        segment = (client.segment or "").lower()
        zh, en = SEGMENT_LABELS.get(segment, (segment or "-", segment or "-"))
        out.append(Verdict("segment", segment in segments, f"目标客群 {zh}", f"target segment {en}"))
    if offer.step_cap is not None:
        level = product_level(product)
        out.append(Verdict("policy", level <= offer.step_cap, f"风险不高于到期产品一级 R{level} ≤ R{offer.step_cap}",
                           f"at most one level above what matures R{level} ≤ R{offer.step_cap}"))
    return out


def choose_product(client: SegmentedClient, products: Iterable[_Product], today: date,
                   offer: Offer) -> tuple[_Product | None, list[Verdict]]:
    """The product a recommendation may name under the policy, with its verdicts (None: none is
    eligible). Nearest the reference level, then the lower level, then a deposit before an
    investment of the same level, then the client's own product."""
    best: tuple[tuple[int, int, int, int, str], _Product, list[Verdict]] | None = None
    for product in products:
        if not product.active:
            continue
        verdicts = product_verdicts(client, product, today, offer)
        if not all(v.ok for v in verdicts):
            continue
        level = product_level(product)
        key = (abs(level - offer.reference_level), level, int(is_investment(product)),
               0 if product.code == offer.prefer_code else 1, product.code)
        if best is None or key < best[0]:
            best = (key, product, verdicts)
    if best is None:
        return None, []
    return best[1], best[2]


def offer_problem(client: SegmentedClient, product: ProductTerms, today: date, offer: Offer) -> str | None:
    """The first failed rule as a reason code (None: the product may be named)."""
    codes = {"risk": RISK_TOO_HIGH, "assessment": ASSESSMENT_EXPIRED, "min_amount": BELOW_MINIMUM,
             "currency": WRONG_CURRENCY, "term": TERM_TOO_LONG, "segment": WRONG_SEGMENT,
             "policy": ABOVE_POLICY}
    if not product.active:
        return PRODUCT_INACTIVE
    for v in product_verdicts(client, product, today, offer):
        if not v.ok:
            return codes.get(v.rule, v.rule)
    return None
