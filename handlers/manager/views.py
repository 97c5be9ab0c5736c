"""What the manager's review screens look like: the morning on one screen (`today_view`) and a
campaign's review page (`campaign_page`), each as text and an inline keyboard, plus how a page
is put on screen (edited in place, else sent anew). Numbers and access come from
`bot.services.today` / `bot.services.review`; nothing here decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.db.models import Manager
from bot.i18n import t
from bot.services import review, today
from bot.settings import Settings
from handlers.keyboards import ReviewCb, button_text

PAGE = 5
DRAFT_CHARS = 300  # of each draft's text on a review page
MAX_MESSAGE = 4000  # Telegram's limit is 4096 characters


def reviewer(manager: Manager, is_admin: bool = False) -> review.Reviewer:
    return review.Reviewer(manager.id, is_admin=is_admin or manager.is_admin)


def cursor(cb: ReviewCb) -> review.Cursor:
    return review.Cursor(clean=bool(cb.f), after_id=cb.o)


def stale_text(exc: Exception, lang: str) -> str:
    if isinstance(exc, review.NotFound):
        return t("Not found.", lang)
    return t("This draft or campaign changed meanwhile; the page is refreshed.", lang)


async def undo(session: AsyncSession, manager: Manager) -> None:
    """Roll back a refused action. The rollback expires every object of the session, the manager
    too; they are read again here, so that the page shown next can use them."""
    await session.rollback()
    await session.refresh(manager)


def flag_list(findings: Sequence[str] | None, lang: str) -> str:
    return "; ".join(labels.labels("flag", findings, lang))


def _campaign_line(c: dict[str, Any], lang: str, tz: ZoneInfo) -> str:
    flagged = t(", {count} flagged", lang, count=c["flagged"]) if c["flagged"] else ""
    title = escape(labels.campaign_title(c["occasion"], c["title"], lang))
    when = f" · {labels.local_time(c['send_from'], tz, lang, fmt='%H:%M')}" if c.get("send_from") else ""
    return f"• {title}: " + t("{pending} of {count} waiting", lang, pending=c["pending"], count=c["count"]) \
        + flagged + when


def _morning_sections(m: today.Morning, lang: str, tz: ZoneInfo) -> list[str]:
    lines: list[str] = []
    for section, camps in ((t("Service reminders", lang), m.reminders),
                           (t("Greetings and recommendations", lang), m.marketing)):
        open_ = [c for c in camps if c["pending"]]
        if open_:
            lines.append(f"\n<b>{escape(section)}</b>")
            lines += [_campaign_line(c, lang, tz) for c in open_]
    return lines


def _morning_keyboard(m: today.Morning, waiting: list[dict[str, Any]], lang: str) -> InlineKeyboardBuilder:
    kb = InlineKeyboardBuilder()
    if m.tickets:
        kb.button(text=t("Answer conversations ({count})", lang, count=len(m.tickets)),
                  callback_data=ReviewCb(a="tk", c=0))
    if m.clean_reminders:
        kb.button(text=t("Approve all {count} clean reminders", lang, count=m.clean_reminders),
                  callback_data=ReviewCb(a="rem", c=0, o=m.clean_reminders))
    for c in waiting:
        kb.button(text=button_text(labels.campaign_title(c["occasion"], c["title"], lang),
                                   f" · {c['pending']}" + (f" ⚑{c['flagged']}" if c["flagged"] else "")),
                  callback_data=ReviewCb(a="open", c=c["id"]))
    return kb


async def today_view(session: AsyncSession, manager: Manager, settings: Settings, lang: str,
                     is_admin: bool = False) -> tuple[str, InlineKeyboardMarkup]:
    day = datetime.now(settings.tz).date()
    m = await today.morning(session, manager, day, admin=is_admin or manager.is_admin)
    lines = [t("<b>Today, {day}</b> ({zone})", lang, day=labels.local_date(day, lang),
               zone=labels.zone_label(settings.tz, lang))]
    urgent = sum(1 for r in m.tickets if r.urgent)
    lines.append(t("Conversations waiting: {count} ({urgent} urgent)", lang, count=len(m.tickets), urgent=urgent))
    waiting = [c for c in m.reminders + m.marketing if c["pending"]]
    lines += _morning_sections(m, lang, settings.tz)
    kb = _morning_keyboard(m, waiting, lang)
    if m.earlier:
        lines.append("\n" + t("Still waiting from earlier days: {count} campaigns, {pending} drafts", lang,
                              count=len(m.earlier), pending=sum(c["pending"] for c in m.earlier)))
        for c in m.earlier[:5]:
            title = labels.campaign_title(c["occasion"], c["title"], lang)
            kb.button(text=button_text(f"{c['plan_date'][5:]} {title}", f" · {c['pending']}"),
                      callback_data=ReviewCb(a="open", c=c["id"]))
    if not waiting and not m.earlier:
        lines.append(t("No campaigns wait for review today.", lang))
    lines.append("\n" + t("Today: {drafts} drafts, {queued} queued, {sent} sent, {failed} failed.", lang,
                          drafts=m.totals["drafts"], queued=m.totals["queued"], sent=m.totals["sent"],
                          failed=m.totals["failed"]))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


def _draft_block(n: int, d: dict[str, Any], lang: str) -> str:
    head = f"<b>{n}.</b> {escape(d['client_name'])} · {escape(d['client_no'])}"
    parts = [head]
    if d["flags"]:
        parts.append("⚑ " + escape(flag_list(d["flags"], lang)))
    why = labels.reason_line(d["occasion"], d.get("context"), d["reasons"], lang)
    if why:
        parts.append(t("Why: {why}", lang, why=why))
    text = d["text"] if len(d["text"]) <= DRAFT_CHARS else d["text"][:DRAFT_CHARS - 1] + "…"
    parts.append(escape(text))
    return "\n".join(parts)


def _draft_blocks(kb: InlineKeyboardBuilder, lines: list[str], items: list[dict[str, Any]], campaign_id: int,
                  start: review.Cursor, lang: str) -> int:
    """As many drafts as fit in one message, each with its ✓ ✎ ✗ buttons; returns how many."""
    size = sum(len(line) for line in lines)
    shown = 0
    for n, d in enumerate(items, start=1):
        block = _draft_block(n, d, lang)
        if size + len(block) > MAX_MESSAGE:
            break
        lines.append("\n" + block)
        size += len(block) + 1
        shown += 1
        for action, mark in (("ok", "✓"), ("ed", "✎"), ("no", "✗")):
            kb.button(text=f"{mark}{n}", callback_data=ReviewCb(a=action, c=campaign_id, d=d["id"],
                                                                 o=start.after_id, f=int(start.clean)))
    return shown


def _next_cursor(page: dict[str, Any], shown: int) -> review.Cursor | None:
    items = page["items"]
    if shown == len(items):
        nxt: review.Cursor | None = page["next"]
        return nxt
    last = items[shown - 1]  # the message was full: continue after the last one shown
    return review.Cursor(clean=not last["flags"], after_id=last["id"])


async def campaign_page(session: AsyncSession, manager: Manager, campaign_id: int, start: review.Cursor,
                        lang: str, is_admin: bool = False) -> tuple[str, InlineKeyboardMarkup]:
    me = reviewer(manager, is_admin)
    camp = await review.open_campaign(session, me, campaign_id)
    [summary] = [c for c in await review.list_campaigns(session, me, camp.plan_date) if c["id"] == campaign_id]
    page = await review.pending_page(session, me, campaign_id, start=start, limit=PAGE)
    clean = summary["pending"] - summary["flagged"]
    title = escape(labels.campaign_title(camp.occasion, camp.title, lang))
    kind = escape(labels.label("kind", camp.kind, lang))
    lines = [f"<b>{title}</b> · {labels.local_date(camp.plan_date, lang)} · {kind}",
             t("{pending} waiting, {flagged} flagged", lang, pending=summary["pending"], flagged=summary["flagged"])]
    if camp.template_override:
        lines.append(t("Template:", lang) + f"\n<i>{escape(camp.template_override[:300])}</i>")
    if not page["items"]:
        lines.append(t("Nothing more waits in this campaign.", lang))
    kb = InlineKeyboardBuilder()
    shown = _draft_blocks(kb, lines, page["items"], campaign_id, start, lang)
    sizes = [3] * shown
    if clean:
        kb.button(text=t("Approve all {count} clean", lang, count=clean),
                  callback_data=ReviewCb(a="all", c=campaign_id, o=clean))
        sizes.append(1)
    kb.button(text=t("Edit template", lang), callback_data=ReviewCb(a="tpl", c=campaign_id))
    sizes.append(1)
    nxt = _next_cursor(page, shown)
    if nxt is not None:
        kb.button(text=t("Next page", lang), callback_data=ReviewCb(a="open", c=campaign_id, o=nxt.after_id,
                                                                     f=int(nxt.clean)))
        sizes.append(1)
    kb.button(text=t("Back to today", lang), callback_data=ReviewCb(a="today", c=0))
    sizes.append(1)
    kb.adjust(*sizes)
    return "\n".join(lines), kb.as_markup()


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Replace the message the button was on (the page refreshed in place); a new one if it cannot."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            await query.message.answer(text, reply_markup=markup)


async def refresh_page(bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            await bot.send_message(chat_id, text, reply_markup=markup)
