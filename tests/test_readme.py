"""The README and .env.example stay in step with the settings and the Makefile."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings, documented_settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE = ROOT / ".env.example"


def test_every_setting_is_in_the_readme_table() -> None:
    in_table = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    missing = sorted(set(documented_settings()) - in_table)
    assert not missing, f"settings missing from README.md's configuration table: {missing}"
    unknown = sorted(in_table - set(documented_settings()))
    assert not unknown, f"README.md documents settings that do not exist: {unknown}"


def _shown(default: object) -> str:
    if default is None or default == [] or default == "":
        return "(empty)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Path):
        return f"`{default.as_posix()}`"
    return f"`{default}`"


def test_readme_table_shows_the_defaults() -> None:
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+?) \|", README, flags=re.MULTILINE))
    wrong = {}
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        if rows.get(name.upper()) != _shown(default):
            wrong[name.upper()] = (rows.get(name.upper()), _shown(default))
    assert not wrong, f"README.md table defaults differ from the settings (shown, actual): {wrong}"


def test_every_setting_is_in_env_example_with_its_default() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    names = set(re.findall(r"^#? ?([A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = sorted(set(documented_settings()) - names)
    assert not missing, f"settings missing from .env.example: {missing}"
    # Used as it stands, .env.example gives exactly the defaults.
    from_file = load_settings(_env_file=str(ENV_EXAMPLE))
    defaults = load_settings(_env_file=None)
    assert from_file.model_dump() == defaults.model_dump()
    assert set(Settings.model_fields) == {n.lower() for n in documented_settings()}


def test_readme_commands_match_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"Makefile has no `{target}` target"
        assert f"make {target}" in README


def test_commands_in_the_readme_table_exist() -> None:
    from typer.main import get_command

    from bot.cli import app, load_commands

    load_commands()
    cli = get_command(app)
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"^\| `rmbot ([a-z-]+)", section, flags=re.MULTILINE)
    assert named, "README.md has no commands table"
    missing = [name for name in named if name not in cli.commands]  # type: ignore[attr-defined]
    assert not missing, f"README.md lists commands that do not exist: {missing}"


def test_links_stay_inside_the_repository() -> None:
    """Every relative link points to a file of this repository (a newcomer's clone has nothing beside it)."""
    targets = re.findall(r"\]\(([^)#\s]+)", README)
    assert targets
    for target in (t for t in targets if not re.match(r"[a-z]+:", t)):
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target


def test_the_first_run_commands_parse() -> None:
    """The commands of "First run" exist with the options written there (parsed, not run)."""
    import shlex

    import click
    import typer.main

    from bot.cli import app, load_commands

    load_commands()
    root = typer.main.get_command(app)
    section = README[README.index("## First run"):README.index("## Commands")]
    lines = [line.split("  #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)
             for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith((".venv/bin/rmbot ", "rmbot "))]
    assert len(commands) >= 4, lines
    for argv in commands:
        command: click.Command = root
        rest = list(argv)
        while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
            sub = command.get_command(click.Context(command), rest.pop(0))
            assert sub is not None, argv
            command = sub
        command.make_context("rmbot", rest)  # raises on an unknown option or a missing value
    assert "source .venv/bin/activate" in section  # and how to get `rmbot` on the PATH
