"""The one way code run in ANOTHER interpreter finds the test helpers and the host code.

Tests run by pytest import them through ``pythonpath`` in pyproject.toml. A script run by a
subprocess, inside GIMP (python-fu-eval, or a start command the plug-in runs) or read from an
isolated (``python -I``) interpreter cannot: it starts with ``path_prelude(...)``. (Inside Krita,
the test driver plug-in puts the script's folder first, as ``python script.py`` would.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def path_prelude(*folders: str | os.PathLike[str]) -> str:
    """One line of Python that puts ``folders`` first on sys.path, in this order."""
    return f"import sys; sys.path[:0] = {[str(folder) for folder in folders]!r}"


def this_path_prelude() -> str:
    """``path_prelude`` of this process's own sys.path (what pytest's ``pythonpath`` set up)."""
    return path_prelude(*(entry for entry in sys.path if entry))
