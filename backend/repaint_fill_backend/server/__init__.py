"""The HTTP server behind `repaint-fill serve` (docs/design.md, "HTTP API")."""

from .run import add_serve_arguments, run_serve

__all__ = ["add_serve_arguments", "run_serve"]
