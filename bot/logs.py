"""Structured logs: JSON in production, readable in a terminal, personal data masked.

Every log line, ours or a library's (aiogram, SQLAlchemy, uvicorn), passes through `mask_event`:
phone numbers, Chinese ID numbers, bank card numbers and bot tokens are masked wherever they
appear, and fields that carry people's words or names (`text`, `name`, `phone`, ...) are dropped.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Fields never written, whatever their value.
DROPPED_KEYS = frozenset({"text", "message_text", "name", "client_name", "phone", "id_number", "salutation"})

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Telegram bot tokens: 123456789:AA... (also inside URLs such as /bot<token>/sendMessage)
    (re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}"), "<bot-token>"),
    # PRC resident ID numbers (18 characters, last may be X)
    (re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)"), "<id-number>"),
    # bank card numbers (16-19 digits)
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "<card-number>"),
    # mainland mobile numbers, with or without +86
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "<phone>"),
]


# Exact secrets of this process (the configured bot token, whatever its shape), set by setup_logging.
_SECRETS: list[str] = []


def mask_text(value: str) -> str:
    for secret in _SECRETS:
        value = value.replace(secret, "<secret>")
    for pattern, replacement in _PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items() if k not in DROPPED_KEYS}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def mask_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in DROPPED_KEYS:
            del event_dict[key]
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def setup_logging(fmt: str = "console", level: str = "INFO", stream: Any = None,
                  secrets: tuple[str | None, ...] = ()) -> None:
    """Configure structlog and the standard library's logging to write through one pipeline;
    `secrets` (the bot token...) are masked wherever they appear."""
    _SECRETS[:] = [s for s in secrets if s]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        mask_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared[:-2], structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.processors.format_exc_info,
            mask_event,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that log SQL parameters or payloads (personal data) at DEBUG stay at WARNING.
    for noisy in ("sqlalchemy.engine", "aiosqlite", "asyncpg", "httpx", "httpcore", "chromadb",
                  "apscheduler.executors", "jieba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
