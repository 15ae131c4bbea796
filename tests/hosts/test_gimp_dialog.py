"""Real GIMP 3 with a display (Xvfb in the chroot): the plug-in's own dialog, driven by xdotool.

Cancel does nothing; values typed into the dialog are used, shown again next time, and reused by
"repeat with last values". Same backend and chroot as tests/hosts/test_gimp.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers_gimp import (
    INSIDE_WORK,
    assert_untouched,
    make_case,
    new_items,
    remove_work,
    result_of,
    run_gimp_cases,
    single_new_layer,
)
from PIL import Image

# Click into the seed field (second row of the dialog at the screen's origin), type 777, OK.
SEED_777_AND_OK = "mousemove 330 65 click 1 key --delay 150 ctrl+a 7 7 7 Tab alt+o"


@pytest.fixture(scope="module")
def gimp_dialog_run(chroot, backend):
    url, token = backend.url, backend.token
    config = {"backend_url": url, "token_file": f"{INSIDE_WORK}/token", "start_command": None}
    rect = {"shape": "rect", "rect": [20, 12, 16, 12]}
    cases = [
        # The dialog: Escape cancels; a seed typed in and OK runs with it; the next dialog and
        # a "repeat with last values" run remember it.
        {
            **make_case("dialog_cancel", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_input": "key Escape",
        },
        {
            **make_case("dialog_typed", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_input": SEED_777_AND_OK,
        },
        {
            **make_case("dialog_ok", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_input": "key alt+o",
        },
        {**make_case("repeat", selection=rect, plugin_json=config), "run_mode": "last"},
        {
            **make_case("dialog_screenshot", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_input": "key Escape",
            "screenshot": True,
        },
    ]
    for case in cases:
        case["args"] = {}  # what the dialog shows / what GIMP remembers
    run = run_gimp_cases(chroot, cases, {"token": token.encode()}, url, display=True, timeout=300)
    print(f"gimp-console run with dialogs: {run.seconds:.1f} s")
    yield (run,)
    remove_work(run)


def test_dialog_cancel_does_nothing(gimp_dialog_run):
    manifest, _folder = result_of(gimp_dialog_run, "dialog_cancel")
    assert "DIALOG-SHOWN RePaint Fill" in manifest["dialog"]
    assert manifest["status"] == "cancel"
    assert new_items(manifest) == []
    assert_untouched(manifest)


def test_dialog_values_are_used_and_remembered(gimp_dialog_run):
    for name in ("dialog_typed", "dialog_ok"):
        manifest, _folder = result_of(gimp_dialog_run, name)
        assert "DIALOG-SHOWN RePaint Fill" in manifest["dialog"]
        assert single_new_layer(gimp_dialog_run, name)["name"].endswith(", seed 777)"), name
    assert single_new_layer(gimp_dialog_run, "repeat")["name"].endswith(", seed 777)")


def test_dialog_screenshot_shows_the_model_choice(gimp_dialog_run):
    """docs/gimp_dialog.png is a copy of this screenshot (made under Xvfb in the chroot)."""
    manifest, folder = result_of(gimp_dialog_run, "dialog_screenshot")
    assert "SCREENSHOT" in manifest["dialog"], manifest["dialog"]
    with Image.open(folder / "dialog.png") as shot:
        assert shot.width >= 200 and shot.height >= 200
    keep = os.environ.get("REPAINT_FILL_SCREENSHOTS")  # a folder: refresh the docs' copy
    if keep:
        shutil.copy(folder / "dialog.png", Path(keep) / "gimp_dialog.png")
    assert manifest["status"] == "cancel" and new_items(manifest) == []
