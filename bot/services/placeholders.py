"""Templates that people (not developers) write: plain text with `{field}` placeholders, never code.

A manager's edited campaign template may name only the fields a draft carries (`FIELDS`):
`{salutation}`, `{amount}`, `{maturity_date}`, ... `{{` and `}}` stand for literal braces. Nothing
is evaluated: a placeholder is looked up in the draft's stored values and its text put in its
place. `parse` is the check run when a template is saved; `render` fills one draft.

The shipped template files (written by developers) stay Jinja and are rendered in a sandbox
(`prompts.environment`); `from_jinja` turns their simple `{{ name }}` into `{name}` so a manager
starts editing from the same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.i18n import t

# Every value a planned draft can carry (scheduler.planner.Planner.render and scheduler.occasions).
FIELDS: tuple[str, ...] = (
    "salutation", "signature", "manager_name", "risk_notice", "festival_name", "years", "year",
    "amount", "due_amount", "account_tail", "product_name", "product_code", "risk_level",
    "maturity_date", "expiry_date", "due_date", "expires_on", "expired_on", "id_expiry", "deadline",
)
MAX_TEMPLATE = 4000

_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|\{\{|\}\}|\{([^{}]*)\}|[{}]")
_JINJA_BLOCK = re.compile(r"\{%|%\}|\{#|#\}")
_SIMPLE_JINJA = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _(msgid: str) -> str:
    """Marks a text for gettext extraction (`pybabel extract -k _`); translated when shown."""
    return msgid


@dataclass(frozen=True)
class Field:
    name: str


Part = str | Field


class TemplateFieldError(ValueError):
    """The template names a field that does not exist, has no value, or is not plain text."""

    MESSAGES = {
        "unknown_field": _("Unknown field {{{field}}}. Allowed fields: {allowed}"),
        "no_value": _("The field {{{field}}} has no value for these clients' messages. Allowed fields: {allowed}"),
        "code": _("Templates are plain text with {{field}} placeholders; {field} is not allowed."),
        "unmatched": _("A brace {field} has no partner; write {{{{ or }}}} for a literal brace."),
        "empty": _("The template is empty."),
        "too_long": _("The template is too long (at most {allowed} characters)."),
    }

    def __init__(self, code: str, field: str = "", allowed: tuple[str, ...] = FIELDS) -> None:
        self.code, self.field, self.allowed = code, field, allowed
        super().__init__(self.message("en"))

    def message(self, lang: str) -> str:
        """Plain text (not HTML-escaped): Telegram handlers escape it, the console shows it as text."""
        allowed = str(MAX_TEMPLATE) if self.code == "too_long" else ", ".join(f"{{{f}}}" for f in self.allowed)
        return t(self.MESSAGES[self.code], lang).format(field=self.field, allowed=allowed)

    def both(self) -> str:
        """For the console (bilingual labels): English, then Chinese."""
        return f"{self.message('en')} / {self.message('zh')}"


def parse(source: str) -> list[Part]:
    """The template as text and fields; raises TemplateFieldError for anything but known fields."""
    if not source or not source.strip():
        raise TemplateFieldError("empty")
    if len(source) > MAX_TEMPLATE:
        raise TemplateFieldError("too_long")
    block = _JINJA_BLOCK.search(source)
    if block:
        raise TemplateFieldError("code", block.group(0))
    parts: list[Part] = []
    pos = 0
    for m in _TOKEN.finditer(source):
        parts.append(source[pos:m.start()])
        pos = m.end()
        token = m.group(0)
        if m.group(1) is not None:  # {{ name }}: Jinja habit; say how to write it
            raise TemplateFieldError("code", token)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise TemplateFieldError("unmatched", token)
        else:
            name = (m.group(2) or "").strip()
            if name not in FIELDS:
                raise TemplateFieldError("unknown_field", name[:40])
            parts.append(Field(name))
    parts.append(source[pos:])
    return [p for p in parts if p != ""]


def fields(source: str) -> set[str]:
    return {p.name for p in parse(source) if isinstance(p, Field)}


def render(source: str | list[Part], values: Mapping[str, object]) -> str:
    """Fill the placeholders from `values` (a draft's stored context). A field without a value
    is an error, never an empty gap in a client's message."""
    out: list[str] = []
    for part in parse(source) if isinstance(source, str) else source:
        if isinstance(part, Field):
            value = values.get(part.name)
            if value is None:
                raise TemplateFieldError("no_value", part.name)
            out.append(str(value))
        else:
            out.append(part)
    return "".join(out).strip()


def from_jinja(source: str) -> str:
    """A shipped template's text in placeholder syntax (`{{ amount }}` -> `{amount}`), for editing.
    Anything more than a plain name is left as it is (and refused if saved unchanged)."""
    return _SIMPLE_JINJA.sub(lambda m: "{" + m.group(1) + "}", source).strip()
