"""What is worth saying to one client on one day: greetings, service reminders, recommendations.

Pure functions over plain rows (no database here): `candidates(client, holdings, day, catalog,
qingming_greeting=...)` returns every occasion that applies, each with its dedupe key, the values
its template needs (JSON-safe, formatted exactly from the data) and the reasons the manager sees.
The planner then applies consent, caps and collisions (bot/services/rules.py).

Windows: a reminder or recommendation may be planned on any day of its window; its dedupe key
(per holding and date, per month, per year...) makes sure it is drafted once, so a missed
morning is caught up the next day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from bot.db.models import DraftKind, HoldingKind, Product
from bot.services import rules
from bot.services.compliance import notice_for_type
from bot.services.formats import fmt_amount, fmt_date, fmt_money_short
from scheduler.calendar import QINGMING, Festival, festival_on

__all__ = ["Candidate", "Catalog", "ProductInfo", "candidates"]
Reason = tuple[str, str]  # (zh, en): shown in the manager's language

MATURITY_NOTICE_DAYS = 7
LOAN_NOTICE_DAYS = 3
ASSESSMENT_NOTICE_DAYS = 30
ID_NOTICE_DAYS = 30
PENSION_SEASON_START = (12, 1)  # contributions count for the year until 31 Dec
ZERO = Decimal("0")
ASSET_KINDS = (HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value, HoldingKind.PENSION.value)

# Order inside one kind when several apply on the same day (lower first).
GREETING_ORDER = {"birthday": 0, "anniversary": 2, "activation": 3}  # festivals: 1
RECOMMENDATION_ORDER = {"maturity_renewal": 0, "maturity_product": 0, "pension": 1}


class ClientFacts(rules.SegmentedClient, Protocol):
    """What the occasions read of a client: a `bot.db.models.Client`, or a row of those columns (the planner
    selects only the columns it needs). Attributes, never getattr with a default: a column left out of the
    row fails loudly."""

    @property
    def id(self) -> int: ...
    @property
    def birthday(self) -> date | None: ...
    @property
    def customer_since(self) -> date | None: ...
    @property
    def id_expiry(self) -> date | None: ...


class HoldingFacts(Protocol):
    """What the occasions read of a holding: a `bot.db.models.Holding`, or a row of those columns."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def product_code(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def start_date(self) -> date | None: ...
    @property
    def maturity_date(self) -> date | None: ...  # card: expiry
    @property
    def next_due_date(self) -> date | None: ...  # loan
    @property
    def next_due_amount(self) -> Decimal | None: ...
    @property
    def account_tail(self) -> str | None: ...


@dataclass
class ProductInfo:
    code: str
    name_zh: str
    name_en: str
    type: str
    risk_level: str | None
    is_investment: bool
    term_days: int | None
    min_amount: Decimal | None
    active: bool = True
    currency: str = "CNY"
    segments: str | None = None

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en

    @property
    def notice(self) -> str | None:
        """The risk notice its messages carry: by type; an investment of another type: wealth."""
        return notice_for_type(self.type) or ("wealth" if self.is_investment else None)

    def as_json(self, language: str) -> dict[str, Any]:
        return {"code": self.code, "name": self.name(language), "type": self.type, "risk_level": self.risk_level,
                "min_amount": str(self.min_amount) if self.min_amount is not None else None,
                "currency": self.currency, "term_days": self.term_days, "segments": self.segments}


@dataclass
class Catalog:
    """The active products, by role."""

    products: dict[str, ProductInfo]

    @classmethod
    def of(cls, products: Iterable[Product]) -> Catalog:
        items = {}
        for p in products:
            items[p.code] = ProductInfo(
                code=p.code, name_zh=p.name_zh, name_en=p.name_en, type=(p.type or "").lower(),
                risk_level=p.risk_level, is_investment=bool(p.is_investment), term_days=p.term_days,
                min_amount=p.min_amount, active=bool(p.active), currency=(p.currency or "CNY").upper(),
                segments=p.segments,
            )
        return cls(items)

    def of_type(self, *types: str) -> list[ProductInfo]:
        return [p for p in self.products.values() if p.active and p.type in types]


@dataclass
class Candidate:
    kind: str  # greeting | reminder | recommendation
    occasion: str
    dedupe_key: str
    values: dict[str, Any] = field(default_factory=dict)  # per-occasion template values (no language)
    dated: dict[str, date] = field(default_factory=dict)  # dates formatted per language at render
    localized: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (zh, en)
    reasons: list[Reason] = field(default_factory=list)
    product: ProductInfo | None = None
    notices: tuple[str, ...] = ()  # risk notices the message must carry ("wealth", "fund")
    holding_id: int | None = None  # the holding it is about (a reminder and a pitch on it become one)
    amount: Decimal | None = None  # what a recommendation's product was matched against
    order: int = 1
    absorbed_reminder: bool = False  # a pitch that also carries the reminder on its holding

    @property
    def template(self) -> str:
        return f"drafts/{self.kind}/{self.occasion}"

    @property
    def product_message(self) -> bool:
        return bool(self.notices)


def _rating_reason(client: ClientFacts) -> Reason:
    if client.risk_rating:
        return (f"风险评级 {client.risk_rating}", f"risk rating {client.risk_rating}")
    return ("无风险评级", "no risk rating")


def _anniversary(start: date | None, day: date) -> int | None:
    if start is None or start >= day:
        return None
    if (start.month, start.day) == (day.month, day.day):
        return day.year - start.year
    # 29 Feb is celebrated on 28 Feb in common years
    if (start.month, start.day) == (2, 29) and (day.month, day.day) == (2, 28):
        try:
            date(day.year, 2, 29)
        except ValueError:
            return day.year - start.year
    return None


def tenure_years(client: ClientFacts, day: date) -> int:
    """Whole years with the bank on `day` (0: joined less than a year ago, or unknown)."""
    since = client.customer_since
    if since is None or since > day:
        return 0
    years: int = day.year - since.year - ((day.month, day.day) < (since.month, since.day))
    return max(years, 0)


def day_values(client: ClientFacts, day: date, festival: Festival | None) -> dict[str, Any]:
    """Values every template of the day may use: the festival's tense (eve or the day itself),
    a quiet day (清明: no 快乐 in any greeting), the client's tenure and segment."""
    festival_day = (festival.day or festival.first_day) if festival is not None else None
    since = client.customer_since
    remembrance = festival_on(day, qingming_greeting=True)
    return {
        "festival_today": festival_day == day,
        "eve": festival is not None and festival.day is not None and day < festival.day,
        "quiet_day": remembrance is not None and remembrance.key == QINGMING,
        "tenure_years": tenure_years(client, day),
        "new_client": since is None or tenure_years(client, day) < 1,
        "segment": (client.segment or "").lower(),
        "customer_since": since.isoformat() if since else None,
    }


def greetings(client: ClientFacts, day: date, festival: Festival | None) -> list[Candidate]:
    out: list[Candidate] = []
    if festival is not None:
        out.append(Candidate(DraftKind.GREETING.value, festival.key, festival.dedupe_key,
                             localized={"festival_name": (festival.name_zh, festival.name_en)},
                             reasons=[(festival.name_zh, festival.name_en)], order=1))
    if client.birthday is not None and _anniversary(client.birthday, day) is not None:
        out.append(Candidate(DraftKind.GREETING.value, "birthday", f"greeting:birthday:{day.year}",
                             reasons=[("今天生日", "birthday today")], order=GREETING_ORDER["birthday"]))
    joined = client.customer_since
    years = _anniversary(joined, day)
    if years and joined is not None:  # an anniversary has a first day
        since = joined.isoformat()
        out.append(Candidate(DraftKind.GREETING.value, "anniversary", f"greeting:anniversary:{day.year}",
                             values={"years": str(years)},
                             reasons=[(f"开户 {years} 周年（{since} 起）",
                                       f"{years} year(s) with the bank since {since}")],
                             order=GREETING_ORDER["anniversary"]))
    return out


def _maturity_reminder(h: HoldingFacts, matures: date, day: date, catalog: Catalog) -> Candidate:
    days = (matures - day).days
    occasion = f"{h.kind}_maturity_{'today' if days == 0 else '7d'}"
    product = catalog.products.get(h.product_code)
    if h.kind == HoldingKind.WEALTH.value:
        notice = (product.notice if product is not None else None) or "wealth"
        notices: tuple[str, ...] = (notice,)
    else:
        notices = ()
    amount = fmt_amount(h.amount, h.currency)
    kind_zh = "定期存款" if h.kind == HoldingKind.DEPOSIT.value else "理财产品"
    return Candidate(
        DraftKind.REMINDER.value, occasion, f"reminder:{occasion}:{h.id}:{matures.isoformat()}",
        values={"amount": amount, "account_tail": h.account_tail or "", "product_code": h.product_code,
                "due_today": days == 0},
        localized={"product_name": (product.name_zh, product.name_en) if product
                   else (h.product_code, h.product_code)},
        dated={"maturity_date": matures},
        reasons=[(f"{kind_zh} {amount} {fmt_date(matures, 'zh')}到期",
                  f"{h.kind} {amount} matures on {fmt_date(matures, 'en')}")],
        notices=notices, holding_id=h.id,
    )


def _holding_reminders(h: HoldingFacts, day: date, catalog: Catalog) -> list[Candidate]:
    kind = h.kind
    if kind in (HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value) and h.maturity_date is not None:
        if 0 <= (h.maturity_date - day).days <= MATURITY_NOTICE_DAYS:
            return [_maturity_reminder(h, h.maturity_date, day, catalog)]
    elif kind == HoldingKind.CARD.value and h.maturity_date is not None:
        nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        if (h.maturity_date.year, h.maturity_date.month) == (nxt.year, nxt.month):
            tail = h.account_tail or "?"
            return [Candidate(
                DraftKind.REMINDER.value, "card_expiry", f"reminder:card_expiry:{h.id}:{h.maturity_date}",
                values={"account_tail": h.account_tail or ""}, dated={"expiry_date": h.maturity_date},
                reasons=[(f"尾号{tail}信用卡 {fmt_date(h.maturity_date, 'zh')}到期",
                          f"card ending {tail} expires {fmt_date(h.maturity_date, 'en')}")],
                holding_id=h.id)]
    elif kind == HoldingKind.LOAN.value and h.next_due_date is not None:
        days = (h.next_due_date - day).days
        if 0 <= days <= LOAN_NOTICE_DAYS:
            due = fmt_amount(h.next_due_amount if h.next_due_amount is not None else h.amount, h.currency)
            return [Candidate(
                DraftKind.REMINDER.value, "loan_due", f"reminder:loan_due:{h.id}:{h.next_due_date}",
                values={"account_tail": h.account_tail or "", "due_amount": due, "due_today": days == 0},
                dated={"due_date": h.next_due_date},
                reasons=[(f"贷款还款 {due}，{fmt_date(h.next_due_date, 'zh')}到期",
                          f"loan repayment {due} due {fmt_date(h.next_due_date, 'en')}")],
                holding_id=h.id)]
    return []


def reminders(client: ClientFacts, holdings: Sequence[HoldingFacts], day: date, catalog: Catalog) -> list[Candidate]:
    out: list[Candidate] = []
    for h in holdings:
        out += _holding_reminders(h, day, catalog)
    expires = rules.assessment_expires_on(client)
    if expires is not None and 0 < (expires - day).days <= ASSESSMENT_NOTICE_DAYS:
        out.append(Candidate(
            DraftKind.REMINDER.value, "assessment_expiry", f"reminder:assessment_expiry:{expires}",
            dated={"expires_on": expires},
            reasons=[(f"风险测评（{client.risk_assessed_on}）将于 {fmt_date(expires, 'zh')} 到期",
                      f"risk assessment of {client.risk_assessed_on} expires {fmt_date(expires, 'en')}")],
        ))
    if client.id_expiry is not None and 0 <= (client.id_expiry - day).days <= ID_NOTICE_DAYS:
        out.append(Candidate(
            DraftKind.REMINDER.value, "id_expiry", f"reminder:id_expiry:{client.id_expiry}",
            values={"due_today": client.id_expiry == day}, dated={"id_expiry": client.id_expiry},
            reasons=[(f"身份证件 {fmt_date(client.id_expiry, 'zh')} 到期",
                      f"ID document expires {fmt_date(client.id_expiry, 'en')}")],
        ))
    has_pension = any(h.kind == HoldingKind.PENSION.value for h in holdings)
    if has_pension and (day.month, day.day) >= PENSION_SEASON_START:
        out.append(Candidate(
            DraftKind.REMINDER.value, "pension_contribution", f"reminder:pension_contribution:{day.year}",
            values={"year": str(day.year)}, dated={"deadline": date(day.year, 12, 31)},
            reasons=[(f"个人养老金账户：{day.year} 年度缴存 12月31日截止",
                      f"personal pension account: {day.year} contributions close on 31 Dec")],
        ))
    return out


def _reassessment(client: ClientFacts) -> Candidate:
    expires = rules.assessment_expires_on(client)
    key = f"reminder:risk_reassessment:{expires.isoformat() if expires else 'never'}"
    dated = {"expired_on": expires} if expires else {}
    return Candidate(
        DraftKind.REMINDER.value, "risk_reassessment", key, dated=dated,
        values={} if expires else {"expired_on": ""},
        reasons=[("风险测评已过期：推荐任何投资产品前需重新评估",
                  "risk assessment expired: re-assess before any investment product")
                 if expires else ("尚无风险测评：推荐任何投资产品前需先评估",
                                  "no risk assessment on file: assess before any investment product")],
    )


def review_day(client_id: int) -> int:
    """The client's day of the month from which recurring recommendations are due (1..28), so a
    book's monthly pitches spread over the month instead of landing on the 1st."""
    return 1 + client_id % 28


def _holdings_level(holdings: Sequence[HoldingFacts], catalog: Catalog) -> int:
    """The riskiest of the client's current holdings (deposits count as R1)."""
    levels = [rules.DEPOSIT_LEVEL]
    for h in holdings:
        if h.kind in ASSET_KINDS:
            product = catalog.products.get(h.product_code)
            if product is not None:
                levels.append(rules.product_level(product))
    return max(levels)


def _choice_reasons(product: ProductInfo, verdicts: Sequence[rules.Verdict], policy: Reason) -> list[Reason]:
    level = f"，{product.risk_level}" if product.risk_level else ""
    level_en = f", {product.risk_level}" if product.risk_level else ""
    out: list[Reason] = [(f"建议 {product.name_zh}（{product.code}{level}）",
                          f"suggest {product.name_en} ({product.code}{level_en})"), policy]
    return out + [(v.text("zh"), v.text("en")) for v in verdicts]


def _maturity_recommendation(client: ClientFacts, h: HoldingFacts, matures: date, holdings: Sequence[HoldingFacts],
                             day: date, catalog: Catalog) -> Candidate | None:
    cap = rules.DEPOSIT_LEVEL + rules.MAX_STEP_UP
    reference = min(_holdings_level(holdings, catalog), cap)
    term = (matures - h.start_date).days if h.start_date else None
    own = catalog.products.get(h.product_code)
    offer = rules.Offer(amount=Decimal(h.amount or ZERO), currency=h.currency or "CNY",
                        max_term_days=term or (own.term_days if own else None), reference_level=reference,
                        step_cap=cap, prefer_code=h.product_code)
    shelf = catalog.of_type("deposit", "wealth", "cash_management", "fund")
    product, verdicts = rules.choose_product(client, shelf, day, offer)
    if product is None:
        return None
    occasion = "maturity_renewal" if product.type == "deposit" else "maturity_product"
    amount = fmt_amount(h.amount, h.currency)
    policy = (f"依据：最接近现有持仓风险 R{reference}（至多高于到期产品一级）",
              f"rule: nearest the risk of current holdings R{reference} (at most one level above what matures)")
    reasons = [(f"定期存款 {amount} {fmt_date(matures, 'zh')}到期",
                f"deposit of {amount} matures on {fmt_date(matures, 'en')}"), _rating_reason(client)]
    return Candidate(
        DraftKind.RECOMMENDATION.value, occasion, f"recommendation:maturity:{h.id}:{matures}",
        values={"amount": amount, "account_tail": h.account_tail or "", "risk_level": product.risk_level or "",
                "due_today": matures == day},
        dated={"maturity_date": matures},
        reasons=reasons + _choice_reasons(product, verdicts, policy), product=product,
        notices=(product.notice,) if product.notice else (), holding_id=h.id, amount=offer.amount,
        order=RECOMMENDATION_ORDER[occasion],
    )


def _pension_recommendation(client: ClientFacts, assets: Decimal, day: date, catalog: Catalog,
                            month: str) -> Candidate | None:
    offer = rules.Offer(amount=assets)
    product, verdicts = rules.choose_product(client, catalog.of_type("pension"), day, offer)
    if product is None:
        return None
    policy = ("依据：未持有个人养老金账户，选风险最低者", "rule: holds no personal pension account; the lowest risk")
    return Candidate(
        DraftKind.RECOMMENDATION.value, "pension", f"recommendation:pension:{month}",
        values={"risk_level": product.risk_level or ""},
        reasons=[("未持有个人养老金账户", "holds no personal pension account"), _rating_reason(client),
                 (f"金融资产 {fmt_money_short(assets)}", f"assets {fmt_money_short(assets)}")]
        + _choice_reasons(product, verdicts, policy),
        product=product, notices=(product.notice,) if product.notice else (), amount=assets,
        order=RECOMMENDATION_ORDER["pension"],
    )


def recommendations(client: ClientFacts, holdings: Sequence[HoldingFacts], day: date,
                    catalog: Catalog) -> list[Candidate]:
    """The next best product, by transparent rules (at most one per rule and window):
    a maturing deposit (within 7 days) -> the product the policy chooses (bot/services/rules.py:
    eligible, nearest the risk of the client's holdings, at most one level above a deposit), a
    renewal when that is a deposit; some assets but no pension account -> personal pension (once a
    month, from the review day); no assets at all -> an introduction by the manager (a greeting
    that names no product: there is no money to match a product's minimum against).
    An investment product never goes to a client whose assessment expired: they get a
    re-assessment reminder instead."""
    out: list[Candidate] = []
    expired = rules.assessment_expired(client, day)
    month = f"{day.year}-{day.month:02d}"
    for h in holdings:
        if h.kind == HoldingKind.DEPOSIT.value and h.maturity_date is not None \
                and 0 <= (h.maturity_date - day).days <= MATURITY_NOTICE_DAYS:
            cand = _maturity_recommendation(client, h, h.maturity_date, holdings, day, catalog)
            if cand is not None:
                out.append(cand)
    assets = sum((Decimal(h.amount or ZERO) for h in holdings if h.kind in ASSET_KINDS), ZERO)
    recurring_due = day.day >= review_day(client.id)
    if recurring_due and assets > ZERO and not any(h.kind == HoldingKind.PENSION.value for h in holdings):
        cand = _pension_recommendation(client, assets, day, catalog, month)
        if cand is not None:
            out.append(cand)
    if recurring_due and assets == ZERO:  # an introduction, not a product pitch: a greeting
        out.append(Candidate(
            DraftKind.GREETING.value, "activation", f"greeting:activation:{month}",
            reasons=[("在我行无存款或投资（零资产）", "no deposits or investments with the bank (zero assets)"),
                     ("介绍客户经理，不推荐具体产品", "introduces the manager; names no product")],
            order=GREETING_ORDER["activation"],
        ))
    if expired and (client.risk_assessed_on is not None or any(
            h.kind == HoldingKind.DEPOSIT.value and h.maturity_date is not None
            and 0 <= (h.maturity_date - day).days <= MATURITY_NOTICE_DAYS for h in holdings)):
        out.append(_reassessment(client))
    return out


def candidates(client: ClientFacts, holdings: Sequence[HoldingFacts], day: date, catalog: Catalog, *,
               qingming_greeting: bool = True) -> list[Candidate]:
    """Every occasion for this client today, reminders first, then greetings, then recommendations."""
    festival = festival_on(day, qingming_greeting=qingming_greeting)
    found = reminders(client, holdings, day, catalog)
    recs = recommendations(client, holdings, day, catalog)
    found += [c for c in recs if c.kind == DraftKind.REMINDER.value]
    found += sorted(greetings(client, day, festival) + [c for c in recs if c.kind == DraftKind.GREETING.value],
                    key=lambda c: c.order)
    found += sorted((c for c in recs if c.kind == DraftKind.RECOMMENDATION.value), key=lambda c: c.order)
    return found


# Campaign titles the manager sees: occasion -> (zh, en).
OCCASION_LABELS: dict[str, tuple[str, str]] = {
    "new_year": ("元旦祝福", "New Year greeting"),
    "spring_festival": ("春节祝福", "Spring Festival greeting"),
    "lantern": ("元宵祝福", "Lantern Festival greeting"),
    "qingming": ("清明安康问候", "Qingming wish"),
    "dragon_boat": ("端午安康问候", "Dragon Boat greeting"),
    "mid_autumn": ("中秋祝福", "Mid-Autumn greeting"),
    "national_day": ("国庆祝福", "National Day greeting"),
    "mid_autumn_national_day": ("中秋国庆双节祝福", "Mid-Autumn and National Day greeting"),
    "birthday": ("生日祝福", "Birthday greeting"),
    "anniversary": ("开户周年问候", "Anniversary with the bank"),
    "deposit_maturity_7d": ("定期存款7天内到期提醒", "Deposit maturing within 7 days"),
    "deposit_maturity_today": ("定期存款今日到期提醒", "Deposit maturing today"),
    "wealth_maturity_7d": ("理财产品7天内到期提醒", "Wealth product maturing within 7 days"),
    "wealth_maturity_today": ("理财产品今日到期提醒", "Wealth product maturing today"),
    "card_expiry": ("信用卡下月到期提醒", "Credit card expiring next month"),
    "loan_due": ("贷款还款提醒", "Loan repayment due"),
    "assessment_expiry": ("风险测评即将到期提醒", "Risk assessment expiring"),
    "risk_reassessment": ("风险测评重新评估提醒", "Risk re-assessment needed"),
    "id_expiry": ("身份证件到期提醒", "ID document expiring"),
    "pension_contribution": ("个人养老金年度缴存提醒", "Personal pension contribution before year end"),
    "maturity_renewal": ("到期续存推荐", "Renewal of a maturing deposit"),
    "maturity_product": ("到期资金理财推荐", "Product for a maturing deposit"),
    "pension": ("个人养老金推荐", "Personal pension"),
    "activation": ("新客问候", "Introduction to a zero-asset client"),
}
