"""requirements/lock*.txt (installer/lock.py) pin every dependency the pyproject.toml files
declare: the backend's (lock.txt) and, for development, the tools' too (lock-dev.txt)."""

from __future__ import annotations

import pytest
import tomllib
from helpers_installer import REPO
from lock import DEV_EXTRAS, TOOLS, normalise, read_lock
from packaging.requirements import Requirement

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
TOOLS_PROJECT = tomllib.loads((TOOLS / "pyproject.toml").read_text(encoding="utf-8"))["project"]
STALE = "the lock is stale: run `python installer/lock.py` after changing pyproject.toml"


def _tools_requirements() -> list[Requirement]:
    """The developer tools' dependencies besides the backend itself."""
    declared = [Requirement(text) for text in TOOLS_PROJECT["dependencies"]]
    return [r for r in declared if normalise(r.name) != normalise(PROJECT["name"])]


def _requirements(extras: str | None = None, tools: bool = False) -> list[Requirement]:
    declared = list(PROJECT["dependencies"])
    for extra in (extras or "").split(","):
        declared += PROJECT["optional-dependencies"].get(extra, []) if extra else []
    return [Requirement(text) for text in declared] + (_tools_requirements() if tools else [])


@pytest.mark.parametrize(
    "lock, extras, tools",
    [("lock.txt", None, False), ("lock-dev.txt", DEV_EXTRAS, True)],
    ids=["backend", "dev"],
)
def test_lock_pins_every_declared_dependency_within_its_range(lock: str, extras, tools) -> None:
    pins = read_lock(REPO / "requirements" / lock).pins
    for requirement in _requirements(extras, tools):
        name = normalise(requirement.name)
        assert name in pins, f"{lock} has no pin for {requirement}: {STALE}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: {STALE}"
        )


def test_dev_lock_agrees_with_the_backend_lock() -> None:
    backend = read_lock(REPO / "requirements" / "lock.txt")
    dev = read_lock(REPO / "requirements" / "lock-dev.txt")
    assert {name: dev.pins.get(name) for name in backend.pins} == backend.pins
    assert backend.pins["torch"] == "2.13.0" and backend.python == dev.python


def test_the_tools_depend_on_the_backend_and_its_lock_pins_none_of_their_own() -> None:
    names = {normalise(Requirement(text).name) for text in TOOLS_PROJECT["dependencies"]}
    assert normalise(PROJECT["name"]) in names
    backend = read_lock(REPO / "requirements" / "lock.txt").pins
    only_tools = {normalise(r.name) for r in _tools_requirements()} - {
        normalise(r.name) for r in _requirements()
    }
    assert only_tools and not only_tools & set(backend)
