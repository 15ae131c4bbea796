"""Real GIMP 3 (Debian chroot) running plug-in-repaint-expand against a real backend.

Same machinery as tests/hosts/test_gimp.py: one gimp-console run builds each image, calls the
procedure by name and exports the layers; the checks read them from outside GIMP.
GIMP gives plug-ins no way to press Undo, so the one undo group is not exercised here (the
procedure opens one group around the resize and the new layer).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers_gimp import (
    INSIDE_WORK,
    SEED,
    make_case,
    new_items,
    remove_work,
    result_of,
    run_gimp_cases,
)
from helpers_server import free_port
from PIL import Image

PROCEDURE = "plug-in-repaint-expand"


def _expand_case(name: str, sides: dict, plugin_json: dict, **image) -> dict:
    case = make_case(name, plugin_json=plugin_json, **image)
    args = {"left": 0, "right": 0, "top": 0, "bottom": 0, **sides}
    return {**case, "procedure": PROCEDURE, "args": {**args, "preset": "fast", "seed": SEED}}


@pytest.fixture(scope="module")
def gimp_expand_run(chroot, backend):
    token = f"{INSIDE_WORK}/token"
    config = {"backend_url": backend.url, "token_file": token, "start_command": None}
    down = {**config, "backend_url": f"http://127.0.0.1:{free_port()}"}
    offset_layers = [
        {"name": "Base", "size": [40, 32], "offset": [12, 10], "seed": 3},
        {"name": "Top", "size": [8, 8], "offset": [0, 0], "seed": 4},
    ]
    cases = [
        {"name": "registration", "kind": "registration", "procedure": PROCEDURE},
        _expand_case("sides", {"left": 16, "right": 8, "bottom": 4}, config),
        _expand_case("top_offset", {"top": 10}, config, canvas=(64, 56), layers=offset_layers),
        _expand_case("all_zero", {}, config),
        _expand_case("backend_down", {"right": 16}, down),
    ]
    run = run_gimp_cases(chroot, cases, {"token": backend.token.encode()}, backend.url)
    print(f"gimp-console run: {run.seconds:.1f} s")
    yield (run,)  # result_of reads the run from the first item, as in test_gimp.py
    remove_work(run)


def test_procedure_is_registered_as_designed(gimp_expand_run):
    manifest, _folder = result_of(gimp_expand_run, "registration")
    assert manifest["found"], "plug-in-repaint-expand is not in the PDB"
    assert manifest["label"] == "RePaint Expand..."
    assert manifest["menu_paths"] == ["<Image>/Filters/Enhance"]
    arguments = manifest["arguments"]
    assert list(arguments)[:3] == ["run-mode", "image", "drawables"]
    assert {name: arguments[name] for name in list(arguments)[3:]} == {
        "left": "0",
        "right": "0",
        "top": "0",
        "bottom": "0",
        "preset": "'default'",
        "seed": "-1",
        "time-budget": "0",
    }


def _check_expand(gimp_run, name: str, left: int, top: int, grown: list[int]) -> None:
    manifest, folder = result_of(gimp_run, name)
    assert manifest["status"] == "success", manifest["error"]
    width, height = manifest["canvas"]
    assert manifest["canvas_after"] == grown  # grown by the asked amounts
    after = {info["id"]: info for info in manifest["after"]}
    for info in manifest["before"]:  # the user's layers: same pixels, moved with the canvas
        moved = after[info["id"]]
        assert moved["sha256"] == info["sha256"], f"{info['name']} pixels changed"
        assert moved["size"] == info["size"]
        assert moved["offset"] == [info["offset"][0] + left, info["offset"][1] + top]
    new = new_items(manifest)
    assert len(new) == 1 and new[0]["name"] == f"RePaint Expand (seed {SEED})"
    layer = new[0]
    base = next(info for info in manifest["before"] if info["name"] == "Base")
    assert (layer["parent"], layer["position"]) == (base["parent"], base["position"])
    # Alpha 255 on the whole new border, 0 over the old canvas.
    alpha = np.zeros((grown[1], grown[0]), dtype=np.uint8)
    x, y = layer["offset"]
    w, h = layer["size"]
    rgba = np.asarray(Image.open(folder / layer["png"]).convert("RGBA"))
    alpha[y : y + h, x : x + w] = rgba[..., 3]
    expected = np.full_like(alpha, 255)
    expected[top : top + height, left : left + width] = 0
    assert np.array_equal(alpha, expected)


def test_canvas_grows_and_one_layer_fills_the_border(gimp_expand_run):
    _check_expand(gimp_expand_run, "sides", left=16, top=0, grown=[64 + 24, 48 + 4])


def test_offset_layers_move_with_the_canvas(gimp_expand_run):
    _check_expand(gimp_expand_run, "top_offset", left=0, top=10, grown=[64, 66])


@pytest.mark.parametrize(
    ("name", "message"),
    [("all_zero", "Nothing to expand"), ("backend_down", "not running")],
)
def test_errors_change_nothing(gimp_expand_run, name, message):
    manifest, _folder = result_of(gimp_expand_run, name)
    assert manifest["status"] == "execution-error"
    assert message in manifest["error"]
    assert manifest["canvas_after"] == manifest["canvas"]
    assert new_items(manifest) == []
    assert {info["id"]: info for info in manifest["after"]} == {
        info["id"]: info for info in manifest["before"]
    }
