"""RePaint Expand inside real Krita 5 under Xvfb (marker ``krita``), against a real backend.

One Krita run does every case (tests/hosts/krita_expand_scenarios.py runs inside Krita); the
checks here read what it recorded: canvas sizes, layer stacks, pixel digests of the user's
layers over the original canvas, the new layer as PNG, after the expand, one undo and one redo.
"""

import json
import re
from pathlib import Path

import krita_harness
import numpy as np
import pytest
from helpers_server import free_port
from PIL import Image

HERE = Path(__file__).resolve().parent

W, H = 96, 64  # the scenarios' canvas
CASES = [
    {"name": "sides", "choice": {"left": 16, "right": 8, "bottom": 4}, "offset": [16, 0]},
    {"name": "top", "choice": {"top": 12}, "offset": [0, 12]},
    # 96x64 to 16:9 = 114x64 (64 * 16 / 9 = 113.8, rounded up): 9 px on the left and right
    {
        "name": "aspect",
        "choice": {"use_aspect": True, "aspect_width": 16, "aspect_height": 9},
        "offset": [9, 0],
    },
    {"name": "dialog", "choice": {"right": 30}, "dialog_left": 12, "offset": [12, 0]},
    {"name": "all_zero", "choice": {}},
    {"name": "backend_down", "choice": {"right": 16}, "backend_down": True},
    {"name": "cancelled", "choice": {"right": 16}, "interrupt": "cancel"},
]
GROWN = {"sides": [120, 68], "top": [96, 76], "aspect": [114, 64], "dialog": [108, 64]}


@pytest.fixture(scope="module")
def krita_run(tmp_path_factory: pytest.TempPathFactory, backend) -> dict:
    home = krita_harness.prepare_home(
        tmp_path_factory.mktemp("krita-home"), backend.url, backend.token_file
    )
    out = tmp_path_factory.mktemp("krita-out")
    config_path = home / ".config" / "repaint-fill" / "plugin.json"
    config = json.loads(config_path.read_text())
    # Unstartable on purpose: the backend_down case must fail clearly, not hang.
    config.update(start_command=[str(home / "no-such-dir" / "repaint-fill"), "serve"])
    config.update(context_margin=8, startup_timeout=5)
    config_path.write_text(json.dumps(config))
    spec = {
        "out_dir": str(out),
        "cases": CASES,
        "down_url": f"http://127.0.0.1:{free_port()}",
        "steps": 10,
    }
    (out / "spec.json").write_text(json.dumps(spec))
    env = {"REPAINT_FILL_TEST_SPEC": str(out / "spec.json")}
    with krita_harness.xvfb_display() as display:
        result = krita_harness.run_krita(
            home, display, HERE / "krita_expand_scenarios.py", env, timeout=400
        )
    result["out"] = out
    assert result["errors"] == [], "\n".join(result["errors"])
    assert result["finished"]
    return result


def test_action_is_there_with_its_text(krita_run: dict) -> None:
    assert krita_run["action_text"] == "RePaint Expand..."


@pytest.mark.parametrize("name", list(GROWN))
def test_canvas_grows_with_one_new_layer_covering_the_border(krita_run: dict, name: str) -> None:
    case = krita_run["cases"][name]
    assert case["outcome"]["event"] == "done", case["outcome"]
    assert case["after"]["size"] == GROWN[name]
    before = [entry[0] for entry in case["before"]["stack"]]
    after = [entry[0] for entry in case["after"]["stack"]]
    new = [n for n in after if n not in before]
    assert len(after) == len(before) + 1 and len(new) == 1
    assert re.fullmatch(r"RePaint Expand \(seed \d+\)", new[0])
    # Right above the layer that was active (Krita keeps Background active in these scripted
    # documents, so the new layer lands between Background and Offset).
    assert after.index(new[0]) == after.index(case["active"]) + 1
    # The user's layers: the same pixels, moved by (left, top) with the canvas.
    assert case["after"]["digests"] == case["before"]["digests"]
    left, top = CASES[[c["name"] for c in CASES].index(name)]["offset"]
    assert case["after"]["offset_layer"] == [[25 + left, 18 + top]]
    # The new layer is opaque on the whole new border and empty over the old canvas.
    alpha = np.asarray(Image.open(krita_run["out"] / f"{name}-layer.png").convert("RGBA"))[..., 3]
    expected = np.full(alpha.shape, 255, dtype=np.uint8)
    expected[top : top + H, left : left + W] = 0
    assert alpha.shape == (GROWN[name][1], GROWN[name][0])
    assert np.array_equal(alpha, expected)


@pytest.mark.parametrize("name", list(GROWN))
def test_one_undo_takes_the_whole_expansion_back_and_redo_reapplies_it(
    krita_run: dict, name: str
) -> None:
    case = krita_run["cases"][name]
    assert case["undone"] == case["before"]  # size, stack, pixels and offsets
    assert case["redone"] == case["after"]


def test_dialog_values_are_used(krita_run: dict) -> None:
    case = krita_run["cases"]["dialog"]
    assert case["dialog"]["title"] == "RePaint Expand"
    assert case["after"]["size"] == GROWN["dialog"]  # left 12 from the dialog, not right 30


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("all_zero", "NothingToExpand", "Nothing to expand"),
        ("backend_down", "BackendUnavailable", "Could not start the RePaint Fill backend"),
    ],
)
def test_errors_leave_the_image_as_it_was(krita_run: dict, name: str, kind: str, words: str):
    case = krita_run["cases"][name]
    assert case["outcome"]["event"] == "error"
    assert case["outcome"]["kind"] == kind and words in case["outcome"]["message"]
    assert case["after"] == case["before"]


def test_cancel_leaves_the_image_as_it_was(krita_run: dict) -> None:
    case = krita_run["cases"]["cancelled"]
    assert case["job_started"] and case["events"][-1] == "cancelled"
    assert case["after"] == case["before"]
