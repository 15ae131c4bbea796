"""Training of the small embedded default model (``repaint-fill train``).

Needs scikit-image and matplotlib (dependencies of this tools package); nothing here is imported
at fill time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_train_arguments", "run_train"]


def __getattr__(name: str) -> Any:
    """Import ``train`` lazily: importing it eagerly here makes ``python -m ...train`` warn."""
    if name in __all__:
        from repaint_fill_tools.training import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
