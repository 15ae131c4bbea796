"""Test helpers of the installer's part: throwaway HOMEs and runs of installer/install.py.

Every run is a real subprocess (``python installer/install.py ...``) whose HOME, XDG_* folders,
PATH and TMPDIR all point into a pytest tmp folder, so nothing touches the real user folders.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer"
INSTALL_PY = INSTALLER / "install.py"
PACKAGE_PY = INSTALLER / "package.py"


def import_installer_modules() -> None:
    """Make installer/*.py importable as top-level modules (as install.py itself does)."""
    if str(INSTALLER) not in sys.path:
        sys.path.insert(0, str(INSTALLER))


@dataclass(frozen=True)
class Sandbox:
    """A throwaway HOME with its XDG folders, an empty PATH folder and a TMPDIR."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config(self) -> Path:
        return self.home / ".config"

    @property
    def data(self) -> Path:
        return self.home / ".local" / "share"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def kritarc(self) -> Path:
        return self.config / "kritarc"

    @property
    def pykrita(self) -> Path:
        return self.data / "krita" / "pykrita"

    @property
    def app_config(self) -> Path:
        return self.config / "repaint-fill"

    @property
    def app_data(self) -> Path:
        return self.data / "repaint-fill"

    @property
    def manifest(self) -> Path:
        return self.app_data / "install-manifest.json"

    def gimp_plug_ins(self, version: str = "3.0") -> Path:
        return self.config / "GIMP" / version / "plug-ins"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_DATA_HOME": str(self.data),
            "PATH": str(self.bin),
            "TMPDIR": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
            # A fast test must never download: a real pip run in it fails at once instead.
            "PIP_NO_INDEX": "1",
            **extra,
        }

    def add_program(self, name: str, script: str) -> Path:
        """A fake program on the sandbox PATH (a shell script)."""
        program = self.bin / name
        program.write_text("#!/bin/sh\n" + script)
        program.chmod(0o755)
        return program


def make_sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path)
    for folder in (box.home, box.bin, box.root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    return box


def run_installer(
    box: Sandbox, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python installer/install.py ARGS`` in the sandbox."""
    return subprocess.run(
        [sys.executable, str(INSTALL_PY), *args],
        env=box.env(**(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under ``folder``: (kind, permission bits, sha256 of a file's bytes)."""
    tree = {}
    for current, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(current) / name
            info = path.lstat()
            if path.is_symlink():
                kind, digest = "link", os.readlink(path)
            elif path.is_dir():
                kind, digest = "dir", ""
            else:
                kind, digest = "file", hashlib.sha256(path.read_bytes()).hexdigest()
            tree[str(path.relative_to(folder))] = (kind, info.st_mode & 0o7777, digest)
    return tree


def install_plugin_skip_backend(
    host: str, env: dict[str, str], backend_url: str, token_file: str
) -> str:
    """The real-host tiers' install: ``install.py --hosts HOST --skip-backend`` with ``env``
    (a throwaway HOME); returns the output, and fails the calling test if the installer fails."""
    command = [
        sys.executable, str(INSTALL_PY), "--hosts", host, "--skip-backend",
        "--backend-url", backend_url, "--token-file", token_file,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"installer failed (exit {done.returncode}):\n{output}")
    return output
