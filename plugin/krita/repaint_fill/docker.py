"""The "RePaint Fill" docker (Settings > Dockers): the fill's controls, progress and live preview.

Choices come from the backend (GET /v1/options: models, presets, limits, detail choices), are
stored in the same settings the menu action and the settings dialog use, and the Fill button
runs exactly what the menu action runs. The preview is the backend's current estimate, shown in
the docker only: it never touches the document, so it leaves no layer and no undo step.
"""

import os
import time
from typing import Any, Dict, List, Optional

from krita import DockWidget, Krita

from .qt_compat import QtCore, QtGui, QThread, QtWidgets, pyqtSignal
from .repaint_fill_core.client import BackendClient
from .repaint_fill_core.config import PRESETS, PluginConfig, load_config, read_token
from .repaint_fill_core.errors import RepaintFillError
from .repaint_fill_core.limits import (
    MAX_CONTEXT_MARGIN,
    MAX_TIME_BUDGET,
    MAX_VARIATIONS,
    MAX_WIDGET_SEED,
)
from .settings import FillSettings, load_settings, save_settings
from .worker import NO_ETA, progress_text

DOCKER_ID = "repaint_fill_docker"
DOCKER_TITLE = "RePaint Fill"
PREVIEW_SIZE = 240
INSTALL_HINT = "python installer/install.py --model {}"


class OptionsLoader(QThread):
    """Asks the configured backend what it offers (off the UI thread)."""

    loaded = pyqtSignal(object)  # the /v1/options answer
    failed = pyqtSignal(str)

    def __init__(self, config: PluginConfig, parent: Optional[Any] = None) -> None:
        super().__init__(parent)
        self.config = config

    def run(self) -> None:
        try:
            token = read_token(self.config.token_file)
            client = BackendClient(self.config.backend_url, token, timeout=5)
            self.loaded.emit(client.options())
        except RepaintFillError as exc:
            self.failed.emit(str(exc))


def _extension() -> Optional[Any]:
    for extension in Krita.instance().extensions():
        if type(extension).__name__ == "RepaintFillExtension":
            return extension
    return None


class RepaintFillDocker(DockWidget):
    """Model, preset or time budget, variations, seed, margin, detail; Fill, progress, Cancel."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(DOCKER_TITLE)
        self.setObjectName(DOCKER_ID)
        self.models: List[Dict[str, Any]] = []
        self.job: Optional[Any] = None
        self.previews_shown = 0
        self._started = 0.0
        self._loader: Optional[OptionsLoader] = None
        self._updating = False  # True while the pickers are filled in code, not by the user
        self._build()
        self._show_settings(load_settings(Krita.instance().readSetting))
        self._connect_extension()
        self.refresh()

    # Layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        body = QtWidgets.QWidget(self)
        form = QtWidgets.QFormLayout()
        self.model = QtWidgets.QComboBox(objectName="repaint_model")
        self.refresh_button = QtWidgets.QPushButton("Refresh", objectName="repaint_refresh")
        self.refresh_button.clicked.connect(self.refresh)
        model_row = QtWidgets.QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.refresh_button)
        self.model_info = QtWidgets.QLabel(objectName="repaint_model_info")
        self.model_info.setWordWrap(True)
        self.preset = QtWidgets.QComboBox(objectName="repaint_preset")
        self.time_budget = _spin(0, MAX_TIME_BUDGET, " s", "repaint_time_budget")
        self.time_budget.setSpecialValueText("Off (use the preset)")
        self.variations = _spin(1, MAX_VARIATIONS, "", "repaint_variations")
        self.random_seed = QtWidgets.QCheckBox("Random", objectName="repaint_random_seed")
        self.seed = _spin(0, MAX_WIDGET_SEED, "", "repaint_seed")
        seed_row = QtWidgets.QHBoxLayout()
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.seed, 1)
        self.context_margin = _spin(-1, MAX_CONTEXT_MARGIN, " px", "repaint_context_margin")
        self.context_margin.setSpecialValueText("Default")
        self.detail = QtWidgets.QComboBox(objectName="repaint_detail")
        model_form = QtWidgets.QFormLayout()
        model_form.addRow("Model", model_row)
        form.addRow("Preset", self.preset)
        form.addRow("Time budget", self.time_budget)
        form.addRow("Variations", self.variations)
        form.addRow("Seed", seed_row)
        form.addRow("Context margin", self.context_margin)
        form.addRow("Detail", self.detail)
        self.fill_button = QtWidgets.QPushButton("Fill", objectName="repaint_fill_button")
        self.fill_button.clicked.connect(self.fill)
        self.cancel_button = QtWidgets.QPushButton("Cancel", objectName="repaint_cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.fill_button, 1)
        buttons.addWidget(self.cancel_button)
        self.progress = QtWidgets.QProgressBar(objectName="repaint_progress")
        self.status = QtWidgets.QLabel("Select a region, then press Fill.")
        self.status.setObjectName("repaint_status")
        self.status.setWordWrap(True)
        self.preview = QtWidgets.QLabel(objectName="repaint_preview")
        self.preview.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE * 2 // 3)
        self.preview.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.preview.setText("Live preview")
        layout = QtWidgets.QVBoxLayout(body)
        layout.addLayout(model_form)
        layout.addWidget(self.model_info)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.preview, 1)
        self.setWidget(body)
        for combo in (self.model, self.preset, self.detail):
            combo.currentIndexChanged.connect(self._changed)
        for spin in (self.time_budget, self.variations, self.seed, self.context_margin):
            spin.valueChanged.connect(self._changed)
        self.random_seed.toggled.connect(self._changed)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Show the stored settings (the settings dialog may have changed them)."""
        if self.job is None:
            self._show_settings(load_settings(Krita.instance().readSetting))
        super().showEvent(event)

    def canvasChanged(self, canvas: Any) -> None:  # noqa: N802 - Krita API
        """Nothing to follow: the docker acts on the active document when Fill is pressed."""

    # Backend choices ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask the backend for its models and options (the picker's contents)."""
        if self._loader is not None and self._loader.isRunning():
            return
        try:
            settings = load_settings(Krita.instance().readSetting)
            config = settings.apply_to(load_config(), os.environ)
        except RepaintFillError as exc:
            self._options_failed(str(exc))
            return
        self.model_info.setText("Asking the backend for its models...")
        self._loader = OptionsLoader(config, self)
        self._loader.loaded.connect(self.show_options)
        self._loader.failed.connect(self._options_failed)
        self._loader.start()

    def _options_failed(self, message: str) -> None:
        self.model_info.setText("Backend not reachable, models unknown: " + message)

    def show_options(self, options: Dict[str, Any]) -> None:
        """Fill the pickers from the backend's answer, keeping the stored choices."""
        settings = load_settings(Krita.instance().readSetting)
        listing = options.get("models") or {}
        self.models = list(listing.get("models") or [])
        loaded = listing.get("loaded")
        self._updating = True
        try:
            self.model.clear()
            self.model.addItem("Backend's model ({})".format(loaded or "default"), "")
            for entry in self.models:
                mark = "" if entry.get("present") else " (not installed)"
                self.model.addItem(str(entry["name"]) + mark, str(entry["name"]))
            presets = [p["name"] for p in options.get("presets") or []] or list(PRESETS)
            self.preset.clear()
            self.preset.addItem("Default ({})".format(options.get("default_preset", "")), "")
            for name in presets:
                self.preset.addItem(name, name)
            limits = options.get("variations") or {}
            self.variations.setRange(int(limits.get("min", 1)), int(limits.get("max", 8)))
            seeds = options.get("seed") or {}
            self.seed.setMaximum(min(MAX_WIDGET_SEED, int(seeds.get("max", MAX_WIDGET_SEED))))
            self._show_detail_choices((options.get("detail") or {}).get("choices") or [])
        finally:
            self._updating = False
        self._show_settings(settings)

    def _show_detail_choices(self, choices: List[str]) -> None:
        self.detail.clear()
        self.detail.addItem("Default" if choices else "Not offered by this backend", "")
        for choice in choices:
            self.detail.addItem(choice, choice)
        self.detail.setEnabled(bool(choices))

    def _show_settings(self, settings: FillSettings) -> None:
        self._updating = True
        try:
            _select(self.model, settings.model)
            _select(self.preset, settings.preset)
            _select(self.detail, settings.detail)
            self.time_budget.setValue(settings.time_budget)
            self.variations.setValue(settings.variations)
            self.random_seed.setChecked(settings.random_seed)
            self.seed.setValue(settings.seed)
            self.context_margin.setValue(settings.context_margin)
        finally:
            self._updating = False
        self._update_state()

    def _update_state(self) -> None:
        self.seed.setEnabled(not self.random_seed.isChecked())
        self.preset.setEnabled(self.time_budget.value() == 0)
        entry = self.chosen_model()
        if entry is None:
            if self.models:
                self.model_info.setText("The model the backend has loaded.")
            return
        text = "{} - {} px, {} MB. Licence: {}".format(
            entry.get("good_for", ""),
            entry.get("native_size") or "?",
            entry.get("size_mb") or "?",
            entry.get("licence", ""),
        )
        if not entry.get("present"):
            text = "Not installed. To get it run: {}\n{}".format(
                entry.get("get_it") or INSTALL_HINT.format(entry["name"]), text
            )
        self.model_info.setText(text)

    def chosen_model(self) -> Optional[Dict[str, Any]]:
        """The picker's model entry, None for "the backend's model"."""
        name = self.model.currentData()
        return next((m for m in self.models if m.get("name") == name), None) if name else None

    def _changed(self, *_args: Any) -> None:
        if self._updating:
            return
        self._update_state()
        save_settings(Krita.instance().writeSetting, self.settings())

    def settings(self) -> FillSettings:
        """The stored settings with the docker's values on top."""
        stored = load_settings(Krita.instance().readSetting)
        return FillSettings(
            backend_url=stored.backend_url,
            preset=str(self.preset.currentData() or ""),
            variations=self.variations.value(),
            random_seed=self.random_seed.isChecked(),
            seed=self.seed.value(),
            context_margin=self.context_margin.value(),
            feather=stored.feather,
            steps=stored.steps,
            time_budget=self.time_budget.value(),
            model=str(self.model.currentData() or ""),
            detail=str(self.detail.currentData() or ""),
        )

    # The fill -------------------------------------------------------------------------------
    def _connect_extension(self) -> None:
        extension = _extension()
        if extension is not None:
            extension.job_listeners.append(self.attach)

    def fill(self) -> None:
        """Fill the selection with the docker's choices (what the menu action does)."""
        entry = self.chosen_model()
        if entry is not None and not entry.get("present"):
            self.status.setText(
                "{} is not installed on the backend. To get it run: {}".format(
                    entry["name"], entry.get("get_it") or INSTALL_HINT.format(entry["name"])
                )
            )
            return
        save_settings(Krita.instance().writeSetting, self.settings())
        extension = _extension()
        if extension is not None:
            extension.fill_selection(show_dialog=False)

    def attach(self, job: Any) -> None:
        """Follow a job that has just started (from this docker or from the menu)."""
        self.job = job
        self._started = time.monotonic()
        self.previews_shown = 0
        self.fill_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText("Starting RePaint Fill...")
        job.worker.progressed.connect(self.on_progress)
        job.worker.previewed.connect(self.on_preview)
        job.worker.finished.connect(self.on_finished)

    def cancel(self) -> None:
        """Cancel the running fill (and its backend job)."""
        if self.job is not None:
            self.status.setText("Cancelling...")
            self.job.worker.cancel()

    def on_progress(self, step: int, total: int, eta: float) -> None:
        """Progress bar and "Step i of n - about t left"."""
        if self.job is None or self.job.worker.is_cancelled():
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(step, total))
        elapsed = time.monotonic() - self._started
        self.status.setText(progress_text(step, total, None if eta == NO_ETA else eta, elapsed))

    def on_preview(self, image: Any) -> None:
        """Show the backend's current estimate of the fill."""
        pixmap = QtGui.QPixmap.fromImage(image)
        size = self.preview.size()
        self.preview.setPixmap(
            pixmap.scaled(
                max(size.width(), 64),
                max(size.height(), 64),
                QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                QtCore.Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.previews_shown += 1

    def on_finished(self) -> None:
        """The job ended (done, failed or cancelled): ready for the next one."""
        self.job = None
        self.fill_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        extension = _extension()
        last = extension.history[-1] if extension is not None and extension.history else None
        if last is not None:
            self.status.setText(str(last.get("message", "")))


def _spin(low: int, high: int, suffix: str, name: str) -> Any:
    spin = QtWidgets.QSpinBox(objectName=name)
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    return spin


def _select(combo: Any, value: str) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(index if index >= 0 else 0)
