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
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prompts import render

PROMISE_WORDS = (
    "保本", "保收益", "保息", "稳赚", "无风险", "零风险", "保证收益", "稳赚不赔", "刚性兑付", "只赚不赔",
    "guaranteed", "guarantee", "risk-free", "risk free", "no risk", "zero risk", "principal protected",
    "can't lose", "cannot lose",
)
RISK_NOTICES = {
    "zh": "理财非存款,产品有风险,投资须谨慎",
    "en": "Wealth products are not deposits and carry risk",
}
# Values in a draft's context that are facts from the data: they must survive a rewrite verbatim.
FACT_KEYS = (
    "amount", "due_amount", "maturity_date", "expiry_date", "due_date", "expires_on", "expired_on",
    "id_expiry", "deadline", "account_tail", "product_name", "years", "year", "risk_level",
)
MAX_CHARS = 1000
_NUMBER = re.compile(r"\d+(?:[,,]\d{3})*(?:\.\d+)?")
_CN_AMOUNT = re.compile(r"[零一二两三四五六七八九十百千万亿]+(?:元|块)")

# Check codes
EMPTY = "empty"
TOO_LONG = "too_long"
PROMISE = "promise_words"
RISK_NOTICE_MISSING = "risk_notice_missing"
FACT_MISSING = "fact_missing"
NUMBER_CHANGED = "number_changed"
LLM_FAILED = "llm_failed"
LLM_REJECTED = "llm_rejected"
LLM = "llm"


def is_product_message(kind: str, occasion: str, product_code: str | None = None) -> bool:
    """Drafts that must carry the risk notice: every recommendation and every wealth-product message."""
    return kind == "recommendation" or bool(product_code) or occasion.startswith("wealth_")


def check_stored_draft(draft: Any, text: str | None = None) -> list[str]:
    """`check_draft` for a stored Draft (e.g. a manager's edit: pass the new `text`)."""
    return check_draft(draft.text if text is None else text, template_text=draft.template_text or draft.text,
                       context=draft.context, language=draft.language,
                       product_message=is_product_message(draft.kind, draft.occasion, draft.product_code))


def promise_words(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in PROMISE_WORDS if w.lower() in lowered]


def _numbers(text: str) -> set[str]:
    return {m.replace(",", "").replace(",", "") for m in _NUMBER.findall(text)}


def length_limit(template_text: str) -> int:
    return min(MAX_CHARS, max(2 * len(template_text), 300))


def check_draft(text: str, *, template_text: str, context: dict[str, Any] | None, product_message: bool,
                language: str) -> list[str]:
    """The failed checks of `text` (empty list: it may go to the manager as is)."""
    problems: list[str] = []
    body = (text or "").strip()
    if not body:
        return [EMPTY]
    if len(body) > length_limit(template_text):
        problems.append(TOO_LONG)
    if promise_words(body):
        problems.append(PROMISE)
    plain = body.replace("，", ",")
    if product_message and not any(n in plain for n in (RISK_NOTICES.get(language, ""), RISK_NOTICES["zh"]) if n):
        problems.append(RISK_NOTICE_MISSING)
    for key in FACT_KEYS:
        value = str((context or {}).get(key) or "")
        if value and value in template_text and value not in body:
            problems.append(FACT_MISSING)
            break
    allowed = _numbers(template_text)
    if not _numbers(body) <= allowed or not set(_CN_AMOUNT.findall(body)) <= set(_CN_AMOUNT.findall(template_text)):
        problems.append(NUMBER_CHANGED)
    return problems


@dataclass
class Outcome:
    text: str
    rewritten: bool
    flags: list[str] = field(default_factory=list)


class Personaliser:
    """Rewrites drafts with an OpenAI-compatible chat model. `client` is an `openai.AsyncOpenAI`."""

    def __init__(self, client: Any, model: str, *, concurrency: int = 100, timeout: float = 20.0,
                 temperature: float = 0.7) -> None:
        # One client, or several used in turn (small connection pools are much cheaper per request
        # than one large pool when thousands of requests are in flight).
        self.clients = list(client) if isinstance(client, list | tuple) else [client]
        self.client, self.model = self.clients[0], model
        self._turn = 0
        self.timeout, self.temperature = timeout, temperature
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.calls = 0

    def messages(self, draft: Any) -> list[dict[str, str]]:
        lang = draft.language if draft.language in RISK_NOTICES else "zh"
        facts = {k: str(draft.context[k]) for k in FACT_KEYS if draft.context and draft.context.get(k)}
        system = render(f"drafts/personalise_{lang}.j2", max_chars=length_limit(draft.template_text),
                        risk_notice=RISK_NOTICES[lang], product_message=draft.product_message)
        user = render(f"drafts/personalise_user_{lang}.j2", kind=draft.kind, occasion=draft.occasion,
                      facts=facts, template_text=draft.template_text)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def _complete(self, messages: list[dict[str, str]]) -> Any:
        # The plain chat-completions POST through the client (same request as
        # `chat.completions.create`), without its per-call recursive parameter transform: our
        # messages are already plain JSON, and at thousands of calls that transform is the cost.
        from openai.types.chat import ChatCompletion

        body = {"model": self.model, "messages": messages, "temperature": self.temperature}
        self._turn = (self._turn + 1) % len(self.clients)
        return await self.clients[self._turn].post("/chat/completions", cast_to=ChatCompletion, body=body)

    async def personalise(self, draft: Any) -> Outcome:
        async with self.semaphore:
            self.calls += 1
            try:
                response = await asyncio.wait_for(self._complete(self.messages(draft)), timeout=self.timeout)
                text = (response.choices[0].message.content or "").strip()
            except Exception as exc:  # noqa: BLE001 - any failure falls back to the template
                return Outcome(draft.template_text, False, [LLM_FAILED, f"{LLM_FAILED}:{type(exc).__name__}"])
        problems = check_draft(text, template_text=draft.template_text, context=draft.context,
                               product_message=draft.product_message, language=draft.language)
        if problems:
            return Outcome(draft.template_text, False, [LLM_REJECTED] + [f"{LLM_REJECTED}:{p}" for p in problems])
        return Outcome(text, True, [LLM])

    async def personalise_many(self, drafts: Sequence[Any]) -> list[Outcome]:
        return list(await asyncio.gather(*(self.personalise(d) for d in drafts)))


def personaliser_from_settings(settings: Any, *, concurrency: int = 100) -> Personaliser | None:
    """A Personaliser for the configured endpoint, or None when no LLM is configured."""
    if not settings.llm_enabled:
        return None
    from openai import AsyncOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    import httpx
    from openai import DefaultAsyncHttpxClient

    per_pool = 10
    pools = max(1, -(-concurrency // per_pool))
    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
    clients = [AsyncOpenAI(base_url=settings.openai_base_url or None, api_key=key, timeout=settings.llm_timeout_s,
                           max_retries=0, http_client=DefaultAsyncHttpxClient(limits=limits))
               for _ in range(pools)]
    return Personaliser(clients, settings.openai_chat_model, concurrency=concurrency, timeout=settings.llm_timeout_s)
