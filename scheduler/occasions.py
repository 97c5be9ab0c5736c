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
from typing import Any

from bot.db.models import DraftKind, HoldingKind
from bot.services import rules
from scheduler.calendar import Festival, festival_on

RISK_NOTICE = {
    "zh": "理财非存款,产品有风险,投资须谨慎",
    "en": "Wealth products are not deposits and carry risk; invest with care.",
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

MATURITY_NOTICE_DAYS = 7
LOAN_NOTICE_DAYS = 3
ASSESSMENT_NOTICE_DAYS = 30
ID_NOTICE_DAYS = 30
PENSION_SEASON_START = (12, 1)  # contributions count for the year until 31 Dec
ZERO = Decimal("0")
ASSET_KINDS = (HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value, HoldingKind.PENSION.value)

# Order inside one kind when several apply on the same day (lower first).
GREETING_ORDER = {"birthday": 0, "anniversary": 2}  # festivals: 1
RECOMMENDATION_ORDER = {"maturity_renewal": 0, "maturity_product": 0, "pension": 1, "activation": 2}


def fmt_amount(value: Decimal | int | float | None, currency: str = "CNY") -> str:
    """¥50,000.00 (other currencies: USD 1,200.00), exactly the stored value with two decimals."""
    amount = Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}"
    return f"¥{text}" if currency in ("CNY", "RMB", "", None) else f"{currency} {text}"


def fmt_date(value: date, language: str) -> str:
    """2026年12月3日 / 3 Dec 2026."""
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


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

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass
class Catalog:
    """The active products, by role."""

    products: dict[str, ProductInfo]

    @classmethod
    def of(cls, products: Iterable[Any]) -> Catalog:
        items = {}
        for p in products:
            items[p.code] = ProductInfo(
                code=p.code, name_zh=p.name_zh, name_en=p.name_en, type=(p.type or "").lower(),
                risk_level=p.risk_level, is_investment=bool(p.is_investment), term_days=p.term_days,
                min_amount=p.min_amount, active=bool(getattr(p, "active", True)),
            )
        return cls(items)

    def of_type(self, *types: str) -> list[ProductInfo]:
        return [p for p in self.products.values() if p.active and p.type in types]


@dataclass
class Candidate:
    kind: str  # greeting | reminder | recommendation
    occasion: str
    dedupe_key: str
    values: dict[str, str] = field(default_factory=dict)  # per-occasion template values (no language)
    dated: dict[str, date] = field(default_factory=dict)  # dates formatted per language at render
    localized: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (zh, en)
    reasons: list[str] = field(default_factory=list)
    product: ProductInfo | None = None
    product_message: bool = False  # carries the risk notice
    order: int = 1

    @property
    def template(self) -> str:
        return f"drafts/{self.kind}/{self.occasion}"


def _level(value: str | None) -> int:
    return int(value[1:]) if value and value[1:].isdigit() else 0


def _rating_text(client: Any) -> str:
    return f"risk rating {client.risk_rating}" if client.risk_rating else "no risk rating"


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


def greetings(client: Any, day: date, festival: Festival | None) -> list[Candidate]:
    out: list[Candidate] = []
    if festival is not None:
        out.append(Candidate(DraftKind.GREETING.value, festival.key, festival.dedupe_key,
                             localized={"festival_name": (festival.name_zh, festival.name_en)},
                             reasons=[f"{festival.name_en} ({festival.name_zh})"], order=1))
    if client.birthday is not None and _anniversary(client.birthday, day) is not None:
        out.append(Candidate(DraftKind.GREETING.value, "birthday", f"greeting:birthday:{day.year}",
                             reasons=["birthday today"], order=GREETING_ORDER["birthday"]))
    years = _anniversary(client.customer_since, day)
    if years:
        out.append(Candidate(DraftKind.GREETING.value, "anniversary", f"greeting:anniversary:{day.year}",
                             values={"years": str(years)},
                             reasons=[f"{years} year(s) with the bank since {client.customer_since.isoformat()}"],
                             order=GREETING_ORDER["anniversary"]))
    return out


def reminders(client: Any, holdings: Sequence[Any], day: date, catalog: Catalog) -> list[Candidate]:
    out: list[Candidate] = []
    for h in holdings:
        kind = h.kind
        if kind in (HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value) and h.maturity_date is not None:
            days = (h.maturity_date - day).days
            if 0 <= days <= MATURITY_NOTICE_DAYS:
                which = "today" if days == 0 else "7d"
                occasion = f"{kind}_maturity_{which}"
                product = catalog.products.get(h.product_code)
                out.append(Candidate(
                    DraftKind.REMINDER.value, occasion,
                    f"reminder:{occasion}:{h.id}:{h.maturity_date.isoformat()}",
                    values={"amount": fmt_amount(h.amount, h.currency), "account_tail": h.account_tail or "",
                            "product_code": h.product_code},
                    localized={"product_name": (product.name_zh, product.name_en) if product
                               else (h.product_code, h.product_code)},
                    dated={"maturity_date": h.maturity_date},
                    reasons=[f"{kind} {fmt_amount(h.amount, h.currency)} matures on "
                             f"{fmt_date(h.maturity_date, 'en')}"],
                    product_message=kind == HoldingKind.WEALTH.value,
                ))
        elif kind == HoldingKind.CARD.value and h.maturity_date is not None:
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            if (h.maturity_date.year, h.maturity_date.month) == (nxt.year, nxt.month):
                out.append(Candidate(
                    DraftKind.REMINDER.value, "card_expiry", f"reminder:card_expiry:{h.id}:{h.maturity_date}",
                    values={"account_tail": h.account_tail or ""}, dated={"expiry_date": h.maturity_date},
                    reasons=[f"card ending {h.account_tail or '?'} expires {fmt_date(h.maturity_date, 'en')}"],
                ))
        elif kind == HoldingKind.LOAN.value and h.next_due_date is not None:
            days = (h.next_due_date - day).days
            if 0 <= days <= LOAN_NOTICE_DAYS:
                due = fmt_amount(h.next_due_amount if h.next_due_amount is not None else h.amount, h.currency)
                out.append(Candidate(
                    DraftKind.REMINDER.value, "loan_due", f"reminder:loan_due:{h.id}:{h.next_due_date}",
                    values={"account_tail": h.account_tail or "", "due_amount": due},
                    dated={"due_date": h.next_due_date},
                    reasons=[f"loan repayment {due} due {fmt_date(h.next_due_date, 'en')}"],
                ))
    expires = rules.assessment_expires_on(client)
    if expires is not None and 0 < (expires - day).days <= ASSESSMENT_NOTICE_DAYS:
        out.append(Candidate(
            DraftKind.REMINDER.value, "assessment_expiry", f"reminder:assessment_expiry:{expires}",
            dated={"expires_on": expires},
            reasons=[f"risk assessment of {client.risk_assessed_on} expires {fmt_date(expires, 'en')}"],
        ))
    if client.id_expiry is not None and 0 <= (client.id_expiry - day).days <= ID_NOTICE_DAYS:
        out.append(Candidate(
            DraftKind.REMINDER.value, "id_expiry", f"reminder:id_expiry:{client.id_expiry}",
            dated={"id_expiry": client.id_expiry},
            reasons=[f"ID document expires {fmt_date(client.id_expiry, 'en')}"],
        ))
    has_pension = any(h.kind == HoldingKind.PENSION.value for h in holdings)
    if has_pension and (day.month, day.day) >= PENSION_SEASON_START:
        out.append(Candidate(
            DraftKind.REMINDER.value, "pension_contribution", f"reminder:pension_contribution:{day.year}",
            values={"year": str(day.year)}, dated={"deadline": date(day.year, 12, 31)},
            reasons=[f"personal pension account: {day.year} contributions close on 31 Dec"],
        ))
    return out


def _reassessment(client: Any) -> Candidate:
    expires = rules.assessment_expires_on(client)
    key = f"reminder:risk_reassessment:{expires.isoformat() if expires else 'never'}"
    dated = {"expired_on": expires} if expires else {}
    return Candidate(
        DraftKind.REMINDER.value, "risk_reassessment", key, dated=dated,
        values={} if expires else {"expired_on": ""},
        reasons=["risk assessment expired: re-assess before any investment product"
                 if expires else "no risk assessment on file: assess before any investment product"],
    )


def _pick(client: Any, products: list[ProductInfo], day: date, *, amount: Decimal | None = None,
          prefer_high: bool = True) -> ProductInfo | None:
    """The suitable product closest to the client's appetite (highest level within the rating),
    or the lowest-risk one for `prefer_high=False`; min_amount respected when `amount` given."""
    ok = [p for p in products if rules.suitability_problem(client, p, day) is None
          and (amount is None or p.min_amount is None or p.min_amount <= amount)]
    if not ok:
        return None
    if prefer_high:
        ok.sort(key=lambda p: (-_level(p.risk_level), p.min_amount or ZERO, p.code))
    else:
        ok.sort(key=lambda p: (_level(p.risk_level), p.min_amount or ZERO, p.code))
    return ok[0]


def review_day(client_id: int) -> int:
    """The client's day of the month from which recurring recommendations are due (1..28), so a
    book's monthly pitches spread over the month instead of landing on the 1st."""
    return 1 + client_id % 28


def recommendations(client: Any, holdings: Sequence[Any], day: date, catalog: Catalog) -> list[Candidate]:
    """The next best product, by transparent rules (at most one per rule and window):
    a maturing deposit (within 7 days) -> a suitable wealth product, or renewal of a deposit;
    some assets but no pension account -> personal pension (once a month, from the review day);
    no assets at all -> an entry product (once a month, from the review day).
    An investment product never goes to a client whose assessment expired: they get a
    re-assessment reminder instead."""
    out: list[Candidate] = []
    expired = rules.assessment_expired(client, day)
    needs_reassessment = False
    month = f"{day.year}-{day.month:02d}"

    for h in holdings:
        if h.kind != HoldingKind.DEPOSIT.value or h.maturity_date is None:
            continue
        days = (h.maturity_date - day).days
        if not 0 <= days <= MATURITY_NOTICE_DAYS:
            continue
        base_reasons = [f"deposit of {fmt_amount(h.amount, h.currency)} matures on "
                        f"{fmt_date(h.maturity_date, 'en')}", _rating_text(client)]
        values = {"amount": fmt_amount(h.amount, h.currency), "account_tail": h.account_tail or ""}
        product = None if expired else _pick(client, catalog.of_type("wealth", "fund"), day, amount=h.amount)
        occasion = "maturity_product"
        if product is None:
            if expired:
                needs_reassessment = True
                base_reasons.append("risk assessment expired: no investment product")
            same = catalog.products.get(h.product_code)
            deposits = [p for p in catalog.of_type("deposit") if rules.suitability_problem(client, p, day) is None]
            product = same if same is not None and same in deposits else (deposits[0] if deposits else None)
            occasion = "maturity_renewal"
        if product is None:
            continue
        base_reasons.append(f"suggest {product.name_en} ({product.code}"
                            + (f", {product.risk_level}" if product.risk_level else "") + ")")
        out.append(Candidate(
            DraftKind.RECOMMENDATION.value, occasion, f"recommendation:maturity:{h.id}:{h.maturity_date}",
            values=values | {"risk_level": product.risk_level or ""}, dated={"maturity_date": h.maturity_date},
            reasons=base_reasons, product=product, product_message=True, order=RECOMMENDATION_ORDER[occasion],
        ))

    assets = sum((h.amount or ZERO) for h in holdings if h.kind in ASSET_KINDS)
    recurring_due = day.day >= review_day(client.id)
    if recurring_due and assets > ZERO and not any(h.kind == HoldingKind.PENSION.value for h in holdings):
        pensions = catalog.of_type("pension")
        product = _pick(client, pensions, day, prefer_high=False)
        if product is None and pensions and expired:
            needs_reassessment = True
        if product is not None:
            out.append(Candidate(
                DraftKind.RECOMMENDATION.value, "pension", f"recommendation:pension:{month}",
                values={"risk_level": product.risk_level or ""},
                reasons=["holds no personal pension account", _rating_text(client),
                         f"suggest {product.name_en} ({product.code})"],
                product=product, product_message=True, order=RECOMMENDATION_ORDER["pension"],
            ))

    if recurring_due and assets == ZERO:
        entry = _pick(client, catalog.of_type("wealth", "fund", "deposit"), day, prefer_high=False)
        if entry is None and expired:
            needs_reassessment = True
        if entry is not None:
            out.append(Candidate(
                DraftKind.RECOMMENDATION.value, "activation", f"recommendation:activation:{month}",
                values={"risk_level": entry.risk_level or ""},
                reasons=["no deposits or investments with the bank (zero assets)", _rating_text(client),
                         f"suggest {entry.name_en} ({entry.code})"],
                product=entry, product_message=True, order=RECOMMENDATION_ORDER["activation"],
            ))
    if needs_reassessment or (expired and client.risk_assessed_on is not None):
        out.append(_reassessment(client))
    return out


def candidates(client: Any, holdings: Sequence[Any], day: date, catalog: Catalog, *,
               qingming_greeting: bool = True) -> list[Candidate]:
    """Every occasion for this client today, reminders first, then greetings, then recommendations."""
    festival = festival_on(day, qingming_greeting=qingming_greeting)
    found = reminders(client, holdings, day, catalog)
    recs = recommendations(client, holdings, day, catalog)
    found += [c for c in recs if c.kind == DraftKind.REMINDER.value]
    found += sorted(greetings(client, day, festival), key=lambda c: c.order)
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
    "activation": ("新客激活推荐", "Activation of a zero-asset client"),
}
