"""Customer conversations, split along their seams: `intents` (what a message means and what the
turn does), `rendering` (what the customer reads), `service` (the turn itself, with its rows)."""

from bot.services.conversations.intents import MAX_QUESTION_CHARS, Route, Step, route
from bot.services.conversations.rendering import MESSAGE_LIMIT, split_message
from bot.services.conversations.service import BoundResult, Conversations, KnowledgeLike, Turn

__all__ = ["MAX_QUESTION_CHARS", "MESSAGE_LIMIT", "BoundResult", "Conversations", "KnowledgeLike", "Route", "Step",
           "Turn", "route", "split_message"]
