"""The settings dialog: backend URL, preset, variations, seed, context margin, feather, steps,
time budget."""

from typing import Any, Optional

from .qt_compat import QtWidgets
from .repaint_fill_core.config import PRESETS, PluginConfig
from .repaint_fill_core.limits import (
    MAX_CONTEXT_MARGIN,
    MAX_STEPS,
    MAX_TIME_BUDGET,
    MAX_VARIATIONS,
    MAX_WIDGET_SEED,
)
from .settings import FillSettings


def spin_box(low: int, high: int, value: int, suffix: str = "") -> Any:
    """An integer field from ``low`` to ``high`` showing ``value``."""
    spin = QtWidgets.QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


def lay_out_with_ok_cancel(dialog: Any, form: Any) -> None:
    """Put ``form`` into ``dialog`` above OK and Cancel (accept / reject)."""
    buttons = QtWidgets.QDialogButtonBox(
        QtWidgets.QDialogButtonBox.StandardButton.Ok
        | QtWidgets.QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addLayout(form)
    layout.addWidget(buttons)


class SettingsDialog(QtWidgets.QDialog):
    """Edits a FillSettings value; ``settings()`` returns what the user chose."""

    def __init__(
        self, settings: FillSettings, config: PluginConfig, parent: Optional[Any] = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("RePaint Fill Settings")
        self.backend_url = QtWidgets.QLineEdit(settings.backend_url)
        self.backend_url.setPlaceholderText(config.backend_url)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItem("Default ({})".format(config.preset), "")
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.preset.setCurrentIndex(max(0, self.preset.findData(settings.preset)))
        self.variations = self._spin(1, MAX_VARIATIONS, settings.variations)
        self.random_seed = QtWidgets.QCheckBox("Random seed")
        self.random_seed.setChecked(settings.random_seed)
        self.seed = self._spin(0, MAX_WIDGET_SEED, settings.seed)
        self.seed.setEnabled(not settings.random_seed)
        self.random_seed.toggled.connect(lambda checked: self.seed.setEnabled(not checked))
        self.context_margin = self._spin(-1, MAX_CONTEXT_MARGIN, settings.context_margin, " px")
        self.context_margin.setSpecialValueText("Default ({} px)".format(config.context_margin))
        self.feather = self._spin(0, 256, settings.feather, " px")
        self.steps = self._spin(0, MAX_STEPS, settings.steps)
        self.steps.setSpecialValueText("Preset default")
        self.time_budget = self._spin(0, MAX_TIME_BUDGET, settings.time_budget, " s")
        self.time_budget.setSpecialValueText("Off (use the preset)")
        self.time_budget.setToolTip(
            "Finish within about this many seconds: the backend times one step on its device and "
            "picks the best schedule that fits. Replaces the preset and the steps."
        )
        self.time_budget.valueChanged.connect(self._budget_changed)
        self._budget_changed(settings.time_budget)

        form = QtWidgets.QFormLayout()
        form.addRow("Backend URL", self.backend_url)
        form.addRow("Preset", self.preset)
        form.addRow("Variations", self.variations)
        form.addRow(self.random_seed, self.seed)
        form.addRow("Context margin", self.context_margin)
        form.addRow("Feather selection", self.feather)
        form.addRow("Steps", self.steps)
        form.addRow("Time budget", self.time_budget)
        lay_out_with_ok_cancel(self, form)

    def _budget_changed(self, seconds: int) -> None:
        """A budget chooses the schedule: preset and steps do not apply while it is on."""
        self.preset.setEnabled(seconds == 0)
        self.steps.setEnabled(seconds == 0)

    @staticmethod
    def _spin(low: int, high: int, value: int, suffix: str = "") -> Any:
        return spin_box(low, high, value, suffix)

    def settings(self) -> FillSettings:
        """The values currently shown."""
        return FillSettings(
            backend_url=self.backend_url.text().strip(),
            preset=str(self.preset.currentData() or ""),
            variations=self.variations.value(),
            random_seed=self.random_seed.isChecked(),
            seed=self.seed.value(),
            context_margin=self.context_margin.value(),
            feather=self.feather.value(),
            steps=self.steps.value(),
            time_budget=self.time_budget.value(),
        )
