"""From a message to what the turn does: the understanding step's intent (by meaning, from
`knowledge.understanding`), the explicit words a bank must honour at once (opt-out, `/human`),
and the subject a follow-up keeps ("那利率呢?" after a maturity answer is about that deposit)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from bot.services import consent
from knowledge.compliance import compliance_kind
from knowledge.understanding import DATA_DIR, Intent, normalize

MAX_QUESTION_CHARS = 1500
# Right after an answer from the customer's own records, a message is that much more likely to be about them
# too: "那利率呢?" after "我的定期什么时候到期?" asks for that deposit's rate. The personal intent's probability is
# weighed by this (a prior from the conversation) before a question is sent to the documents instead.
PERSONAL_FOLLOW_UP_PRIOR = 3.0
# An opt-out understood by meaning (no opt-out word said) silently switches marketing off, so only a sure reading
# counts: "不要再给我发营销短信了" reads ~0.99, while a product question that merely shares words with the opt-out
# examples ("你们有什么理财产品推荐") can read 0.6; below this it goes to the documents as a question.
OPT_OUT_BY_MEANING_CONFIDENCE = 0.75
_HUMAN_COMMAND_RE = re.compile(r"^/human(@\w+)?\b", re.I)
_ASCII_TERM_RE = re.compile(r"^[a-z ]+$")


class Step(StrEnum):
    """What a turn does."""

    OPT_OUT = "optout"
    TOO_LONG = "too_long"
    EMERGENCY = "emergency"
    HANDOFF = "handoff"
    ACTION = "action"
    THANKS = "thanks"
    GREETING = "greeting"
    ABUSE = "abuse"
    PERSONAL = "personal"
    QUESTION = "question"


class Classifier(Protocol):
    def classify(self, text: str, default_lang: str = "zh") -> Intent: ...


@dataclass(frozen=True)
class Route:
    step: Step
    intent: Intent
    lang: str  # the language of the message: the reply's language
    reason: str | None = None  # ticket reason for a handoff
    topic: str = ""  # personal: holdings | balance | maturity | rate | card | loan | assessment
    products: frozenset[str] = frozenset()  # holding kinds (deposit, card...) or profile items (id, assessment)
    opt_out: bool = False  # the message also says an opt-out word (honoured with the emergency's reply)


# emergency kind -> the ticket reason the console and reports know
EMERGENCY_REASONS = {"lost_card": "lost_card", "card_kept": "lost_card", "phone_lost": "lost_card",
                     "compromised": "fraud", "unrecognised": "fraud", "scam": "fraud"}
_STEPS = {"emergency": Step.EMERGENCY, "person": Step.HANDOFF, "complaint": Step.HANDOFF, "action": Step.ACTION,
          "optout": Step.OPT_OUT, "thanks": Step.THANKS, "greeting": Step.GREETING, "abuse": Step.ABUSE,
          "personal": Step.PERSONAL}


@lru_cache(maxsize=1)
def _product_terms() -> tuple[tuple[str, str], ...]:
    """(term, holding kind) from `knowledge/intents/products.csv`, longest terms first."""
    rows = csv.DictReader(io.StringIO((DATA_DIR / "products.csv").read_text(encoding="utf-8")))
    terms = [(r["term"].strip().lower(), r["kind"].strip()) for r in rows if r.get("term") and r.get("kind")]
    return tuple(sorted(terms, key=lambda tk: -len(tk[0])))


def products_named(text: str) -> frozenset[str]:
    """The kinds of product a message names ("我的定期" -> deposit); a longer term hides the shorter
    ones inside it ("信用卡" is not also "卡")."""
    norm = normalize(text)
    found: set[str] = set()
    for term, kind in _product_terms():
        if _ASCII_TERM_RE.match(term):
            hit = re.search(rf"\b{re.escape(term)}s?\b", norm)
            if hit:
                found.add(kind)
                norm = norm[:hit.start()] + " " + norm[hit.end():]
        elif term in norm:
            found.add(kind)
            norm = norm.replace(term, " ")
    return frozenset(found)


def route(classifier: Classifier, text: str, chat_lang: str, *, previous_personal: str | None = None) -> Route:
    """Decide the turn. `previous_personal` is the customer's last message when the bot's last answer
    was from their records: a follow-up naming no product keeps that message's product."""
    intent = classifier.classify(text, default_lang=chat_lang)
    # a question about returns or stock tips has its own subject and always gets the compliance reply: "Which
    # product earns the most?" right after "What do I hold?" is not about the customer's holdings
    if previous_personal and intent.intent == "question" and compliance_kind(text) is None:
        personal = intent.scores.get("personal", 0.0) * PERSONAL_FOLLOW_UP_PRIOR
        if personal > intent.confidence:
            kind = intent.kinds.get("personal", "")
            intent = replace(intent, intent="personal", kind=kind, label=f"personal.{kind}" if kind else "personal",
                             confidence=round(min(personal, 1.0), 4))
    lang = intent.lang
    opt_out = consent.is_opt_out(text)
    if intent.intent == "emergency":
        # someone in trouble gets the playbook whatever else the message holds: "我的卡被偷了，stop" is an
        # emergency (its opt-out word is honoured too), and so is a long account of a scam; "stop my card"
        # carries no opt-out word (the word inside a sentence is an ordinary word: `consent.is_opt_out`)
        return Route(Step.EMERGENCY, intent, lang, reason=EMERGENCY_REASONS.get(intent.kind, "fraud"),
                     opt_out=opt_out)
    if opt_out:
        return Route(Step.OPT_OUT, intent, lang)
    if len(text) > MAX_QUESTION_CHARS:
        return Route(Step.TOO_LONG, intent, lang)
    if _HUMAN_COMMAND_RE.match(text):
        return Route(Step.HANDOFF, intent, lang, reason="request")
    step = _STEPS.get(intent.intent, Step.QUESTION)
    if step is Step.OPT_OUT and intent.confidence < OPT_OUT_BY_MEANING_CONFIDENCE:
        step = Step.QUESTION
    if step is Step.HANDOFF:
        return Route(step, intent, lang, reason="complaint" if intent.intent == "complaint" else "request")
    if step is Step.PERSONAL:
        products = products_named(text)
        if not products and previous_personal:
            products = products_named(previous_personal)
        return Route(step, intent, lang, topic=intent.kind, products=products)
    return Route(step, intent, lang)
