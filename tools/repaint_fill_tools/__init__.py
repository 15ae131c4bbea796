"""RePaint Fill's developer tools: benchmarks (``bench``) and training (``training``).

Not part of the runtime backend: the installer neither installs nor packages them. They import
the backend (``repaint_fill_backend``); the backend never imports them, except that the CLI's
``bench`` and ``train`` subcommands load them when chosen.
"""
