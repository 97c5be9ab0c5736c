"""The `rmbot` Typer application and the helpers every command uses."""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
import sys
from collections.abc import Coroutine
from types import ModuleType
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


def dev_tool(module: str) -> ModuleType:
    """A module of the development tools (`tools/`: demo, simulation, local chat, benchmarks), imported only when
    a command needs it: the running service never imports them, and the wheel and the image do not hold them."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not (exc.name and (module == exc.name or module.startswith(exc.name + "."))):
            raise  # a dependency of the tool is missing: show it
        console.print(f"[red]Error:[/red] this command is a development tool ({module}), not part of the installed "
                      "service: run it in a clone of the repository after `make install`.")
        raise typer.Exit(2) from None


def exit_if_port_busy(host: str, port: int) -> None:
    """One clear line instead of the web server's traceback when WEB_HOST:WEB_PORT is taken (another `rmbot demo`
    or `rmbot run` serving, say). A check before starting: whoever binds first between the two still wins."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is not "busy"
        try:
            probe.bind((host, port))
        except OSError as exc:
            console.print(f"[red]Error:[/red] cannot serve on {host}:{port} ({exc.strerror or exc}); is another "
                          "`rmbot demo` or `rmbot run` serving? Stop it, or set WEB_PORT to a free port.")
            raise typer.Exit(1) from None
