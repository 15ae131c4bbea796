"""Test helpers of the installer's part: throwaway HOMEs and runs of installer/install.py.

Every run is a real subprocess (``python installer/install.py ...``) whose HOME, XDG_* folders,
PATH and TMPDIR all point into a pytest tmp folder, so nothing touches the real user folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer"
INSTALL_PY = INSTALLER / "install.py"
PACKAGE_PY = INSTALLER / "package.py"


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


def build_release(out: Path) -> Path:
    """``python installer/package.py --out OUT``; returns the release archive it made."""
    done = subprocess.run(
        [sys.executable, str(PACKAGE_PY), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"package.py failed:\n{done.stdout}{done.stderr}")
    return Path(done.stdout.split()[0])


def unpack_release(archive: Path, folder: Path) -> Path:
    """Unpack as ``unzip`` does (mode bits kept); returns the release's top folder."""
    with zipfile.ZipFile(archive) as release:
        release.extractall(folder)
        for info in release.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (folder / info.filename).chmod(mode)
        tops = {name.split("/")[0] for name in release.namelist()}
    assert len(tops) == 1, tops
    return folder / tops.pop()


def run_release_installer(
    release: Path,
    box: Sandbox,
    *args: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python <release>/installer/install.py ARGS`` in the sandbox, from outside the release."""
    return subprocess.run(
        [sys.executable, str(release / "installer" / "install.py"), *args],
        env=box.env(**(extra_env or {})),
        cwd=box.root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def machine_pip_config() -> dict[str, str]:
    """This machine's pip settings (PIP_* and the user's pip.conf, which a throwaway HOME hides),
    so a real install in a sandbox finds the same local wheels and indexes as outside it."""
    passed = {key: value for key, value in os.environ.items() if key.startswith("PIP_")}
    for candidate in (
        Path.home() / ".config" / "pip" / "pip.conf",
        Path.home() / ".pip" / "pip.conf",
    ):
        if candidate.is_file() and "PIP_CONFIG_FILE" not in passed:
            passed["PIP_CONFIG_FILE"] = str(candidate)
    passed["PIP_NO_INDEX"] = "0"
    return passed


def installed_versions(python: Path) -> dict[str, str]:
    """Every distribution in the venv of ``python``: normalised name -> version."""
    listing = subprocess.run(
        [str(python), "-c", PRINT_DISTRIBUTIONS], capture_output=True, text=True, check=True
    )
    return json.loads(listing.stdout)


PRINT_DISTRIBUTIONS = """import json, re
from importlib.metadata import distributions
print(json.dumps({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
                  for d in distributions()}))"""
NOT_LOCKED = {"pip", "wheel", "repaint-fill"}  # the venv's own tools, and the project itself


def assert_exactly_the_lock(python: Path, lock: Path) -> None:
    installed = installed_versions(python)
    installed["torch"] = installed["torch"].split("+")[0]  # the build label: chosen per machine
    from lock import read_lock  # installer/lock.py, on pytest's pythonpath

    pinned = read_lock(lock).pins
    assert {k: v for k, v in installed.items() if k not in NOT_LOCKED} == pinned
