"""Network off Krita's UI thread: a QThread runs one fill; a progress dialog shows it.

The worker never touches Krita objects: the UI thread reads the pixels, the worker encodes them,
talks to the backend and decodes the results, and FillLayer values come back through queued
signals for the UI thread to insert.
"""

import threading
import time
import traceback
from typing import Any, Callable, Optional

from . import qt_images
from .qt_compat import Qt, QThread, QtWidgets, pyqtSignal
from .repaint_fill_core.config import PluginConfig
from .repaint_fill_core.errors import Cancelled, RepaintFillError
from .repaint_fill_core.fill import JobUpload, execute
from .repaint_fill_core.launcher import ensure_backend

NO_ETA = -1.0


def format_duration(seconds: float) -> str:
    """Short human duration: "8 s", "2 min 05 s", "1 h 03 min"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "{} s".format(seconds)
    if seconds < 3600:
        return "{} min {:02d} s".format(seconds // 60, seconds % 60)
    return "{} h {:02d} min".format(seconds // 3600, (seconds % 3600) // 60)


def progress_text(step: int, total: int, eta: Optional[float], elapsed: float) -> str:
    """The progress label, with the backend's ETA or one estimated from the elapsed time."""
    if total <= 0:
        return "Waiting for the backend..."
    if eta is None and step > 0:
        eta = elapsed / step * (total - step)
    text = "Step {} of {}".format(step, total)
    return text + (" - about {} left".format(format_duration(eta)) if eta is not None else "")


class FillWorker(QThread):
    """Starts/finds the backend and runs one fill job; results come back as signals."""

    progressed = pyqtSignal(int, int, float)  # step, total, eta seconds (NO_ETA if unknown)
    previewed = pyqtSignal(object)  # QImage of the backend's latest estimate (crop-sized RGBA)
    succeeded = pyqtSignal(object)  # list of FillLayer
    failed = pyqtSignal(str, str)  # error class name, message for the user

    def __init__(
        self,
        config: PluginConfig,
        make_upload: Callable[[], JobUpload],
        poll_interval: float = 0.5,
        parent: Optional[Any] = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.make_upload = make_upload
        self.poll_interval = poll_interval
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop (thread-safe); the backend job is cancelled at the next poll."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """True once cancel() was called."""
        return self._cancel.is_set()

    def _report(self, step: int, total: int, eta: Optional[float]) -> None:
        self.progressed.emit(step, total, NO_ETA if eta is None else float(eta))

    def _preview(self, png: bytes) -> None:
        self.previewed.emit(qt_images.read_png(png))  # decoded here, off the UI thread

    def run(self) -> None:
        """Thread body: every outcome ends in exactly one of succeeded/failed."""
        try:
            upload = self.make_upload()  # PNG encoding of big crops: off the UI thread
            client = ensure_backend(self.config, should_cancel=self.is_cancelled)
            layers = execute(
                client,
                upload,
                self._report,
                self.is_cancelled,
                self.poll_interval,
                decode=qt_images.decode_png_qimage,
                on_preview=self._preview,
            )
        except Cancelled as exc:
            self.failed.emit("Cancelled", str(exc))
        except RepaintFillError as exc:
            self.failed.emit(type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the user, with the traceback
            self.failed.emit(
                "InternalError",
                "RePaint Fill hit an unexpected error: {!r}\n{}".format(
                    exc, traceback.format_exc()
                ),
            )
        else:
            self.succeeded.emit(layers)


class FillProgressDialog(QtWidgets.QProgressDialog):
    """Non-modal progress with an ETA; Cancel cancels the worker (and so the backend job)."""

    def __init__(self, worker: FillWorker, parent: Optional[Any] = None) -> None:
        super().__init__("Starting RePaint Fill...", "Cancel", 0, 0, parent)
        self.setWindowTitle("RePaint Fill")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self._worker = worker
        self._started = time.monotonic()
        self.canceled.connect(self._on_cancel)
        worker.progressed.connect(self.on_progress)

    def _on_cancel(self) -> None:
        self.setLabelText("Cancelling...")
        self._worker.cancel()

    def on_progress(self, step: int, total: int, eta: float) -> None:
        """Show one progress report from the worker."""
        if self._worker.is_cancelled():
            return
        self.setMaximum(max(total, 1))
        self.setValue(min(step, total))
        elapsed = time.monotonic() - self._started
        self.setLabelText(progress_text(step, total, None if eta < 0 else eta, elapsed))
