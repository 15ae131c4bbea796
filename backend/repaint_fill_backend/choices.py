"""The choices and limits shared by the command line, the HTTP schema and the engine.

A leaf (no torch): the `repaint-fill` parser reads its choices here without loading the model
stack. Each value has this one home; the modules that enforce it import it from here.
"""

from __future__ import annotations

EMBEDDED = "embedded"  # the `--model` name of the model shipped inside the package

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", "fp32", "fp16", "bf16")

REVERSE_STEPS = ("ddpm", "ddim")  # ddpm: the reference's step | ddim: diffusers' variant

DETAILS = ("native", "coarse")  # native: refine to the image's own pixels | coarse: one pass
DEFAULT_DETAIL = "native"
# Share of the schedule a refinement level runs (it starts this far from the clean end): enough
# noise to redraw the grain, little enough to keep the coarse pass's layout.
DEFAULT_REFINE_STRENGTH = 0.2

MAX_VARIATIONS = 8  # results from one request, made in one batch
MAX_SEED = 2**63 - 1  # variation i uses seed + i, so a request's seed is at most this - 8
