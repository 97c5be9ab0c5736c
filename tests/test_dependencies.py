"""Dependencies are bounded in pyproject.toml and locked (exact versions with hashes) in the lock files that
`make install` and the Dockerfile install from; compose's Chroma server is the release of the locked client."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _locked(name: str) -> dict[str, str]:
    """{package: version} of a lock file; fails on a pin without a hash."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{name}: {match.group(1)} has no hash"
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _requirements(group: list[str]) -> list[Requirement]:
    return [Requirement(line) for line in group]


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    project = _project()
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    for requirement in (r for group in groups for r in _requirements(group)):
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators and "<" in operators, f"{requirement} needs a lower and an upper bound"


def test_the_lock_files_hold_every_dependency_within_its_bounds() -> None:
    project = _project()
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    for name, pins, groups in (
        ("requirements.lock", runtime, [project["dependencies"]]),
        ("requirements-dev.lock", dev, [project["dependencies"], project["optional-dependencies"]["dev"]]),
    ):
        for requirement in (r for group in groups for r in _requirements(group)):
            key = re.sub(r"[-_.]+", "-", requirement.name).lower()
            assert key in pins, f"{name} lacks {requirement.name}: run `make lock`"
            assert requirement.specifier.contains(pins[key]), f"{name}: {key}=={pins[key]} outside {requirement}"
    # the image runs what the tests ran: the runtime lock agrees with the development one
    assert {k: v for k, v in runtime.items() if dev.get(k) != v} == {}


def test_the_image_and_make_install_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps ." in dockerfile
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements-dev.lock" in makefile


def test_compose_runs_the_chroma_server_of_the_locked_client() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    image = compose["services"]["chroma"]["image"]
    assert image == f"chromadb/chroma:{_locked('requirements.lock')['chromadb']}"
