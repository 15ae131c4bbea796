"""Real GIMP 3.0 (Debian trixie chroot; 3.2 with REPAINT_FILL_GIMP_SUITE=forky) running
plug-in-repaint-fill against a real backend (`repaint-fill serve` on 127.0.0.1).

One gimp-console run executes every case (tests/hosts/gimp_eval_cases.py builds the images inside
GIMP, calls the procedure by name and exports layers); the checks here read the exported PNGs
and hashes from outside GIMP. Build the chroot first: tests/hosts/gimp_chroot.sh build (root).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request

import numpy as np
import pytest
from helpers_backend import result_like_png
from helpers_gimp import (
    INSIDE_PLUGIN,
    INSIDE_WORK,
    REPO,
    SEED,
    assert_untouched,
    check_fill,
    make_case,
    new_items,
    remove_work,
    result_of,
    run_gimp_cases,
)
from helpers_paths import path_prelude
from helpers_server import free_port
from PIL import Image
from repaint_fill_backend.registry import find_entry

TWO_REGIONS = [[40, 30, 120, 80], [1340, 890, 120, 80]]  # [x, y, w, h], top-left, bottom-right
DETAIL_RECT = [600, 400, 300, 200]  # larger than 1.5 x the embedded model's 128 px: 2 levels
MISSING = "imagenet-256"  # in the registry with a stable download, never fetched in tests


def _autostart_config(port: int) -> dict:
    """plugin.json whose start_command starts a backend inside the chroot when none answers.

    The backend's venv (torch) is not inside the chroot, so the started process is the core's
    stdlib STAND-IN server (tests/helpers_standin.py); what is tested is the plug-in starting it
    through the core's launcher and then filling with it."""
    code = (
        f"{path_prelude(INSIDE_PLUGIN, INSIDE_WORK)};"
        " from helpers_standin import serve_forever_on;"
        f" serve_forever_on({port}, '{INSIDE_WORK}/autostart-token', '{INSIDE_WORK}/autostart.pid')"
    )
    return {
        "backend_url": f"http://127.0.0.1:{port}",
        "token_file": f"{INSIDE_WORK}/autostart-token",
        "start_command": ["python3", "-c", code],
        "startup_timeout": 60,
    }


def _cases(url: str) -> list[dict]:
    token = f"{INSIDE_WORK}/token"
    config = {"backend_url": url, "token_file": token, "start_command": None}
    down = {
        "backend_url": f"http://127.0.0.1:{free_port()}",
        "token_file": token,
        "start_command": None,
    }
    rect = {"shape": "rect", "rect": [20, 12, 16, 12]}
    large = (1500, 1000)
    return [
        {"name": "registration", "kind": "registration"},
        # plugin_json=None: the plugin.json the installer wrote (backend URL and token file)
        make_case("rect", selection=rect, plugin_json=None),
        make_case(
            "ellipse_offset",
            canvas=(64, 56),
            layers=[
                {"name": "Base", "size": [40, 32], "offset": [12, 10], "seed": 3},
                {"name": "Top", "size": [8, 8], "offset": [0, 0], "seed": 4},
            ],
            selection={"shape": "ellipse", "rect": [22, 16, 22, 18], "feather": 6.0},
            plugin_json=config,
        ),
        make_case("gray", mode="gray", selection=rect, plugin_json=config),
        make_case(
            "rgb16",
            precision="u16",
            selection={"shape": "ellipse", "rect": [18, 10, 24, 20], "feather": 5.0},
            plugin_json=config,
        ),
        make_case(
            "inside_group",
            layers=[
                {"name": "Folder", "group": True},
                {"name": "Base", "size": [48, 40], "offset": [8, 4], "seed": 5, "parent": "Folder"},
                {"name": "Next", "size": [8, 8], "offset": [2, 2], "seed": 6, "parent": "Folder"},
                {"name": "Top", "size": [12, 12], "offset": [50, 34], "seed": 2},
            ],
            selection=rect,
            plugin_json=config,
        ),
        make_case("variations", selection=rect, plugin_json=config, args={"variations": 2}),
        make_case("time_budget", selection=rect, plugin_json=config, args={"time-budget": 7}),
        make_case("model", selection=rect, plugin_json=config, args={"model": "embedded"}),
        make_case("model_missing", selection=rect, plugin_json=config, args={"model": MISSING}),
        {"name": "decoder", "kind": "decoder"},  # result.png / .rgba: see gimp_run
        make_case(
            "rgb_float",
            precision="float",
            selection={"shape": "ellipse", "rect": [18, 10, 24, 20], "feather": 5.0},
            plugin_json=config,
        ),
        # A photo-sized image with two small selected parts far apart: two regions to the backend.
        make_case(
            "two_regions",
            canvas=large,
            layers=[{"name": "Base", "size": list(large), "seed": 7}],
            selection={"shape": "rects", "rects": TWO_REGIONS},
            plugin_json=config,
        ),
        # The detail argument: the same 300x200 selection worked natively and coarsely.
        *(
            make_case(
                f"detail_{detail}",
                canvas=large,
                layers=[{"name": "Base", "size": list(large), "seed": 8}],
                selection={"shape": "rects", "rects": [DETAIL_RECT]},
                plugin_json=config,
                args={"detail": detail},
            )
            for detail in ("native", "coarse")
        ),
        make_case("no_selection", selection=None, plugin_json=config),
        make_case("indexed", mode="indexed", selection=rect, plugin_json=config),
        make_case("backend_down", selection=rect, plugin_json=down),
        make_case("cancel", selection=rect, args={"preset": "paper"}, plugin_json=config),
        {
            **make_case("autostart", selection=rect, plugin_json=_autostart_config(free_port())),
            "kill_pid_file": f"{INSIDE_WORK}/autostart.pid",
        },
    ]


@pytest.fixture(scope="module")
def gimp_run(chroot, backend):
    url, token = backend.url, backend.token
    killed: dict[str, object] = {}
    state = {"case": None}

    def on_line(line: str, plugin_pids) -> None:
        if line.startswith("CASE-START "):
            state["case"] = line.split()[1]
        if state["case"] == "cancel" and "RePaint Fill: backend job " in line:
            killed["job"] = line.rsplit(" ", 1)[1].strip()
            # What GIMP does when the user presses Cancel on the plug-in's progress bar.
            killed["pids"] = plugin_pids()
            for pid in killed["pids"]:
                os.kill(pid, signal.SIGKILL)

    helpers = {"helpers_standin.py": (REPO / "tests" / "helpers_standin.py").read_bytes()}
    png, rgba = result_like_png(2000)  # a 2000x2000 result as the server encodes it
    helpers.update({"result.png": png, "result.rgba": rgba})
    run = run_gimp_cases(
        chroot, _cases(url), {"token": token.encode(), **helpers}, url, on_line=on_line
    )
    print(f"gimp-console run: {run.seconds:.1f} s")
    yield run, killed, url, token
    remove_work(run)


def test_procedure_is_registered_as_designed(gimp_run):
    manifest, _folder = result_of(gimp_run, "registration")
    assert manifest["found"], "plug-in-repaint-fill is not in the PDB (plug-in not registered)"
    assert manifest["label"] == "RePaint Fill..."
    assert manifest["menu_paths"] == ["<Image>/Filters/Enhance"]
    assert manifest["image_types"] == "RGB*, GRAY*"
    arguments = manifest["arguments"]
    assert list(arguments)[:3] == ["run-mode", "image", "drawables"]
    assert {name: arguments[name] for name in list(arguments)[3:]} == {
        "preset": "'default'",
        "seed": "-1",
        "variations": "1",
        "context-margin": "-1",
        "time-budget": "0",
        "model": "'from settings'",  # trailing: the earlier arguments keep their positions
        "detail": "'default'",
    }


def test_detail_argument_reaches_the_backend(gimp_run, backend):
    """coarse: one pass at the model's size; native: also the 1:1 level, so more model calls."""
    calls = {}
    for detail in ("native", "coarse"):
        manifest, _folder = result_of(gimp_run, f"detail_{detail}")
        assert manifest["status"] == "success", manifest["error"]
        assert len(new_items(manifest)) == 1
    jobs = re.findall(r"done (\d+)x(\d+) \S+ model_calls=(\d+)", backend.log())
    sized = [int(n) for w, h, n in jobs if 300 < int(w) < 700 and 200 < int(h) < 600]
    assert len(sized) == 2, jobs  # the native job ran first, then the coarse one
    calls["native"], calls["coarse"] = sized
    assert calls["coarse"] < calls["native"]


def test_model_argument_reaches_the_backend(gimp_run):
    manifest, _folder = result_of(gimp_run, "model")
    assert manifest["status"] == "success", manifest["error"]
    (layer,) = new_items(manifest)
    assert layer["name"] == f"RePaint Fill (embedded, seed {SEED})"
    # A model the backend knows but does not have: only the backend can say how to get it.
    manifest, _folder = result_of(gimp_run, "model_missing")
    assert manifest["status"] != "success" and new_items(manifest) == []
    assert find_entry(MISSING).how_to_get in manifest["error"]
    assert f"install.py --model {MISSING}" in manifest["error"]


def test_gimp_decoder_gives_exact_pixels_of_a_2000px_result_fast(gimp_run):
    manifest, _folder = result_of(gimp_run, "decoder")
    assert manifest["exact"], "GIMP loader pixels differ from the reference decoder's"
    seconds = manifest["seconds"]
    print(
        "GIMP, 2000x2000 result: GIMP loader {gimp:.3f} s, stdlib decode {stdlib:.3f} s, "
        "PNG result -> layer {result_to_layer:.3f} s, uncompressed result -> layer "
        "{raw_to_layer:.3f} s".format(**seconds)
    )
    assert seconds["gimp"] < seconds["stdlib"] / 4  # the benchmark has the real numbers


def test_rectangular_selection(gimp_run):
    _layer, rgba, selection = check_fill(gimp_run, "rect")
    assert np.array_equal(rgba[..., 3], selection)


def test_two_far_apart_regions_on_a_large_image_fill_as_one_layer(gimp_run):
    # check_fill: one new layer right above Base, at the selection's bounding box + margin, alpha
    # > 0 exactly where selected, every layer of the user unchanged, image mode and precision too.
    layer, rgba, crop_selection = check_fill(gimp_run, "two_regions")
    manifest, folder = result_of(gimp_run, "two_regions")
    assert manifest["canvas"] == manifest["canvas_after"] == [1500, 1000]
    selection = np.asarray(Image.open(folder / "selection.png"))
    expected = np.zeros((1000, 1500), dtype=np.uint8)
    for x, y, w, h in TWO_REGIONS:
        expected[y : y + h, x : x + w] = 255
    assert np.array_equal(selection, expected)  # GIMP holds the two rectangles, hard-edged
    assert np.array_equal(rgba[..., 3], crop_selection)  # 255 inside both, 0 everywhere else
    assert len(manifest["after"]) == len(manifest["before"]) + 1


def test_plugin_installed_by_the_installer_reads_its_config(gimp_run):
    run, _killed, url, _token = gimp_run
    token_file = run.installed_config["token_file"]
    assert run.installed_config["backend_url"] == url
    assert token_file == f"/tmp/{run.work.name}/token"  # the token's path inside the chroot
    assert run.installed_config["start_command"] is None  # --skip-backend
    # GIMP found the plug-in where the installer put it: its user folder (no plug-in-path)
    user_folder = run.plugin_dir.parents[1]
    assert user_folder.parent == run.work / "home" / ".config" / "GIMP"
    pluginrc = (user_folder / "pluginrc").read_bytes()  # not all UTF-8
    assert b'(plug-in-def "${gimp_dir}/plug-ins/repaint-fill/repaint-fill.py"' in pluginrc
    # the rect case ran with the installer's plugin.json: its URL and token file reached the
    # plug-in (the backend refuses a job without the token)
    manifest, _folder = result_of(gimp_run, "rect")
    assert manifest["plugin_json"] == run.installed_config
    assert manifest["status"] == "success", manifest["error"]


def _layer_pattern(width: int, height: int, seed: int) -> np.ndarray:
    """The RGB texture gimp_eval_cases.pattern() paints into a test layer."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [(x * 7 + seed * 40) % 256, (y * 11 + seed) % 256, ((x ^ y) * 5) % 256], axis=-1
    ).astype(np.uint8)


def test_time_budget_lets_the_backend_pick_the_schedule(gimp_run, backend):
    check_fill(gimp_run, "time_budget")
    # The job went out with the budget instead of the case's preset; the backend chose for it.
    assert "preset=budget=7s" in backend.log()


def test_feathered_ellipse_on_offset_layer(gimp_run):
    layer, rgba, selection = check_fill(gimp_run, "ellipse_offset")
    soft = (selection > 0) & (selection < 255)
    assert soft.sum() > 20, "the feathered selection must have soft edges"
    assert np.array_equal(rgba[..., 3], selection), "soft alpha = selection coverage"
    # Under alpha 0 the backend returns the context it was sent, after its scaling round trip
    # (slightly blurred). It must be the offset layer's pixels at the right place (Base is 40x32
    # at 12,10; beyond it transparent = white): no shift fits better than none.
    canvas = np.full((60, 68, 3), 255, dtype=np.uint8)
    canvas[12:44, 14:54] = _layer_pattern(40, 32, seed=3)  # the 64x56 canvas, padded by 2
    x, y = layer["offset"]
    w, h = layer["size"]
    context = selection == 0
    got = rgba[..., :3][context].astype(int)

    def mismatch(dx: int, dy: int) -> float:
        shifted = canvas[y + 2 + dy : y + 2 + dy + h, x + 2 + dx : x + 2 + dx + w][context]
        return float(np.abs(got - shifted.astype(int)).mean())

    errors = {(dx, dy): mismatch(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)}
    aligned = errors.pop((0, 0))
    assert aligned < 0.8 * min(errors.values()), (aligned, errors)


def test_grayscale_image(gimp_run):
    layer, rgba, selection = check_fill(gimp_run, "gray")
    assert layer["type"] == "graya-image"
    assert np.array_equal(rgba[..., 3], selection)
    inside = rgba[selection > 0]
    assert np.array_equal(inside[:, 0], inside[:, 1]) and np.array_equal(inside[:, 1], inside[:, 2])


@pytest.mark.parametrize(("name", "precision"), [("rgb16", "u16"), ("rgb_float", "float")])
def test_high_bit_depth_image(gimp_run, name, precision):
    layer, _rgba, _selection = check_fill(gimp_run, name)
    assert layer["type"] == "rgba-image"
    manifest, folder = result_of(gimp_run, name)
    assert manifest["precision"].startswith(precision)
    width, height = manifest["canvas"]
    selection16 = np.fromfile(folder / "selection.u16", dtype=np.uint16).reshape(height, width)
    x, y = layer["offset"]
    w, h = layer["size"]
    alpha16 = np.fromfile(folder / layer["alpha_u16"], dtype=np.uint16).reshape(h, w)
    crop = selection16[y : y + h, x : x + w].astype(int)
    assert np.abs(alpha16.astype(int) - crop).max() <= 257, "alpha follows the selection"
    # Written in float: soft edges keep 16-bit steps instead of 256 levels.
    assert np.any(alpha16 % 257 != 0), "alpha was quantised to 8 bits"


def test_layer_inside_a_group(gimp_run):
    layer, rgba, selection = check_fill(gimp_run, "inside_group")
    assert layer["parent"] == "Folder"
    assert np.array_equal(rgba[..., 3], selection)


def test_variations_come_in_one_group(gimp_run):
    manifest, folder = result_of(gimp_run, "variations")
    assert manifest["status"] == "success", manifest["error"]
    assert_untouched(manifest)
    new = new_items(manifest)
    groups = [info for info in new if info["is_group"]]
    layers = [info for info in new if not info["is_group"]]
    assert len(groups) == 1 and groups[0]["name"] == "RePaint Fill (2 variations)"
    active = next(info for info in manifest["before"] if info["name"] == "Base")
    assert groups[0]["parent"] is None and groups[0]["position"] == active["position"]
    assert len(layers) == 2
    assert {info["parent"] for info in layers} == {"RePaint Fill (2 variations)"}
    assert all(re.fullmatch(r"RePaint Fill \([^,]+, seed \d+\)", i["name"]) for i in layers)
    assert layers[0]["name"] != layers[1]["name"], "each variation has its own seed"
    selection = np.asarray(Image.open(folder / "selection.png"))
    for info in layers:
        x, y = info["offset"]
        w, h = info["size"]
        alpha = np.asarray(Image.open(folder / info["png"]).convert("RGBA"))[..., 3]
        assert np.array_equal(alpha, selection[y : y + h, x : x + w])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_selection", "Nothing is selected"),
        ("indexed", "indexed"),
        ("backend_down", "not running"),
    ],
)
def test_errors_create_no_layer(gimp_run, name, message):
    manifest, _folder = result_of(gimp_run, name)
    assert manifest["status"] == "execution-error"
    assert message in manifest["error"]
    assert new_items(manifest) == []
    assert_untouched(manifest)


def test_backend_not_running_is_started_through_the_core(gimp_run):
    _layer, rgba, selection = check_fill(gimp_run, "autostart")
    assert np.array_equal(rgba[..., 3], selection)


def test_cancel_in_gimp_cancels_backend_job(gimp_run):
    _run, killed, url, token = gimp_run
    manifest, _folder = result_of(gimp_run, "cancel")
    assert killed.get("pids"), "the plug-in process was not found to cancel it"
    assert manifest["status"] != "success"
    assert new_items(manifest) == []
    request = urllib.request.Request(
        f"{url}/v1/jobs/{killed['job']}", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as answer:
            state = json.loads(answer.read())["state"]
        if state == "cancelled":
            break
        time.sleep(0.5)
    assert state == "cancelled", killed
