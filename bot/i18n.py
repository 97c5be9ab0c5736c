"""Translations shared by the bot's handlers and the services that compose customer messages.

The catalogs live in `handlers/locales/<lang>/LC_MESSAGES/messages.{po,mo}` (gettext, aiogram's
`I18n`). Message ids are the English texts; `zh` is the default locale. Services call
`t(msgid, lang, **values)` with an explicit language; handlers use aiogram's context-bound `_`.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from aiogram.utils.i18n import I18n

LOCALES_DIR = Path(__file__).resolve().parent.parent / "handlers" / "locales"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@lru_cache(maxsize=1)
def get_i18n() -> I18n:
    return I18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain="messages")


def normalize_language(code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Telegram's language_code (zh-hans, zh-CN, en-US, ...) or a stored value -> 'zh' | 'en'."""
    if not code:
        return default
    code = code.lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default


class Html(str):
    """A value that is already safe Telegram HTML (not escaped again by `t`)."""


def escape(value: object) -> str:
    return value if isinstance(value, Html) else html.escape(str(value), quote=False)


def t(msgid: str, lang: str | None = None, /, **values: object) -> str:
    """`msgid` translated into `lang` ('zh' | 'en'; None: the locale the i18n middleware set for this
    update), then formatted with the values HTML-escaped (customer messages are sent with
    parse_mode=HTML); pass `Html(...)` for ready markup."""
    text = get_i18n().gettext(msgid, locale=normalize_language(lang) if lang else None)
    if not values:
        return text
    return text.format(**{k: escape(v) for k, v in values.items()})
