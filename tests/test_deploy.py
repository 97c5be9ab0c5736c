"""The container topology (compose.yaml) is checked here, since Docker does not run on this machine:
it parses, every service's `rmbot` command exists, every variable it uses is a documented setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
import yaml

from bot.cli import app, load_commands
from bot.settings import documented_settings

ROOT = Path(__file__).resolve().parent.parent
# Variables of the compose file itself (the database container's password), not of the application.
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _resolve(group, args: list[str]):  # type: ignore[no-untyped-def]
    command = group
    for arg in args:
        if arg.startswith("-"):
            break
        if not hasattr(command, "get_command"):
            break
        sub = command.get_command(None, arg)
        assert sub is not None, f"`rmbot {' '.join(args)}`: no sub-command {arg!r}"
        command = sub
    return command


def test_topology(compose: dict) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "chroma", "bot1", "bot2", "worker1", "worker2", "scheduler", "migrate"):
        assert name in services, f"compose.yaml lacks service {name}"
    assert services["worker1"]["command"][:2] == ["rmbot", "worker"]
    assert services["bot1"]["command"][-1] == "bot" and services["bot2"]["command"][-1] == "bot"


def test_every_rmbot_command_exists(compose: dict) -> None:
    load_commands()
    group = typer.main.get_command(app)
    assert hasattr(group, "get_command")  # Typer's group (click-compatible)
    commands = [svc["command"] for svc in compose["services"].values() if svc.get("command")]
    rmbot = [c for c in commands if isinstance(c, list) and c[0] == "rmbot"]
    assert len(rmbot) >= 6
    for command in rmbot:
        resolved = _resolve(group, command[1:])
        # The options given must be options of that command.
        given = {a for a in command[1:] if a.startswith("--")}
        known = {opt for p in resolved.params for opt in getattr(p, "opts", [])}
        assert given <= known, f"`{' '.join(command)}`: unknown options {given - known}"


def test_every_variable_is_a_documented_setting(compose: dict) -> None:
    settings = set(documented_settings())
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used, "compose.yaml uses no variables"
    assert used - COMPOSE_ONLY <= settings, f"undocumented variables: {used - COMPOSE_ONLY - settings}"
    app_env = compose["x-app"]["environment"]
    assert set(app_env) <= settings, f"unknown settings in x-app: {set(app_env) - settings}"


def test_dockerfile_is_multistage_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("FROM ") >= 2
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert "uv pip install" in text and "[dev]" not in text
