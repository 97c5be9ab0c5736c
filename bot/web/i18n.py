"""The console's words in the manager's language. Message ids are the English texts (as in the
bot's gettext catalogs); `locales/zh.json` maps each to Chinese. A JSON table rather than a
compiled catalog: the console needs no `.mo` step, and `tests/web/test_console_i18n.py` fails
when a template uses a text the table lacks. Codes (statuses, flags, reasons...) are `bot.labels`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"

Translate = Callable[..., str]


@lru_cache(maxsize=4)
def catalog(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def translator(lang: str) -> Translate:
    """`_("{count} drafts", count=3)` in `lang` ("zh" | "en"); English is the id itself."""
    table = catalog(lang) if lang != "en" else {}

    def _(text: str, **values: object) -> str:
        out = table.get(text, text)
        return out.format(**values) if values else out

    return _
