#!/usr/bin/env python3
"""Refresh the pinned dependency set: requirements/lock.txt and requirements/lock-dev.txt.

    python installer/lock.py [--torch 2.13.0]

pip resolves (``pip install --dry-run --report``, nothing is installed) torch plus the backend
for lock.txt, then the test extra and the developer tools (tools/: benchmarks, training)
constrained by lock.txt for lock-dev.txt, so the two agree on every package they share. Both
are pip constraints files: scripts/setup-dev.sh (CI) installs with ``-c requirements/lock-dev.txt``,
the installer with ``-c requirements/lock.txt``.
Run it with the Python the lock is for (recorded in the header): wheels differ per version.

torch is pinned by version only (``torch==X`` admits every build of X: +cpu, +cu128, +rocm...);
the installer picks the build per machine. CUDA's own packages (nvidia-*, triton), pinned exactly
by each torch build, are left out so the lock holds for every build. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
DEV_LOCK = ROOT / "requirements" / "lock-dev.txt"
PROJECT = "repaint-fill"
DEV_EXTRAS = "test"
TOOLS = ROOT / "tools"  # the developer tools' own project: in the dev lock, never in lock.txt
TOOLS_PROJECT = "repaint-fill-tools"
DEFAULT_TORCH = "2.13.0"
# Installed with each torch build at the versions that build names; not ours to pin.
BUILD_SPECIFIC = re.compile(r"^(nvidia-.*|triton|pytorch-triton.*|cuda-.*)$")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
PYTHON_LINE = re.compile(r"^# python: (\d+\.\d+)\s*$", re.MULTILINE)


class Lock(NamedTuple):
    """A lock file read back: its pins (normalised name -> version) and its Python."""

    pins: dict[str, str]
    python: str | None

    @property
    def torch(self) -> str:
        return self.pins["torch"]


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> Lock:
    """Parse a lock file written by this script."""
    text = path.read_text(encoding="utf-8")
    pins = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    found = PYTHON_LINE.search(text)
    return Lock(pins, found.group(1) if found else None)


def resolve(requirements: Sequence[str], constraints: Path | None = None) -> dict[str, str]:
    """What pip would install for ``requirements`` into an empty environment (name -> version)."""
    with tempfile.TemporaryDirectory(prefix="repaint-fill-lock-") as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--quiet", "--report", str(report), *requirements]
        if constraints is not None:
            command += ["-c", str(constraints)]
        subprocess.run(command, check=True)
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
    versions = {}
    for item in resolved:
        metadata = item["metadata"]
        versions[normalise(metadata["name"])] = metadata["version"]
    return versions


def pins_to_keep(resolved: Mapping[str, str]) -> dict[str, str]:
    """Drop the project's own packages and the build-specific ones; torch without its build
    label."""
    kept = {}
    for name, version in resolved.items():
        if name in (PROJECT, TOOLS_PROJECT) or BUILD_SPECIFIC.match(name):
            continue
        kept[name] = version.split("+")[0] if name == "torch" else version
    return dict(sorted(kept.items()))


def lock_text(pins: Mapping[str, str], what: str) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    header = [
        f"# {what}: made by `python installer/lock.py`; do not edit by hand.",
        "# A pip constraints file (-c). torch==X admits every build of X (the installer picks",
        "# CPU, CUDA, ROCm or macOS per machine); CUDA's own packages are pinned by that build.",
        f"# python: {python}",
        f"# platform: {sys.platform}",
    ]
    return "\n".join(header + [f"{name}=={version}" for name, version in pins.items()]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lock.py", description=__doc__.splitlines()[0])
    parser.add_argument("--torch", default=DEFAULT_TORCH, help=f"torch version ({DEFAULT_TORCH})")
    args = parser.parse_args(argv)
    torch = f"torch=={args.torch}"
    runtime = pins_to_keep(resolve([torch, str(ROOT)]))
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    LOCK.write_text(lock_text(runtime, "The backend's pinned dependencies"), encoding="utf-8")
    dev = pins_to_keep(resolve([torch, f"{ROOT}[{DEV_EXTRAS}]", str(TOOLS)], constraints=LOCK))
    DEV_LOCK.write_text(
        lock_text(dev, "Development and CI: lock.txt plus the test extra and the tools"),
        encoding="utf-8",
    )
    print(f"{LOCK}: {len(runtime)} pins\n{DEV_LOCK}: {len(dev)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
