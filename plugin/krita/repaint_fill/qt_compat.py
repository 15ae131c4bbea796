"""One source for Krita 5 (Qt5, PyQt5) and Krita 6 (Qt6, PyQt6).

The binding is chosen by Krita's own word, ``pykrita.qt_major_version()`` (absent on Krita 5,
meaning 5), never by trying PyQt6 first: on Krita 5 an installed PyQt6 would load and crash.
Only names that differ between the bindings are smoothed over here; the plug-in uses fully
scoped enums (``Qt.AlignmentFlag.AlignLeft``), which both bindings accept.
"""

import importlib
import sys
from types import ModuleType
from typing import Any, Optional


def krita_qt_major_version(pykrita: Optional[ModuleType] = None) -> int:
    """The Qt major version Krita was built with: 6 when Krita says so, 5 otherwise."""
    if pykrita is None:
        # Krita registers its built-in module before plug-ins load; outside Krita it is absent.
        pykrita = sys.modules.get("pykrita")
        if pykrita is None:
            try:
                pykrita = importlib.import_module("pykrita")
            except ImportError:
                return 5
    ask = getattr(pykrita, "qt_major_version", None)
    return int(ask()) if callable(ask) else 5


QT_MAJOR = krita_qt_major_version()
_BINDING = "PyQt6" if QT_MAJOR >= 6 else "PyQt5"
QtCore = importlib.import_module(_BINDING + ".QtCore")
QtGui = importlib.import_module(_BINDING + ".QtGui")
QtWidgets = importlib.import_module(_BINDING + ".QtWidgets")

Qt = QtCore.Qt
QThread = QtCore.QThread
QObject = QtCore.QObject
QTimer = QtCore.QTimer
QByteArray = QtCore.QByteArray
pyqtSignal = QtCore.pyqtSignal
# QAction moved from QtWidgets to QtGui in Qt6.
QAction = QtGui.QAction if QT_MAJOR >= 6 else QtWidgets.QAction


def exec_dialog(dialog: Any) -> int:
    """Run a modal dialog (``exec_`` in PyQt5, ``exec`` in PyQt6)."""
    run = getattr(dialog, "exec", None) or dialog.exec_
    return int(run())


def to_bytes(data: Any) -> bytes:
    """Python bytes from a QByteArray (or anything bytes-like)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    return bytes(data.data())


def to_qbytearray(data: bytes) -> Any:
    """A QByteArray holding ``data`` (what Krita's setPixelData expects)."""
    return QByteArray(bytes(data))
