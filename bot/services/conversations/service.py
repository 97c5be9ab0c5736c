"""Customer conversations: one turn in, the bot's answer out.

`Conversations.handle_text(session, chat_id=..., client=..., lang=..., text=...)` first understands
the message (`intents.route`: the understanding step, by meaning, in the message's own language),
then:

- opt-out words anywhere -> marketing off at once, confirmed;
- an emergency (lost or stolen card, compromised card, a transaction not recognised, a scam, a lost
  phone with the banking app, a card kept by an ATM) -> the playbook for that kind first (what to do
  now, the hotline as the bank's documents give it), then what the documents say about the case, in
  one message, and the manager (or the admins) alerted at once through the outbox, marked urgent;
- a request for a person or a complaint -> a ticket for the manager;
- thanks, greetings, abuse -> a short reply, no ticket; an action the bot cannot do -> how to do it;
- a question about the customer's own records -> the bound client's holdings only (looked up by the
  client bound to *this chat*, never by anything the message says); unbound -> how to bind;
- anything else -> the knowledge service, in the message's language, with the last turns; a second
  ungrounded answer in a row -> ticket (low confidence).

While a ticket waits for the manager, a follow-up is answered once: what the documents answer, or
the compliance rules (a "best-earning product" question gets the compliance reply), the bot answers
and does not pass on; what they cannot answer is passed on to the person, and the customer is told
so plainly. An emergency always gets its playbook at once, and the person hears of it urgently;
opt-out words are honoured; thanks or a greeting get a short reply naming who will answer; another request
for a person (or a complaint) is passed on. Once a person has taken the ticket, the conversation is
theirs: everything but an emergency or an opt-out is passed on. Every turn is stored as two
`ChatMessage` rows. The caller commits.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.base import insert_for
from bot.db.models import (
    ChatMessage,
    Client,
    Conversation,
    Holding,
    HoldingKind,
    Manager,
    Product,
    Ticket,
    TicketStatus,
)
from bot.i18n import escape, normalize_language, t
from bot.services import consent, invites, notices, tickets
from bot.services.conversations import rendering
from bot.services.conversations.intents import MAX_QUESTION_CHARS, Classifier, Route, Step, route
from bot.services.conversations.rendering import SourceDict
from bot.services.formats import fmt_amount
from knowledge import Answer
from knowledge.compliance import COMPLIANCE_REASON
from prompts import load_prompt

log = logging.getLogger(__name__)

HISTORY_TURNS = 6
HOTLINE_TTL_S = 60.0  # documents can change: the hotline is looked up again after this
_TAG_RE = re.compile(r"</?[a-z]+[^>]*>")
_VALUE_KINDS = (HoldingKind.DEPOSIT, HoldingKind.WEALTH, HoldingKind.PENSION)

# The statements of every customer turn, built once: SQLAlchemy reuses their cache key and compiled
# form instead of rebuilding both for each message (a measurable share of a turn's CPU).
_CONVERSATION_BY_CHAT = select(Conversation).where(Conversation.chat_id == bindparam("chat_id"))
_RECENT = (select(ChatMessage.author, ChatMessage.outcome, ChatMessage.text)
           .where(ChatMessage.conversation_id == bindparam("conversation_id"),
                  ChatMessage.author.in_(("customer", "bot")))
           .order_by(ChatMessage.id.desc()).limit(HISTORY_TURNS))
_LAST_CUSTOMER = (select(ChatMessage.text)
                  .where(ChatMessage.conversation_id == bindparam("conversation_id"), ChatMessage.author == "customer")
                  .order_by(ChatMessage.id.desc()).limit(1))


class KnowledgeLike(Protocol):
    async def ask(self, question: str, lang: str | None = None,
                  history: list[dict[str, str]] | None = None) -> Answer: ...


@dataclass
class Turn:
    """What to send back for one customer message."""

    # grounded | declined | handoff | personal | unbound | optout | smalltalk | action | relayed | error | too_long
    outcome: str
    parts: list[str]  # Telegram HTML messages, in order
    sources: list[SourceDict] = field(default_factory=list)
    ticket: Ticket | None = None
    ticket_created: bool = False
    offer_handoff: bool = False  # show a "talk to my manager" button
    conversation_id: int | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    customer_text: str = ""
    answer_id: int | None = None  # the bot's ChatMessage (for feedback buttons)
    lang: str = "zh"  # the language the reply is written in (the message's)
    intent: str = ""
    kind: str = ""
    relayed: bool = False  # passed on to the person looking after the ticket


@dataclass
class BoundResult:
    client: Client
    manager: Manager | None
    lang: str


@dataclass
class Recent:
    """The conversation's last turns: history for the knowledge service, and what came just before."""

    history: list[dict[str, str]]
    last_bot_outcome: str | None
    previous_personal: str | None  # the customer's message the last (personal) answer was about


@dataclass
class _Context:
    session: AsyncSession
    conv: Conversation
    client: Client | None
    route: Route
    text: str
    inbound: ChatMessage
    active: Ticket | None
    recent: Recent

    @property
    def lang(self) -> str:
        return self.route.lang


class Conversations:
    """The conversation service. `knowledge` is anything with the KnowledgeService `ask` signature;
    `understanding` the understanding step (default: the process's shared one)."""

    def __init__(self, knowledge: KnowledgeLike | None, *, understanding: Classifier | None = None,
                 admin_ids: Sequence[int] = ()) -> None:
        self.knowledge = knowledge
        self.understanding = understanding
        self.admin_ids = list(admin_ids)
        self._hotlines: dict[str, tuple[float, list[str], str, list[SourceDict]]] = {}
        self._topics: dict[tuple[str, str], tuple[float, Answer | None]] = {}

    async def classifier(self) -> Classifier:
        if self.understanding is None:
            from knowledge.understanding import shared

            self.understanding = await asyncio.to_thread(shared)  # fitting is CPU work: off the loop
        return self.understanding

    # -- conversation rows -------------------------------------------------------------------

    async def conversation(
        self, session: AsyncSession, chat_id: int, *, client: Client | None, lang: str | None = None,
        create_lang: str | None = None,
    ) -> Conversation:
        """The chat's conversation (created on first use, in `lang` or `create_lang`); `lang` also
        changes the language of an existing one."""
        conv = await session.scalar(_CONVERSATION_BY_CHAT, {"chat_id": chat_id})
        if conv is None:
            # two updates of one chat may arrive at once: insert-if-absent, then read whichever row won
            now = clock.now(session)
            await session.execute(
                insert_for(session.get_bind().dialect.name, Conversation)
                .values(chat_id=chat_id, client_id=client.id if client else None,
                        language=normalize_language(lang or create_lang), started_at=now, last_message_at=now)
                .on_conflict_do_nothing(index_elements=["chat_id"])
            )
            conv = await session.scalar(_CONVERSATION_BY_CHAT, {"chat_id": chat_id})
            assert conv is not None
        else:
            if client is not None and conv.client_id != client.id:
                conv.client_id = client.id
            if lang:
                conv.language = normalize_language(lang)
        return conv

    async def recent(self, session: AsyncSession, conversation_id: int) -> Recent:
        """History as [{"role": "user"|"assistant", "content": ...}], oldest first: only the customer's
        questions and the bot's document answers (personal figures never leave the bot)."""
        rows = list(reversed((await session.execute(_RECENT, {"conversation_id": conversation_id})).all()))
        out = []
        for row in rows:
            if row.author == "bot" and row.outcome != "grounded":
                continue
            if row.author == "customer" and row.outcome not in ("grounded", "declined"):
                continue  # personal lookups, opt-outs, handoffs, messages for the manager stay out
            content = row.text if row.author == "customer" else html.unescape(_TAG_RE.sub("", row.text))
            out.append({"role": "user" if row.author == "customer" else "assistant", "content": content})
        last_bot = next((r.outcome for r in reversed(rows) if r.author == "bot"), None)
        previous_personal = None
        if last_bot == "personal":
            previous_personal = next((r.text for r in reversed(rows) if r.author == "customer"), None)
        return Recent(out, last_bot, previous_personal)

    async def history(self, session: AsyncSession, conversation_id: int) -> list[dict[str, str]]:
        return (await self.recent(session, conversation_id)).history

    def _message(
        self, conv: Conversation, client: Client | None, *, at: datetime, author: str, direction: str, text: str,
        outcome: str | None = None, sources: list[SourceDict] | None = None, prompt_id: str | None = None,
        prompt_hash: str | None = None, latency_ms: int | None = None,
    ) -> ChatMessage:
        return ChatMessage(conversation_id=conv.id, client_id=client.id if client else None, direction=direction,
                           author=author, text=text[:rendering.TELEGRAM_TEXT_MAX], outcome=outcome,
                           sources=sources or None, prompt_id=prompt_id,
                           prompt_hash=prompt_hash, latency_ms=latency_ms, created_at=at)

    # -- one turn ----------------------------------------------------------------------------

    async def handle_text(
        self, session: AsyncSession, *, chat_id: int, client: Client | None, lang: str, text: str
    ) -> Turn:
        started = time.perf_counter()
        text = (text or "").strip()[:rendering.TELEGRAM_TEXT_MAX]  # a forged 100,000 characters: Telegram's cap
        chat_lang = normalize_language(lang)
        conv = await self.conversation(session, chat_id, client=client, create_lang=chat_lang)
        if client is not None and client.blocked:  # writing to us means the bot is not blocked any more
            await consent.mark_unblocked(session, client, source="message")
        # The customer's message joins the session only when a step reads the conversation back (a
        # ticket's summary); otherwise both rows of the turn go to the database in one flush at the end.
        inbound = self._message(conv, client, at=clock.now(session), author="customer", direction="in", text=text)
        active = await tickets.active_ticket(session, conv.id)
        recent = await self.recent(session, conv.id)
        decided = route(await self.classifier(), text, chat_lang, previous_personal=recent.previous_personal)
        ctx = _Context(session, conv, client, decided, text, inbound, active, recent)

        turn = await self._decide(ctx)
        turn.conversation_id = conv.id
        turn.customer_text = text
        turn.lang, turn.intent, turn.kind = decided.lang, decided.intent.intent, decided.intent.kind
        inbound.outcome = turn.outcome
        answer = self._message(
            conv, client, at=clock.now(session), author="bot", direction="out", text="\n".join(turn.parts),
            outcome=turn.outcome, sources=turn.sources, prompt_id=turn.prompt_id, prompt_hash=turn.prompt_hash,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
        session.add_all([inbound, answer])
        conv.last_message_at = answer.created_at
        await session.flush()
        turn.answer_id = answer.id
        log.info("customer turn", extra={"outcome": turn.outcome, "intent": decided.intent.intent,
                                         "kind": decided.intent.kind, "confidence": decided.intent.confidence,
                                         "conversation_id": conv.id, "bound": client is not None})
        return turn

    async def _decide(self, ctx: _Context) -> Turn:
        step, lang = ctx.route.step, ctx.lang
        if step is Step.EMERGENCY:  # first, whatever else the message holds or waits
            return await self._emergency(ctx)
        if step is Step.OPT_OUT:
            return await self._opt_out(ctx.session, ctx.client, lang)
        if step is Step.TOO_LONG:
            return Turn("too_long", [t("Your message is too long for me. Please ask in a shorter message "
                                       "(up to {limit} characters).", lang, limit=MAX_QUESTION_CHARS)])
        taken = ctx.active is not None and ctx.active.status == TicketStatus.TAKEN
        if taken or (step is Step.HANDOFF and ctx.active is not None):
            # a person looks after this conversation (or is already asked to): passed on, not answered twice
            return await self._relay(ctx)
        if step in (Step.THANKS, Step.GREETING) and ctx.active is not None:
            # "thanks" / "在吗?" while the manager is still to reply: say who will answer, pass nothing on
            manager = await _looking_after(ctx.session, ctx.active, lang)
            return Turn("smalltalk", [rendering.customer_text(f"{step.value}_waiting", lang, manager=manager)])
        if step in (Step.THANKS, Step.GREETING, Step.ABUSE):
            return Turn("smalltalk", [rendering.customer_text(step.value, lang)])
        if step is Step.HANDOFF:
            ctx.session.add(ctx.inbound)  # the ticket's summary ends with this message
            return await self.handoff(ctx.session, ctx.conv, ctx.client, lang, reason=ctx.route.reason or "request")
        if step is Step.PERSONAL:
            return await self._personal(ctx)
        if step is Step.ACTION:
            return await self._action(ctx)
        return await self._knowledge(ctx)

    async def _opt_out(self, session: AsyncSession, client: Client | None, lang: str) -> Turn:
        if client is not None:
            await consent.opt_out(session, client, source="message")
        return Turn("optout", [_opted_out(lang)])

    # -- handoff -----------------------------------------------------------------------------

    async def handoff(
        self, session: AsyncSession, conv: Conversation, client: Client | None, lang: str, *, reason: str,
        prefix: list[str] | None = None, sources: list[SourceDict] | None = None, urgent: bool = False,
    ) -> Turn:
        """Open (or refresh) the conversation's ticket and queue the notice for the manager or admins."""
        parts: list[str] = list(prefix or [])
        ticket, created = await tickets.open_ticket(session, conversation=conv, client=client, reason=reason)
        if created:
            await notices.ticket_opened(session, ticket, self.admin_ids, urgent=urgent)
        manager = await session.get(Manager, client.manager_id) if client is not None else None
        parts.append(_passed_on(manager, lang))
        return Turn("handoff", parts, sources=list(sources or []), ticket=ticket, ticket_created=created)

    async def _relay(self, ctx: _Context, *, unanswered: bool = False) -> Turn:
        """A follow-up on a ticket a person looks after (or a second request): passed on, not answered twice.
        `unanswered`: a question the documents could not answer, passed on while the ticket waits; the customer
        is told that it was not answered here and who will answer it."""
        active = ctx.active
        assert active is not None
        if ctx.route.reason and ctx.route.reason != "request" and active.reason in ("request", "low_confidence"):
            active.reason = ctx.route.reason  # a complaint on a waiting request: the more specific reason wins
        await notices.relay(ctx.session, active, ctx.text, self.admin_ids)
        name = await _looking_after(ctx.session, ctx.active, ctx.lang)
        if active.status == TicketStatus.TAKEN:
            text = t("Passed on to {manager}, who is looking after your conversation.", ctx.lang, manager=name)
        elif unanswered:
            text = rendering.customer_text("relayed_unanswered", ctx.lang, manager=name)
        else:
            text = rendering.customer_text("relayed_waiting", ctx.lang, manager=name)
        return Turn("relayed", [text], ticket=active, relayed=True)

    async def request_person(self, session: AsyncSession, *, chat_id: int, client: Client | None,
                             lang: str) -> Turn:
        """The customer pressed "talk to my manager": a ticket for the manager; with one already waiting, the
        customer's last message is passed on to the person (the bot's reply to it was not enough for them)."""
        lang = normalize_language(lang)
        conv = await self.conversation(session, chat_id, client=client, create_lang=lang)
        active = await tickets.active_ticket(session, conv.id)
        if active is None:
            return await self.handoff(session, conv, client, lang, reason="request")
        last = await session.scalar(_LAST_CUSTOMER, {"conversation_id": conv.id})
        if last:
            await notices.relay(session, active, last, self.admin_ids)
        name = await _looking_after(session, active, lang)
        return Turn("relayed", [rendering.customer_text("relayed_waiting", lang, manager=name)], ticket=active,
                    relayed=True)

    async def _emergency(self, ctx: _Context) -> Turn:
        """What to do now first, then what the documents say about this case; the person alerted at once."""
        kind, lang = ctx.route.intent.kind or "scam", ctx.lang
        question = ctx.text[:MAX_QUESTION_CHARS]  # a long account of a scam still gets its playbook
        (hotlines, passage, hotline_sources), asked, topic = await asyncio.gather(
            self._hotline(lang), self._ask(question, lang, ctx.recent.history), self._topic(kind, lang))
        parts = [rendering.playbook(kind, lang, hotlines=hotlines, hotline_passage=passage if not hotlines else "")]
        sources = list(hotline_sources)
        specific = _on_topic(asked, topic, hotlines, passage)
        if specific is not None:
            found = rendering.source_dicts(specific.sources)
            parts.append(rendering.customer_text("specific", lang) + "\n" +
                         rendering.answer_with_sources(specific.text, found, lang))
            sources += found
        elif hotline_sources:
            parts[0] += "\n" + rendering.render_sources(hotline_sources, lang)
        ctx.session.add(ctx.inbound)  # the ticket's summary ends with this message
        if ctx.active is not None:  # a ticket already waits: the person hears of this at once, urgently
            await notices.relay(ctx.session, ctx.active, ctx.text, self.admin_ids, urgent=True)
        turn = await self.handoff(ctx.session, ctx.conv, ctx.client, lang, reason=ctx.route.reason or "fraud",
                                  prefix=parts, sources=sources, urgent=True)
        if ctx.route.opt_out:  # "我的卡被偷了，stop": the opt-out word is honoured too, after the help
            if ctx.client is not None:
                await consent.opt_out(ctx.session, ctx.client, source="message")
            turn.parts.append(_opted_out(lang))
        # one message (more only past Telegram's length): read at once, in order, and a burst of three sends
        # is what Telegram's one-message-a-second limit per chat counts
        turn.parts = rendering.split_message("\n\n".join(turn.parts))
        return turn

    async def _hotline(self, lang: str) -> tuple[list[str], str, list[SourceDict]]:
        """The hotline numbers as the documents give them (numbers, the passage, its sources); cached briefly."""
        cached = self._hotlines.get(lang)
        now = time.monotonic()
        if cached is not None and now - cached[0] < HOTLINE_TTL_S:
            return cached[1], cached[2], cached[3]
        other = "en" if lang == "zh" else "zh"
        queries = [(q, lang) for q in _queries(lang)] + [(q, other) for q in _queries(other)]
        found: tuple[list[str], str, list[SourceDict]] = ([], "", [])
        for query, query_lang in queries:
            answer = await self._ask(query, query_lang, [])
            if answer is None:
                break
            numbers = rendering.phone_numbers(answer.text) if answer.grounded else []
            if numbers:
                found = (numbers, answer.text, rendering.source_dicts(answer.sources))
                break
        if found[0]:
            self._hotlines[lang] = (now, *found)
        return found

    async def _topic(self, kind: str, lang: str) -> Answer | None:
        """What the documents say about this kind of emergency in general (cached briefly, like the hotline)."""
        cached = self._topics.get((kind, lang))
        now = time.monotonic()
        if cached is not None and now - cached[0] < HOTLINE_TTL_S:
            return cached[1]
        question = _topic_questions(lang).get(kind)
        answer = await self._ask(question, lang, []) if question else None
        self._topics[(kind, lang)] = (now, answer)
        return answer

    async def _ask(self, question: str, lang: str, history: list[dict[str, str]]) -> Answer | None:
        if self.knowledge is None:
            return None
        try:
            return await self.knowledge.ask(question, lang=lang, history=history)
        except Exception:  # noqa: BLE001 - the customer still gets the safe advice
            log.exception("knowledge lookup failed")
            return None

    # -- actions the bot cannot perform ------------------------------------------------------

    async def _action(self, ctx: _Context) -> Turn:
        manager = await ctx.session.get(Manager, ctx.client.manager_id) if ctx.client is not None else None
        parts = [rendering.customer_text("action", ctx.lang, manager=manager.name if manager else "")]
        answer = await self._ask(ctx.text, ctx.lang, ctx.recent.history)
        sources: list[SourceDict] = []
        if answer is not None and answer.grounded:
            sources = rendering.source_dicts(answer.sources)
            parts += rendering.split_message(rendering.customer_text("action_how", ctx.lang) + "\n" +
                                             rendering.answer_with_sources(answer.text, sources, ctx.lang))
        return Turn("action", parts, sources=sources)

    # -- personal answers --------------------------------------------------------------------

    async def _personal(self, ctx: _Context) -> Turn:
        if ctx.client is None:
            return Turn("unbound", [t("To answer questions about your own accounts I need to know who you are. "
                                      "Please open the invite link your relationship manager sent you (it looks "
                                      "like t.me/…?start=…); after that I can tell you your maturities, card expiry "
                                      "and repayments.", ctx.lang)])
        return Turn("personal", [await self.personal_answer(ctx.session, ctx.client, ctx.lang, ctx.route)])

    async def personal_answer(self, session: AsyncSession, client: Client, lang: str, decided: Route) -> str:
        """The bound client's own records that the question is about, exactly as stored."""
        topic, named = decided.topic, decided.products
        footer = ["", t("Figures are from the bank's records; for anything else send /human.", lang)]
        if topic == "assessment" or (named and named <= {"id", "assessment"}):
            items = [i for i in ("assessment", "id") if i in named] or ["assessment"]
            return "\n".join([t("Here is what our records show for you:", lang),
                              *("• " + rendering.profile_line(client, i, lang) for i in items), *footer])
        kinds = _holding_kinds(topic, named)
        query = select(Holding).where(Holding.client_id == client.id).order_by(Holding.kind, Holding.id)
        if kinds:
            query = query.where(Holding.kind.in_(sorted(kinds)))
        holdings = list((await session.scalars(query)).all())
        if not holdings:
            return t("I found no matching products in your records. Your relationship manager can check for you: "
                     "send /human.", lang)
        codes = {h.product_code for h in holdings}
        products = {p.code: p for p in (await session.scalars(select(Product).where(Product.code.in_(codes)))).all()}
        lines = [t("Here is what our records show for you:", lang)]
        for h in holdings:
            product = products.get(h.product_code)
            if topic == "rate":
                lines.append("• " + rendering.rate_line(h, product, lang))
            else:
                lines.append("• " + rendering.holding_line(h, rendering.product_name(h, product, lang), lang))
        if topic in ("balance", "holdings"):
            valued = [h for h in holdings if h.kind in _VALUE_KINDS and h.currency == "CNY"]
            if len(valued) > 1:
                total = sum((Decimal(h.amount) for h in valued), Decimal("0"))
                lines.append(rendering.customer_text("balance_total", lang, total=fmt_amount(total)))
        return "\n".join(lines + footer)

    # -- knowledge answers -------------------------------------------------------------------

    async def _knowledge(self, ctx: _Context) -> Turn:
        lang = ctx.lang
        if self.knowledge is None and ctx.active is not None:
            return await self._relay(ctx, unanswered=True)
        if self.knowledge is None:
            return Turn("error", [t("Sorry, I cannot answer questions right now. Please try again later, or send "
                                    "/human to reach a person.", lang)])
        try:
            answer = await self.knowledge.ask(ctx.text, lang=lang, history=ctx.recent.history)
        except Exception:  # noqa: BLE001 - one failed answer never loses the conversation
            log.exception("knowledge answer failed")
            if ctx.active is not None:  # a person will answer it
                return await self._relay(ctx, unanswered=True)
            return Turn("error", [t("Sorry, something went wrong while I looked this up. Please try again in a "
                                    "moment, or send /human to reach a person.", lang)])
        if answer.grounded:
            sources = rendering.source_dicts(answer.sources)
            return Turn("grounded", rendering.split_message(rendering.answer_with_sources(answer.text, sources, lang)),
                        sources=sources, prompt_id=answer.prompt_id, prompt_hash=answer.prompt_hash)
        if ctx.active is not None and not is_compliance_reply(answer):
            # a person will answer: passed on (with a plain word that it was not answered here), not a "sorry"
            # the manager then answers again; the compliance reply is the bank's answer and is given here
            return await self._relay(ctx, unanswered=True)
        decline = escape(answer.text) if answer.text else t("Sorry, I could not find this in the bank's documents.",
                                                              lang)
        if ctx.recent.last_bot_outcome == "declined":
            ctx.session.add(ctx.inbound)  # the ticket's summary ends with this message
            turn = await self.handoff(ctx.session, ctx.conv, ctx.client, lang, reason="low_confidence",
                                      prefix=[decline])
        else:
            turn = Turn("declined", [decline], offer_handoff=True)
        turn.prompt_id, turn.prompt_hash = answer.prompt_id, answer.prompt_hash
        return turn

    # -- feedback ----------------------------------------------------------------------------

    async def feedback(self, session: AsyncSession, *, chat_id: int, message_id: int, value: int) -> bool:
        """+1 / -1 on one of the bot's answers *in this chat* (a forged id from another chat changes nothing)."""
        row = await session.get(ChatMessage, message_id)
        if row is None or row.author != "bot":
            return False
        conv = await session.get(Conversation, row.conversation_id)
        if conv is None or conv.chat_id != chat_id:
            return False
        row.feedback = 1 if value > 0 else -1
        await session.flush()
        return True

    # -- binding -----------------------------------------------------------------------------

    async def bind(self, session: AsyncSession, *, chat_id: int, token: str, lang: str) -> BoundResult:
        """Redeem an invite for this chat (raises `invites.InviteError`); the conversation follows the client
        and the client's language becomes the chat's."""
        client = await invites.redeem_invite(session, token, chat_id)
        lang = normalize_language(lang)
        if client.language != lang:
            client.language = lang
        await self.conversation(session, chat_id, client=client, lang=lang)
        manager = await session.get(Manager, client.manager_id)
        return BoundResult(client, manager, lang)


async def _looking_after(session: AsyncSession, ticket: Ticket | None, lang: str) -> str:
    """Who answers the waiting ticket, by name (the manager, or the service team)."""
    manager_id = ticket.manager_id if ticket is not None else None
    manager = await session.get(Manager, manager_id) if manager_id else None
    return manager.name if manager else t("our service team", lang)


def is_compliance_reply(answer: Answer) -> bool:
    """The bank's fixed reply to a returns or stock-tip question (no promises, suitability, the risk notice):
    an answer the customer must get, though it quotes no document."""
    return answer.reason.startswith(COMPLIANCE_REASON)


def _opted_out(lang: str) -> str:
    return t("Done: you will receive no more greetings or product news from us. Service reminders (maturities, "
             "repayments) continue; you can change both in /settings.", lang)


def _passed_on(manager: Manager | None, lang: str) -> str:
    if manager is not None:
        return t("I have passed your conversation to your relationship manager {manager}, who will reply "
                 "here, usually within 2 working hours (9:00–18:00, Monday to Friday).", lang, manager=manager.name)
    return t("I have passed your conversation to our service team. A person will reply here, usually "
             "within 2 working hours (9:00–18:00, Monday to Friday).", lang)


def _queries(lang: str) -> list[str]:
    return [q.strip() for q in load_prompt(f"customer/hotline_queries_{lang}.txt").text.splitlines() if q.strip()]


def _topic_questions(lang: str) -> dict[str, str]:
    lines = load_prompt(f"customer/emergency/topics_{lang}.txt").text.splitlines()
    pairs = [line.split(":", 1) for line in lines if ":" in line and not line.startswith("#")]
    return {kind.strip(): question.strip() for kind, question in pairs}


def _on_topic(asked: Answer | None, topic: Answer | None, hotlines: list[str], hotline_passage: str) -> Answer | None:
    """The documents' specific answer for an emergency: the answer to the customer's own words when it comes from
    the document that answers the emergency's topic, else the topic's answer; never a repeat of the hotline."""
    def useful(answer: Answer | None) -> bool:
        if answer is None or not answer.grounded or _same(answer.text, hotline_passage):
            return False
        rest = answer.text
        for number in hotlines:
            rest = rest.replace(number, "")
        return bool(re.search(r"\d", rest)) or len(rest.split()) > 12 or len(rest) > 40  # more than the number

    topic_docs = set((topic.retrieved or [s.doc for s in topic.sources])[:1]) if topic is not None else set()
    if useful(asked) and asked is not None and (not topic_docs or topic_docs & {s.doc for s in asked.sources}):
        return asked
    return topic if useful(topic) else None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _holding_kinds(topic: str, named: frozenset[str]) -> set[str]:
    """The holding kinds a personal question is about: what it names, else what its topic implies."""
    named_kinds = {k for k in named if k in {str(v) for v in HoldingKind}}
    if topic == "card":
        return {HoldingKind.CARD.value}
    if topic == "loan":
        return {HoldingKind.LOAN.value}
    if named_kinds:
        return named_kinds
    if topic in ("maturity", "rate"):
        return {HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value}
    if topic == "balance":
        return {str(k) for k in _VALUE_KINDS}
    return set()
