"""The service ships without its development tools: the wheel (and so the Docker image, which installs it) holds
no demo builder, simulation, local chat, benchmark, reverse proxy or stub server, and the service never imports
the `tools` package (only `rmbot demo|chat|bench ...` do, lazily, in a development install)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ("bot", "handlers", "knowledge", "prompts", "scheduler")
# What tool code looks like, by name and by content.
TOOL_NAMES = re.compile(r"(^|/)(tools|bench\w*|simulate|localchat|demo|fake\w*|\w*stub\w*|\w*proxy\w*)(/|\.py$)")
TOOL_CODE = ("from aiohttp import web", "class OpenAIStub", "class FakeSession", "def run_load", "async def _proxy",
             "def scratch_database", "CREATE DATABASE", "DROP DATABASE")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # a clean copy of what git tracks: no stale build/ left over, nothing of a developer's working files
    source = tmp_path_factory.mktemp("source") / "rm-assistant"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # --no-isolation: build with the locked setuptools of this environment (offline, fast)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                            str(source)], capture_output=True, text=True, cwd=source)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "deprecat" not in (built.stdout + built.stderr).lower()  # e.g. setuptools' licence-table warning
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_the_service_and_no_tool_code(wheel: zipfile.ZipFile) -> None:
    names = [n for n in wheel.namelist() if ".dist-info/" not in n]
    assert {n.split("/")[0] for n in names} == set(SERVICE)
    # bot/cli/ holds the front-ends of the tool commands (options, help, the lazy import), not the tools
    assert [n for n in names if TOOL_NAMES.search(n) and not n.startswith("bot/cli/")] == []
    for name in (n for n in names if n.endswith(".py")):
        text = wheel.read(name).decode("utf-8")
        assert [c for c in TOOL_CODE if c in text] == [], name


def test_the_image_copies_only_the_service() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {src for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M) for src in line.split()[:-1]}
    assert "tools" not in copied and "tests" not in copied and "." not in copied
    assert {"bot", "handlers", "knowledge", "prompts", "scheduler"} <= copied


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    found |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return found


def test_the_service_never_imports_the_tools() -> None:
    offenders = [str(path.relative_to(ROOT)) for package in SERVICE for path in (ROOT / package).rglob("*.py")
                 if any(m == "tools" or m.startswith("tools.") for m in _imports(path))]
    assert offenders == []
    # and at run time: the whole service (every CLI command module, the app, the jobs) loads without them
    code = ("import sys, bot.cli, bot.app, scheduler.jobs; bot.cli.load_commands(); "
            "print(sorted(m for m in sys.modules if m == 'tools' or m.startswith('tools.')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_a_tool_command_without_the_tools_says_so_in_one_line(tmp_path: Path) -> None:
    """As from the wheel: `tools` cannot be imported, and `rmbot bench ...` says what to do instead."""
    code = ("import sys; sys.modules['tools'] = None; from bot.cli import main; "
            "sys.argv = ['rmbot', 'bench', 'report', '--help']; main()")
    help_run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert help_run.returncode == 0  # the commands are listed even so
    code = ("import sys; sys.modules['tools'] = None; from bot.cli import main; "
            "sys.argv = ['rmbot', 'demo', '--no-serve']; main()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path)})
    assert run.returncode == 2, run.stderr
    assert "development tool" in run.stderr and "make install" in run.stderr
    assert "Traceback" not in run.stderr
