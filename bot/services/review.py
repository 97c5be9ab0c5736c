"""Manager review: campaigns, their drafts, and the decisions on them.

A manager sees and decides only the drafts of their own clients; an admin sees all. Every
approve, edit and reject writes an audit row in the same transaction; approved drafts go to the
outbox at once (they wait there until their scheduled time).

The compliance gate (bot/services/compliance.py) runs again at every approval, on the text as it
is now and with the rules as they are now (plus whatever was flagged before and not fixed): a
draft with a blocking finding is never approved, by anyone or anything (console, API, Telegram,
auto-approval); a draft with only warnings is approved only with an explicit override and a
reason, audited as an "override" row beside the approval. A reason must say why
(`override_reason_problem`): not blank, not a command, not a word or two.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock, metrics
from bot.db.models import Campaign, Client, Draft, DraftKind, DraftStatus, Manager, OutboxItem, OutboxStatus
from bot.services import audit, compliance, outbox, placeholders
from bot.services.compliance import check_stored

MAX_TEXT = 4000


class NotFound(LookupError):
    """The object does not exist or belongs to another manager (never say which)."""


class InvalidInput(ValueError):
    pass


class Blocked(InvalidInput):
    """The draft has blocking compliance findings: it cannot be approved until its text is fixed."""

    def __init__(self, draft_id: int, findings: Sequence[str]) -> None:
        self.draft_id, self.findings = draft_id, list(findings)
        super().__init__(f"draft {draft_id} cannot be approved: {', '.join(self.findings)} "
                         f"(fix the text, or reject it) / 草稿 {draft_id} 未通过合规检查，不能批准：请修改或拒绝")


class NeedsOverride(InvalidInput):
    """The draft has warnings: approving it needs an explicit override with a reason."""

    def __init__(self, draft_id: int | None, findings: Sequence[str], message: str | None = None) -> None:
        self.draft_id, self.findings = draft_id, list(findings)
        what = f"draft {draft_id}" if draft_id is not None else "these drafts"
        super().__init__(message or f"{what} has warnings ({', '.join(self.findings)}): approve with an override "
                         f"and a reason / 有合规提示，需填写理由后确认批准")


class WeakReason(NeedsOverride):
    """An override reason that does not say why (`override_reason_problem`): nothing is approved."""

    def __init__(self, draft_id: int | None, findings: Sequence[str]) -> None:
        super().__init__(draft_id, findings, "an override reason must say why the warnings are acceptable, in a "
                         "few words (not a command) / 覆盖合规提示的理由须写明原因（几个字以上，不能是命令）")


# A reason is at least three Chinese characters ("已核实") or six letters ("agreed"), of three
# different characters: "ok", "好的", "同意", "yes", "..." or "aaaaaa" say nothing an auditor can check.
MIN_REASON_WEIGHT = 6
MIN_REASON_DISTINCT = 3


def override_reason_problem(reason: str | None) -> str | None:
    """Why `reason` cannot stand as the reason for overriding warnings (None: it can): "blank",
    "command" (a Telegram command such as /stop is never a reason), "short"."""
    text = (reason or "").strip()
    if not text:
        return "blank"
    if text.startswith("/"):
        return "command"
    letters = [ch for ch in text if ch.isalnum()]
    weight = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in letters)
    if weight < MIN_REASON_WEIGHT or len(set(letters)) < MIN_REASON_DISTINCT:
        return "short"
    return None


@dataclass(frozen=True)
class Reviewer:
    """Who is acting: a manager (their own book) or an admin (everything)."""

    manager_id: int
    is_admin: bool = False

    @property
    def actor(self) -> str:
        return audit.actor_for_manager(self.manager_id, admin=self.is_admin)


def is_flagged(flags: Sequence[str] | None) -> bool:
    """Blocked or warned (an INFO note such as an LLM rewrite alone does not hold a draft back)."""
    return compliance.needs_attention(flags)


def gate(draft: Draft) -> tuple[list[str], list[str]]:
    """(blocking, warnings) of the draft now: the checks re-run on its current text with the
    current rules, plus findings stored earlier that nobody fixed. The draft's flags are updated."""
    findings = list(dict.fromkeys(check_stored(draft) + [f for f in draft.flags or () if is_flagged([f])]))
    draft.flags = findings or None
    return compliance.blocking(findings), compliance.warnings(findings)


Sel = TypeVar("Sel", bound="Select[*tuple[Any, ...]]")


def _own(stmt: Sel, reviewer: Reviewer, column: Any) -> Sel:
    return stmt if reviewer.is_admin else stmt.where(column == reviewer.manager_id)


async def get_campaign(session: AsyncSession, reviewer: Reviewer, campaign_id: int) -> Campaign:
    camp = await session.scalar(_own(select(Campaign).where(Campaign.id == campaign_id), reviewer, Campaign.manager_id))
    if camp is None:
        raise NotFound(f"campaign {campaign_id}")
    return camp


async def get_draft(session: AsyncSession, reviewer: Reviewer, draft_id: int) -> Draft:
    draft = await session.scalar(_own(select(Draft).where(Draft.id == draft_id), reviewer, Draft.manager_id))
    if draft is None:
        raise NotFound(f"draft {draft_id}")
    return draft


async def list_campaigns(session: AsyncSession, reviewer: Reviewer, plan_date: date | None = None,
                         *, only_waiting: bool = False) -> list[dict[str, Any]]:
    """Campaigns of a day (or every day when None) with counts: total, pending, flagged pending."""
    stmt = select(Campaign).order_by(Campaign.plan_date.desc(), Campaign.kind, Campaign.occasion)
    if plan_date is not None:
        stmt = stmt.where(Campaign.plan_date == plan_date)
    camps = (await session.scalars(_own(stmt, reviewer, Campaign.manager_id).limit(500))).all()
    if not camps:
        return []
    ids = [c.id for c in camps]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for cid, status, n in (await session.execute(
            select(Draft.campaign_id, Draft.status, func.count()).where(Draft.campaign_id.in_(ids))
            .group_by(Draft.campaign_id, Draft.status))).all():
        counts[cid][str(status)] = int(n)
    flagged_pending: dict[int, int] = dict.fromkeys(ids, 0)
    for cid, flags in (await session.execute(
            select(Draft.campaign_id, Draft.flags).where(Draft.campaign_id.in_(ids),
                                                         Draft.status == DraftStatus.PENDING,
                                                         Draft.flags.is_not(None)))).all():
        if is_flagged(flags):
            flagged_pending[cid] += 1
    out = []
    for c in camps:
        total = sum(counts[c.id].values())
        pending = counts[c.id].get(DraftStatus.PENDING, 0)
        if only_waiting and not pending:
            continue
        out.append({"id": c.id, "manager_id": c.manager_id, "plan_date": c.plan_date.isoformat(), "kind": c.kind,
                    "occasion": c.occasion, "title": c.title or c.occasion, "count": total, "pending": pending,
                    "flagged": flagged_pending[c.id], "by_status": counts[c.id]})
    return out


async def open_campaign(session: AsyncSession, reviewer: Reviewer, campaign_id: int) -> Campaign:
    """The manager opened the campaign (the start of review time, for reports)."""
    camp = await get_campaign(session, reviewer, campaign_id)
    if camp.first_opened_at is None and not reviewer.is_admin:
        camp.first_opened_at = clock.now(session)
    return camp


async def list_drafts(
    session: AsyncSession, reviewer: Reviewer, campaign_id: int, *, q: str = "", status: str | None = None,
    kind: str | None = None, flagged: bool | None = None, offset: int = 0, limit: int = 50,
) -> dict[str, Any]:
    """A page of a campaign's drafts, flagged first; search in text, client number or name."""
    await get_campaign(session, reviewer, campaign_id)
    stmt = select(Draft, Client.client_no, Client.name).join(Client, Client.id == Draft.client_id) \
        .where(Draft.campaign_id == campaign_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Draft.text.like(like), Client.client_no.like(like), Client.name.like(like)))
    if status:
        stmt = stmt.where(Draft.status == status)
    if kind:
        stmt = stmt.where(Draft.kind == kind)
    if flagged is True:
        stmt = stmt.where(Draft.flags.is_not(None))
    elif flagged is False:
        stmt = stmt.where(Draft.flags.is_(None))
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (await session.execute(stmt.order_by(Draft.flags.is_(None), Draft.id).offset(offset).limit(limit))).all()
    return {
        "total": total, "offset": offset, "limit": limit,
        "items": [_draft_view(d, client_no, name) for d, client_no, name in rows],
    }


@dataclass(frozen=True)
class Cursor:
    """Where a page of pending drafts starts: after draft `after_id` of the flagged group (clean
    False) or of the clean group. Paging by id never skips a draft when others on earlier pages were
    approved or rejected meanwhile (an offset would)."""

    clean: bool = False
    after_id: int = 0


async def pending_page(session: AsyncSession, reviewer: Reviewer, campaign_id: int, *,
                       start: Cursor | None = None, limit: int = 5) -> dict[str, Any]:
    """A page of the campaign's pending drafts, flagged first, from `start`; `next` is the cursor of
    the following page (None on the last one), `total` the pending count."""
    await get_campaign(session, reviewer, campaign_id)
    start = start or Cursor()
    clean = Draft.flags.is_(None)
    base = select(Draft, Client.client_no, Client.name).join(Client, Client.id == Draft.client_id) \
        .where(Draft.campaign_id == campaign_id, Draft.status == DraftStatus.PENDING)
    after = (and_(clean, Draft.id > start.after_id) if start.clean
             else or_(clean, Draft.id > start.after_id))
    rows = (await session.execute(base.where(after).order_by(clean, Draft.id).limit(limit + 1))).all()
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    items = [_draft_view(d, no, name) for d, no, name in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return {"total": total, "items": items,
            "next": Cursor(clean=last.flags is None, after_id=last.id) if last is not None else None}


def _draft_view(d: Draft, client_no: str, name: str) -> dict[str, Any]:
    return {"id": d.id, "client_no": client_no, "client_name": name, "kind": d.kind, "occasion": d.occasion,
            "language": d.language, "text": d.text, "status": d.status, "flags": d.flags or [],
            "blocked": compliance.blocking(d.flags), "warnings": compliance.warnings(d.flags),
            "reasons": d.reasons or [], "context": d.context or {}, "edited": d.edited,
            "scheduled_at": d.scheduled_at.isoformat(),
            "reject_reason": d.reject_reason}


async def _decide(session: AsyncSession, reviewer: Reviewer, drafts: Sequence[Draft], status: str,
                  reason: str | None = None) -> int:
    now = clock.now(session)
    for d in drafts:
        d.status = status
        d.decided_by = reviewer.actor
        d.decided_at = now
        if reason is not None:
            d.reject_reason = reason[:200]
    campaigns = {d.campaign_id for d in drafts}
    for cid in campaigns:
        camp = await session.get(Campaign, cid)
        if camp is not None:
            camp.last_decided_at = now
    action = "approve" if status == DraftStatus.APPROVED else "reject"
    for d in drafts:
        audit.record(session, actor=reviewer.actor, action=action, entity="draft", entity_id=d.id,
                     manager_id=d.manager_id, client_id=d.client_id,
                     details={"reason": reason} if reason else None)
    metrics.APPROVALS.labels(action).inc(len(drafts))
    if status == DraftStatus.APPROVED:
        await session.flush()
        await outbox.enqueue_drafts(session, drafts, actor=reviewer.actor)
    return len(drafts)


def _override_reason(reason: str | None, draft_id: int | None = None, warnings: Sequence[str] = ()) -> str:
    if override_reason_problem(reason) is not None:
        raise WeakReason(draft_id, warnings)
    return (reason or "").strip()[:200]


def _audit_override(session: AsyncSession, reviewer: Reviewer, draft: Draft, warnings: list[str],
                    reason: str) -> None:
    audit.record(session, actor=reviewer.actor, action="override", entity="draft", entity_id=draft.id,
                 manager_id=draft.manager_id, client_id=draft.client_id,
                 details={"warnings": warnings, "reason": reason})


async def approve_all(session: AsyncSession, reviewer: Reviewer, campaign_id: int, *,
                      include_flagged: bool = False, expected: int | None = None,
                      override_reason: str | None = None) -> int:
    """Approve every pending draft of the campaign that passes the gate. Blocked drafts are never
    approved; drafts with warnings only with `include_flagged` and an `override_reason` (one
    audited override per draft). `expected` is the count the manager confirmed: if drafts changed
    meanwhile, nothing is approved."""
    await get_campaign(session, reviewer, campaign_id)
    reason = _override_reason(override_reason) if include_flagged else None
    drafts = (await session.scalars(select(Draft).where(Draft.campaign_id == campaign_id,
                                                        Draft.status == DraftStatus.PENDING))).all()
    chosen: list[Draft] = []
    overrides: list[tuple[Draft, list[str]]] = []
    for d in drafts:
        blocking, warned = gate(d)
        if blocking or (warned and reason is None):
            continue
        chosen.append(d)
        if warned:
            overrides.append((d, warned))
    if expected is not None and expected != len(chosen):
        raise InvalidInput(f"the campaign now has {len(chosen)} drafts to approve, not {expected}; reload and confirm")
    for d, warned in overrides:
        _audit_override(session, reviewer, d, warned, reason or "")
    return await _decide(session, reviewer, chosen, DraftStatus.APPROVED)


async def reject_all(session: AsyncSession, reviewer: Reviewer, campaign_id: int, reason: str, *,
                     expected: int | None = None) -> int:
    await get_campaign(session, reviewer, campaign_id)
    reason = _reason(reason)
    drafts = (await session.scalars(select(Draft).where(Draft.campaign_id == campaign_id,
                                                        Draft.status == DraftStatus.PENDING))).all()
    if expected is not None and expected != len(drafts):
        raise InvalidInput(f"the campaign now has {len(drafts)} pending drafts, not {expected}; reload and confirm")
    return await _decide(session, reviewer, list(drafts), DraftStatus.REJECTED, reason)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reason is required to reject")
    return reason


async def approve_one(session: AsyncSession, reviewer: Reviewer, draft_id: int, *,
                      override_reason: str | None = None) -> Draft:
    """Approve one draft: refused (`Blocked`) with a blocking finding; with warnings only when
    `override_reason` is given (`NeedsOverride` otherwise), and the override is audited."""
    draft = await get_draft(session, reviewer, draft_id)
    if draft.status != DraftStatus.PENDING:
        raise InvalidInput(f"draft {draft_id} is {draft.status}, not pending")
    blocking, warned = gate(draft)
    if blocking:
        raise Blocked(draft.id, blocking)
    if warned:
        if not (override_reason or "").strip():
            raise NeedsOverride(draft.id, warned)
        _audit_override(session, reviewer, draft, warned, _override_reason(override_reason, draft.id, warned))
    await _decide(session, reviewer, [draft], DraftStatus.APPROVED)
    return draft


async def reject_one(session: AsyncSession, reviewer: Reviewer, draft_id: int, reason: str) -> Draft:
    draft = await get_draft(session, reviewer, draft_id)
    if draft.status != DraftStatus.PENDING:
        raise InvalidInput(f"draft {draft_id} is {draft.status}, not pending")
    await _decide(session, reviewer, [draft], DraftStatus.REJECTED, _reason(reason))
    return draft


async def edit_draft(session: AsyncSession, reviewer: Reviewer, draft_id: int, text: str) -> Draft:
    """The manager's own words replace the draft; it is sent exactly as edited. The bank's checks
    run on the new text and their findings are shown as flags."""
    draft = await get_draft(session, reviewer, draft_id)
    if draft.status != DraftStatus.PENDING:
        raise InvalidInput(f"draft {draft_id} is {draft.status}; only pending drafts can be edited")
    text = (text or "").strip()
    if not text:
        raise InvalidInput("the text is empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"the text is {len(text)} characters; at most {MAX_TEXT}")
    before = draft.text
    draft.text = text
    draft.edited = True
    problems = check_stored(draft, text)
    draft.flags = [p for p in problems if p] or None
    audit.record(session, actor=reviewer.actor, action="edit", entity="draft", entity_id=draft.id,
                 manager_id=draft.manager_id, client_id=draft.client_id,
                 details={"chars_before": len(before), "chars_after": len(text), "flags": draft.flags})
    metrics.APPROVALS.labels("edit").inc()
    return draft


class TemplateRejected(InvalidInput):
    """The template would give drafts that cannot be sent: nothing was saved."""

    def __init__(self, findings: dict[str, int]) -> None:
        self.findings = findings
        listed = ", ".join(f"{code} ({n})" for code, n in sorted(findings.items()))
        super().__init__(f"the template was not saved: its messages would fail the compliance checks: {listed} / "
                         f"模板未保存：生成的消息未通过合规检查：{listed}")


def _template_language(template: str) -> str:
    return "zh" if compliance._CJK.search(template) else "en"


def _single_part(d: Draft) -> bool:
    return len((d.context or {}).get("parts") or ()) <= 1


async def edit_template(session: AsyncSession, reviewer: Reviewer, campaign_id: int, template: str,
                        language: str | None = None) -> int:
    """Replace the campaign's template for one language (given, or the template's own: Chinese
    text -> zh) and re-render that language's pending, unedited drafts from their stored values.
    The template is plain text with `{field}` placeholders (`bot.services.placeholders`); it is
    validated before anything changes: an unknown field, or one a draft has no value for
    (`placeholders.TemplateFieldError`), or any draft it would give failing a blocking compliance
    check (`TemplateRejected`: promise words, a missing or wrong risk notice, a changed number,
    the wrong language...). Drafts composed of several messages (a reminder and a greeting) keep
    their text; the manager edits those one by one. Returns how many drafts were re-rendered."""
    camp = await get_campaign(session, reviewer, campaign_id)
    template = (template or "").strip()
    parts = placeholders.parse(template)
    lang = (language or _template_language(template)).lower()
    if lang not in ("zh", "en"):
        raise InvalidInput(f"unknown language {language!r}: zh or en")
    pending = (await session.scalars(select(Draft).where(Draft.campaign_id == campaign_id,
                                                         Draft.status == DraftStatus.PENDING,
                                                         Draft.edited.is_(False)))).all()
    for d in pending:  # every field must have a value in every draft of the campaign, in any language
        placeholders.render(parts, d.context or {})
    drafts = [d for d in pending if d.language == lang]
    rendered = [(d, placeholders.render(parts, d.context or {})) for d in drafts if _single_part(d)]
    checked = [(d, text, check_stored(d, text)) for d, text in rendered]
    failing: dict[str, int] = {}
    for _, _, findings in checked:
        for code in compliance.blocking(findings):
            failing[code] = failing.get(code, 0) + 1
    if failing:
        raise TemplateRejected(failing)
    camp.template_override = template
    camp.template_overrides = {**(camp.template_overrides or {}), lang: template}
    for d, text, findings in checked:
        d.text = text
        d.flags = findings or None
    audit.record(session, actor=reviewer.actor, action="edit_template", entity="campaign", entity_id=camp.id,
                 manager_id=camp.manager_id,
                 details={"language": lang, "rerendered": len(checked),
                          "kept_composed": len(drafts) - len(checked),
                          "warned": sum(1 for _, _, f in checked if compliance.warnings(f))})
    return len(checked)


# Fields put back as placeholders when a draft's text becomes the editable template (longest
# values first, so a date is replaced before a number inside it).
_SOURCE_FIELDS = ("risk_notice", "signature", "salutation", "product_name", "amount", "due_amount",
                  "maturity_date", "expiry_date", "due_date", "expires_on", "expired_on", "id_expiry",
                  "deadline", "festival_name", "manager_name", "account_tail", "risk_level")


def template_from_draft(draft: Draft) -> str:
    """The draft's text as a placeholder template: its stored values become `{field}` again."""
    ctx = draft.context or {}
    text = (draft.template_text or draft.text).replace("{", "{{").replace("}", "}}")
    values = [(f, str(ctx[f])) for f in _SOURCE_FIELDS if ctx.get(f) and f in placeholders.FIELDS]
    for field, value in sorted(values, key=lambda fv: len(fv[1]), reverse=True):
        text = text.replace(value, "{" + field + "}")
    return text


async def template_source(session: AsyncSession, reviewer: Reviewer, campaign_id: int, language: str) -> str:
    """What the manager starts editing for one language: their saved template, else a pending
    draft's text with its values as placeholders, else the shipped template."""
    camp = await get_campaign(session, reviewer, campaign_id)
    saved = (camp.template_overrides or {}).get(language)
    if saved:
        return str(saved)
    drafts = (await session.scalars(select(Draft).where(
        Draft.campaign_id == campaign_id, Draft.language == language).order_by(Draft.id).limit(20))).all()
    sample = next((d for d in drafts if _single_part(d)), None)
    if sample is not None:
        return template_from_draft(sample)
    if camp.template_id:
        from prompts import load_prompt

        try:
            return placeholders.from_jinja(load_prompt(camp.template_id.replace("_zh.j2", f"_{language}.j2")).text)
        except (OSError, ValueError):
            return ""
    return ""


async def auto_approve(session: AsyncSession, plan_date: date) -> int:
    """Managers who chose it get their clean service reminders approved without a look: only
    reminders that pass the gate with no finding at all (no override without a person) and that
    no LLM rewrote."""
    managers = (await session.scalars(select(Manager.id).where(Manager.auto_approve_reminders.is_(True)))).all()
    total = 0
    for manager_id in managers:
        drafts = (await session.scalars(select(Draft).where(
            Draft.manager_id == manager_id, Draft.plan_date == plan_date, Draft.kind == DraftKind.REMINDER,
            Draft.status == DraftStatus.PENDING, Draft.llm_rewritten.is_(False)))).all()
        clean = [d for d in drafts if gate(d) == ([], []) and not d.flags]
        if clean:
            total += await _decide(session, Reviewer(manager_id=manager_id), clean, DraftStatus.APPROVED)
    return total


# What became of approved messages (the console's Sent page and `GET /api/sent`): the outbox rows the reviewer
# may see (their own; an admin every manager's), newest first.
WAITING_STATUSES = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)


class SentMessage(NamedTuple):
    item: OutboxItem
    client_no: str | None
    client_name: str | None
    manager_name: str | None


async def sent_messages(session: AsyncSession, reviewer: Reviewer, *, status: str | None = None,
                        kind: str | None = None, search: str | None = None, offset: int = 0,
                        limit: int = 50) -> tuple[int, list[SentMessage]]:
    """(total, one page of rows). `status` "queued" also takes the rows being
    handed to Telegram right now ("sending"); `search` matches the client's name or number or the text."""
    stmt = _own(select(OutboxItem, Client.client_no, Client.name, Manager.name)
                .join(Client, Client.id == OutboxItem.client_id, isouter=True)
                .join(Manager, Manager.id == OutboxItem.manager_id, isouter=True), reviewer, OutboxItem.manager_id)
    if status == OutboxStatus.QUEUED.value:
        stmt = stmt.where(OutboxItem.status.in_(WAITING_STATUSES))
    elif status:
        stmt = stmt.where(OutboxItem.status == status)
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    if search and search.strip():
        like = f"%{search.strip()}%"
        stmt = stmt.where(or_(Client.name.like(like), Client.client_no.like(like), OutboxItem.text.like(like)))
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (await session.execute(stmt.order_by(OutboxItem.id.desc()).offset(offset).limit(limit))).all()
    return total, [SentMessage(*row) for row in rows]


async def sent_counts(session: AsyncSession, reviewer: Reviewer) -> dict[str, int]:
    """Outbox rows the reviewer may see, by status ("queued" includes "sending")."""
    stmt = _own(select(OutboxItem.status, func.count()).group_by(OutboxItem.status), reviewer, OutboxItem.manager_id)
    raw = {str(s): int(n) for s, n in (await session.execute(stmt)).all()}
    raw[OutboxStatus.QUEUED.value] = raw.get(OutboxStatus.QUEUED.value, 0) + raw.pop(OutboxStatus.SENDING.value, 0)
    return raw
