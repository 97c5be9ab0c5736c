"""Campaign review in Telegram, for managers: /queue, open a campaign (template, flagged drafts
first, then a sample), approve all (after a confirmation stating the count), approve / edit /
reject one, next page; /console for a one-time link to the web console.

Thin: every decision is `bot.services.review`; access (own clients only) is enforced there.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Manager
from bot.i18n import t
from bot.services import auth, placeholders, review
from handlers.filters import Magic
from handlers.keyboards import ReviewCb

PAGE = 5


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


def _me(manager: Manager) -> review.Reviewer:
    return review.Reviewer(manager.id, is_admin=manager.is_admin)


async def _queue_text(session: AsyncSession, manager: Manager, settings: Any, lang: str) -> tuple[str, Any]:
    today = datetime.now(settings.tz).date()
    camps = await review.list_campaigns(session, _me(manager), today, only_waiting=True)
    if not camps:
        return t("No campaigns wait for review today.", lang), None
    kb = InlineKeyboardBuilder()
    lines = [t("Campaigns waiting today:", lang)]
    for c in camps:
        lines.append(f"• {escape(c['title'])}: {c['pending']} / {c['count']}"
                     + (f" ⚑{c['flagged']}" if c["flagged"] else ""))
        kb.button(text=f"{c['title']} ({c['pending']})"[:60], callback_data=ReviewCb(a="open", c=c["id"]))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


async def _campaign_page(session: AsyncSession, manager: Manager, campaign_id: int, offset: int,
                         lang: str) -> tuple[str, Any]:
    me = _me(manager)
    camp = await review.open_campaign(session, me, campaign_id)
    [summary] = [c for c in await review.list_campaigns(session, me, camp.plan_date) if c["id"] == campaign_id]
    listing = await review.list_drafts(session, me, campaign_id, status="pending", offset=offset, limit=PAGE)
    approvable = summary["pending"] - summary["flagged"]
    lines = [f"<b>{escape(camp.title or camp.occasion)}</b> {camp.plan_date}",
             t("{pending} waiting, {flagged} flagged", lang, pending=summary["pending"], flagged=summary["flagged"])]
    if camp.template_override:
        lines.append(t("Template:", lang) + f"\n<i>{escape(camp.template_override[:300])}</i>")
    kb = InlineKeyboardBuilder()
    for n, d in enumerate(listing["items"], start=offset + 1):
        flag = " ⚑" + ",".join(d["flags"]) if d["flags"] else ""
        lines.append(f"\n<b>{n}.</b> {escape(d['client_no'])}{escape(flag)}\n{escape(d['text'][:400])}")
        kb.button(text=f"✓{n}", callback_data=ReviewCb(a="ok", c=campaign_id, d=d["id"], o=offset))
        kb.button(text=f"✎{n}", callback_data=ReviewCb(a="ed", c=campaign_id, d=d["id"], o=offset))
        kb.button(text=f"✗{n}", callback_data=ReviewCb(a="no", c=campaign_id, d=d["id"], o=offset))
    sizes = [3] * len(listing["items"])
    if approvable:
        kb.button(text=t("Approve all {count}", lang, count=approvable),
                  callback_data=ReviewCb(a="all", c=campaign_id, o=approvable))
        sizes.append(1)
    kb.button(text=t("Edit template", lang), callback_data=ReviewCb(a="tpl", c=campaign_id))
    sizes.append(1)
    if offset + PAGE < listing["total"]:
        kb.button(text=t("Next page", lang), callback_data=ReviewCb(a="open", c=campaign_id, o=offset + PAGE))
        sizes.append(1)
    kb.adjust(*sizes)
    return "\n".join(lines)[:4000], kb.as_markup()


def setup_router() -> Router:
    router = Router(name="manager")
    router.message.filter(IsManager())
    router.callback_query.filter(IsManager())

    @router.message(Command("queue"))
    async def queue(message: Message, session: AsyncSession, manager: Manager, settings: Any, lang: str) -> None:
        text, markup = await _queue_text(session, manager, settings, lang)
        await message.answer(text, reply_markup=markup)

    @router.message(Command("console"))
    async def console_link(message: Message, session: AsyncSession, manager: Manager, settings: Any,
                           lang: str) -> None:
        token = await auth.create_login_link(session, manager)
        await message.answer(t("Your one-time console link (10 minutes): {link}", lang,
                               link=auth.login_url(settings, token)))

    @router.callback_query(ReviewCb.filter(F.a == "open"))
    async def open_campaign(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession,
                            manager: Manager, lang: str) -> None:
        try:
            text, markup = await _campaign_page(session, manager, callback_data.c, callback_data.o, lang)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(text, reply_markup=markup)

    @router.callback_query(ReviewCb.filter(F.a == "all"))
    async def approve_all_ask(query: CallbackQuery, callback_data: ReviewCb, lang: str) -> None:
        kb = InlineKeyboardBuilder()
        kb.button(text=t("Yes, approve {count}", lang, count=callback_data.o),
                  callback_data=ReviewCb(a="allok", c=callback_data.c, o=callback_data.o))
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("Approve {count} drafts? Flagged drafts are left for you.", lang,
                                         count=callback_data.o), reply_markup=kb.as_markup())

    @router.callback_query(ReviewCb.filter(F.a == "allok"))
    async def approve_all(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                          lang: str) -> None:
        try:
            n = await review.approve_all(session, _me(manager), callback_data.c, expected=callback_data.o)
        except (review.NotFound, review.InvalidInput) as exc:
            await query.answer(str(exc)[:190], show_alert=True)
            return
        await query.answer(t("{count} approved", lang, count=n), show_alert=True)

    @router.callback_query(ReviewCb.filter(F.a == "ok"))
    async def approve_one(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                          state: FSMContext, lang: str) -> None:
        try:
            await review.approve_one(session, _me(manager), callback_data.d)
        except review.Blocked as exc:
            await query.answer(t("Blocked by the compliance check ({findings}): edit the text or reject it.", lang,
                                 findings=", ".join(exc.findings))[:190], show_alert=True)
            return
        except review.NeedsOverride as exc:  # warnings: approving needs the manager's reason
            await state.set_state(OverrideReason.reason)
            await state.update_data(draft_id=callback_data.d)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(t(
                    "This draft has warnings ({findings}). Send the reason for approving it anyway.", lang,
                    findings=", ".join(exc.findings)))
            return
        except (review.NotFound, review.InvalidInput) as exc:
            await query.answer(str(exc)[:190], show_alert=True)
            return
        await query.answer(t("Approved", lang))

    @router.message(StateFilter(OverrideReason.reason), Magic(F.text))
    async def save_override(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                            lang: str) -> None:
        draft_id = (await state.get_data())["draft_id"]
        await state.clear()
        try:
            await review.approve_one(session, _me(manager), draft_id, override_reason=message.text or "")
        except review.Blocked as exc:
            await message.answer(t("Blocked by the compliance check ({findings}): edit the text or reject it.",
                                   lang, findings=", ".join(exc.findings)))
            return
        except (review.NotFound, review.InvalidInput) as exc:
            await message.answer(escape(str(exc)))
            return
        await message.answer(t("Approved with your reason (recorded).", lang))

    @router.callback_query(ReviewCb.filter(F.a.in_({"ed", "no"})))
    async def ask_text(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                       manager: Manager, lang: str) -> None:
        try:
            await review.get_draft(session, _me(manager), callback_data.d)
        except review.NotFound:
            await query.answer(t("Not found.", lang), show_alert=True)
            return
        await state.set_state(EditDraft.text if callback_data.a == "ed" else RejectDraft.reason)
        await state.update_data(draft_id=callback_data.d)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("Send the new text of the message.", lang) if callback_data.a == "ed"
                                       else t("Send the reason for rejecting it.", lang))

    @router.message(StateFilter(EditDraft.text), Magic(F.text))
    async def save_edit(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                        lang: str) -> None:
        draft_id = (await state.get_data())["draft_id"]
        await state.clear()
        try:
            draft = await review.edit_draft(session, _me(manager), draft_id, message.text or "")
        except (review.NotFound, review.InvalidInput) as exc:
            await message.answer(escape(str(exc)))
            return
        kb = InlineKeyboardBuilder()
        kb.button(text=t("Approve", lang), callback_data=ReviewCb(a="ok", c=draft.campaign_id, d=draft.id))
        flags = ", ".join(draft.flags or [])
        await message.answer(t("Saved. It will be sent exactly as written.", lang)
                             + (f"\n⚑ {escape(flags)}" if flags else ""), reply_markup=kb.as_markup())

    @router.callback_query(ReviewCb.filter(F.a == "tpl"))
    async def ask_template(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                           manager: Manager, lang: str) -> None:
        try:
            await review.get_campaign(session, _me(manager), callback_data.c)
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
                            lang: str) -> None:
        campaign_id = (await state.get_data())["campaign_id"]
        try:
            n = await review.edit_template(session, _me(manager), campaign_id, message.text or "")
        except placeholders.TemplateFieldError as exc:  # the state stays: the manager sends a corrected text
            await message.answer(escape(exc.message(lang)) + "\n" + t("Send the corrected template.", lang))
            return
        except review.TemplateRejected as exc:  # its messages would fail compliance: nothing saved
            await message.answer(t("The template was not saved: {findings}", lang,
                                   findings=", ".join(f"{k} ({v})" for k, v in sorted(exc.findings.items())))
                                 + "\n" + t("Send the corrected template.", lang))
            return
        except review.NotFound:
            await state.clear()
            await message.answer(t("Not found.", lang))
            return
        await state.clear()
        await message.answer(t("Template saved; {count} drafts re-rendered.", lang, count=n))

    @router.message(StateFilter(RejectDraft.reason), Magic(F.text))
    async def save_reject(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                          lang: str) -> None:
        draft_id = (await state.get_data())["draft_id"]
        await state.clear()
        try:
            await review.reject_one(session, _me(manager), draft_id, message.text or "")
        except (review.NotFound, review.InvalidInput) as exc:
            await message.answer(escape(str(exc)))
            return
        await message.answer(t("Rejected.", lang))

    return router
