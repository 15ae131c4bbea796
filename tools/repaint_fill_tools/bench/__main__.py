"""`python -m repaint_fill_tools.bench` = `repaint-fill bench` (same options)."""

from __future__ import annotations

import argparse

from . import add_bench_arguments, run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="repaint-fill bench", description=__doc__)
    add_bench_arguments(parser)
    raise SystemExit(run_bench(parser.parse_args()))
