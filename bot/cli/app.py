"""The `rmbot` Typer application and the helpers every command uses."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from bot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="rmbot",
    help="RM Assistant: a Telegram bot and web console for bank relationship managers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def settings_or_exit(**overrides: Any) -> Settings:
    """Settings, or one clear line naming the bad setting and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
