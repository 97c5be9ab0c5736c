"""The compliance gate for outbound messages: one set of checks, run when a draft is drafted,
edited, re-rendered, approved and again right before it is sent.

A finding is a stable code (stored in `Draft.flags`). Its severity says what it means:
- BLOCK: the draft cannot be approved or sent by anyone (console, API, Telegram, auto-approval);
  the manager fixes the text (or rejects it).
- WARN: the draft may go out only after an explicit override with a reason (audited).
- INFO: a note for the reviewer (e.g. an LLM rewrote the template); never stops anything.

Checks: no promise of principal or returns; the risk notice a product type needs, and no notice
where it does not belong (a deposit never carries the wealth notice); every number and date equal
to the records the draft was made from; the length; the client's language (English clients get
no Chinese except names); wording that fits the day (no 快乐/happy on 清明, no 拜个早年 from 初一,
no 将至 on the festival day, no 一年来 for a client who joined this year).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from prompts import load_prompt

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.db.models import Client

BLOCK, WARN, INFO = "block", "warn", "info"

# Finding codes (stable: stored and shown)
EMPTY = "empty"
TOO_LONG = "too_long"
PROMISE = "promise_words"
RISK_NOTICE_MISSING = "risk_notice_missing"
RISK_NOTICE_WRONG = "risk_notice_wrong"  # a notice the message's products do not call for
FACT_MISSING = "fact_missing"
NUMBER_CHANGED = "number_changed"
WRONG_LANGUAGE = "wrong_language"
QINGMING_FESTIVE = "qingming_festive"
FESTIVAL_WORDING = "festival_wording"
TENURE_WORDING = "tenure_wording"
UNSUITABLE = "unsuitable"  # the product no longer suits the client (send-time re-check)
LONG = "long"
SOFT_PROMISE = "soft_promise"
SIGNATURE_MISSING = "signature_missing"
LLM = "llm"
LLM_FAILED = "llm_failed"
LLM_REJECTED = "llm_rejected"

SEVERITY: dict[str, str] = {
    EMPTY: BLOCK, TOO_LONG: BLOCK, PROMISE: BLOCK, RISK_NOTICE_MISSING: BLOCK, RISK_NOTICE_WRONG: BLOCK,
    FACT_MISSING: BLOCK, NUMBER_CHANGED: BLOCK, WRONG_LANGUAGE: BLOCK, QINGMING_FESTIVE: BLOCK,
    FESTIVAL_WORDING: BLOCK, TENURE_WORDING: BLOCK, UNSUITABLE: BLOCK,
    LONG: WARN, SOFT_PROMISE: WARN, SIGNATURE_MISSING: WARN,
    LLM: INFO, LLM_FAILED: INFO, LLM_REJECTED: INFO,
}

PROMISE_WORDS = (
    "保本", "保收益", "保息", "稳赚", "无风险", "零风险", "保证收益", "稳赚不赔", "刚性兑付", "只赚不赔",
    "guaranteed", "guarantee", "risk-free", "risk free", "no risk", "zero risk", "principal protected",
    "can't lose", "cannot lose",
)
# Not a promise, but a compliance officer wants a person to confirm them.
SOFT_PROMISE_WORDS = ("高收益", "收益稳定", "稳健收益", "high return", "high-yield", "high yield", "safe investment")
FESTIVE_WORDS = ("快乐", "happy")
MAX_CHARS = 1000  # hard limit: longer is never sent
_NUMBER = re.compile(r"\d+(?:[,,]\d{3})*(?:\.\d+)?")
_CN_AMOUNT = re.compile(r"[零一二两三四五六七八九十百千万亿]+(?:元|块)")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
# Values in a draft's context that are facts from the records: they must stay verbatim.
FACT_KEYS = (
    "amount", "due_amount", "maturity_date", "expiry_date", "due_date", "expires_on", "expired_on",
    "id_expiry", "deadline", "account_tail", "product_name", "years", "year", "risk_level",
)
NOTICE_KINDS = ("wealth", "fund")
# Product type -> the notice its messages carry (deposits, pension savings: none).
NOTICE_FOR_TYPE = {"wealth": "wealth", "cash_management": "wealth", "fund": "fund"}
# Every wording of each risk notice we have seen (the standard uses 、): the wealth notice on a message that does
# not need it is wrong (here and in scheduler/verify.py).
NOTICE_MARKERS = {"wealth": ("理财非存款", "not deposits and carry risk"), "fund": ("基金有风险", "Funds carry risk")}


def carries_notice(text: str, kind: str) -> bool:
    """Whether a text carries the `kind` risk notice in any wording we have seen."""
    return any(m in text for m in NOTICE_MARKERS[kind])


def severity(code: str) -> str:
    """A code nobody here knows (stored by an older or newer version) needs a person: WARN."""
    return SEVERITY.get(code.split(":", 1)[0], WARN)


def blocking(flags: Iterable[str] | None) -> list[str]:
    return [f for f in flags or () if severity(f) == BLOCK]


def warnings(flags: Iterable[str] | None) -> list[str]:
    return [f for f in flags or () if severity(f) == WARN]


def needs_attention(flags: Iterable[str] | None) -> bool:
    """Blocked or warned (INFO notes alone do not hold a draft back)."""
    return any(severity(f) in (BLOCK, WARN) for f in flags or ())


@lru_cache(maxsize=16)
def notice_text(kind: str, language: str) -> str:
    lang = language if language in ("zh", "en") else "zh"
    return load_prompt(f"drafts/notice/{kind}_{lang}.txt").text.strip()


def notice_for_type(product_type: str | None) -> str | None:
    return NOTICE_FOR_TYPE.get((product_type or "").lower())


def notices_block(kinds: Sequence[str], language: str) -> str:
    """The notice lines for a message about these product kinds (in a fixed order)."""
    return "\n".join(notice_text(k, language) for k in NOTICE_KINDS if k in kinds)


def promise_words(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in PROMISE_WORDS if w.lower() in lowered]


def _numbers(text: str) -> set[str]:
    return {m.replace(",", "").replace(",", "") for m in _NUMBER.findall(text)}


def length_limit(template_text: str) -> int:
    """Beyond this a text is long for its kind (a warning); MAX_CHARS is the hard limit."""
    return min(MAX_CHARS, max(2 * len(template_text), 300))


def _facts(context: Mapping[str, Any]) -> list[str]:
    """Every fact value of the draft (all its parts when it was composed from several)."""
    sources: list[Mapping[str, Any]] = [context]
    sources += [p.get("values") or {} for p in context.get("parts") or () if isinstance(p, Mapping)]
    return [str(src.get(k)) for src in sources for k in FACT_KEYS if src.get(k)]


def _notices_needed(context: Mapping[str, Any], legacy_product_message: bool) -> list[str]:
    if "notices" in context:
        return [str(k) for k in context.get("notices") or ()]
    return ["wealth"] if legacy_product_message else []


def _notice_findings(body: str, language: str, needed: Sequence[str]) -> list[str]:
    out: list[str] = []
    for kind in needed:
        wanted = {notice_text(kind, language), notice_text(kind, "zh")}
        if not any(n in body for n in wanted):
            out.append(RISK_NOTICE_MISSING)
            break
    if "wealth" not in needed and carries_notice(body, "wealth"):
        out.append(RISK_NOTICE_WRONG)
    return out


def _language_findings(body: str, language: str, context: Mapping[str, Any]) -> list[str]:
    if language == "en":
        rest = body
        for name in sorted((str(n) for n in context.get("names") or () if n), key=len, reverse=True):
            rest = rest.replace(name, "")
        return [WRONG_LANGUAGE] if _CJK.search(rest) else []
    if language == "zh" and not _CJK.search(body):
        return [WRONG_LANGUAGE]
    return []


def _day_findings(body: str, day: date | None, context: Mapping[str, Any]) -> list[str]:
    if day is None:
        return []
    from scheduler.calendar import QINGMING, SPRING_FESTIVAL, festivals

    out: list[str] = []
    lowered = body.lower()
    year = {f.key: f for f in festivals(day.year, qingming_greeting=True)}
    qingming = year.get(QINGMING)
    if qingming is not None and qingming.first_day == day and any(w in lowered for w in FESTIVE_WORDS):
        out.append(QINGMING_FESTIVE)
    spring = year.get(SPRING_FESTIVAL)
    early_greeting_late = (spring is not None and spring.day is not None and "拜个早年" in body
                           and spring.day <= day <= spring.day + timedelta(days=30))
    coming_on_the_day = "将至" in body and any(f.first_day == day and f.key != SPRING_FESTIVAL for f in year.values())
    if early_greeting_late or coming_on_the_day:
        out.append(FESTIVAL_WORDING)
    since = context.get("customer_since")
    if since and "一年来" in body:
        joined = date.fromisoformat(str(since))
        if (day - joined).days < 365:
            out.append(TENURE_WORDING)
    return out


def check(text: str, *, template_text: str, context: Mapping[str, Any] | None, language: str,
          day: date | None = None, product_message: bool = False) -> list[str]:
    """The findings on `text` (empty: clean). `template_text` is what the templates alone gave
    (numbers and facts are compared with it); `context` the draft's stored values; `day` the day
    it is for (wording that fits the day); `product_message` only for drafts stored before the
    context carried its notices."""
    body = (text or "").strip()
    if not body:
        return [EMPTY]
    ctx: Mapping[str, Any] = context or {}
    findings: list[str] = []
    if len(body) > MAX_CHARS:
        findings.append(TOO_LONG)
    elif len(body) > length_limit(template_text):
        findings.append(LONG)
    if promise_words(body):
        findings.append(PROMISE)
    lowered = body.lower()
    if any(w.lower() in lowered for w in SOFT_PROMISE_WORDS):
        findings.append(SOFT_PROMISE)
    findings += _notice_findings(body, language, _notices_needed(ctx, product_message))
    template_plain = template_text or ""
    if any(value in template_plain and value not in body for value in _facts(ctx)):
        findings.append(FACT_MISSING)
    if not _numbers(body) <= _numbers(template_plain) or \
            not set(_CN_AMOUNT.findall(body)) <= set(_CN_AMOUNT.findall(template_plain)):
        findings.append(NUMBER_CHANGED)
    findings += _language_findings(body, language, ctx)
    findings += _day_findings(body, day, ctx)
    signature = str(ctx.get("signature") or "")
    if signature and signature in template_plain and signature not in body:
        findings.append(SIGNATURE_MISSING)
    return list(dict.fromkeys(findings))


class StoredDraft(Protocol):
    text: str
    template_text: str | None
    context: dict[str, Any] | None
    language: str
    kind: str
    occasion: str
    product_code: str | None
    plan_date: date
    flags: list[str] | None


def _legacy_product_message(draft: StoredDraft) -> bool:
    return draft.kind == "recommendation" or bool(draft.product_code) or draft.occasion.startswith("wealth_")


def check_stored(draft: StoredDraft, text: str | None = None) -> list[str]:
    """`check` for a stored Draft (pass `text` for a manager's new words). INFO notes already on
    the draft (an LLM rewrite) are kept."""
    findings = check(draft.text if text is None else text, template_text=draft.template_text or draft.text,
                     context=draft.context, language=draft.language, day=draft.plan_date,
                     product_message=_legacy_product_message(draft))
    notes = [f for f in draft.flags or () if severity(f) == INFO]
    return list(dict.fromkeys(findings + notes))


async def send_findings(session: AsyncSession, draft_id: int, text: str, client: Client, today: date) -> list[str]:
    """The blocking findings on an approved message right before it is sent, with the rules as
    they are now: the text's checks again, and the product's suitability for the client today
    (a rating lowered, an assessment expired, a product withdrawn since approval)."""
    from bot.db.models import Draft, Product
    from bot.services import rules

    draft = await session.get(Draft, draft_id)
    if draft is None:
        return []
    found = check(text, template_text=draft.template_text or draft.text, context=draft.context,
                  language=draft.language, day=draft.plan_date, product_message=_legacy_product_message(draft))
    wanted = (client.language or "zh").lower()[:2]
    if wanted in ("zh", "en") and wanted != draft.language:  # the client changed language since drafting
        found.append(WRONG_LANGUAGE)
    if draft.product_code:
        from sqlalchemy import select

        product = await session.scalar(select(Product).where(Product.code == draft.product_code))
        if product is None or rules.suitability_problem(client, product, today) is not None:
            found.append(UNSUITABLE)
    return blocking(found)
