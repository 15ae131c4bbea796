"""Benchmarks (`repaint-fill bench`) and the time budget (`fill --budget`).

Heavy dependencies (OpenCV, scikit-image, scikit-learn, matplotlib: the tools' own) are
imported only inside the modules that need them; importing this package costs nothing.
"""

from __future__ import annotations

import argparse


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `repaint-fill bench`."""
    from .runner import add_bench_arguments as add

    add(parser)


def run_bench(args: argparse.Namespace) -> int:
    """Run `repaint-fill bench`; returns the exit code."""
    from .runner import run_bench as run

    return run(args)
