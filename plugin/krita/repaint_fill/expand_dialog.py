"""RePaint Expand's dialog: pixels per side, or a target aspect ratio; remembered between runs."""

from dataclasses import dataclass
from typing import Any, Optional

from .qt_compat import QtWidgets
from .repaint_fill_core.expand import ExpandSides, sides_for_aspect
from .repaint_fill_core.limits import MAX_EXPAND_SIDE
from .settings_dialog import lay_out_with_ok_cancel, spin_box

MAX_RATIO = 100


@dataclass(frozen=True)
class ExpandChoice:
    """What the dialog edits (stored with the other settings, see settings.py)."""

    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0
    use_aspect: bool = False
    aspect_width: int = 16
    aspect_height: int = 9

    def sides(self, width: int, height: int) -> ExpandSides:
        """The pixels to add to a ``width`` x ``height`` canvas."""
        if self.use_aspect:
            return sides_for_aspect(width, height, self.aspect_width, self.aspect_height)
        return ExpandSides(self.left, self.right, self.top, self.bottom)


class ExpandDialog(QtWidgets.QDialog):
    """Asks how to grow the canvas; ``choice()`` returns the values shown."""

    def __init__(
        self, choice: ExpandChoice, width: int, height: int, parent: Optional[Any] = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("RePaint Expand")
        self.canvas_size = (width, height)
        self.per_side = QtWidgets.QRadioButton("Pixels per side")
        self.to_aspect = QtWidgets.QRadioButton("Grow to the aspect ratio")
        self.left, self.right = self._spin(choice.left), self._spin(choice.right)
        self.top, self.bottom = self._spin(choice.top), self._spin(choice.bottom)
        self.aspect_width = self._spin(choice.aspect_width, 1, MAX_RATIO, "")
        self.aspect_height = self._spin(choice.aspect_height, 1, MAX_RATIO, "")
        self.result_label = QtWidgets.QLabel()
        (self.to_aspect if choice.use_aspect else self.per_side).setChecked(True)

        form = QtWidgets.QFormLayout()
        form.addRow(self.per_side)
        for label, spin in (("Left", self.left), ("Right", self.right)):
            form.addRow(label, spin)
        for label, spin in (("Top", self.top), ("Bottom", self.bottom)):
            form.addRow(label, spin)
        form.addRow(self.to_aspect)
        ratio = QtWidgets.QHBoxLayout()
        ratio.addWidget(self.aspect_width)
        ratio.addWidget(QtWidgets.QLabel(":"))
        ratio.addWidget(self.aspect_height)
        form.addRow("Width : height", ratio)
        form.addRow(self.result_label)
        lay_out_with_ok_cancel(self, form)
        for spin in self._spins():
            spin.valueChanged.connect(self._update)
        self.per_side.toggled.connect(self._update)
        self._update()

    def _spins(self) -> Any:
        return (self.left, self.right, self.top, self.bottom, self.aspect_width, self.aspect_height)

    @staticmethod
    def _spin(value: int, low: int = 0, high: int = MAX_EXPAND_SIDE, suffix: str = " px") -> Any:
        return spin_box(low, high, value, suffix)

    def _update(self, *_ignored: Any) -> None:
        """Enable the inputs of the chosen way and show the canvas size it gives."""
        aspect = self.to_aspect.isChecked()
        for spin in (self.left, self.right, self.top, self.bottom):
            spin.setEnabled(not aspect)
        self.aspect_width.setEnabled(aspect)
        self.aspect_height.setEnabled(aspect)
        width, height = self.canvas_size
        sides = self.choice().sides(width, height)
        self.result_label.setText(
            "New canvas: {} x {} px".format(
                width + sides.left + sides.right, height + sides.top + sides.bottom
            )
        )

    def choice(self) -> ExpandChoice:
        """The values currently shown."""
        return ExpandChoice(
            left=self.left.value(),
            right=self.right.value(),
            top=self.top.value(),
            bottom=self.bottom.value(),
            use_aspect=self.to_aspect.isChecked(),
            aspect_width=self.aspect_width.value(),
            aspect_height=self.aspect_height.value(),
        )
