"""The GIMP plug-in's files meet GIMP's rules without starting GIMP: the installed folder is
named after the executable entry file (else GIMP silently skips it), the code parses as Python 3.8
and imports nothing but the standard library, GObject Introspection and its own modules (GIMP's
bundled Python has no third-party packages)."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest
from plugin_layout import assemble_gimp_plugin

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin" / "gimp" / "repaint-fill"
OWN_MODULES = {"gimpfu_shim", "gimp_png", "job_watchdog", "repaint_fill_core"}
ALLOWED = set(sys.stdlib_module_names) | {"gi"} | OWN_MODULES
SOURCES = sorted(PLUGIN.glob("*.py"))


def _imported_top_level(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_python_38_and_standard_library_only(source: Path):
    tree = ast.parse(source.read_text(), filename=str(source), feature_version=(3, 8))
    assert _imported_top_level(tree) <= ALLOWED, _imported_top_level(tree) - ALLOWED


def test_installed_layout_is_what_gimp_loads(tmp_path: Path):
    assemble_gimp_plugin(tmp_path)
    folder = tmp_path / "repaint-fill"
    entry = folder / "repaint-fill.py"
    assert entry.is_file() and os.access(entry, os.X_OK), "entry file must be executable"
    assert entry.read_text().startswith("#!/usr/bin/env python3\n")
    assert {path.name for path in SOURCES} <= {path.name for path in folder.glob("*.py")}
    assert (folder / "repaint_fill_core" / "__init__.py").is_file(), "host core copied inside"
    assert not list(folder.rglob("__pycache__"))
