"""Where things go on each platform, and which hosts (Krita, GIMP 3) are present.

The folder functions are pure: they take the platform (``sys.platform`` style) and an environment
mapping and return paths of that platform's flavour (``PureWindowsPath`` on Windows), so the
macOS and Windows rules can be checked on any machine. Detection functions look at the disk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import NamedTuple

APP_NAME = "repaint-fill"
KRITA_FLATPAK = "org.kde.krita"
GIMP_FLATPAK = "org.gimp.GIMP"
GIMP_VERSION_DIR = re.compile(r"^3\.\d+$")
DEFAULT_GIMP_VERSION = "3.0"


class KritaTarget(NamedTuple):
    """One Krita installation: where plug-ins go and which kritarc enables them."""

    variant: str  # "native" or "flatpak"
    pykrita: PurePath
    kritarc: PurePath


class GimpTarget(NamedTuple):
    """One GIMP 3.x user folder: plug-ins go into ``plug_ins``."""

    variant: str  # "native" or "flatpak"
    version: str  # "3.0", "3.2", ...
    plug_ins: PurePath


def is_windows(platform: str) -> bool:
    return platform.startswith("win")


def _flavour(platform: str) -> type[PurePath]:
    return PureWindowsPath if is_windows(platform) else PurePosixPath


def home_dir(platform: str, env: Mapping[str, str]) -> PurePath:
    """The user's home: HOME (or USERPROFILE on Windows), else the current user's home."""
    keys = ("USERPROFILE", "HOME") if is_windows(platform) else ("HOME",)
    for key in keys:
        if env.get(key):
            return _flavour(platform)(env[key])
    return _flavour(platform)(os.path.expanduser("~"))


def _xdg(env: Mapping[str, str], key: str, home: PurePath, default: str) -> PurePath:
    value = env.get(key, "").strip()
    return type(home)(value) if value else home / default


def _appdata(platform: str, env: Mapping[str, str]) -> PurePath:
    home = home_dir(platform, env)
    return PureWindowsPath(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"


def _localappdata(platform: str, env: Mapping[str, str]) -> PurePath:
    home = home_dir(platform, env)
    if env.get("LOCALAPPDATA"):
        return PureWindowsPath(env["LOCALAPPDATA"])
    return home / "AppData" / "Local"


def _mac_support(env: Mapping[str, str]) -> PurePath:
    return home_dir("darwin", env) / "Library" / "Application Support"


def config_folder(platform: str, env: Mapping[str, str]) -> PurePath:
    """RePaint Fill's config folder (plugin.json, token); same rule as the host core."""
    if is_windows(platform):
        return _appdata(platform, env) / APP_NAME
    if platform == "darwin":
        return _mac_support(env) / APP_NAME
    return _xdg(env, "XDG_CONFIG_HOME", home_dir(platform, env), ".config") / APP_NAME


def data_folder(platform: str, env: Mapping[str, str]) -> PurePath:
    """RePaint Fill's data folder (backend venv, models, install manifest).

    Same as platformdirs.user_data_dir("repaint-fill", appauthor=False, roaming=True).
    """
    if is_windows(platform):
        return _appdata(platform, env) / APP_NAME
    if platform == "darwin":
        return _mac_support(env) / APP_NAME
    return _xdg(env, "XDG_DATA_HOME", home_dir(platform, env), ".local/share") / APP_NAME


def krita_native(platform: str, env: Mapping[str, str]) -> KritaTarget:
    """The natively installed Krita's pykrita folder and kritarc."""
    if is_windows(platform):
        pykrita = _appdata(platform, env) / "krita" / "pykrita"
        return KritaTarget("native", pykrita, _localappdata(platform, env) / "kritarc")
    if platform == "darwin":
        home = home_dir(platform, env)
        pykrita = _mac_support(env) / "Krita" / "pykrita"
        return KritaTarget("native", pykrita, home / "Library" / "Preferences" / "kritarc")
    home = home_dir(platform, env)
    data = _xdg(env, "XDG_DATA_HOME", home, ".local/share")
    config = _xdg(env, "XDG_CONFIG_HOME", home, ".config")
    return KritaTarget("native", data / "krita" / "pykrita", config / "kritarc")


def flatpak_root(platform: str, env: Mapping[str, str], app_id: str) -> PurePath | None:
    """~/.var/app/<app id> (Linux only: Flatpak's per-app home)."""
    if is_windows(platform) or platform == "darwin":
        return None
    return home_dir(platform, env) / ".var" / "app" / app_id


def krita_flatpak(platform: str, env: Mapping[str, str]) -> KritaTarget | None:
    root = flatpak_root(platform, env, KRITA_FLATPAK)
    if root is None:
        return None
    return KritaTarget("flatpak", root / "data" / "krita" / "pykrita", root / "config" / "kritarc")


def gimp_bases(platform: str, env: Mapping[str, str]) -> list[tuple[str, PurePath]]:
    """The folders that hold GIMP's per-version user folders (…/GIMP/3.0, …/GIMP/3.2)."""
    if is_windows(platform):
        return [("native", _appdata(platform, env) / "GIMP")]
    if platform == "darwin":
        return [("native", _mac_support(env) / "GIMP")]
    native = _xdg(env, "XDG_CONFIG_HOME", home_dir(platform, env), ".config") / "GIMP"
    bases = [("native", native)]
    root = flatpak_root(platform, env, GIMP_FLATPAK)
    if root is not None:
        bases.append(("flatpak", root / "config" / "GIMP"))
    return bases


def gimp_target(variant: str, base: PurePath, version: str) -> GimpTarget:
    return GimpTarget(variant, version, base / version / "plug-ins")


def venv_executable(venv: PurePath, platform: str, name: str) -> PurePath:
    """A console program inside a virtual environment (bin/NAME or Scripts\\NAME.exe)."""
    if is_windows(platform):
        return venv / "Scripts" / (name + ".exe")
    return venv / "bin" / name


# --- detection (reads the disk and PATH) -------------------------------------------------------


def _which(names: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    search = env.get("PATH", "")
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def _program_files(env: Mapping[str, str]) -> list[Path]:
    keys = ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)", "LOCALAPPDATA")
    return [Path(env[key]) for key in keys if env.get(key)]


def _flatpak_installed(platform: str, env: Mapping[str, str], app_id: str) -> bool:
    root = flatpak_root(platform, env, app_id)
    if root is None:
        return False
    home = home_dir(platform, env)
    places = [Path(str(root)), Path(str(home)) / ".local/share/flatpak/app" / app_id]
    places.append(Path("/var/lib/flatpak/app") / app_id)
    return any(place.exists() for place in places)


def krita_binary(platform: str, env: Mapping[str, str]) -> str | None:
    """The Krita program if one is installed where Krita's installers put it (or on PATH)."""
    found = _which(("krita",), env)
    if found:
        return found
    if platform == "darwin":
        app = Path("/Applications/krita.app")
        return str(app) if app.exists() else None
    if is_windows(platform):
        for folder in _program_files(env):
            candidate = folder / "Krita (x64)" / "bin" / "krita.exe"
            if candidate.exists():
                return str(candidate)
    return None


def detect_krita(platform: str, env: Mapping[str, str], forced: bool) -> list[KritaTarget]:
    """Krita installations present (native and/or Flatpak); ``forced`` = at least the native one."""
    targets = []
    native = krita_native(platform, env)
    native_seen = (
        Path(str(native.kritarc)).exists()
        or Path(str(native.pykrita.parent)).exists()
        or krita_binary(platform, env) is not None
    )
    flatpak = krita_flatpak(platform, env)
    flatpak_seen = flatpak is not None and _flatpak_installed(platform, env, KRITA_FLATPAK)
    if native_seen or (forced and not flatpak_seen):
        targets.append(native)
    if flatpak is not None and flatpak_seen:
        targets.append(flatpak)
    return targets


def gimp_binary_version(platform: str, env: Mapping[str, str]) -> str | None:
    """The "3.x" version of a GIMP 3 program on PATH (or in Program Files / Applications)."""
    for minor in range(9, -1, -1):
        if _which((f"gimp-3.{minor}",), env):
            return f"3.{minor}"
    program = _which(("gimp", "gimp-3"), env)
    if program is None and platform == "darwin" and Path("/Applications/GIMP.app").exists():
        program = "/Applications/GIMP.app/Contents/MacOS/gimp"
    if program is None and is_windows(platform):
        for folder in _program_files(env):
            candidate = folder / "GIMP 3" / "bin" / "gimp-3.exe"
            if candidate.exists():
                program = str(candidate)
                break
    if program is None:
        return None
    return _version_of(program, env)


def _version_of(program: str, env: Mapping[str, str]) -> str | None:
    try:
        result = subprocess.run(
            [program, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"version (\d+)\.(\d+)", result.stdout)
    if match is None or match.group(1) != "3":
        return None
    return f"3.{match.group(2)}"


def _version_folders(base: Path) -> list[str]:
    if not base.is_dir():
        return []
    names = [entry.name for entry in base.iterdir() if entry.is_dir()]
    return sorted((n for n in names if GIMP_VERSION_DIR.match(n)), key=_version_key)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def detect_gimp(platform: str, env: Mapping[str, str], forced: bool) -> list[GimpTarget]:
    """Every GIMP 3.x user folder found; else the running GIMP 3's version folder if installed.

    ``forced`` with nothing found gives the native 3.0 folder (GIMP 3.2+ migrate it on first run).
    """
    targets = []
    for variant, base in gimp_bases(platform, env):
        for version in _version_folders(Path(str(base))):
            targets.append(gimp_target(variant, base, version))
    variants = {target.variant for target in targets}
    native_base = gimp_bases(platform, env)[0][1]
    if "native" not in variants:
        version = gimp_binary_version(platform, env)
        if version is None and forced and not targets:
            version = DEFAULT_GIMP_VERSION
        if version is not None:
            targets.insert(0, gimp_target("native", native_base, version))
    flatpak_base = dict(gimp_bases(platform, env)).get("flatpak")
    flatpak_seen = _flatpak_installed(platform, env, GIMP_FLATPAK)
    if flatpak_base is not None and "flatpak" not in variants and flatpak_seen:
        targets.append(gimp_target("flatpak", flatpak_base, DEFAULT_GIMP_VERSION))
    return targets
