"""Prompt and message templates, as files beside this module.

`load_prompt("knowledge/answer_zh.txt")` gives the text with a stable id (its path) and the
sha256 of its content; the id and hash are stored beside every answer and draft they produced.
`render("drafts/greeting_zh.j2", **values)` renders a Jinja2 template (strict: a missing value
is an error, not an empty string). Files are read once and cached. Only these files, written by
developers, are Jinja, and even they render in Jinja's sandbox; text a manager writes is never a
template for Jinja (`bot.services.placeholders`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

ROOT = Path(__file__).parent


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    hash: str


@lru_cache(maxsize=256)
def load_prompt(relpath: str) -> Prompt:
    path = (ROOT / relpath).resolve()
    if ROOT.resolve() not in path.parents:
        raise ValueError(f"prompt path outside prompts/: {relpath}")
    text = path.read_text(encoding="utf-8")
    return Prompt(id=relpath, text=text, hash=hashlib.sha256(text.encode("utf-8")).hexdigest())


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(ROOT)),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # plain text for Telegram; HTML escaping happens where messages are sent
    )


def render(relpath: str, **values: object) -> str:
    return environment().get_template(relpath).render(**values).strip()

