#!/usr/bin/env python3
"""Build the release archive and the zips users install through the hosts' own UI.

    python installer/package.py [--out dist/]

- repaint-fill-<version>.zip, the release: one folder repaint-fill-<version>/ with the installer,
  the plug-ins' sources, the backend as a wheel (dist/), the pinned set (requirements/lock.txt),
  README.md and LICENSE. Unpacked anywhere, ``python3 repaint-fill-<version>/installer/install.py``
  installs everything; no checkout needed. The wheel is built with ``pip wheel``.
- repaint-fill-krita-<version>.zip for Krita's Tools > Scripts > "Import Python Plugin from
  File...": repaint_fill.desktop and repaint_fill/ at the zip root (the importer reads the module
  name from the .desktop file and wants that folder, with its __init__.py, as an explicit entry).
- repaint-fill-gimp-<version>.zip: the repaint-fill/ folder at the root, to unpack into GIMP's
  plug-ins folder; repaint-fill.py keeps its executable bit (Unix mode in the external attributes).
Both carry the host core inside the plug-in folder. Standard library only; entries are sorted and
dated 1980-01-01 so the same sources give the same zip bytes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plugin_layout  # noqa: E402

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
UNIX = 3  # ZipInfo.create_system value that makes unzip honour the mode bits


def project_version(root: Path = plugin_layout.REPO_ROOT) -> str:
    """The version in pyproject.toml (regex: tomllib is Python 3.11+)."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "0"


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, FIXED_DATE)
    info.create_system = UNIX
    info.external_attr = mode << 16
    if stat.S_ISDIR(mode):
        info.external_attr |= 0x10  # MS-DOS directory flag
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(staging: Path, top_level: Sequence[str], destination: Path) -> Path:
    """Zip the ``top_level`` entries of ``staging``, with explicit folder entries."""
    paths: list[Path] = []
    for name in top_level:
        root = staging / name
        paths.append(root)
        if root.is_dir():
            paths.extend(root.rglob("*"))
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(paths, key=lambda p: p.relative_to(staging).as_posix()):
            name = path.relative_to(staging).as_posix()
            if path.is_dir():
                archive.writestr(_entry(name + "/", stat.S_IFDIR | 0o755), b"")
                continue
            executable = path.stat().st_mode & stat.S_IXUSR
            mode = stat.S_IFREG | (0o755 if executable else 0o644)
            archive.writestr(_entry(name, mode), path.read_bytes())
    return destination


def build_krita_zip(out_dir: Path, version: str) -> Path:
    with tempfile.TemporaryDirectory(prefix="repaint-fill-package-") as staging:
        plugin_layout.assemble_krita_plugin(staging)
        name = plugin_layout.KRITA_PLUGIN
        top = [name + ".desktop", name]
        return write_zip(Path(staging), top, out_dir / f"repaint-fill-krita-{version}.zip")


def build_gimp_zip(out_dir: Path, version: str) -> Path:
    with tempfile.TemporaryDirectory(prefix="repaint-fill-package-") as staging:
        plugin_layout.assemble_gimp_plugin(staging)
        top = [plugin_layout.GIMP_PLUGIN]
        return write_zip(Path(staging), top, out_dir / f"repaint-fill-gimp-{version}.zip")


RELEASE_FILES = ("README.md", "LICENSE", "requirements/lock.txt")
RELEASE_TREES = ("installer", "plugin/core/repaint_fill_core", "plugin/krita", "plugin/gimp")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")


WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "backend", "plugin/core")
# A build/ or *.egg-info left in the tree could put stale modules into the wheel: build a copy.
_NOT_SOURCE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "build", "*.egg-info"
)


def build_wheel(root: Path, out_dir: Path) -> Path:
    """The backend's wheel, built by pip (its own build environment) from a clean copy."""
    with tempfile.TemporaryDirectory(prefix="repaint-fill-wheel-") as copy:
        for name in WHEEL_SOURCES:
            source, target = root / name, Path(copy) / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=_NOT_SOURCE)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        subprocess.run([*command, "-w", str(out_dir), copy], check=True)
    wheels = sorted(out_dir.glob("repaint_fill-*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip wheel made {len(wheels)} repaint_fill wheels in {out_dir}")
    return wheels[0]


def build_release(out_dir: Path, version: str, root: Path = plugin_layout.REPO_ROOT) -> Path:
    """repaint-fill-<version>.zip: installer, plug-ins, backend wheel and lock in one folder."""
    top = f"repaint-fill-{version}"
    with tempfile.TemporaryDirectory(prefix="repaint-fill-release-") as staging:
        release = Path(staging) / top
        for tree in RELEASE_TREES:
            shutil.copytree(root / tree, release / tree, ignore=_IGNORE)
        for name in RELEASE_FILES:
            (release / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, release / name)
        build_wheel(root, release / "dist")
        return write_zip(Path(staging), [top], out_dir / f"{top}.zip")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (dist/)")
    args = parser.parse_args(argv)
    version = project_version()
    try:
        built = [
            build_release(args.out, version),
            build_krita_zip(args.out, version),
            build_gimp_zip(args.out, version),
        ]
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"package.py: error: {error}", file=sys.stderr)
        return 1
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
