"""Test-only Krita plug-in: runs $REPAINT_FILL_TEST_SCRIPT inside Krita, then quits Krita.

The script's ``main(result: dict)`` fills ``result``; the driver writes it as JSON to
$REPAINT_FILL_TEST_RESULT. Any exception (also from Qt slots, through sys.excepthook) is recorded
instead of opening Krita's modal error dialog, which would hang a headless run.
"""

import json
import os
import runpy
import sys
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QTimer

RESULT_PATH = os.environ.get("REPAINT_FILL_TEST_RESULT", "")
SCRIPT_PATH = os.environ.get("REPAINT_FILL_TEST_SCRIPT", "")


class TestDriver(Extension):
    """Waits for the main window, runs the script once, writes the result, quits."""

    def __init__(self, parent):
        super().__init__(parent)
        self.result = {"errors": [], "finished": False}
        self.waited = 0

    def setup(self):
        if not SCRIPT_PATH:
            return
        sys.excepthook = self.excepthook
        QTimer.singleShot(200, self.wait_for_window)

    def createActions(self, window):
        pass

    def excepthook(self, kind, value, tb):
        self.result["errors"].append("".join(traceback.format_exception(kind, value, tb)))
        self.write()

    def write(self):
        with open(RESULT_PATH, "w", encoding="utf-8") as handle:
            json.dump(self.result, handle, indent=1, default=str)

    def wait_for_window(self):
        app = Krita.instance()
        if app.activeWindow() is None and self.waited < 900:
            self.waited += 1
            QTimer.singleShot(100, self.wait_for_window)
            return
        try:
            app.setBatchmode(True)
            # As `python script.py` does: the script's folder first, so it imports its neighbours.
            sys.path.insert(0, os.path.dirname(os.path.abspath(SCRIPT_PATH)))
            runpy.run_path(SCRIPT_PATH)["main"](self.result)
            self.result["finished"] = True
        except BaseException:  # noqa: BLE001 - recorded for the test to fail with
            self.result["errors"].append(traceback.format_exc())
        self.write()
        for document in app.documents():
            document.setModified(False)
        app.action("file_quit").trigger()


Krita.instance().addExtension(TestDriver(Krita.instance()))
