"""Assemble the installed layout of the plug-ins from the source tree.

Used by the installer and by the tests, so both put exactly the same files in place:
- Krita:  <pykrita>/repaint_fill.desktop and <pykrita>/repaint_fill/ (plug-in package) with the
  host core copied inside as <pykrita>/repaint_fill/repaint_fill_core/ (imported relatively).
- GIMP:   <plug-ins>/repaint-fill/ (plug-in folder) with the host core copied inside as
  <plug-ins>/repaint-fill/repaint_fill_core/.
Only source files are copied (no __pycache__). Existing copies are replaced.
"""

import shutil
import stat
from pathlib import Path
from typing import Union

REPO_ROOT = Path(__file__).resolve().parents[1]
CORE_SOURCE = REPO_ROOT / "plugin" / "core" / "repaint_fill_core"
KRITA_SOURCE = REPO_ROOT / "plugin" / "krita"
GIMP_SOURCE = REPO_ROOT / "plugin" / "gimp" / "repaint-fill"
KRITA_PLUGIN = "repaint_fill"
GIMP_PLUGIN = "repaint-fill"
CORE_PACKAGE = "repaint_fill_core"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")

PathLike = Union[str, Path]  # noqa: UP007 - the installer runs on Python 3.9


def _copy_tree(source: Path, destination: Path) -> None:
    if not source.is_dir():
        raise FileNotFoundError(f"plug-in source folder is missing: {source}")
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=_IGNORE)


def assemble_krita_plugin(dest_pykrita_dir: PathLike) -> list[Path]:
    """Install the Krita plug-in into ``dest_pykrita_dir`` (…/krita/pykrita); returns new paths."""
    pykrita = Path(dest_pykrita_dir)
    pykrita.mkdir(parents=True, exist_ok=True)
    package = pykrita / KRITA_PLUGIN
    _copy_tree(KRITA_SOURCE / KRITA_PLUGIN, package)
    _copy_tree(CORE_SOURCE, package / CORE_PACKAGE)
    desktop = pykrita / (KRITA_PLUGIN + ".desktop")
    shutil.copyfile(KRITA_SOURCE / (KRITA_PLUGIN + ".desktop"), desktop)
    return [desktop, package]


def assemble_gimp_plugin(dest_plugins_dir: PathLike) -> list[Path]:
    """Install the GIMP plug-in into ``dest_plugins_dir`` (…/GIMP/3.0/plug-ins).

    GIMP runs ``repaint-fill/repaint-fill.py`` as a program, so that file is made executable.
    """
    plugins = Path(dest_plugins_dir)
    plugins.mkdir(parents=True, exist_ok=True)
    folder = plugins / GIMP_PLUGIN
    _copy_tree(GIMP_SOURCE, folder)
    _copy_tree(CORE_SOURCE, folder / CORE_PACKAGE)
    entry = folder / (GIMP_PLUGIN + ".py")
    if entry.exists():
        entry.chmod(entry.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return [folder]


def remove_krita_plugin(dest_pykrita_dir: PathLike) -> None:
    """Remove what assemble_krita_plugin installed (for --uninstall)."""
    pykrita = Path(dest_pykrita_dir)
    shutil.rmtree(pykrita / KRITA_PLUGIN, ignore_errors=True)
    (pykrita / (KRITA_PLUGIN + ".desktop")).unlink(missing_ok=True)


def remove_gimp_plugin(dest_plugins_dir: PathLike) -> None:
    """Remove what assemble_gimp_plugin installed (for --uninstall)."""
    shutil.rmtree(Path(dest_plugins_dir) / GIMP_PLUGIN, ignore_errors=True)
