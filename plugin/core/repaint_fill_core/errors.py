"""Typed errors of the host core; ``str(error)`` is a message a user can act on."""

from typing import Optional


class RepaintFillError(Exception):
    """Base class: every error the plug-ins show to the user derives from it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoSelection(RepaintFillError):
    """There is nothing selected (or the selection lies outside the canvas)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "Nothing is selected. Select the region to fill, then run RePaint Fill."
        )


class UnsupportedImage(RepaintFillError):
    """The image (colour model, depth, PNG flavour) cannot be sent or read back."""


class BackendUnavailable(RepaintFillError):
    """The backend does not answer (not running, wrong address, could not be started)."""


class BackendError(RepaintFillError):
    """The backend answered with an error (the JSON error shape of the HTTP API)."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class JobFailed(RepaintFillError):
    """The backend accepted the job but could not finish it."""


class Cancelled(RepaintFillError):
    """The user cancelled the fill."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "RePaint Fill was cancelled.")


class NothingToExpand(RepaintFillError):
    """An expand was asked with no pixels to add (or with negative sizes)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "Nothing to expand: give the number of pixels to add on at least one side "
            "(left, right, top or bottom)."
        )
