"""Prometheus metrics, one registry for the process; `/metrics` on the web port serves it.

Import the metric you count and call `.inc()` / `.observe()`; labels are low-cardinality codes,
never ids or personal data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter("rmbot_updates_total", "Telegram updates handled", ["type"], registry=REGISTRY)
ANSWERS = Counter(
    "rmbot_answers_total", "Customer questions by outcome (grounded, declined, handoff, personal)",
    ["outcome"], registry=REGISTRY,
)
ANSWER_LATENCY = Histogram(
    "rmbot_answer_latency_seconds", "Time from a customer's question to the bot's answer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10), registry=REGISTRY,
)
DRAFTS_PLANNED = Counter("rmbot_drafts_planned_total", "Drafts planned", ["kind"], registry=REGISTRY)
APPROVALS = Counter("rmbot_approvals_total", "Drafts approved, edited or rejected", ["action"], registry=REGISTRY)
MESSAGES_SENT = Counter("rmbot_messages_sent_total", "Outbox messages by result", ["result"], registry=REGISTRY)
TELEGRAM_429 = Counter("rmbot_telegram_429_total", "429 Too Many Requests answers", registry=REGISTRY)
SEND_RETRIES = Counter("rmbot_send_retries_total", "Send retries after 5xx or network errors", registry=REGISTRY)
OUTBOX_DEPTH = Gauge("rmbot_outbox_depth", "Outbox items waiting (queued or sending)", registry=REGISTRY)
OUTBOX_AGE = Gauge("rmbot_outbox_oldest_age_seconds", "Age of the oldest waiting outbox item", registry=REGISTRY)
INGESTIONS = Counter("rmbot_ingestions_total", "Knowledge files by result", ["result"], registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
