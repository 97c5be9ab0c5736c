"""`rmbot`: one console script, sub-commands in the modules imported below."""

from __future__ import annotations

import importlib

from bot.cli.app import app

# Each module adds its commands to `app` on import.
COMMAND_MODULES = [
    "bot.cli.core",
    "bot.cli.clients",
    "bot.cli.demo",
    "bot.cli.ops",
    "bot.cli.report",
    "bot.cli.delivery",
    "bot.cli.console",
    "bot.cli.bench",
    "bot.cli.plan",
    "bot.cli.knowledge",
    "bot.cli.intents",
    "bot.cli.run",
]


def load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


def main() -> None:
    load_commands()
    app()
