"""Draft checks and optional LLM personalisation.

`check_draft(...)` is the gate every rewritten text passes (and the review engineer may use on a
manager's edit): no promise of principal or returns, the risk notice on every product message,
every number and date equal to the data, the length within limits.

`Personaliser` rewrites template drafts in the manager's voice through any OpenAI-compatible
endpoint (`openai.AsyncOpenAI`), many requests in flight (a semaphore), each with a timeout. A
failed call or a rewrite that fails the checks keeps the template text and gets a flag
("llm_failed" / "llm_rejected" plus the failed check), so the manager sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from bot.services import compliance
from bot.settings import Settings
from prompts import render

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

# The checks live in one place (bot/services/compliance.py); these names stay for callers.
PROMISE_WORDS = compliance.PROMISE_WORDS
FACT_KEYS = compliance.FACT_KEYS
MAX_CHARS = compliance.MAX_CHARS
EMPTY, TOO_LONG, PROMISE = compliance.EMPTY, compliance.TOO_LONG, compliance.PROMISE
RISK_NOTICE_MISSING, FACT_MISSING = compliance.RISK_NOTICE_MISSING, compliance.FACT_MISSING
NUMBER_CHANGED = compliance.NUMBER_CHANGED
LLM_FAILED, LLM_REJECTED, LLM = compliance.LLM_FAILED, compliance.LLM_REJECTED, compliance.LLM
promise_words = compliance.promise_words
length_limit = compliance.length_limit
check_stored_draft = compliance.check_stored


def check_draft(text: str, *, template_text: str, context: dict[str, Any] | None, product_message: bool,
                language: str, day: date | None = None) -> list[str]:
    """The failed checks of `text` (empty list: it may go to the manager as is)."""
    return compliance.check(text, template_text=template_text, context=context, language=language, day=day,
                            product_message=product_message)


class DraftToPersonalise(Protocol):
    """What the personaliser reads of a draft (the planner's `PlannedDraft`)."""

    @property
    def language(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def occasion(self) -> str: ...
    @property
    def template_text(self) -> str: ...
    @property
    def context(self) -> dict[str, Any] | None: ...
    @property
    def product_message(self) -> bool: ...
    @property
    def plan_date(self) -> date | None: ...


@dataclass
class Outcome:
    text: str
    rewritten: bool
    flags: list[str] = field(default_factory=list)


class Personaliser:
    """Rewrites drafts with an OpenAI-compatible chat model. `client` is an `openai.AsyncOpenAI`."""

    def __init__(self, client: AsyncOpenAI | Sequence[AsyncOpenAI], model: str, *, concurrency: int = 100,
                 timeout: float = 20.0, temperature: float = 0.7) -> None:
        # One client, or several used in turn (small connection pools are much cheaper per request
        # than one large pool when thousands of requests are in flight).
        self.clients = list(client) if isinstance(client, Sequence) else [client]
        self.client, self.model = self.clients[0], model
        self._turn = 0
        self.timeout, self.temperature = timeout, temperature
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.calls = 0

    def messages(self, draft: DraftToPersonalise) -> list[dict[str, str]]:
        lang = draft.language if draft.language in ("zh", "en") else "zh"
        facts = {k: str(draft.context[k]) for k in FACT_KEYS if draft.context and draft.context.get(k)}
        notice = compliance.notices_block(list((draft.context or {}).get("notices") or ()), lang)
        system = render(f"drafts/personalise_{lang}.j2", max_chars=length_limit(draft.template_text),
                        risk_notice=notice, product_message=bool(notice))
        user = render(f"drafts/personalise_user_{lang}.j2", kind=draft.kind, occasion=draft.occasion,
                      facts=facts, template_text=draft.template_text)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _complete(self, messages: list[dict[str, str]]) -> ChatCompletion:
        # The plain chat-completions POST through the client (same request as
        # `chat.completions.create`), without its per-call recursive parameter transform: our
        # messages are already plain JSON, and at thousands of calls that transform is the cost.
        from openai.types.chat import ChatCompletion

        body = {"model": self.model, "messages": messages, "temperature": self.temperature}
        self._turn = (self._turn + 1) % len(self.clients)
        return await self.clients[self._turn].post("/chat/completions", cast_to=ChatCompletion, body=body)

    async def personalise(self, draft: DraftToPersonalise) -> Outcome:
        async with self.semaphore:
            self.calls += 1
            try:
                response = await asyncio.wait_for(self._complete(self.messages(draft)), timeout=self.timeout)
                text = (response.choices[0].message.content or "").strip()
            except Exception as exc:  # noqa: BLE001 - any failure falls back to the template
                return Outcome(draft.template_text, False, [LLM_FAILED, f"{LLM_FAILED}:{type(exc).__name__}"])
        problems = check_draft(text, template_text=draft.template_text, context=draft.context,
                               product_message=draft.product_message, language=draft.language,
                               day=draft.plan_date)
        if problems:
            return Outcome(draft.template_text, False, [LLM_REJECTED] + [f"{LLM_REJECTED}:{p}" for p in problems])
        return Outcome(text, True, [LLM])

    async def personalise_many(self, drafts: Sequence[DraftToPersonalise]) -> list[Outcome]:
        return list(await asyncio.gather(*(self.personalise(d) for d in drafts)))


def personaliser_from_settings(settings: Settings, *, concurrency: int = 100) -> Personaliser | None:
    """A Personaliser for the configured endpoint, or None when no LLM is configured."""
    if not settings.llm_enabled:
        return None
    from openai import AsyncOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    from openai import DEFAULT_CONNECTION_LIMITS, DefaultAsyncHttpxClient

    per_pool = 10
    pools = max(1, -(-concurrency // per_pool))
    # The Limits of the HTTP library this openai release is built on (httpx for 2.x, httpx2 for 3.x).
    limits = type(DEFAULT_CONNECTION_LIMITS)(max_connections=per_pool, max_keepalive_connections=per_pool)
    clients = [AsyncOpenAI(base_url=settings.openai_base_url or None, api_key=key, timeout=settings.llm_timeout_s,
                           max_retries=0, http_client=DefaultAsyncHttpxClient(limits=limits))
               for _ in range(pools)]
    return Personaliser(clients, settings.openai_chat_model, concurrency=concurrency, timeout=settings.llm_timeout_s)
