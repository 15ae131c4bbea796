"""Runs INSIDE Krita (via the test driver plug-in): the RePaint Fill cases of test_krita.py.

Reads the case list from $REPAINT_FILL_TEST_SPEC (JSON: out_dir, cases, backend_url, down_url)
and writes, per case, files the test checks from outside Krita: <case>.kra after the fill,
<case>-layer.png (the new layer, canvas-sized), <case>-coverage.gray (selection bytes),
<case>-original-before.png / -after.png (the layer the user had), <case>-undone.kra (after one
undo). Facts seen inside Krita go into the driver's result dict.
"""

import hashlib
import json
import os
import time

from krita import InfoObject, Krita, Selection
from PyQt5.QtCore import QRect, QTimer
from PyQt5.QtWidgets import QApplication

WIDTH, HEIGHT = 96, 64
TERMINAL = ("done", "error", "cancelled", "discarded")
CONFIG_ENV = ("REPAINT_FILL_URL", "REPAINT_FILL_TOKEN_FILE", "REPAINT_FILL_PRESET")


def pump(condition, timeout=120.0):
    """Process Qt events until condition() is true; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def extension():
    return next(
        e for e in Krita.instance().extensions() if type(e).__name__ == "RepaintFillExtension"
    )


def pattern(width, height, seed):
    """Opaque BGRA test pattern."""
    return bytes(
        value
        for y in range(height)
        for x in range(width)
        for value in ((x * 5 + seed) % 256, (y * 7 + seed) % 256, (x * y + seed) % 256, 255)
    )


def make_document(name, colour_space=None, size=(WIDTH, HEIGHT)):
    """An RGBA U8 document of size (width, height) with a patterned background, converted to
    colour_space if given."""
    app = Krita.instance()
    width, height = size
    document = app.createDocument(width, height, name, "RGBA", "U8", "", 72.0)
    app.activeWindow().addView(document)
    background = document.rootNode().childNodes()[0]
    background.setPixelData(pattern(width, height, 10), 0, 0, width, height)
    if colour_space:
        assert document.setColorSpace(*colour_space), colour_space
    document.waitForDone()
    document.refreshProjection()
    return document, background


def pixel_digest(node):
    bounds = node.bounds()
    data = bytes(node.pixelData(bounds.x(), bounds.y(), bounds.width(), bounds.height()).data())
    return hashlib.sha256(data).hexdigest()


def ellipse_selection(cx, cy, rx, ry, feather):
    selection = Selection()
    coverage = bytearray(WIDTH * HEIGHT)
    for y in range(HEIGHT):
        for x in range(WIDTH):
            if ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1.0:
                coverage[y * WIDTH + x] = 255
    selection.setPixelData(bytes(coverage), 0, 0, WIDTH, HEIGHT)
    selection.feather(feather)
    return selection


def rects_selection(rects, width, height):
    """A hard-edged selection of several separate rectangles [x, y, w, h] on a width x height
    document."""
    selection = Selection()
    coverage = bytearray(width * height)
    for x, y, w, h in rects:
        for row in range(y, y + h):
            coverage[row * width + x : row * width + x + w] = b"\xff" * w
    selection.setPixelData(bytes(coverage), 0, 0, width, height)
    return selection


def layer_names(document):
    return [
        (node.name(), node.type(), node.visible())
        for node in document.rootNode().childNodes()
        if node.type() != "selectionmask"
    ]


def save_node_png(document, node, path):
    node.save(path, 72.0, 72.0, InfoObject(), QRect(0, 0, document.width(), document.height()))


def trigger_and_wait(timeout=180.0):
    """Trigger the action; returns the terminal history entry (or a timeout marker)."""
    ext = extension()
    before = len(ext.history)
    Krita.instance().action("repaint_fill").trigger()

    def finished():
        return any(entry["event"] in TERMINAL for entry in ext.history[before:]) and not ext.jobs

    if not pump(finished, timeout):
        return {"event": "timeout", "history": ext.history[before:]}
    return [entry for entry in ext.history[before:] if entry["event"] in TERMINAL][-1]


def undo(document):
    count = len(layer_names(document))
    Krita.instance().action("edit_undo").trigger()
    pump(lambda: len(layer_names(document)) != count, 10)
    document.waitForDone()


def run_case(case, spec, out):
    name = case["name"]
    size = case.get("size", (WIDTH, HEIGHT))
    document, background = make_document(name, case.get("colour_space"), size)
    original = background
    if case.get("offset_layer"):
        original = document.createNode("Offset", "paintlayer")
        original.setPixelData(pattern(40, 30, 99), 0, 0, 40, 30)
        document.rootNode().addChildNode(original, background)
        original.move(*case["offset_layer"])
        document.waitForDone()
    document.setActiveNode(original)
    if "rect" in case:
        selection = Selection()
        selection.select(*case["rect"], 255)
        document.setSelection(selection)
    elif "ellipse" in case:
        document.setSelection(ellipse_selection(*case["ellipse"]))
    elif "rects" in case:
        document.setSelection(rects_selection(case["rects"], *size))
    pump(lambda: False, 0.2)
    document.waitForDone()
    app = Krita.instance()
    app.writeSetting("RePaintFill", "variations", str(case.get("variations", 1)))
    app.writeSetting("RePaintFill", "steps", str(spec.get("steps", 0)))
    app.writeSetting("RePaintFill", "feather", str(case.get("feather", 0)))
    app.writeSetting("RePaintFill", "time_budget", str(case.get("time_budget", 0)))
    # Only backend_down overrides the URL: the other fills find the backend (URL and token file)
    # through the plugin.json the installer wrote.
    if case.get("backend_down"):
        os.environ["REPAINT_FILL_URL"] = spec["down_url"]
    else:
        os.environ.pop("REPAINT_FILL_URL", None)
    env_overrides = {key: value for key, value in os.environ.items() if key in CONFIG_ENV}
    stack_before = layer_names(document)
    digest_before = pixel_digest(original)
    save_node_png(document, original, os.path.join(out, name + "-original-before.png"))
    selection_bytes = None
    if document.selection() is not None:
        selection_bytes = bytes(document.selection().pixelData(0, 0, *size).data())
        with open(os.path.join(out, name + "-coverage.gray"), "wb") as handle:
            handle.write(selection_bytes)
    if case.get("interrupt"):
        return interrupted_case(case, document, stack_before)
    started = time.monotonic()
    if case.get("interactive"):
        outcome, seen = interactive_trigger()
    else:
        outcome, seen = trigger_and_wait(), {}
    seconds = time.monotonic() - started
    document.waitForDone()
    stack_after = layer_names(document)
    selection_after = document.selection()
    fact = {
        "selection_unchanged": selection_after is None
        or bytes(selection_after.pixelData(0, 0, *size).data()) == selection_bytes,
        "outcome": outcome,
        "seconds": seconds,
        "env_overrides": env_overrides,
        "interactive": seen,
        "stack_before": stack_before,
        "stack_after": stack_after,
        "original_offset": [original.position().x(), original.position().y()],
        "original_unchanged": pixel_digest(original) == digest_before,
        "colour_space": [document.colorModel(), document.colorDepth()],
    }
    new_nodes = [
        node for node in document.rootNode().childNodes() if node.name().startswith("RePaint Fill")
    ]
    if new_nodes:
        node = new_nodes[0]
        target = node.childNodes()[-1] if node.type() == "grouplayer" else node
        save_node_png(document, target, os.path.join(out, name + "-layer.png"))
        fact["new_bounds"] = [
            node.bounds().x(),
            node.bounds().y(),
            node.bounds().width(),
            node.bounds().height(),
        ]
        fact["children"] = [(child.name(), child.visible()) for child in node.childNodes()]
        fact["new_colour_space"] = [target.colorModel(), target.colorDepth()]
    save_node_png(document, original, os.path.join(out, name + "-original-after.png"))
    document.saveAs(os.path.join(out, name + ".kra"))
    document.waitForDone()
    if new_nodes:
        undo(document)
    fact["stack_undone"] = layer_names(document)
    document.saveAs(os.path.join(out, name + "-undone.kra"))
    document.waitForDone()
    document.setModified(False)
    document.close()
    return fact


def progress_dialogs():
    return [
        widget
        for widget in QApplication.topLevelWidgets()
        if type(widget).__name__ == "FillProgressDialog"
    ]


def interactive_trigger():
    """Run one fill with batch mode off: the progress dialog must show, update and close."""
    app = Krita.instance()
    seen = {"labels": [], "visible": False, "message_boxes": []}

    def watch():
        for dialog in progress_dialogs():
            if dialog.isVisible():
                seen["visible"] = True
                if dialog.labelText() not in seen["labels"]:
                    seen["labels"].append(dialog.labelText())
        modal = QApplication.activeModalWidget()
        if modal is not None and type(modal).__name__ == "QMessageBox":
            seen["message_boxes"].append(modal.text())
            modal.close()  # never hang the run on an unexpected message

    timer = QTimer()
    timer.timeout.connect(watch)
    timer.start(20)
    app.setBatchmode(False)
    try:
        outcome = trigger_and_wait()
        pump(lambda: not any(d.isVisible() for d in progress_dialogs()), 5)
    finally:
        app.setBatchmode(True)
        timer.stop()
    seen["visible_after"] = any(dialog.isVisible() for dialog in progress_dialogs())
    return outcome, seen


def interrupted_case(case, document, stack_before):
    """Close the document ("close") or cancel ("cancel") while the fill runs."""
    ext = extension()
    before = len(ext.history)
    Krita.instance().action("repaint_fill").trigger()
    started = len(ext.jobs) == 1
    if case["interrupt"] == "close":
        document.setModified(False)
        document.close()
    else:
        ext.jobs[-1].worker.cancel()  # what the progress dialog's Cancel button does

    def finished():
        return any(entry["event"] in TERMINAL for entry in ext.history[before:]) and not ext.jobs

    pump(finished, 120)
    pump(lambda: False, 0.5)  # let Krita settle: a crash would show up here
    events = [entry["event"] for entry in ext.history[before:]]
    fact = {"job_started": started, "events": events}
    if case["interrupt"] == "cancel":
        fact["stack_before"], fact["stack_after"] = stack_before, layer_names(document)
        document.setModified(False)
        document.close()
    return fact


def settings_dialog_fact():
    """Open RePaint Fill Settings... through its action, change a value, press OK."""
    from PyQt5.QtWidgets import QDialogButtonBox, QSpinBox

    seen = {}

    def answer():
        dialog = QApplication.activeModalWidget()
        seen["title"] = dialog.windowTitle() if dialog is not None else None
        if dialog is None:
            return
        dialog.findChildren(QSpinBox)[0].setValue(3)  # variations
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()

    QTimer.singleShot(300, answer)
    Krita.instance().action("repaint_fill_settings").trigger()  # modal: returns after OK
    seen["stored_variations"] = Krita.instance().readSetting("RePaintFill", "variations", "")
    return seen


def plugin_config_fact():
    """The config the installed plug-in loads (its own copy of the host core, in Krita)."""
    import repaint_fill
    from repaint_fill.repaint_fill_core.config import load_config

    config = load_config()
    return {
        "plugin_file": repaint_fill.__file__,
        "backend_url": config.backend_url,
        "token_file": config.token_file,
        "config_file": config.config_file,
        "env_overrides": [key for key in CONFIG_ENV if key in os.environ],
    }


def find_docker():
    """The RePaint Fill docker among Krita's dockers (Settings > Dockers)."""
    for docker in Krita.instance().dockers():
        if "repaint" in docker.objectName().lower():
            return docker
    return None


def docker_fact(spec, out):
    """The docker: it lists the backend's models, its Fill button fills with the chosen model,
    previews show during the job and leave no layer or undo step; screenshot in docker.png."""
    docker = find_docker()
    if docker is None:
        return {"found": False, "names": [d.objectName() for d in Krita.instance().dockers()]}
    docker.show()
    docker.refresh()
    pump(lambda: docker.models, 30)
    fact = {"found": True, "title": docker.windowTitle(), "object_name": docker.objectName()}
    fact["models"] = [(m["name"], m["present"]) for m in docker.models]
    document, background = make_document("docker")
    document.setActiveNode(background)
    selection = Selection()
    selection.select(30, 20, 24, 16, 255)
    document.setSelection(selection)
    pump(lambda: False, 0.2)
    app = Krita.instance()
    app.writeSetting("RePaintFill", "variations", "1")
    app.writeSetting("RePaintFill", "feather", "0")
    app.writeSetting("RePaintFill", "time_budget", "0")
    app.writeSetting("RePaintFill", "steps", str(spec["docker_steps"]))
    ext = extension()
    # A model that is not installed: the docker says how to get it and starts nothing.
    missing = next((name for name, present in fact["models"] if not present), None)
    if missing is not None:
        docker.model.setCurrentIndex(docker.model.findData(missing))
        jobs_before = len(ext.history)
        docker.fill_button.click()
        fact["missing"] = {
            "name": missing,
            "status": docker.status.text(),
            "info": docker.model_info.text(),
            "started": len(ext.history) != jobs_before,
        }
    chosen = spec["docker_model"]
    docker.model.setCurrentIndex(docker.model.findData(chosen))  # as a user picks it
    docker.variations.setValue(1)
    docker.time_budget.setValue(0)
    fact["chosen"] = docker.model.currentData()
    stack_before = layer_names(document)
    before = len(ext.history)
    seen = {"stacks": set(), "previews": 0}

    def watch():
        seen["stacks"].add(tuple(name for name, _type, _visible in layer_names(document)))
        seen["previews"] = max(seen["previews"], docker.previews_shown)

    timer = QTimer()
    timer.timeout.connect(watch)
    timer.start(20)
    docker.fill_button.click()

    def finished():
        return any(entry["event"] in TERMINAL for entry in ext.history[before:]) and not ext.jobs

    pump(lambda: seen["previews"] >= 2 or finished(), 180)
    docker.grab().save(os.path.join(out, "docker.png"))  # mid-job: progress and preview
    pump(finished, 300)
    timer.stop()
    events = ext.history[before:]
    fact["events"] = [entry["event"] for entry in events]
    fact["params"] = next((e["params"] for e in events if e["event"] == "started"), None)
    fact["outcome"] = next((e for e in events if e["event"] in TERMINAL), None)
    fact["previews_during_job"] = seen["previews"]
    fact["stacks_seen"] = sorted(list(stack) for stack in seen["stacks"])
    fact["stack_before"], fact["stack_after"] = stack_before, layer_names(document)
    document.waitForDone()
    undo(document)
    fact["stack_undone"] = layer_names(document)
    Krita.instance().action("edit_undo").trigger()  # a second undo must find nothing of ours
    pump(lambda: False, 0.5)
    fact["stack_undone_twice"] = layer_names(document)
    document.setModified(False)
    document.close()
    return fact


def main(result):
    with open(os.environ["REPAINT_FILL_TEST_SPEC"], encoding="utf-8") as handle:
        spec = json.load(handle)
    result["plugin_config"] = plugin_config_fact()
    result["settings_dialog"] = settings_dialog_fact()
    result["cases"] = {}
    for case in spec["cases"]:
        result["cases"][case["name"]] = run_case(case, spec, spec["out_dir"])
    result["docker"] = docker_fact(spec, spec["out_dir"])
    result["history"] = extension().history
