"""The Krita extension: actions, the settings dialog, and one controller per running fill
(RePaint Fill, or RePaint Expand: the same job with a different last step)."""

import functools
import json
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

from krita import Extension, Krita

from . import krita_expand, krita_io
from .expand_dialog import ExpandChoice, ExpandDialog
from .qt_compat import QObject, QtWidgets, exec_dialog
from .repaint_fill_core.config import PluginConfig, load_config
from .repaint_fill_core.errors import NoSelection, RepaintFillError
from .repaint_fill_core.expand import build_expand_upload, plan_expand
from .repaint_fill_core.fill import FillLayer, JobUpload, build_job_upload, plan_fill, with_seed
from .settings import EXPAND_GROUP, FillSettings, load_settings, save_settings
from .settings_dialog import SettingsDialog
from .worker import FillProgressDialog, FillWorker

ACTION_ID = "repaint_fill"
SETTINGS_ACTION_ID = "repaint_fill_settings"
EXPAND_ACTION_ID = "repaint_expand"
ENV_EVENT_LOG = "REPAINT_FILL_KRITA_LOG"  # JSON lines of outcomes, for scripted use and tests
LOG = logging.getLogger("repaint_fill")
MAX_HISTORY = 200


def _main_window() -> Optional[Any]:
    """Krita's active main window as a QWidget (parent for dialogs), if there is one."""
    window = Krita.instance().activeWindow()
    return window.qwindow() if window is not None else None


def _same_document(first: Any, second: Any) -> bool:
    return first.rootNode().uniqueId() == second.rootNode().uniqueId()


# How a job's results enter the document: (document, active node, layers) -> new node names.
InsertResults = Callable[[Any, Any, List[FillLayer]], List[str]]


class FillJob(QObject):
    """One fill from trigger to layer: owns the worker thread and the progress dialog."""

    def __init__(
        self,
        extension: "RepaintFillExtension",
        document: Any,
        active: Any,
        config: PluginConfig,
        make_upload: Callable[[], JobUpload],
        insert: InsertResults = krita_io.insert_layers,
        show_dialog: bool = True,
    ) -> None:
        super().__init__()
        self.extension = extension
        self.document = document
        self.active = active
        self.insert = insert
        self.worker = FillWorker(config, make_upload)
        self.worker.succeeded.connect(self.on_succeeded)
        self.worker.failed.connect(self.on_failed)
        self.worker.finished.connect(self.on_finished)
        self.dialog: Optional[Any] = None
        if show_dialog and not Krita.instance().batchmode():
            self.dialog = FillProgressDialog(self.worker, _main_window())
            self.dialog.show()

    def start(self) -> None:
        """Start the worker thread."""
        self.worker.start()

    def _document_open(self) -> bool:
        return any(
            _same_document(self.document, open_document)
            for open_document in Krita.instance().documents()
        )

    def on_succeeded(self, layers: List[FillLayer]) -> None:
        """Insert the layers, unless the document was closed meanwhile."""
        if not self._document_open():
            self.extension.record("discarded", "The image was closed before the fill finished.")
            return
        try:
            names = self.insert(self.document, self.active, layers)
        except RepaintFillError as exc:
            self.extension.report_error(type(exc).__name__, str(exc))
            return
        self.extension.record(
            "done",
            "Added " + ", ".join(names),
            layers=names,
            seeds=[layer.seed for layer in layers],
        )

    def on_failed(self, kind: str, message: str) -> None:
        """Show or record the failure; nothing is added to the image."""
        if kind == "Cancelled":
            self.extension.record("cancelled", message)
        else:
            self.extension.report_error(kind, message)

    def on_finished(self) -> None:
        """Thread ended: close the dialog and forget this job."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.worker.wait()
        self.extension.forget(self)


class RepaintFillExtension(Extension):
    """Adds Tools > Scripts > RePaint Fill and RePaint Fill Settings..."""

    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self.history: List[Dict[str, Any]] = []
        self.jobs: List[FillJob] = []
        self.undo_links = krita_expand.UndoLinks()
        self.job_listeners: List[Callable[[FillJob], None]] = []  # e.g. the docker

    def setup(self) -> None:
        """Stop running fills when Krita quits (a running QThread must not be destroyed)."""
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_all)

    def stop_all(self) -> None:
        """Cancel every running fill (and its backend job) and wait briefly for the threads."""
        for job in list(self.jobs):
            job.worker.cancel()
        for job in list(self.jobs):
            job.worker.wait(5000)

    def createActions(self, window: Any) -> None:  # noqa: N802 - Krita API
        """Create the two actions in a new main window."""
        fill = window.createAction(ACTION_ID, "RePaint Fill", "tools/scripts")
        fill.triggered.connect(lambda _checked=False: self.fill_selection())
        settings = window.createAction(
            SETTINGS_ACTION_ID, "RePaint Fill Settings...", "tools/scripts"
        )
        settings.triggered.connect(self.edit_settings)
        expand = window.createAction(EXPAND_ACTION_ID, "RePaint Expand...", "tools/scripts")
        expand.triggered.connect(self.expand_canvas)

    # Outcomes -------------------------------------------------------------------------------
    def record(self, event: str, message: str, **details: Any) -> None:
        """Remember an outcome (``history``; JSON lines in $REPAINT_FILL_KRITA_LOG if set)."""
        entry = {"event": event, "message": message, "time": time.time()}
        entry.update(details)
        self.history.append(entry)
        del self.history[:-MAX_HISTORY]
        LOG.info("%s: %s", event, message)
        log_path = os.environ.get(ENV_EVENT_LOG)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def report_error(self, kind: str, message: str) -> None:
        """Record an error and, unless Krita runs in batch mode, show it."""
        self.record("error", message, kind=kind)
        if not Krita.instance().batchmode():
            QtWidgets.QMessageBox.warning(_main_window(), "RePaint Fill", message)

    def forget(self, job: FillJob) -> None:
        """Drop a finished job."""
        if job in self.jobs:
            self.jobs.remove(job)
        job.deleteLater()

    # Actions --------------------------------------------------------------------------------
    def _settings(self) -> FillSettings:
        return load_settings(Krita.instance().readSetting)

    def edit_settings(self) -> None:
        """Show the settings dialog and store what the user accepts."""
        try:
            config = load_config()
        except RepaintFillError as exc:
            self.report_error(type(exc).__name__, str(exc))
            return
        dialog = SettingsDialog(self._settings(), config, _main_window())
        if exec_dialog(dialog):
            save_settings(Krita.instance().writeSetting, dialog.settings())

    def fill_selection(self, show_dialog: bool = True) -> None:
        """Action handler: read the selection and pixels, then run the fill in the background.

        The docker's Fill button passes ``show_dialog=False``: it shows the progress itself.
        """
        app = Krita.instance()
        document = app.activeDocument()
        if document is None:
            self.report_error("NoDocument", "Open an image and select a region to fill first.")
            return
        try:
            settings = self._settings()
            config = settings.apply_to(load_config(), os.environ)
            options = settings.fill_options(config)
            selection = krita_io.read_selection(document, settings.feather)
            if selection is None:
                raise NoSelection()
            crop = plan_fill(
                krita_io.selection_bbox(selection),
                krita_io.canvas_rect(document),
                options.context_margin,
            )
            options = with_seed(options)
            make_upload = functools.partial(
                build_job_upload,
                crop,
                krita_io.read_crop_rgba(document, crop),
                krita_io.read_coverage(selection, crop),
                options,
            )
        except RepaintFillError as exc:
            self.report_error(type(exc).__name__, str(exc))
            return
        job = FillJob(self, document, document.activeNode(), config, make_upload,
                      show_dialog=show_dialog)  # fmt: skip
        self.jobs.append(job)
        for listener in list(self.job_listeners):
            listener(job)
        self.record(
            "started",
            "Filling {} px at {}".format(crop.width * crop.height, crop),
            crop=list(crop),
            params=options.to_params(),
        )
        job.start()

    def _expand_choice(self, width: int, height: int) -> Optional[ExpandChoice]:
        """How to grow the canvas: the dialog (None if cancelled), or in batch mode the last
        values."""
        app = Krita.instance()
        choice = load_settings(app.readSetting, ExpandChoice, EXPAND_GROUP)
        if app.batchmode():
            return choice
        dialog = ExpandDialog(choice, width, height, _main_window())
        if not exec_dialog(dialog):
            return None
        save_settings(app.writeSetting, dialog.choice(), EXPAND_GROUP)
        return dialog.choice()

    def expand_canvas(self) -> None:
        """Action handler: ask how to grow the canvas, fill the new border in the background,
        then grow the canvas and add the layer. Nothing changes until the fill has succeeded."""
        app = Krita.instance()
        document = app.activeDocument()
        if document is None:
            self.report_error("NoDocument", "Open an image to expand first.")
            return
        width, height = document.width(), document.height()
        try:
            settings = self._settings()
            config = settings.apply_to(load_config(), os.environ)
            options = with_seed(settings.fill_options(config))
            choice = self._expand_choice(width, height)
            if choice is None:
                self.record("cancelled", "RePaint Expand was cancelled.")
                return
            plan = plan_expand(width, height, choice.sides(width, height), options.context_margin)
            make_upload = functools.partial(
                build_expand_upload,
                plan,
                krita_io.read_crop_rgba(document, plan.source_rect),
                options,
            )
        except RepaintFillError as exc:
            self.report_error(type(exc).__name__, str(exc))
            return
        insert = functools.partial(krita_expand.grow_and_insert, plan=plan, links=self.undo_links)
        job = FillJob(self, document, document.activeNode(), config, make_upload, insert)
        self.jobs.append(job)
        self.record(
            "started",
            "Expanding {}x{} to {}x{}".format(width, height, plan.canvas.width, plan.canvas.height),
            crop=list(plan.crop),
            sides=list(plan.sides),
            params=options.to_params(),
        )
        job.start()
