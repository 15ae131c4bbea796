"""requirements/lock*.txt (installer/lock.py) pin every dependency pyproject.toml declares."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_installer import REPO, import_installer_modules  # noqa: E402

import_installer_modules()
from lock import DEV_EXTRAS, normalise, read_lock  # noqa: E402

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
STALE = "the lock is stale: run `python installer/lock.py` after changing pyproject.toml"


def _requirements(extras: str | None = None) -> list[Requirement]:
    declared = list(PROJECT["dependencies"])
    for extra in (extras or "").split(","):
        declared += PROJECT["optional-dependencies"].get(extra, []) if extra else []
    return [Requirement(text) for text in declared]


@pytest.mark.parametrize(
    "lock, extras", [("lock.txt", None), ("lock-dev.txt", DEV_EXTRAS)], ids=["backend", "dev"]
)
def test_lock_pins_every_declared_dependency_within_its_range(lock: str, extras) -> None:
    pins = read_lock(REPO / "requirements" / lock).pins
    for requirement in _requirements(extras):
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
