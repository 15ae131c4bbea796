"""The user-facing exception types: a leaf (no torch), so every layer can raise and catch them.

Each message says what is wrong and what to do. The modules that raise them re-export them
(``imaging.ImageInputError``, ``models.ModelError``, ...), so either import path works.
"""

from __future__ import annotations


class ImageInputError(ValueError):
    """An image or mask cannot be used; the message says what is wrong and what to do."""


class ModelError(ValueError):
    """A model cannot be found or loaded; the message names it and says how to get it."""


class CheckpointError(ModelError):
    """A checkpoint cannot be read or does not fit the guided-diffusion UNet."""


class DeviceError(ValueError):
    """The requested device or dtype cannot be used here; the message says what to use."""


class ScheduleError(ValueError):
    """A schedule parameter is out of range; the message says which and what to use instead."""


class TooMuchWork(ScheduleError):
    """A job needs more model calls than the server allows; the message says how many."""


class FillCancelled(Exception):
    """Raised (usually by a step callback) to stop sampling; no result is produced."""
