"""Runs INSIDE Krita (via the test driver plug-in): the RePaint Expand cases of
test_krita_expand.py. Reads $REPAINT_FILL_TEST_SPEC (JSON: out_dir, cases, down_url, steps);
per case it records sizes, layer stacks and pixel digests after the expand, after one undo and
after one redo, and exports the new layer (<case>-layer.png, canvas-sized)."""

import hashlib
import json
import os

import krita_scenarios as common  # found beside this script (the test driver runs it)
from krita import InfoObject, Krita
from PyQt5.QtCore import QRect, QTimer
from PyQt5.QtWidgets import QApplication, QDialogButtonBox, QSpinBox

ACTION = "repaint_expand"
CHOICE_KEYS = ("left", "right", "top", "bottom", "use_aspect", "aspect_width", "aspect_height")


def digests(document, left, top):
    """sha256 of every user layer's pixels over the original canvas, at its current place."""
    found = {}
    for node in document.rootNode().childNodes():
        if node.type() == "selectionmask" or node.name().startswith("RePaint Expand"):
            continue
        data = node.pixelData(left, top, common.WIDTH, common.HEIGHT)
        found[node.name()] = hashlib.sha256(bytes(data.data())).hexdigest()
    return found


def state(document, left=0, top=0):
    document.waitForDone()
    return {
        "size": [document.width(), document.height()],
        "stack": common.layer_names(document),
        "digests": digests(document, left, top),
        "offset_layer": [
            [node.position().x(), node.position().y()]
            for node in document.rootNode().childNodes()
            if node.name() == "Offset"
        ],
    }


def trigger(answer_dialog=None):
    """Trigger RePaint Expand; returns its terminal history entry."""
    ext = common.extension()
    before = len(ext.history)
    app = Krita.instance()
    if answer_dialog is not None:
        app.setBatchmode(False)
        QTimer.singleShot(300, answer_dialog)
    try:
        app.action(ACTION).trigger()

        def finished():
            return (
                any(entry["event"] in common.TERMINAL for entry in ext.history[before:])
                and not ext.jobs
            )

        if not common.pump(finished, 180):
            return {"event": "timeout", "history": ext.history[before:]}
    finally:
        app.setBatchmode(True)
    return [entry for entry in ext.history[before:] if entry["event"] in common.TERMINAL][-1]


def answer_with_left(pixels, seen):
    """Fill in the expand dialog: all sides 0 but left = pixels, then OK."""

    def answer():
        dialog = QApplication.activeModalWidget()
        seen["title"] = dialog.windowTitle() if dialog is not None else None
        if dialog is None:
            return
        spins = dialog.findChildren(QSpinBox)
        for spin in spins[:4]:
            spin.setValue(0)
        spins[0].setValue(pixels)
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()

    return answer


def run_case(case, spec, out):
    name = case["name"]
    document, background = common.make_document(name)
    offset = document.createNode("Offset", "paintlayer")
    offset.setPixelData(common.pattern(40, 30, 99), 0, 0, 40, 30)
    document.rootNode().addChildNode(offset, background)
    offset.move(25, 18)
    document.waitForDone()
    document.setActiveNode(offset)
    app = Krita.instance()
    app.writeSetting("RePaintFill", "steps", str(spec["steps"]))
    app.writeSetting("RePaintFill", "variations", "1")
    choice = {"left": 0, "right": 0, "top": 0, "bottom": 0, "use_aspect": False, **case["choice"]}
    for key in CHOICE_KEYS:
        if key in choice:
            app.writeSetting("RePaintExpand", key, str(choice[key]))
    if case.get("backend_down"):
        os.environ["REPAINT_FILL_URL"] = spec["down_url"]
    else:
        os.environ.pop("REPAINT_FILL_URL", None)
    common.pump(lambda: False, 0.2)
    fact = {"before": state(document), "active": document.activeNode().name()}
    if case.get("interrupt") == "cancel":
        ext = common.extension()
        before = len(ext.history)
        app.action(ACTION).trigger()
        fact["job_started"] = len(ext.jobs) == 1
        if ext.jobs:
            ext.jobs[-1].worker.cancel()  # what the progress dialog's Cancel button does
        common.pump(lambda: not ext.jobs, 120)
        fact["events"] = [entry["event"] for entry in ext.history[before:]]
        fact["after"] = state(document)
    else:
        seen = {}
        dialog = answer_with_left(case["dialog_left"], seen) if "dialog_left" in case else None
        fact["outcome"] = trigger(dialog)
        fact["dialog"] = seen
        grown = [document.width(), document.height()]
        left, top = case.get("offset", [0, 0])  # where the original should now sit
        fact["after"] = state(document, left, top)
        new_nodes = [
            node
            for node in document.rootNode().childNodes()
            if node.name().startswith("RePaint Expand")
        ]
        if new_nodes:
            new_nodes[0].save(
                os.path.join(out, name + "-layer.png"),
                72.0,
                72.0,
                InfoObject(),
                QRect(0, 0, grown[0], grown[1]),
            )
            app.action("edit_undo").trigger()
            common.pump(lambda: document.width() == common.WIDTH, 10)
            fact["undone"] = state(document)
            app.action("edit_redo").trigger()
            count = len(fact["after"]["stack"])
            common.pump(lambda: len(common.layer_names(document)) == count, 10)
            fact["redone"] = state(document, left, top)
    document.setModified(False)
    document.close()
    return fact


def main(result):
    with open(os.environ["REPAINT_FILL_TEST_SPEC"], encoding="utf-8") as handle:
        spec = json.load(handle)
    result["action_text"] = Krita.instance().action(ACTION).text()
    result["cases"] = {}
    for case in spec["cases"]:
        result["cases"][case["name"]] = run_case(case, spec, spec["out_dir"])
    result["history"] = common.extension().history
