"""Reports: what a manager achieved and what the bot did, computed from the records themselves
(drafts, campaigns, outbox, conversations, tickets, audit log) for a period of local dates.

Every figure is one aggregate query over indexed columns, so a year of history for a manager's
book (a million outbox rows) stays within a couple of seconds; see `rmbot bench report`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from bot.db.models import (
    AuditLog,
    Campaign,
    ChatMessage,
    Client,
    Draft,
    DraftStatus,
    KnowledgeDocument,
    Manager,
    OutboxItem,
    OutboxStatus,
    Ticket,
)
from bot.services.invites import invite_conversion

REPLY_WINDOW = timedelta(hours=48)
APPROVED_STATES = (
    DraftStatus.APPROVED, DraftStatus.QUEUED, DraftStatus.SENT, DraftStatus.FAILED, DraftStatus.CANCELLED,
)
CAMPAIGN_KINDS = ("greeting", "reminder", "recommendation")
BOT_OUTCOMES = ("grounded", "personal", "declined", "handoff")


# The report's sections: what the console page, the JSON API, the CSV/Excel exports and the daily
# summary read. Plain dicts at run time (JSON as they are).
class ManagerInfo(TypedDict):
    id: int
    code: str
    name: str


PeriodInfo = TypedDict("PeriodInfo", {"from": str, "to": str, "timezone": str})


class DraftFigures(TypedDict):
    planned: int
    approved: int
    edited: int
    rejected: int
    pending: int
    by_kind: dict[str, int]


class ReviewTime(TypedDict):
    seconds: float
    days_reviewed: int
    per_day: dict[str, float]  # ISO day -> seconds


class MessageFigures(TypedDict):
    sent: int
    failed: int
    skipped: int
    waiting: int
    failed_reasons: dict[str, int]
    skipped_reasons: dict[str, int]
    replies_within_48h: int
    opt_outs_after_message: int


class ConversationFigures(TypedDict):
    questions: int
    outcomes: dict[str, int]
    handled_by_bot: int
    handed_off: int
    answered_by_manager: int
    first_reply_seconds_median: float | None


class ReachFigures(TypedDict):
    book: int
    reached_week: int
    reached_month: int
    not_contacted_90d: int
    telegram: dict[str, int]  # bound / blocked / invited / invite expired / not invited


class DailyRow(TypedDict):
    date: str
    planned: int
    approved: int
    sent: int


class ManagerReport(TypedDict):
    manager: ManagerInfo
    period: PeriodInfo
    drafts: DraftFigures
    review: ReviewTime
    messages: MessageFigures
    conversations: ConversationFigures
    reach: ReachFigures
    invites: dict[str, float | int | None]  # invites.invite_conversion
    funnel: dict[str, int]
    daily: list[DailyRow]


class QuestionCount(TypedDict):
    question: str
    count: int


class BotQuality(TypedDict):
    questions: int
    shares: dict[str, float]
    outcomes: dict[str, int]
    top_declined: list[QuestionCount]
    feedback: dict[str, int]  # up / down
    top_marked_down: list[QuestionCount]


class DocumentCoverage(TypedDict):
    document: str
    title: str
    chunks: int
    version: int
    updated_at: str
    questions_hit: int


class ManagerRow(TypedDict):
    manager: str
    name: str
    book: int
    planned: int
    approved: int
    rejected: int
    sent: int
    failed: int
    replies: int
    handed_off: int
    review_seconds: float
    reached_month: int


class AdminOverview(TypedDict):
    managers: list[ManagerRow]
    knowledge: list[DocumentCoverage]
    bot: BotQuality


Cell = str | int | float | None
# A table of an export: headers and rows.
Table = tuple[list[str], list[list[Cell]]]


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    tz: ZoneInfo

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time(0), self.tz).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """Exclusive end: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(0), self.tz).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def _plus(session: AsyncSession, column: Any, delta: timedelta) -> Any:
    """`column + delta` in SQL, on SQLite (text timestamps) and PostgreSQL (timestamptz)."""
    seconds = int(delta.total_seconds())
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"{seconds:+d} seconds")
    return column + text(f"interval '{seconds} seconds'")


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


async def _draft_groups(session: AsyncSession, manager_id: int, period: Period) -> list[Any]:
    """One scan of the manager's drafts in the period, grouped; every draft figure derives from it."""
    return list(
        (
            await session.execute(
                select(Draft.plan_date, Draft.status, Draft.edited, Draft.kind, func.count())
                .where(Draft.manager_id == manager_id, Draft.plan_date.between(period.start, period.end))
                .group_by(Draft.plan_date, Draft.status, Draft.edited, Draft.kind)
            )
        ).all()
    )


def _drafts(groups: list[Any]) -> DraftFigures:
    approved_states = {str(s) for s in APPROVED_STATES}
    out = DraftFigures(planned=0, approved=0, edited=0, rejected=0, pending=0,
                       by_kind=dict.fromkeys(CAMPAIGN_KINDS, 0))
    for _day, status, edited, kind, n in groups:
        out["planned"] += n
        out["approved"] += n if status in approved_states else 0
        out["edited"] += n if edited else 0
        out["rejected"] += n if status == DraftStatus.REJECTED else 0
        out["pending"] += n if status == DraftStatus.PENDING else 0
        out["by_kind"][kind] = out["by_kind"].get(kind, 0) + n
    return out


async def _review_time(session: AsyncSession, manager_id: int, period: Period) -> ReviewTime:
    """Per day: first time a campaign was opened to the last decision, summed over days."""
    rows = (
        await session.execute(
            select(Campaign.plan_date, func.min(Campaign.first_opened_at), func.max(Campaign.last_decided_at))
            .where(Campaign.manager_id == manager_id, Campaign.plan_date.between(period.start, period.end))
            .group_by(Campaign.plan_date)
        )
    ).all()
    per_day: dict[str, float] = {}
    for day, opened, decided in rows:
        if opened is not None and decided is not None and decided >= opened:
            per_day[day.isoformat()] = _seconds(decided - opened)
    return ReviewTime(seconds=round(sum(per_day.values()), 1), days_reviewed=len(per_day), per_day=per_day)


def _outbox_scope(manager_id: int, period: Period) -> Any:
    return and_(
        OutboxItem.manager_id == manager_id,
        OutboxItem.kind != "reply",
        OutboxItem.created_at >= period.start_utc,
        OutboxItem.created_at < period.end_utc,
    )


async def _messages(session: AsyncSession, manager_id: int, period: Period) -> MessageFigures:
    scope = _outbox_scope(manager_id, period)
    by_status: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {OutboxStatus.FAILED: Counter(), OutboxStatus.CANCELLED: Counter()}
    rows = await session.execute(
        select(OutboxItem.status, OutboxItem.last_error, func.count()).where(scope)
        .group_by(OutboxItem.status, OutboxItem.last_error)
    )
    for status, error, n in rows.all():
        by_status[status] += n
        if status in reasons:
            reasons[status][str(error or "unknown")] += n

    planning_skips: Counter[str] = Counter()
    skip_rows = await session.scalars(
        select(AuditLog.details).where(
            AuditLog.action == "plan", AuditLog.manager_id == manager_id,
            AuditLog.at >= period.start_utc, AuditLog.at < period.end_utc,
        )
    )
    for details in skip_rows:
        for reason, n in ((details or {}).get("skipped") or {}).items():
            planning_skips[str(reason)] += int(n)

    sent_scope = and_(scope, OutboxItem.status == OutboxStatus.SENT)
    # Messages answered within 48 hours: walk the (few) inbound customer messages and find the
    # sent items they follow, rather than probing every sent item (a year is a million of them).
    reply = aliased(ChatMessage)
    replied = await session.scalar(
        select(func.count(distinct(OutboxItem.id)))
        .select_from(reply)
        .join(
            OutboxItem,
            and_(
                OutboxItem.client_id == reply.client_id,
                OutboxItem.sent_at <= reply.created_at,
                OutboxItem.sent_at > _plus(session, reply.created_at, -REPLY_WINDOW),
            ),
        )
        .where(
            reply.direction == "in",
            reply.created_at >= period.start_utc,
            reply.created_at < period.end_utc + REPLY_WINDOW,
            sent_scope,
        )
    )
    opt_outs = await session.scalar(
        select(func.count(distinct(AuditLog.client_id))).where(
            AuditLog.action == "opt_out",
            AuditLog.at >= period.start_utc,
            AuditLog.at < period.end_utc + REPLY_WINDOW,
            exists().where(
                OutboxItem.client_id == AuditLog.client_id,
                sent_scope,
                OutboxItem.sent_at <= AuditLog.at,
                OutboxItem.sent_at > _plus(session, AuditLog.at, -REPLY_WINDOW),
            ),
        )
    )
    return {
        "sent": int(by_status.get(OutboxStatus.SENT, 0)),
        "failed": int(by_status.get(OutboxStatus.FAILED, 0)),
        "skipped": int(by_status.get(OutboxStatus.CANCELLED, 0)) + sum(planning_skips.values()),
        "waiting": int(by_status.get(OutboxStatus.QUEUED, 0)) + int(by_status.get(OutboxStatus.SENDING, 0)),
        "failed_reasons": dict(reasons[OutboxStatus.FAILED].most_common()),
        "skipped_reasons": {**dict(reasons[OutboxStatus.CANCELLED].most_common()),
                            **{f"plan:{k}": v for k, v in planning_skips.items()}},
        "replies_within_48h": int(replied or 0),
        "opt_outs_after_message": int(opt_outs or 0),
    }


async def _conversations(session: AsyncSession, manager_id: int | None, period: Period) -> ConversationFigures:
    book = select(Client.id).where(Client.manager_id == manager_id) if manager_id is not None else None
    answer_scope = [
        ChatMessage.author == "bot",
        ChatMessage.outcome.in_(BOT_OUTCOMES),
        ChatMessage.created_at >= period.start_utc,
        ChatMessage.created_at < period.end_utc,
    ]
    if book is not None:
        answer_scope.append(ChatMessage.client_id.in_(book))
    outcomes = dict(
        (await session.execute(select(ChatMessage.outcome, func.count()).where(*answer_scope)
                               .group_by(ChatMessage.outcome))).all()
    )
    bot_conversations = await session.scalar(
        select(func.count(distinct(ChatMessage.conversation_id))).where(*answer_scope)
    )
    ticket_scope = [Ticket.created_at >= period.start_utc, Ticket.created_at < period.end_utc]
    if manager_id is not None:
        ticket_scope.append(Ticket.manager_id == manager_id)
    tickets = (await session.execute(select(Ticket.created_at, Ticket.first_reply_at).where(*ticket_scope))).all()
    waits = [(reply - created).total_seconds() for created, reply in tickets if reply is not None]
    return {
        "questions": int(sum(outcomes.values())),
        "outcomes": {k: int(outcomes.get(k, 0)) for k in BOT_OUTCOMES},
        "handled_by_bot": int(bot_conversations or 0),
        "handed_off": len(tickets),
        "answered_by_manager": len(waits),
        "first_reply_seconds_median": round(statistics.median(waits), 1) if waits else None,
    }


async def _reach(session: AsyncSession, manager_id: int, as_of_utc: datetime) -> ReachFigures:
    book = int(await session.scalar(select(func.count()).where(Client.manager_id == manager_id)) or 0)

    def since(days: int) -> Any:
        recent = OutboxItem.sent_at >= as_of_utc - timedelta(days=days)
        return func.count(distinct(case((recent, OutboxItem.client_id))))

    week, month, quarter = (
        await session.execute(
            select(since(7), since(30), since(90)).where(
                OutboxItem.manager_id == manager_id,
                OutboxItem.status == OutboxStatus.SENT,
                OutboxItem.sent_at >= as_of_utc - timedelta(days=90),
                OutboxItem.sent_at < as_of_utc,
            )
        )
    ).one()
    from bot.services.invites import reach_counts

    telegram = await reach_counts(session, manager_id, now=as_of_utc)
    return {"book": book, "reached_week": week, "reached_month": month, "not_contacted_90d": book - quarter,
            "telegram": {k: v for k, v in telegram.items() if k != "book"}}


def _daily(period: Period, groups: list[Any]) -> list[DailyRow]:
    """Daily volumes by plan day: planned, approved and sent (a draft's status follows its delivery),
    from the same grouped scan of drafts, for the chart and the CSV."""
    approved_states = {str(s) for s in APPROVED_STATES}
    planned: Counter[date] = Counter()
    approved: Counter[date] = Counter()
    sent: Counter[date] = Counter()
    for day, status, _edited, _kind, n in groups:
        planned[day] += n
        approved[day] += n if status in approved_states else 0
        sent[day] += n if status == DraftStatus.SENT else 0
    return [
        DailyRow(date=d.isoformat(), planned=planned.get(d, 0), approved=approved.get(d, 0), sent=sent.get(d, 0))
        for d in period.days()
    ]


async def manager_report(
    session: AsyncSession, manager_id: int, period: Period, *, as_of: datetime | None = None
) -> ManagerReport:
    manager = await session.get(Manager, manager_id)
    if manager is None:
        raise LookupError(f"no manager with id {manager_id}")
    groups = await _draft_groups(session, manager_id, period)
    drafts = _drafts(groups)
    messages = await _messages(session, manager_id, period)
    return {
        "manager": {"id": manager.id, "code": manager.code, "name": manager.name},
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "timezone": str(period.tz)},
        "drafts": drafts,
        "review": await _review_time(session, manager_id, period),
        "messages": messages,
        "conversations": await _conversations(session, manager_id, period),
        "reach": await _reach(session, manager_id, as_of or min(period.end_utc, datetime.now(UTC))),
        "invites": await invite_conversion(session, manager_id, period.start_utc, period.end_utc),
        "funnel": {"planned": drafts["planned"], "approved": drafts["approved"], "sent": messages["sent"],
                   "replied": messages["replies_within_48h"]},
        "daily": _daily(period, groups),
    }


async def bot_quality(
    session: AsyncSession, period: Period, *, manager_id: int | None = None, limit: int = 10
) -> BotQuality:
    """Answer outcomes, the questions most often declined, and feedback on answers."""
    conv = await _conversations(session, manager_id, period)
    total = conv["questions"] or 1
    question = aliased(ChatMessage)
    previous_question = (
        select(question.text)
        .where(question.conversation_id == ChatMessage.conversation_id, question.direction == "in",
               question.id < ChatMessage.id)
        .order_by(question.id.desc())
        .limit(1)
        .correlate(ChatMessage)
        .scalar_subquery()
    )
    scope = [ChatMessage.author == "bot", ChatMessage.created_at >= period.start_utc,
             ChatMessage.created_at < period.end_utc]
    if manager_id is not None:
        scope.append(ChatMessage.client_id.in_(select(Client.id).where(Client.manager_id == manager_id)))

    async def top(condition: ColumnElement[bool]) -> list[QuestionCount]:
        rows = (await session.execute(select(previous_question).where(*scope, condition))).scalars()
        counts = Counter(" ".join((q or "").split())[:200] for q in rows if q)
        return [{"question": q, "count": n} for q, n in counts.most_common(limit)]

    feedback = dict(
        (await session.execute(select(ChatMessage.feedback, func.count())
                               .where(*scope, ChatMessage.feedback.is_not(None))
                               .group_by(ChatMessage.feedback))).all()
    )
    return {
        "questions": conv["questions"],
        "shares": {k: round(v / total, 4) for k, v in conv["outcomes"].items()},
        "outcomes": conv["outcomes"],
        "top_declined": await top(ChatMessage.outcome == "declined"),
        "feedback": {"up": int(feedback.get(1, 0)), "down": int(feedback.get(-1, 0))},
        "top_marked_down": await top(ChatMessage.feedback == -1),
    }


async def knowledge_coverage(session: AsyncSession, period: Period) -> list[DocumentCoverage]:
    docs = (await session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.name))).all()
    hits: Counter[str] = Counter()
    sources = await session.scalars(
        select(ChatMessage.sources).where(
            ChatMessage.author == "bot", ChatMessage.sources.is_not(None),
            ChatMessage.created_at >= period.start_utc, ChatMessage.created_at < period.end_utc,
        )
    )
    for src in sources:
        for name in {s.get("doc") for s in (src or []) if isinstance(s, dict)}:
            if name:
                hits[name] += 1
    return [
        {"document": d.name, "title": d.title, "chunks": d.chunk_count, "version": d.version,
         "updated_at": d.updated_at.isoformat(), "questions_hit": hits.get(d.name, 0)}
        for d in docs
    ]


async def admin_overview(session: AsyncSession, period: Period) -> AdminOverview:
    managers = (await session.scalars(select(Manager).order_by(Manager.code))).all()
    side_by_side: list[ManagerRow] = []
    for manager in managers:
        r = await manager_report(session, manager.id, period)
        side_by_side.append({
            "manager": r["manager"]["code"], "name": r["manager"]["name"], "book": r["reach"]["book"],
            "planned": r["drafts"]["planned"], "approved": r["drafts"]["approved"],
            "rejected": r["drafts"]["rejected"], "sent": r["messages"]["sent"], "failed": r["messages"]["failed"],
            "replies": r["messages"]["replies_within_48h"], "handed_off": r["conversations"]["handed_off"],
            "review_seconds": r["review"]["seconds"], "reached_month": r["reach"]["reached_month"],
        })
    return {"managers": side_by_side, "knowledge": await knowledge_coverage(session, period),
            "bot": await bot_quality(session, period)}


def report_tables(report: ManagerReport) -> dict[str, Table]:
    """Every table of a manager report, flat, for CSV and Excel exports."""
    tables: dict[str, Table] = {}
    summary: list[list[Cell]] = []
    sections: tuple[tuple[str, Mapping[str, object]], ...] = (
        ("drafts", report["drafts"]), ("messages", report["messages"]), ("conversations", report["conversations"]),
        ("reach", report["reach"]), ("funnel", report["funnel"]))
    for section, figures in sections:
        for key, value in figures.items():
            if isinstance(value, str | int | float | None):  # the figures; the nested tables below
                summary.append([section, key, value])
    summary.append(["review", "seconds", report["review"]["seconds"]])
    for key, value in report["reach"].get("telegram", {}).items():  # bound / invited / not invited
        summary.append(["reach", f"telegram_{key}", value])
    for key, value in report.get("invites", {}).items():  # invite -> bound conversion in the period
        summary.append(["invites", key, value])
    tables["summary"] = (["section", "figure", "value"], summary)
    tables["daily"] = (["date", "planned", "approved", "sent"],
                       [[d["date"], d["planned"], d["approved"], d["sent"]] for d in report["daily"]])
    tables["failed_reasons"] = (["reason", "count"], [[k, v] for k, v in report["messages"]["failed_reasons"].items()])
    tables["skipped_reasons"] = (["reason", "count"],
                                 [[k, v] for k, v in report["messages"]["skipped_reasons"].items()])
    tables["outcomes"] = (["outcome", "count"], [[k, v] for k, v in report["conversations"]["outcomes"].items()])
    return tables


def to_csv(headers: list[str], rows: list[list[Cell]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers)
    writer.writerows(rows)
    return "\ufeff" + buf.getvalue()  # BOM so Excel opens Chinese text correctly


def to_xlsx(tables: dict[str, Table]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, (headers, rows) in tables.items():
        ws = wb.create_sheet(title=name[:31])
        ws.append(headers)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
