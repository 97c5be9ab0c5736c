"""Campaign review in Telegram: a campaign's page, approve one / all clean, edit or reject a draft
(the text comes as the next message), an override reason for a draft with warnings, the campaign's
template. Every decision is `bot.services.review`'s; after each action the page is shown again
from the same cursor.
"""

from __future__ import annotations

from html import escape

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.db.models import Manager
from bot.i18n import t
from bot.services import placeholders, review
from handlers.keyboards import ReviewCb
from handlers.manager.views import campaign_page, cursor, flag_list, refresh_page, reviewer, show, stale_text, undo


class EditDraft(StatesGroup):
    text = State()


class RejectDraft(StatesGroup):
    reason = State()


class EditTemplate(StatesGroup):
    text = State()


class OverrideReason(StatesGroup):
    reason = State()


def _blocked_text(exc: review.Blocked, lang: str) -> str:
    return t("Blocked by the compliance check ({findings}): edit the text or reject it.", lang,
             findings=flag_list(exc.findings, lang))


async def open_campaign(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                        lang: str, is_admin: bool = False) -> None:
    try:
        text, markup = await campaign_page(session, manager, callback_data.c, cursor(callback_data), lang, is_admin)
    except review.NotFound:
        await query.answer(t("Not found.", lang), show_alert=True)
        return
    await query.answer()
    await show(query, text, markup)


async def approve_all_ask(query: CallbackQuery, callback_data: ReviewCb, lang: str) -> None:
    """"Approve all clean" of a campaign (`all`) or of today's service reminders (`rem`): asks first."""
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
    await show(query, question, kb.as_markup())


async def approve_all(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                      lang: str, is_admin: bool = False) -> None:
    """The campaign's clean drafts, confirmed: as many as the manager saw, else nothing."""
    try:
        n = await review.approve_all(session, reviewer(manager, is_admin), callback_data.c, expected=callback_data.o)
    except (review.NotFound, review.InvalidInput) as exc:
        await undo(session, manager)
        n, note = 0, stale_text(exc, lang)
    else:
        note = t("{count} approved", lang, count=n)
    await query.answer(note, show_alert=n == 0)
    text, markup = await campaign_page(session, manager, callback_data.c, review.Cursor(), lang, is_admin)
    await show(query, text, markup)


async def approve_one(query: CallbackQuery, callback_data: ReviewCb, session: AsyncSession, manager: Manager,
                      state: FSMContext, lang: str, is_admin: bool = False) -> None:
    try:
        await review.approve_one(session, reviewer(manager, is_admin), callback_data.d)
        note = t("Approved", lang)
    except review.NotFound:
        await query.answer(t("Not found.", lang), show_alert=True)
        return
    except review.Blocked as exc:  # the compliance gate: the text must be fixed first
        note = _blocked_text(exc, lang)[:190]
    except review.NeedsOverride as exc:  # warnings: approving needs the manager's reason
        await _ask_override_reason(query, callback_data, state, exc, lang)
        return
    except review.InvalidInput as exc:
        await undo(session, manager)
        note = stale_text(exc, lang)
    await query.answer(note)
    text, markup = await campaign_page(session, manager, callback_data.c, cursor(callback_data), lang, is_admin)
    await show(query, text, markup)


async def _ask_override_reason(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext,
                               exc: review.NeedsOverride, lang: str) -> None:
    await state.set_state(OverrideReason.reason)
    await state.update_data(draft_id=callback_data.d, campaign_id=callback_data.c)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("This draft has warnings ({findings}). Send the reason for approving it anyway.",
                                     lang, findings=flag_list(exc.findings, lang)))


async def save_override(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                        lang: str) -> None:
    draft_id = (await state.get_data())["draft_id"]
    try:
        await review.approve_one(session, reviewer(manager), draft_id, override_reason=message.text or "")
    except review.Blocked as exc:
        await state.clear()
        await message.answer(_blocked_text(exc, lang))
        return
    except review.NeedsOverride:  # the text says nothing (review.override_reason_problem): the state stays
        await message.answer(t("A reason must say why you approve it despite the warnings, in a few words (for "
                               "example: the client asked for this comparison). Send the reason, or /cancel.", lang))
        return
    except (review.NotFound, review.InvalidInput) as exc:
        await state.clear()
        await message.answer(escape(str(exc)))
        return
    await state.clear()
    await message.answer(t("Approved with your reason (recorded).", lang))


async def ask_text(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                   manager: Manager, lang: str, is_admin: bool = False) -> None:
    """✎ (a new text) or ✗ (a reason to reject): the draft's text or reason comes as the next message."""
    try:
        draft = await review.get_draft(session, reviewer(manager, is_admin), callback_data.d)
    except review.NotFound:
        await query.answer(t("Not found.", lang), show_alert=True)
        return
    edit = callback_data.a == "ed"
    await state.set_state(EditDraft.text if edit else RejectDraft.reason)
    page_message = query.message.message_id if isinstance(query.message, Message) else 0
    await state.update_data(draft_id=draft.id, campaign_id=callback_data.c, after=callback_data.o,
                            clean=callback_data.f, page_message=page_message)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("Send the new text of the message.", lang) if edit
                                   else t("Send the reason for rejecting it.", lang))


async def _after_text(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                      lang: str, is_admin: bool, note: str) -> None:
    """The note, then the page the manager came from, refreshed in place."""
    data = await state.get_data()
    await state.clear()
    text, markup = await campaign_page(session, manager, data["campaign_id"],
                                       review.Cursor(clean=bool(data["clean"]), after_id=data["after"]), lang,
                                       is_admin)
    await message.answer(note)
    if data.get("page_message"):
        await refresh_page(bot, message.chat.id, data["page_message"], text, markup)
    else:
        await message.answer(text, reply_markup=markup)


async def cancel_text(message: Message, state: FSMContext, lang: str) -> None:
    await state.clear()
    await message.answer(t("Cancelled.", lang))


async def save_edit(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                    lang: str, is_admin: bool = False) -> None:
    draft_id = (await state.get_data())["draft_id"]
    try:
        draft = await review.edit_draft(session, reviewer(manager, is_admin), draft_id, message.text or "")
    except (review.NotFound, review.InvalidInput) as exc:
        await undo(session, manager)
        await _after_text(message, state, session, bot, manager, lang, is_admin, stale_text(exc, lang))
        return
    flags = flag_list(draft.flags, lang)
    note = t("Saved. It will be sent exactly as written.", lang) + (f"\n⚑ {escape(flags)}" if flags else "")
    await _after_text(message, state, session, bot, manager, lang, is_admin, note)


async def save_reject(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, manager: Manager,
                      lang: str, is_admin: bool = False) -> None:
    draft_id = (await state.get_data())["draft_id"]
    try:
        await review.reject_one(session, reviewer(manager, is_admin), draft_id, message.text or "")
        note = t("Rejected.", lang)
    except (review.NotFound, review.InvalidInput) as exc:
        await undo(session, manager)
        note = stale_text(exc, lang)
    await _after_text(message, state, session, bot, manager, lang, is_admin, note)


async def ask_template(query: CallbackQuery, callback_data: ReviewCb, state: FSMContext, session: AsyncSession,
                       manager: Manager, lang: str, is_admin: bool = False) -> None:
    try:
        await review.get_campaign(session, reviewer(manager, is_admin), callback_data.c)
    except review.NotFound:
        await query.answer(t("Not found.", lang), show_alert=True)
        return
    await state.set_state(EditTemplate.text)
    await state.update_data(campaign_id=callback_data.c)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("Send the new template. Placeholders: {allowed}", lang,
                                     allowed=", ".join(f"{{{f}}}" for f in placeholders.FIELDS)))


async def save_template(message: Message, state: FSMContext, session: AsyncSession, manager: Manager,
                        lang: str, is_admin: bool = False) -> None:
    campaign_id = (await state.get_data())["campaign_id"]
    try:
        n = await review.edit_template(session, reviewer(manager, is_admin), campaign_id, message.text or "")
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
