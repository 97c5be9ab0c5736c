"""Consent: marketing opt-in/opt-out and service reminders, each change audited.

"退订", "TD", "STOP", "/stop" opt the client out of marketing at once (bank rule) when the customer
*says* the word: the whole message, or one sentence of it, is the word ("STOP", "Stop.", "退订，谢谢",
"好的 td 谢谢", "我的卡被偷了，stop"), perhaps in a short polite wrapper. The same word inside a sentence
is an ordinary word ("How do I stop a direct debit?", "Stop my card, it was stolen!"): such a message
is understood by its meaning (the understanding step's opt-out intent: "please stop sending me
promotions" is one). `/settings` lets them opt back in, and turn service reminders off or on.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Client
from bot.services import audit

# The opt-out words, and the short polite words that may wrap them in one sentence (Chinese glued to
# them, Latin as whole words: "STOP please", "请帮我退订谢谢", "好的TD", "unsubscribe me"). A sentence made
# of these and nothing else is an opt-out; any other word in it makes it an ordinary sentence.
_KEYWORD = r"(?:退订|取消订阅|/stop(?:@\w+)?\b|\b(?:stop\s*all|stop|td|unsubscribe|opt\s*-?\s*out)\b)"
_WRAP = (r"(?:\b(?:please|pls|plz|thanks|thank\s*you|thx|ok|okay|yes|hi|hello|me|now)\b|"
         r"请帮我|麻烦帮我|麻烦你|帮我|麻烦|我要|我想|给我|好的|谢谢|谢了|你好|您好|请|好|吧|了|啊|呀|哦|嗯)")
_SENTENCE_RE = re.compile(rf"^(?:{_WRAP}\s*)*{_KEYWORD}(?:\s*{_KEYWORD})*(?:\s*{_WRAP})*$", re.ASCII)
# sentence ends and pauses; an apostrophe or a hyphen stays inside a word
_SPLIT_RE = re.compile(r"\s*[,.;:!?\n，。；：！？、…~～\"“”()（）\[\]【】<>《》*#]+\s*")
_COMMAND_RE = re.compile(r"^/stop(?:@\w+)?(?:\s|$)", re.IGNORECASE)


def is_opt_out(text: str | None) -> bool:
    """Whether the customer says an opt-out word: the `/stop` command, or a message one of whose
    sentences is the word (case, width, spacing and punctuation aside, a polite word or two around
    it allowed). The word inside a longer sentence is not an opt-out by itself."""
    if not text:
        return False
    norm = unicodedata.normalize("NFKC", text).strip().lower()
    if _COMMAND_RE.match(norm):
        return True
    return any(_SENTENCE_RE.match(part) for part in _SPLIT_RE.split(norm) if part)


def _actor(client: Client, actor: str | None) -> str:
    return actor or f"client:{client.client_no}"


async def opt_out(session: AsyncSession, client: Client, *, source: str = "message", actor: str | None = None) -> bool:
    """Opt the client out of marketing. Returns True when something changed (audited either way
    the first time; repeating it changes nothing and writes nothing)."""
    if client.opted_out and not client.marketing_consent:
        return False
    client.opted_out = True
    client.marketing_consent = False
    audit.record(session, actor=_actor(client, actor), action="opt_out", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def set_marketing(
    session: AsyncSession, client: Client, consent: bool, *, source: str = "settings", actor: str | None = None
) -> bool:
    """Marketing consent on (clears an opt-out: the client's own new choice) or off (= opt-out)."""
    if not consent:
        return await opt_out(session, client, source=source, actor=actor)
    if client.marketing_consent and not client.opted_out:
        return False
    client.marketing_consent = True
    client.opted_out = False
    audit.record(session, actor=_actor(client, actor), action="opt_in", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def set_reminders(
    session: AsyncSession, client: Client, enabled: bool, *, actor: str | None = None
) -> bool:
    if client.reminders_enabled == enabled:
        return False
    client.reminders_enabled = enabled
    audit.record(session, actor=_actor(client, actor), action="reminders_on" if enabled else "reminders_off",
                 entity="client", entity_id=client.id, manager_id=client.manager_id, client_id=client.id)
    await session.flush()
    return True


async def set_language(session: AsyncSession, client: Client, language: str) -> None:
    client.language = language
    await session.flush()


async def mark_blocked(session: AsyncSession, client: Client, *, source: str = "telegram") -> bool:
    """The client blocked the bot: nothing at all is sent to them any more (until they write again)."""
    if client.blocked:
        return False
    client.blocked = True
    audit.record(session, actor="system", action="blocked", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True


async def mark_unblocked(session: AsyncSession, client: Client, *, source: str = "telegram") -> bool:
    if not client.blocked:
        return False
    client.blocked = False
    audit.record(session, actor="system", action="unblocked", entity="client", entity_id=client.id,
                 manager_id=client.manager_id, client_id=client.id, details={"source": source})
    await session.flush()
    return True
