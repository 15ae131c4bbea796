"""installer/plugin_layout.py builds the installed plug-in folders the hosts load."""

import os
import subprocess
import sys
from pathlib import Path

from helpers_paths import path_prelude
from plugin_layout import (
    assemble_gimp_plugin,
    assemble_krita_plugin,
    remove_gimp_plugin,
    remove_krita_plugin,
)


def test_krita_layout_has_desktop_package_and_core_inside(tmp_path: Path) -> None:
    pykrita = tmp_path / "pykrita"
    assemble_krita_plugin(pykrita)
    assert (pykrita / "repaint_fill.desktop").read_text().count("X-KDE-Library=repaint_fill") == 1
    package = pykrita / "repaint_fill"
    for name in (
        "__init__.py",
        "extension.py",
        "qt_compat.py",
        "repaint_fill.action",
        "repaint_fill_core/__init__.py",
        "repaint_fill_core/client.py",
    ):
        assert (package / name).is_file(), name
    assert not list(pykrita.rglob("__pycache__"))
    # The core inside the plug-in is found by relative import, without any installed package.
    probe = f"{path_prelude(pykrita)}; import repaint_fill.repaint_fill_core.png as png; "
    probe += "print(png.__file__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=pykrita,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(found.strip()).is_relative_to(package)
    assemble_krita_plugin(pykrita)  # re-install replaces cleanly
    remove_krita_plugin(pykrita)
    assert list(pykrita.iterdir()) == []


def test_gimp_layout_has_executable_entry_and_core(tmp_path: Path) -> None:
    plugins = tmp_path / "plug-ins"
    [folder] = assemble_gimp_plugin(plugins)
    assert folder == plugins / "repaint-fill"
    entry = folder / "repaint-fill.py"
    assert entry.is_file() and os.access(entry, os.X_OK)
    assert (folder / "repaint_fill_core" / "fill.py").is_file()
    remove_gimp_plugin(plugins)
    assert not folder.exists()
