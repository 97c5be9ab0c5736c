"""The manager's side of the bot: /start and /help of their own, /today (also /queue): the morning
on one screen, campaign review page by page, /language, /console, the Mini App menu button.

Review pages are cursor-paged by draft id (flagged drafts first), so approving or rejecting a
draft never makes another one slip past unseen; after every action the page is edited in place
from the same cursor. Thin: every decision is `bot.services.review` / `bot.services.today`;
access (own clients only) is enforced there. Texts are in the manager's chosen language.
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    Message,
    TelegramObject,
    WebAppInfo,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.db.models import Manager
from bot.i18n import t
from bot.services import auth, managers, placeholders, review, today
from handlers.filters import Magic
from handlers.keyboards import ReviewCb, button_text

log = logging.getLogger(__name__)

PAGE = 5
DRAFT_CHARS = 300  # of each draft's text on a review page
MAX_MESSAGE = 4000  # Telegram's limit is 4096 characters


class IsManager(Filter):
    async def __call__(self, event: TelegramObject, manager: Manager | None = None) -> bool:
        return manager is not None


class EditDraft(StatesGroup):
    text = State()


class RejectDraft(StatesGroup):
    reason = State()


class EditTemplate(StatesGroup):
    text = State()


class OverrideReason(StatesGroup):
    reason = State()


def _me(manager: Manager, is_admin: bool = False) -> review.Reviewer:
    return review.Reviewer(manager.id, is_admin=is_admin or manager.is_admin)


def manager_commands(lang: str) -> list[BotCommand]:
    names = [("today", t("What needs me today", lang)), ("tickets", t("Open conversations", lang)),
             ("console", t("Console link", lang)), ("language", "中文 / English"), ("help", t("Help", lang))]
    return [BotCommand(command=c, description=d) for c, d in names]


async def setup_manager_chat(bot: Bot, settings: Any, manager: Manager) -> bool:
    """The manager's own command list and a Mini App button (the console) in their chat's menu.
    Telegram opens only https Mini Apps: without an https PUBLIC_URL there is no button."""
    if not manager.telegram_id:
        return False
    lang = manager.language or "zh"
    try:
        await bot.set_my_commands(manager_commands(lang), scope=BotCommandScopeChat(chat_id=manager.telegram_id))
        public = (getattr(settings, "public_url", "") or "").rstrip("/")
        if not public.startswith("https://"):
            return False
        await bot.set_chat_menu_button(chat_id=manager.telegram_id, menu_button=MenuButtonWebApp(
            text=t("Console", lang), web_app=WebAppInfo(url=f"{public}/login")))
    except TelegramAPIError as exc:
        log.warning("manager menu not set", extra={"manager_id": manager.id, "error": type(exc).__name__})
        return False
    return True


def _campaign_line(c: dict[str, Any], lang: str, tz: Any) -> str:
    flagged = t(", {count} flagged", lang, count=c["flagged"]) if c["flagged"] else ""
    title = escape(labels.campaign_title(c["occasion"], c["title"], lang))
    when = f" · {labels.local_time(c['send_from'], tz, lang, fmt='%H:%M')}" if c.get("send_from") else ""
    return f"• {title}: " + t("{pending} of {count} waiting", lang, pending=c["pending"], count=c["count"]) \
        + flagged + when


async def today_view(session: AsyncSession, manager: Manager, settings: Any, lang: str,
                     is_admin: bool = False) -> tuple[str, InlineKeyboardMarkup]:
    day = datetime.now(settings.tz).date()
    m = await today.morning(session, manager, day, admin=is_admin or manager.is_admin)
    lines = [t("<b>Today, {day}</b> ({zone})", lang, day=labels.local_date(day, lang),
               zone=labels.zone_label(settings.tz, lang))]
    urgent = sum(1 for r in m.tickets if r.urgent)
    lines.append(t("Conversations waiting: {count} ({urgent} urgent)", lang, count=len(m.tickets), urgent=urgent))
    kb = InlineKeyboardBuilder()
    waiting = [c for c in m.reminders + m.marketing if c["pending"]]
    for section, camps in ((t("Service reminders", lang), m.reminders), (t("Greetings and recommendations", lang),
                                                                        m.marketing)):
        open_ = [c for c in camps if c["pending"]]
        if open_:
            lines.append(f"\n<b>{escape(section)}</b>")
            lines += [_campaign_line(c, lang, settings.tz) for c in open_]
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
        parts.append("⚑ " + escape("; ".join(labels.labels("flag", d["flags"], lang))))
    why = labels.reason_line(d["occasion"], d.get("context"), d["reasons"], lang)
    if why:
        parts.append(t("Why: {why}", lang, why=why))
    text = d["text"] if len(d["text"]) <= DRAFT_CHARS else d["text"][:DRAFT_CHARS - 1] + "…"
    parts.append(escape(text))
    return "\n".join(parts)


async def campaign_page(session: AsyncSession, manager: Manager, campaign_id: int, start: review.Cursor,
                        lang: str, is_admin: bool = False) -> tuple[str, InlineKeyboardMarkup]:
    me = _me(manager, is_admin)
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
    size = sum(len(line) for line in lines)
    shown = 0
    for n, d in enumerate(page["items"], start=1):
        block = _draft_block(n, d, lang)
        if size + len(block) > MAX_MESSAGE:
            break
        lines.append("\n" + block)
        size += len(block) + 1
        shown += 1
        for action, mark in (("ok", "✓"), ("ed", "✎"), ("no", "✗")):
            kb.button(text=f"{mark}{n}", callback_data=ReviewCb(a=action, c=campaign_id, d=d["id"],
                                                                 o=start.after_id, f=int(start.clean)))
    sizes = [3] * shown
    if clean:
        kb.button(text=t("Approve all {count} clean", lang, count=clean),
                  callback_data=ReviewCb(a="all", c=campaign_id, o=clean))
        sizes.append(1)
    kb.button(text=t("Edit template", lang), callback_data=ReviewCb(a="tpl", c=campaign_id))
    sizes.append(1)
    nxt = page["next"] if shown == len(page["items"]) else None
    if nxt is None and shown < len(page["items"]):  # the message was full: continue after the last one shown
        last = page["items"][shown - 1]
        nxt = review.Cursor(clean=not last["flags"], after_id=last["id"])
    if nxt is not None:
        kb.button(text=t("Next page", lang), callback_data=ReviewCb(a="open", c=campaign_id, o=nxt.after_id,
                                                                     f=int(nxt.clean)))
        sizes.append(1)
    kb.button(text=t("Back to today", lang), callback_data=ReviewCb(a="today", c=0))
    sizes.append(1)
    kb.adjust(*sizes)
    return "\n".join(lines), kb.as_markup()


def _cursor(cb: ReviewCb) -> review.Cursor:
    return review.Cursor(clean=bool(cb.f), after_id=cb.o)


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Replace the message the button was on (the page refreshed in place); a new one if it cannot."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            await query.message.answer(text, reply_markup=markup)


async def _refresh_page(bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in str(exc):
            await bot.send_message(chat_id, text, reply_markup=markup)


def _stale_text(exc: Exception, lang: str) -> str:
    if isinstance(exc, review.NotFound):
        return t("Not found.", lang)
    return t("This draft or campaign changed meanwhile; the page is refreshed.", lang)


def setup_router() -> Router:
    router = Router(name="manager")
    # Private chats only: a sign-in link or a client's data must never land in a group.
    router.message.filter(IsManager(), Magic(F.chat.type == "private"))
    router.callback_query.filter(IsManager(), Magic(F.message.chat.type == "private"))

    @router.message(Magic(F.text.regexp(r"^/(start|help)(@\w+)?\s*$")))
    async def manager_help(message: Message, bot: Bot, manager: Manager, settings: Any, lang: str) -> None:
        await setup_manager_chat(bot, settings, manager)
        await message.answer(t("manager-help", lang, name=manager.name))

    @router.message(Command("today", "queue"))
    async def today_cmd(message: Message, session: AsyncSession, manager: Manager, settings: Any, lang: str,
                        is_admin: bool = False) -> None:
        text, markup = await today_view(session, manager, settings, lang, is_admin)
        await message.answer(text, reply_markup=markup)

    @router.message(Command("console"))
    async def console_link(message: Message, session: AsyncSession, manager: Manager, settings: Any,
                           lang: str) -> None:
        token = await auth.create_login_link(session, manager)
        # no link preview: a preview fetcher must not be the one to open a one-time link
        await message.answer(t("Your one-time console link (10 minutes): {link}", lang,
                               link=auth.login_url(settings, token)), disable_web_page_preview=True)

    @router.message(Command("language"))
    async def language_cmd(message: Message, session: AsyncSession, bot: Bot, manager: Manager,
                           settings: Any) -> None:
        new = "en" if manager.language == "zh" else "zh"
        await managers.set_preferences(session, manager, language=new)
        await setup_manager_chat(bot, settings, manager)
        await message.answer(t("I will write to you in English from now on.", new))

    @router.callback_query(ReviewCb.filter(F.a == "today"))
    async def today_button(query: CallbackQuery, session: AsyncSession, manager: Manager, settings: Any,
                           lang: str, is_admin: bool = False) -> None:
        text, markup = await today_view(session, manager, settings, lang, is_admin)
        await query.answer()
        await _show(query, text, markup)

    @router.callback_query(ReviewCb.filter(F.a == "tk"))
    async def tickets_button(query: CallbackQuery, session: AsyncSession, bot: Bot, manager: Manager, lang: str,
                             is_admin: bool = False) -> None:
        from handlers.tickets import send_ticket_list

        await query.answer()
        if query.message is not None:
            await send_ticket_list(bot, query.message.chat.id, session, manager, lang, admin=is_admin)

    @router.callback_query(ReviewCb.filter(F.a == "open"))
    async def open_campaign(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession,
                            manager: Manager, lang: str, is_admin: bool = False) -> None:
        try:
            text, markup = await campaign_page(session, manager, callback_data.c, _cursor(callback_data), lang,
                                               is_admin)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        await query.answer()
        await _show(query, text, markup)

    @router.callback_query(ReviewCb.filter(F.a.in_({"all", "rem"})))
    async def approve_all_ask(query: CallbackQuery, callback_data: ReviewCb, lang: str) -> None:
        kb = InlineKeyboardBuilder()
        kb.button(text=t("Yes, approve {count}", lang, count=callback_data.o),
                  callback_data=ReviewCb(a=callback_data.a + "ok", c=callback_data.c, o=callback_data.o))
        kb.button(text=t("Cancel", lang), callback_data=ReviewCb(a="open" if callback_data.a == "all" else "today",
                                                                 c=callback_data.c))
        kb.adjust(1)
        question = (t("Approve {count} drafts? Flagged drafts are left for you.", lang, count=callback_data.o)
                    if callback_data.a == "all" else
                    t("Approve all {count} clean service reminders of today? Flagged ones are left for you.", lang,
                      count=callback_data.o))
        await query.answer()
        await _show(query, question, kb.as_markup())

    @router.callback_query(ReviewCb.filter(F.a.in_({"allok", "remok"})))
    async def approve_all(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                          settings: Any, lang: str, is_admin: bool = False) -> None:
        me = _me(manager, is_admin)
        try:
            if callback_data.a == "allok":
                n = await review.approve_all(session, me, callback_data.c, expected=callback_data.o)
            else:
                n = await today.approve_clean_reminders(session, me, datetime.now(settings.tz).date(),
                                                        expected=callback_data.o)
        except (review.NotFound, review.InvalidInput) as exc:
            await session.rollback()
            n, note = 0, _stale_text(exc, lang)
        else:
            note = t("{count} approved", lang, count=n)
        await query.answer(note, show_alert=n == 0)
        if callback_data.a == "allok":
            text, markup = await campaign_page(session, manager, callback_data.c, review.Cursor(), lang, is_admin)
        else:
            text, markup = await today_view(session, manager, settings, lang, is_admin)
        await _show(query, text, markup)

    @router.callback_query(ReviewCb.filter(F.a == "ok"))
    async def approve_one(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                          state: FSMContext, lang: str, is_admin: bool = False) -> None:
        try:
            await review.approve_one(session, _me(manager, is_admin), callback_data.d)
            note = t("Approved", lang)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        except review.Blocked as exc:  # the compliance gate: the text must be fixed first
            note = t("Blocked by the compliance check ({findings}): edit the text or reject it.", lang,
                     findings="; ".join(labels.labels("flag", exc.findings, lang)))[:190]
        except review.NeedsOverride as exc:  # warnings: approving needs the manager's reason
            await state.set_state(OverrideReason.reason)
            await state.update_data(draft_id=callback_data.d, campaign_id=callback_data.c)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(t(
                    "This draft has warnings ({findings}). Send the reason for approving it anyway.", lang,
                    findings="; ".join(labels.labels("flag", exc.findings, lang))))
            return
        except review.InvalidInput as exc:
            await session.rollback()
            note = _stale_text(exc, lang)
        await query.answer(note)
        text, markup = await campaign_page(session, manager, callback_data.c, _cursor(callback_data), lang, is_admin)
        await _show(query, text, markup)

    @router.message(StateFilter(OverrideReason.reason), Magic(F.text))
    async def save_override(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                            lang: str) -> None:
        draft_id = (await state.get_data())["draft_id"]
        await state.clear()
        try:
            await review.approve_one(session, _me(manager), draft_id, override_reason=message.text or "")
        except review.Blocked as exc:
            await message.answer(t("Blocked by the compliance check ({findings}): edit the text or reject it.",
                                   lang, findings="; ".join(labels.labels("flag", exc.findings, lang))))
            return
        except (review.NotFound, review.InvalidInput) as exc:
            await message.answer(escape(str(exc)))
            return
        await message.answer(t("Approved with your reason (recorded).", lang))

    @router.callback_query(ReviewCb.filter(F.a.in_({"ed", "no"})))
    async def ask_text(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                       manager: Manager, lang: str, is_admin: bool = False) -> None:
        try:
            draft = await review.get_draft(session, _me(manager, is_admin), callback_data.d)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        await state.set_state(EditDraft.text if callback_data.a == "ed" else RejectDraft.reason)
        page_message = query.message.message_id if isinstance(query.message, Message) else 0
        await state.update_data(draft_id=draft.id, campaign_id=callback_data.c, after=callback_data.o,
                                clean=callback_data.f, page_message=page_message)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("Send the new text of the message.", lang) if callback_data.a == "ed"
                                       else t("Send the reason for rejecting it.", lang))

    async def _after_text(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                          lang: str, is_admin: bool, note: str) -> None:
        data = await state.get_data()
        await state.clear()
        text, markup = await campaign_page(session, manager, data["campaign_id"],
                                           review.Cursor(clean=bool(data["clean"]), after_id=data["after"]), lang,
                                           is_admin)
        await message.answer(note)
        if data.get("page_message"):
            await _refresh_page(bot, message.chat.id, data["page_message"], text, markup)
        else:
            await message.answer(text, reply_markup=markup)

    @router.message(Command("cancel"), StateFilter(EditDraft.text, RejectDraft.reason, EditTemplate.text))
    async def cancel_text(message: Message, state: FSMContext, lang: str) -> None:
        await state.clear()
        await message.answer(t("Cancelled.", lang))

    @router.message(StateFilter(EditDraft.text), Magic(F.text))
    async def save_edit(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                        lang: str, is_admin: bool = False) -> None:
        draft_id = (await state.get_data())["draft_id"]
        try:
            draft = await review.edit_draft(session, _me(manager, is_admin), draft_id, message.text or "")
        except (review.NotFound, review.InvalidInput) as exc:
            await session.rollback()
            await _after_text(message, state, session, bot, manager, lang, is_admin, _stale_text(exc, lang))
            return
        flags = "; ".join(labels.labels("flag", draft.flags, lang))
        note = t("Saved. It will be sent exactly as written.", lang) + (f"\n⚑ {escape(flags)}" if flags else "")
        await _after_text(message, state, session, bot, manager, lang, is_admin, note)

    @router.callback_query(ReviewCb.filter(F.a == "tpl"))
    async def ask_template(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                           manager: Manager, lang: str, is_admin: bool = False) -> None:
        try:
            await review.get_campaign(session, _me(manager, is_admin), callback_data.c)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        await state.set_state(EditTemplate.text)
        await state.update_data(campaign_id=callback_data.c)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("Send the new template. Placeholders: {allowed}", lang,
                                         allowed=", ".join(f"{{{f}}}" for f in placeholders.FIELDS)))

    @router.message(StateFilter(EditTemplate.text), Magic(F.text))
    async def save_template(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                            lang: str, is_admin: bool = False) -> None:
        campaign_id = (await state.get_data())["campaign_id"]
        try:
            n = await review.edit_template(session, _me(manager, is_admin), campaign_id, message.text or "")
        except placeholders.TemplateFieldError as exc:  # the state stays: the manager sends a corrected text
            await message.answer(escape(exc.message(lang)) + "\n" + t("Send the corrected template.", lang))
            return
        except review.TemplateRejected as exc:  # its messages would fail compliance: nothing saved
            await message.answer(t("The template was not saved: {findings}", lang,
                                   findings="; ".join(f"{labels.label('flag', k, lang)} ({v})"
                                                  for k, v in sorted(exc.findings.items())))
                                 + "\n" + t("Send the corrected template.", lang))
            return
        except review.NotFound:
            await state.clear()
            await message.answer(t("Not found.", lang))
            return
        await state.clear()
        text, markup = await campaign_page(session, manager, campaign_id, review.Cursor(), lang, is_admin)
        await message.answer(t("Template saved; {count} drafts re-rendered.", lang, count=n))
        await message.answer(text, reply_markup=markup)

    @router.message(StateFilter(RejectDraft.reason), Magic(F.text))
    async def save_reject(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                          lang: str, is_admin: bool = False) -> None:
        draft_id = (await state.get_data())["draft_id"]
        try:
            await review.reject_one(session, _me(manager, is_admin), draft_id, message.text or "")
            note = t("Rejected.", lang)
        except (review.NotFound, review.InvalidInput) as exc:
            await session.rollback()
            note = _stale_text(exc, lang)
        await _after_text(message, state, session, bot, manager, lang, is_admin, note)

    @router.message(Magic(F.text.regexp(r"^/[A-Za-z0-9_]+")), ~Command("human", "stop", "settings"))
    async def unknown_command(message: Message, lang: str) -> None:
        await message.answer(t("I do not know that command. /help lists what I can do.", lang))

    @router.message(Magic(F.text), ~Command("human", "stop", "settings"))
    async def free_text(message: Message, lang: str) -> None:
        """A manager's own words are not a customer's question: say how to reach the work instead."""
        await message.answer(t("manager-free-text", lang))

    return router
