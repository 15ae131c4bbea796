"""The host side's limits on what a user can ask for: one home for the core and both plug-ins.

The backend keeps its own limits (``repaint_fill_backend.choices``, the server's schema) and
checks every request; these are what the Krita and GIMP controls allow, chosen inside the
backend's (``tests/pure/test_core_limits.py`` checks that they stay inside).
"""

MAX_WIDGET_SEED = 2**31 - 1  # a Qt spin box and a GIMP int parameter hold 32-bit ints
MAX_VARIATIONS = 8  # results from one fill (the backend's MAX_VARIATIONS)
MAX_TIME_BUDGET = 3600  # seconds: the longest budget the controls offer
MAX_CONTEXT_MARGIN = 4096  # px of context around the selection (the backend's schema limit)
MAX_STEPS = 1000  # diffusion steps of a custom schedule (the backend's schedule limit)
MAX_EXPAND_SIDE = 16384  # px added on one side: beyond this the canvas is larger than any host
