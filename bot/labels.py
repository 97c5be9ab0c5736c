"""What a manager reads for the codes the system stores: draft and message statuses, kinds, check
flags, occasions, skip and failure reasons, in Chinese and English. One table per kind of code,
used by the console and the manager's Telegram side alike.

An unknown code (a new check added elsewhere) never shows raw in a Chinese page: it gets the
table's generic label, and the code is kept for a tooltip (`code_title`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.services.formats import fmt_date
from scheduler.occasions import OCCASION_LABELS

Pair = tuple[str, str]  # (zh, en)

STATUS: dict[str, Pair] = {
    "pending": ("待审", "waiting"), "approved": ("已批准", "approved"), "queued": ("待发送", "queued"),
    "sending": ("发送中", "sending"), "sent": ("已发送", "sent"), "failed": ("发送失败", "failed"),
    "rejected": ("已拒绝", "rejected"), "cancelled": ("已撤回", "cancelled"),
    "open": ("待接手", "open"), "taken": ("处理中", "taken"), "closed": ("已关闭", "closed"),
}
KIND: dict[str, Pair] = {
    "greeting": ("节日问候", "greeting"), "reminder": ("服务提醒", "service reminder"),
    "recommendation": ("产品推荐", "recommendation"), "reply": ("人工回复", "reply"),
}
FLAG: dict[str, Pair] = {
    "empty": ("内容为空", "empty text"), "too_long": ("内容过长", "too long"),
    "promise_words": ("含承诺收益用语", "promise words (guaranteed returns)"),
    "risk_notice_missing": ("缺少风险提示", "risk notice missing"),
    "fact_missing": ("缺少关键信息（金额/日期）", "a fact (amount or date) is missing"),
    "number_changed": ("数字与客户数据不符", "a number differs from the client's data"),
    "llm_failed": ("AI 改写失败，已用模板", "AI rewrite failed: template text"),
    "llm_rejected": ("AI 改写未通过检查", "AI rewrite failed the checks"),
    "llm": ("AI 改写，请核对", "rewritten by AI: check it"),
    "unsuitable": ("产品不适合该客户", "product not suitable for the client"),
    "risk_notice_wrong": ("风险提示与产品不符", "risk notice does not fit the products"),
    "wrong_language": ("语言与客户不符", "not in the client's language"),
    "qingming_festive": ("清明不宜用“快乐”", "festive words on Qingming"),
    "festival_wording": ("节日用语不当", "wrong festival wording"),
    "tenure_wording": ("开户年限表述有误", "wrong years-with-the-bank wording"),
    "long": ("内容偏长", "long message"),
    "soft_promise": ("含“高收益”等需确认用语", "wording a compliance officer checks"),
    "signature_missing": ("缺少署名", "signature missing"),
    "assessment_expired": ("风险测评已过期", "risk assessment expired"),
    "no_consent": ("客户未同意营销", "no marketing consent"),
    "opted_out": ("客户已退订", "client opted out"),
}
REASON: dict[str, Pair] = {  # skip, cancel and failure reasons (bot.services.rules and the sender)
    "opted_out": ("客户已退订", "opted out"), "no_consent": ("未同意营销", "no marketing consent"),
    "blocked": ("客户已屏蔽机器人", "blocked the bot"), "unbound": ("未绑定 Telegram", "no Telegram chat"),
    "quiet_hours": ("免打扰时段", "quiet hours"), "daily_cap": ("已达每日上限", "daily cap reached"),
    "weekly_cap": ("已达每周上限", "weekly cap reached"), "reminders_off": ("客户关闭了提醒", "reminders off"),
    "stale": ("已过期", "too late to send"), "no_risk_rating": ("无风险评级", "no risk rating"),
    "assessment_expired": ("风险测评已过期", "risk assessment expired"),
    "risk_too_high": ("产品风险高于客户评级", "product risk above the client's rating"),
    "product_inactive": ("产品已下架", "product withdrawn"),
    "cancelled_by_manager": ("客户经理撤回", "cancelled by the manager"),
}
TICKET_REASON: dict[str, Pair] = {
    "request": ("客户要求转人工", "customer asked for a person"), "complaint": ("投诉", "complaint"),
    "fraud": ("疑似诈骗", "possible fraud"), "lost_card": ("卡片丢失", "lost card"),
    "transfer": ("转账汇款", "transfer"), "account": ("密码或账户变更", "password or account change"),
    "low_confidence": ("机器人无法回答", "the bot could not answer"),
}
OCCASION: dict[str, Pair] = OCCASION_LABELS  # one table: the planner names campaigns from it
HOLDING: dict[str, Pair] = {
    "deposit": ("定期存款", "deposit"), "wealth": ("理财", "wealth product"), "card": ("信用卡", "credit card"),
    "loan": ("贷款", "loan"), "pension": ("个人养老金", "personal pension"),
}
AUTHOR: dict[str, Pair] = {"customer": ("客户", "customer"), "bot": ("机器人", "bot"),
                           "manager": ("客户经理", "manager")}
TICKET_STATE: dict[str, Pair] = {"waiting": ("待回复", "waiting for you"), "replied": ("已回复", "replied"),
                                 "closed": ("已关闭", "closed")}
GENERIC: dict[str, Pair] = {
    "status": ("其他状态", "other status"), "kind": ("其他类型", "other kind"),
    "flag": ("需人工核对", "needs a check"), "reason": ("其他原因", "other reason"),
    "occasion": ("其他事由", "other occasion"), "holding": ("其他产品", "other product"),
    "author": ("其他", "other"), "ticket_state": ("其他状态", "other state"), "ticket_reason": ("其他原因", "other"),
}
TABLES: dict[str, dict[str, Pair]] = {"status": STATUS, "kind": KIND, "flag": FLAG, "reason": REASON,
                                      "ticket_reason": TICKET_REASON, "occasion": OCCASION, "holding": HOLDING,
                                      "author": AUTHOR, "ticket_state": TICKET_STATE}


def _pick(pair: Pair, lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def label(table: str, code: str | None, lang: str) -> str:
    """The label of `code` in `table` (status | kind | flag | reason | ticket_reason | occasion)."""
    if not code:
        return ""
    pair = TABLES[table].get(code) or TABLES[table].get(code.split(":", 1)[0])
    if pair is None:
        return code if lang == "en" else _pick(GENERIC.get(table, GENERIC["reason"]), lang)
    return _pick(pair, lang)


def campaign_title(occasion: str, stored: str | None, lang: str) -> str:
    """A campaign's name in the manager's language (stored titles are "中文 / English")."""
    if occasion in OCCASION:
        return label("occasion", occasion, lang)
    return stored or label("occasion", occasion, lang)


def labels(table: str, codes: Sequence[str] | None, lang: str) -> list[str]:
    return [label(table, c, lang) for c in codes or []]


def error_label(error: str | None, lang: str) -> str:
    """A stored outbox error: a reason code, a code with detail ("403: blocked"), or free text."""
    if not error:
        return ""
    code = error.split(":", 1)[0].strip()
    if code in REASON:
        return label("reason", code, lang)
    if code.isdigit() or error.startswith("gave up"):
        return "Telegram 拒绝发送" if lang == "zh" else f"Telegram refused: {error[:80]}"
    return label("reason", error, lang)


FACT_KEYS = ("product_name", "amount", "due_amount", "maturity_date", "expiry_date", "due_date", "expires_on",
             "expired_on", "id_expiry", "deadline", "account_tail", "risk_level")


def reason_line(occasion: str, context: Mapping[str, Any] | None, reasons: Sequence[str] | None, lang: str) -> str:
    """Why a draft exists, in the manager's language: the English console shows the planner's own
    reasons; the Chinese one the occasion and the facts the message was built from."""
    if lang == "en" and reasons:
        return "; ".join(reasons)
    facts = []
    for key in FACT_KEYS:
        value = (context or {}).get(key)
        if value:
            facts.append(f"尾号 {value}" if key == "account_tail" and lang == "zh" else str(value))
    head = label("occasion", occasion, lang)
    return head + ("：" if lang == "zh" else ": ") + " · ".join(facts) if facts else head


ZONE_LABEL: dict[str, Pair] = {"Asia/Shanghai": ("北京时间", "Beijing time"),
                               "Asia/Hong_Kong": ("香港时间", "Hong Kong time")}


def zone_label(tz: ZoneInfo, lang: str) -> str:
    """The bank's time zone as a manager reads it ("北京时间", "Beijing time", else the IANA name)."""
    pair = ZONE_LABEL.get(str(tz.key))
    return _pick(pair, lang) if pair else str(tz.key)


def local_time(when: datetime | None, tz: ZoneInfo, lang: str, *, fmt: str = "%m-%d %H:%M") -> str:
    """A stored UTC time in the bank's zone, labelled: "12-01 09:30 北京时间"."""
    if when is None:
        return ""
    return f"{when.astimezone(tz).strftime(fmt)} {zone_label(tz, lang)}"


def local_date(day: date | None, lang: str) -> str:
    return fmt_date(day, lang) if day is not None else ""
