"""Customer conversations: one turn in, the bot's answer out.

`Conversations.handle_text(session, chat_id=..., client=..., lang=..., text=...)` decides what a
customer's message needs, in this order:

1. opt-out words ("退订", "TD", "STOP", "/stop") anywhere -> marketing off at once, confirmed;
2. an explicit request for a person ("/human", "转人工", "人工客服") -> ticket for the manager;
3. sensitive matters (fraud, lost card, complaint, transfer, password/account changes) -> ticket;
   for fraud and a lost card also the bank's emergency number, from the documents, at once;
4. a question about the customer's own records -> answered from the bound client's holdings only
   (looked up by the client bound to *this chat*, never by anything the message says); unbound ->
   how to bind;
5. anything else -> the knowledge service with the last turns as context; a second ungrounded
   answer in a row -> ticket (low confidence).

Every turn is stored as two `ChatMessage` rows (the customer's and the bot's, with outcome,
sources, prompt id/hash and latency). The caller commits. Texts come back as Telegram HTML,
escaped, split under Telegram's 4096 characters.
"""

from __future__ import annotations

import html
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import utcnow
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
from bot.i18n import Html, escape, normalize_language, t
from bot.services import consent, invites, tickets

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4000  # Telegram allows 4096 visible characters; keep a margin for markup
HISTORY_TURNS = 6
MAX_QUESTION_CHARS = 1500


# The statements of every customer turn, built once: SQLAlchemy reuses their cache key and compiled
# form instead of rebuilding both for each message (a measurable share of a turn's CPU).
_CONVERSATION_BY_CHAT = select(Conversation).where(Conversation.chat_id == bindparam("chat_id"))
_HISTORY = (select(ChatMessage.author, ChatMessage.outcome, ChatMessage.text)
            .where(ChatMessage.conversation_id == bindparam("conversation_id"),
                   ChatMessage.author.in_(("customer", "bot")))
            .order_by(ChatMessage.id.desc()).limit(HISTORY_TURNS))


class KnowledgeLike(Protocol):
    async def ask(self, question: str, lang: str | None = None, history: list[Any] | None = None) -> Any: ...


# ----------------------------------------------------------------------------- classification

_HANDOFF_RE = re.compile(
    r"^/human\b|转人工|人工客服|找人工|真人|客户经理.{0,4}(联系|找|回复)|联系.{0,4}客户经理|"
    r"\b(talk|speak|chat) (to|with) (a |an |my )?(human|person|agent|manager|someone)\b|\breal person\b|"
    r"\bhuman agent\b",
    re.IGNORECASE,
)

# (reason, pattern); the first that matches wins, so the most urgent come first
_SENSITIVE: list[tuple[str, re.Pattern[str]]] = [
    ("fraud", re.compile(r"诈骗|被骗|骗子|骗了|上当|盗刷|冒充|可疑(交易|电话|短信)|\bfraud|\bscam|\bscammed\b|"
                         r"\bphishing\b|unauthori[sz]ed (transaction|charge|payment)", re.I)),
    ("lost_card", re.compile(r"挂失|卡(丢|掉|不见|被偷|被盗|遗失)|(丢|掉|遗失)了?(银行|信用|借记)?卡|卡.{0,3}吞|"
                             r"\b(lost|stolen|missing)\b.{0,12}\bcard\b|\bcard\b.{0,12}\b(lost|stolen|missing)\b|"
                             r"\bswallowed\b", re.I)),
    ("complaint", re.compile(r"投诉|举报|不满意|太差|\bcomplain|\bcomplaint", re.I)),
    ("transfer", re.compile(r"转账|汇款|转钱|打款|\btransfer\b|\bwire\b|\bremit", re.I)),
    ("account", re.compile(r"密码|改手机|换手机号|修改(手机|预留|地址|信息|资料)|销户|注销(账户|账号|卡)|账户变更|"
                           r"\bpassword\b|\bpin\b|\bclose (my )?account\b|\bchange (my )?(phone|number|address|"
                           r"account|details)\b|\bupdate (my )?(phone|address|details)\b", re.I)),
]
EMERGENCY_REASONS = ("fraud", "lost_card")
# short queries (every word should be in the passage that holds the number), tried in order
_EMERGENCY_QUERIES = {
    ("zh", "lost_card"): ["银行卡挂失 客服热线 电话", "挂失 热线"],
    ("zh", "fraud"): ["诈骗 客服热线 电话", "银行卡挂失 客服热线 电话"],
    ("en", "lost_card"): ["hotline for a lost or stolen card", "lost card hotline phone number"],
    ("en", "fraud"): ["fraud hotline phone number", "hotline for a lost or stolen card"],
}

# questions about one's own records that the knowledge module's detector may miss
_PERSONAL_EXTRA = [
    re.compile(r"(要还|应还|还款金额|还款日|月供).{0,6}(多少|哪天|几号|什么时候|何时)"),
    re.compile(r"(下个月|这个月|本月|下期|这期|下一期).{0,6}还"),
    re.compile(r"我.{0,4}(卡|信用卡|定期|存款|理财|贷款|养老金).{0,8}(到期|过期|有效期|余额)"),
    re.compile(r"\bmy\b.{0,30}\b(card|deposit|loan|wealth|pension|savings)\b.{0,30}\b(expire|expiry|expires|"
               r"mature|matures|maturity|due|balance|owe|repay|payment)", re.I),
    re.compile(r"\bwhen (does|do|will) my\b", re.I),
    re.compile(r"我的?(风险评估|风险测评|风评|风险等级|身份证|证件).{0,8}(什么时候|哪天|到期|过期|有效期|是什么|是多少|多少)"),
    re.compile(r"\bmy\b.{0,20}\b(risk (assessment|rating|profile|level)|ID|identity (card|document))\b", re.I),
    re.compile(r"\bhow much (do|will) i (owe|need to (re)?pay|pay)\b", re.I),
]

_TOPICS: list[tuple[str, re.Pattern[str]]] = [
    (HoldingKind.LOAN, re.compile(r"贷款|还款|要还|应还|还多少|月供|\bloan|\brepay|\bowe\b|\binstal", re.I)),
    (HoldingKind.CARD, re.compile(r"信用卡|卡.{0,4}(到期|过期|有效期)|\bcard\b", re.I)),
    (HoldingKind.PENSION, re.compile(r"养老金|\bpension", re.I)),
    (HoldingKind.WEALTH, re.compile(r"理财|\bwealth|\binvestment", re.I)),
    (HoldingKind.DEPOSIT, re.compile(r"定期|存款|存单|\bdeposit|\bsavings", re.I)),
]
_PROFILE_TOPICS: list[tuple[str, re.Pattern[str]]] = [
    ("assessment", re.compile(r"风险评估|风险测评|风评|风险等级|\brisk (assessment|rating|profile|level)", re.I)),
    ("id", re.compile(r"身份证|证件|\bID\b|\bidentity (card|document)", re.I)),
]
_MATURITY_RE = re.compile(r"到期|\bmatur", re.I)
_TAG_RE = re.compile(r"</?[a-z]+[^>]*>")


_GREETING_RE = re.compile(r"^(你好|您好|嗨|哈喽|在吗|在不在|早上好|下午好|晚上好|hi|hello|hey|"
                          r"good (morning|afternoon|evening))[\s!！。.,，~?？]*$", re.I)
_THANKS_RE = re.compile(r"^(谢谢|多谢|感谢|好的谢谢|好的|ok|okay|thanks|thank you|thx|明白了|知道了)"
                        r"[\s!！。.,，~]*$", re.I)


def small_talk(text: str) -> str | None:
    """'greeting' | 'thanks' for a message that is only that, else None."""
    if _GREETING_RE.match(text.strip()):
        return "greeting"
    if _THANKS_RE.match(text.strip()):
        return "thanks"
    return None


def handoff_requested(text: str) -> bool:
    return bool(_HANDOFF_RE.search(text.strip()))


def sensitive_reason(text: str) -> str | None:
    for reason, pattern in _SENSITIVE:
        if pattern.search(text):
            return reason
    return None


# questions about how a product works ("我的信用卡年费是多少?") belong to the documents, unless they also
# ask for something only the customer's records hold
_PRODUCT_RULE_RE = re.compile(r"年费|利率|手续费|费率|收益率|起存|起购|门槛|规则|条件|怎么|如何|能不能|可不可以|"
                              r"\b(fee|fees|rate|rates|how (do|can|to)|can i|rules?)\b", re.I)
_RECORD_RE = re.compile(r"到期|过期|有效期|余额|欠|还多少|要还|应还|账单|持有|\b(balance|due|owe|expir\w*|matur\w*|"
                        r"statement|outstanding)\b", re.I)


def question_for_documents(text: str) -> str:
    """A product-rule question asked about "my" product, put impersonally for the document search
    ("我的信用卡年费是多少?" -> "信用卡年费是多少?"), so it is not mistaken for a records lookup."""
    if _PRODUCT_RULE_RE.search(text) and not _RECORD_RE.search(text):
        text = re.sub(r"(我的|我家的|本人的)", "", text)
        text = re.sub(r"\bmy\b", "the", text, flags=re.I)
    return text


def is_personal(text: str) -> bool:
    from knowledge.personal import is_personal_question

    if _PRODUCT_RULE_RE.search(text) and not _RECORD_RE.search(text):
        return False
    if is_personal_question(text, None):
        return True
    return any(p.search(text) for p in _PERSONAL_EXTRA)


def personal_topics(text: str) -> set[str]:
    """Holding kinds (deposit, wealth, card, loan, pension) and profile items (assessment, id) asked about."""
    profile = {name for name, pattern in _PROFILE_TOPICS if pattern.search(text)}
    if profile:
        return profile
    topics = {str(kind) for kind, pattern in _TOPICS if pattern.search(text)}
    if not topics and _MATURITY_RE.search(text):
        topics = {HoldingKind.DEPOSIT.value, HoldingKind.WEALTH.value}
    return topics


# ----------------------------------------------------------------------------- formatting


def money(amount: Decimal | None, currency: str = "CNY") -> str:
    if amount is None:
        return "-"
    text = f"{Decimal(amount):,.2f}"
    return f"¥{text}" if currency == "CNY" else f"{currency} {text}"


def day(value: date | None) -> str:
    return value.isoformat() if value else "-"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML text (no tag spans a line) into parts under `limit`, at line breaks where possible,
    never inside an HTML entity."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = limit
            amp = line.rfind("&", 0, cut)
            if amp != -1 and ";" not in line[amp:cut]:
                cut = amp
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


def render_sources(sources: list[dict[str, Any]], lang: str) -> str:
    if not sources:
        return ""
    lines = [t("<b>Sources</b>", lang)]
    for s in sources:
        title = s.get("title") or s.get("doc") or ""
        section = s.get("section") or ""
        lines.append("• " + escape(title) + (f" — {escape(section)}" if section and section != title else ""))
    return "\n".join(lines)


def _source_dicts(answer: Any) -> list[dict[str, Any]]:
    out = []
    for s in getattr(answer, "sources", None) or []:
        if isinstance(s, dict):
            out.append({k: s.get(k) for k in ("doc", "title", "section", "score")})
        else:
            as_dict = getattr(s, "as_dict", None)
            out.append(as_dict() if callable(as_dict) else {"doc": getattr(s, "doc", ""),
                                                             "title": getattr(s, "title", ""),
                                                             "section": getattr(s, "section", ""),
                                                             "score": getattr(s, "score", None)})
    return out


# ----------------------------------------------------------------------------- results


@dataclass
class Turn:
    """What to send back for one customer message."""

    # grounded | declined | handoff | personal | unbound | optout | smalltalk | relayed | error | too_long
    outcome: str
    parts: list[str]  # Telegram HTML messages, in order
    sources: list[dict[str, Any]] = field(default_factory=list)
    ticket: Ticket | None = None
    ticket_created: bool = False
    offer_handoff: bool = False  # show a "talk to my manager" button
    conversation_id: int | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    relay: Ticket | None = None  # an open ticket: pass the customer's message on to the manager
    customer_text: str = ""
    answer_id: int | None = None  # the bot's ChatMessage (for feedback buttons)


@dataclass
class BoundResult:
    client: Client
    manager: Manager | None
    lang: str


class Conversations:
    """The conversation service. `knowledge` is anything with the KnowledgeService `ask` signature."""

    def __init__(self, knowledge: KnowledgeLike | None) -> None:
        self.knowledge = knowledge

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
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            now = utcnow()
            await session.execute(
                insert(Conversation)
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

    async def history(self, session: AsyncSession, conversation_id: int) -> list[dict[str, str]]:
        """The last turns as [{"role": "user"|"assistant", "content": ...}], oldest first. Only the
        customer's questions and the bot's document answers: personal figures never leave the bot."""
        rows = list(reversed((await session.execute(_HISTORY, {"conversation_id": conversation_id})).all()))
        out = []
        for row in rows:
            if row.author == "bot" and row.outcome != "grounded":
                continue
            if row.author == "customer" and row.outcome not in ("grounded", "declined"):
                continue  # personal lookups, opt-outs, handoffs, messages for the manager stay out
            content = row.text if row.author == "customer" else html.unescape(_TAG_RE.sub("", row.text))
            out.append({"role": "user" if row.author == "customer" else "assistant", "content": content})
        return out

    def _message(
        self, conv: Conversation, client: Client | None, *, author: str, direction: str, text: str,
        outcome: str | None = None, sources: list[dict[str, Any]] | None = None, prompt_id: str | None = None,
        prompt_hash: str | None = None, latency_ms: int | None = None,
    ) -> ChatMessage:
        return ChatMessage(conversation_id=conv.id, client_id=client.id if client else None, direction=direction,
                           author=author, text=text, outcome=outcome, sources=sources or None, prompt_id=prompt_id,
                           prompt_hash=prompt_hash, latency_ms=latency_ms, created_at=utcnow())

    # -- one turn ----------------------------------------------------------------------------

    async def handle_text(
        self, session: AsyncSession, *, chat_id: int, client: Client | None, lang: str, text: str
    ) -> Turn:
        started = time.perf_counter()
        lang = normalize_language(lang)
        text = (text or "").strip()
        conv = await self.conversation(session, chat_id, client=client, create_lang=lang)
        if client is not None and client.blocked:  # writing to us means the bot is not blocked any more
            await consent.mark_unblocked(session, client, source="message")
        # The customer's message joins the session only when a step reads the conversation back (a
        # ticket's summary); otherwise both rows of the turn go to the database in one flush at the end.
        inbound = self._message(conv, client, author="customer", direction="in", text=text)
        active = await tickets.active_ticket(session, conv.id)

        turn = await self._decide(session, conv, client, lang, text, inbound, active)
        turn.conversation_id = conv.id
        turn.customer_text = text
        if turn.outcome not in ("optout", "too_long") and not turn.ticket_created:
            turn.relay = turn.ticket or active
        inbound.outcome = turn.outcome
        answer = self._message(
            conv, client, author="bot", direction="out", text="\n".join(turn.parts), outcome=turn.outcome,
            sources=turn.sources, prompt_id=turn.prompt_id, prompt_hash=turn.prompt_hash,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
        session.add_all([inbound, answer])
        conv.last_message_at = answer.created_at
        await session.flush()
        turn.answer_id = answer.id
        log.info("customer turn", extra={"outcome": turn.outcome, "conversation_id": conv.id,
                                         "bound": client is not None})
        return turn

    async def _decide(
        self, session: AsyncSession, conv: Conversation, client: Client | None, lang: str, text: str,
        inbound: ChatMessage, active: Ticket | None,
    ) -> Turn:
        if consent.is_opt_out(text):
            return await self._opt_out(session, client, lang)
        if len(text) > MAX_QUESTION_CHARS:
            return Turn("too_long", [t("Your message is too long for me. Please ask in a shorter message "
                                       "(up to {limit} characters).", lang, limit=MAX_QUESTION_CHARS)])
        reason = "request" if handoff_requested(text) else sensitive_reason(text)
        if reason is not None:
            session.add(inbound)  # the ticket's summary ends with this message
            return await self.handoff(session, conv, client, lang, reason=reason)
        chat_kind = small_talk(text)
        if chat_kind is not None and (active is None or active.status != TicketStatus.TAKEN):
            if chat_kind == "greeting":
                return Turn("smalltalk", [t("Hello! How can I help you? Ask me about deposits, wealth products, cards "
                                            "or loans, or about your own accounts.", lang)])
            return Turn("smalltalk", [t("You're welcome! If there is anything else, just ask.", lang)])
        if active is not None and active.status == TicketStatus.TAKEN:
            # a person is looking after this conversation: the bot passes messages on, it does not answer
            manager = await session.get(Manager, active.manager_id) if active.manager_id else None
            return Turn("relayed", [t("Passed on to {manager}, who is looking after your conversation.", lang,
                                      manager=manager.name if manager else t("our service team", lang))])
        if is_personal(text):
            return await self._personal(session, client, lang, text)
        return await self._knowledge(session, conv, client, lang, text, inbound)

    async def _opt_out(self, session: AsyncSession, client: Client | None, lang: str) -> Turn:
        if client is not None:
            await consent.opt_out(session, client, source="message")
        return Turn("optout", [t("Done: you will receive no more greetings or product news from us. Service "
                                 "reminders (maturities, repayments) continue; you can change both in /settings.",
                                 lang)])

    # -- handoff -----------------------------------------------------------------------------

    async def handoff(
        self, session: AsyncSession, conv: Conversation, client: Client | None, lang: str, *, reason: str,
        prefix: list[str] | None = None,
    ) -> Turn:
        parts: list[str] = list(prefix or [])
        sources: list[dict[str, Any]] = []
        if reason in EMERGENCY_REASONS:
            emergency, sources = await self._emergency(lang, reason)
            parts.append(emergency)
        ticket, created = await tickets.open_ticket(session, conversation=conv, client=client, reason=reason)
        manager = await session.get(Manager, client.manager_id) if client is not None else None
        if manager is not None:
            parts.append(t("I have passed your conversation to your relationship manager {manager}, who will reply "
                           "here, usually within 2 working hours (9:00–18:00, Monday to Friday).",
                           lang, manager=manager.name))
        else:
            parts.append(t("I have passed your conversation to our service team. A person will reply here, usually "
                           "within 2 working hours (9:00–18:00, Monday to Friday).", lang))
        return Turn("handoff", parts, sources=sources, ticket=ticket, ticket_created=created)

    async def _emergency(self, lang: str, reason: str) -> tuple[str, list[dict[str, Any]]]:
        header = t("If your card is lost or stolen, or you suspect fraud, act now: do not share any "
                   "verification code, and call the bank at once.", lang)
        answer = None
        other = "en" if lang == "zh" else "zh"
        queries = [(q, lang) for q in _EMERGENCY_QUERIES[(lang, reason)]]
        queries += [(q, other) for q in _EMERGENCY_QUERIES[(other, reason)]]
        for query, query_lang in queries if self.knowledge is not None else []:
            try:
                answer = await self.knowledge.ask(query, lang=query_lang)
            except Exception:  # noqa: BLE001 - the customer still gets the safe advice
                log.exception("emergency lookup failed")
                break
            if getattr(answer, "grounded", False):
                break
        if answer is not None and getattr(answer, "grounded", False):
            sources = _source_dicts(answer)
            body = "\n".join(x for x in (header, "", escape(answer.text), "", render_sources(sources, lang)) if x
                             is not None)
            return body.strip(), sources
        return header + "\n" + t("Use the service number on the back of your card or on the bank's official "
                                 "website.", lang), []

    # -- personal answers --------------------------------------------------------------------

    async def _personal(self, session: AsyncSession, client: Client | None, lang: str, text: str) -> Turn:
        if client is None:
            return Turn("unbound", [t("To answer questions about your own accounts I need to know who you are. "
                                      "Please open the invite link your relationship manager sent you (it looks "
                                      "like t.me/…?start=…); after that I can tell you your maturities, card expiry "
                                      "and repayments.", lang)])
        return Turn("personal", [await self.personal_answer(session, client, lang, text)])

    async def personal_answer(self, session: AsyncSession, client: Client, lang: str, text: str) -> str:
        """The bound client's own holdings that the question is about, exactly as stored."""
        topics = personal_topics(text)
        profile = [_profile_line(client, topic, lang) for topic in ("assessment", "id") if topic in topics]
        if profile:
            return "\n".join([t("Here is what our records show for you:", lang), *("• " + p for p in profile), "",
                              t("Figures are from the bank's records; for anything else send /human.", lang)])
        query = select(Holding).where(Holding.client_id == client.id).order_by(Holding.kind, Holding.id)
        if topics:
            query = query.where(Holding.kind.in_(sorted(topics)))
        holdings = list((await session.scalars(query)).all())
        if not holdings:
            return t("I found no matching products in your records. Your relationship manager can check for you: "
                     "send /human.", lang)
        codes = {h.product_code for h in holdings}
        products = {p.code: p for p in (await session.scalars(select(Product).where(Product.code.in_(codes)))).all()}
        lines = [t("Here is what our records show for you:", lang)]
        for h in holdings:
            product = products.get(h.product_code)
            name = (product.name_en if lang == "en" else product.name_zh) if product else h.product_code
            lines.append("• " + _holding_line(h, name, lang))
        lines.append("")
        lines.append(t("Figures are from the bank's records; for anything else send /human.", lang))
        return "\n".join(lines)

    # -- knowledge answers -------------------------------------------------------------------

    async def _knowledge(
        self, session: AsyncSession, conv: Conversation, client: Client | None, lang: str, text: str,
        inbound: ChatMessage,
    ) -> Turn:
        if self.knowledge is None:
            return Turn("error", [t("Sorry, I cannot answer questions right now. Please try again later, or send "
                                    "/human to reach a person.", lang)])
        history = await self.history(session, conv.id)  # `inbound` is not stored yet: earlier turns only
        try:
            answer = await self.knowledge.ask(question_for_documents(text), lang=lang, history=history)
        except Exception:  # noqa: BLE001 - one failed answer never loses the conversation
            log.exception("knowledge answer failed")
            return Turn("error", [t("Sorry, something went wrong while I looked this up. Please try again in a "
                                    "moment, or send /human to reach a person.", lang)])
        if getattr(answer, "grounded", False):
            sources = _source_dicts(answer)
            body = escape(answer.text)
            src = render_sources(sources, lang)
            return Turn("grounded", split_message(body + ("\n\n" + src if src else "")), sources=sources,
                        prompt_id=getattr(answer, "prompt_id", None), prompt_hash=getattr(answer, "prompt_hash", None))
        decline = escape(answer.text) if getattr(answer, "text", "") else t(
            "Sorry, I could not find this in the bank's documents.", lang)
        previous = await session.scalar(
            select(ChatMessage.outcome)
            .where(ChatMessage.conversation_id == conv.id, ChatMessage.author == "bot")
            .order_by(ChatMessage.id.desc()).limit(1)
        )
        if previous == "declined":
            session.add(inbound)  # the ticket's summary ends with this message
            turn = await self.handoff(session, conv, client, lang, reason="low_confidence", prefix=[decline])
        else:
            turn = Turn("declined", [decline], offer_handoff=True)
        turn.prompt_id = getattr(answer, "prompt_id", None)
        turn.prompt_hash = getattr(answer, "prompt_hash", None)
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


def _profile_line(client: Client, topic: str, lang: str) -> str:
    if topic == "assessment":
        from bot.services.rules import assessment_expires_on

        if not client.risk_rating or client.risk_assessed_on is None:
            return t("No valid risk assessment on file; your relationship manager can arrange one.", lang)
        return t("Risk rating {rating}, assessed on {assessed}, valid until {until}", lang, rating=client.risk_rating,
                 assessed=day(client.risk_assessed_on), until=day(assessment_expires_on(client)))
    if client.id_expiry is None:
        return t("No ID document expiry date on file.", lang)
    return t("ID document on file valid until {date}", lang, date=day(client.id_expiry))


def _holding_line(h: Holding, name: str, lang: str) -> str:
    tail = h.account_tail or ""
    amount = money(h.amount, h.currency)
    if h.kind == HoldingKind.DEPOSIT:
        return t("Time deposit {name}{tail}: {amount}, matures on {date}", lang, name=name,
                 tail=Html(t(" (ending {tail})", lang, tail=tail)) if tail else "", amount=amount,
                 date=day(h.maturity_date))
    if h.kind == HoldingKind.WEALTH:
        return t("Wealth product {name}: {amount}, matures on {date}", lang, name=name, amount=amount,
                 date=day(h.maturity_date))
    if h.kind == HoldingKind.CARD:
        return t("Card {name}{tail}: valid until {date}", lang, name=name,
                 tail=Html(t(" (ending {tail})", lang, tail=tail)) if tail else "", date=day(h.maturity_date))
    if h.kind == HoldingKind.LOAN:
        return t("Loan {name}: next repayment {due_amount} on {date}", lang, name=name,
                 due_amount=money(h.next_due_amount, h.currency), date=day(h.next_due_date))
    if h.kind == HoldingKind.PENSION:
        return t("Personal pension account {name}: balance {amount}", lang, name=name, amount=amount)
    return f"{escape(name)}: {escape(amount)}"
