"""Real GIMP 3.0 (Debian trixie chroot) running plug-in-repaint-fill against a real backend.

One gimp-console run executes every case (tests/hosts/gimp_eval_cases.py builds the images inside
GIMP, calls the procedure by name and exports layers); the checks here read the exported PNGs
and hashes from outside GIMP. Build the chroot first: tests/hosts/gimp_chroot.sh build (root).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_gimp import REPO, chroot_root, remove_work, run_gimp_cases  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.slow]

SEED = 1234
INSIDE_WORK = "{work}"  # the run's folder inside the chroot; filled in by run_gimp_cases
MARGIN = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"backend exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("backend did not become healthy")


def _model_argument(tmp: Path) -> str:
    """The embedded model when it is shipped; else a tiny random diffusers UNet (fast on CPU)."""
    from repaint_fill_backend.models import embedded_model_dir

    folder = embedded_model_dir()
    if any((folder / name).exists() for name in ("config.json", "model_index.json", "unet")):
        return "embedded"
    from helpers_backend import save_tiny_unet

    return str(save_tiny_unet(tmp / "tiny-unet"))


@pytest.fixture(scope="module")
def chroot() -> Path:
    if os.geteuid() != 0:
        pytest.skip("real-GIMP tests need root (chroot and mount)")
    root = chroot_root()
    if root is None:
        pytest.skip("GIMP chroot not built: run tests/hosts/gimp_chroot.sh build (as root)")
    return root


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """A real `repaint-fill serve` on 127.0.0.1 (the chroot shares the host network)."""
    try:
        import repaint_fill_backend.server  # noqa: F401
    except ImportError:  # TEMPORARY until the server lands: the core's stdlib stand-in
        from helpers_krita import StandInBackend, StandInBehaviour

        with StandInBackend(StandInBehaviour(token="gimp-test-token", steps=4)) as server:
            yield server.url, "gimp-test-token"
        return
    tmp = tmp_path_factory.mktemp("gimp-backend")
    port = _free_port()
    token_file = tmp / "token"
    command = [
        sys.executable,
        "-m",
        "repaint_fill_backend.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token-file",
        str(token_file),
        "--model",
        _model_argument(tmp),
    ]
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url, token_file.read_text().strip()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _case(
    name,
    mode="rgb",
    precision="u8",
    canvas=(64, 48),
    layers=None,
    active="Base",
    selection=None,
    args=None,
    plugin_json=None,
):
    return {
        "name": name,
        "mode": mode,
        "precision": precision,
        "canvas": list(canvas),
        "layers": layers
        or [
            {"name": "Base", "size": list(canvas), "seed": 1},
            {"name": "Top", "size": [12, 12], "offset": [50, 34], "seed": 2},
        ],
        "active": active,
        "selection": selection,
        "args": {
            "preset": "fast",
            "seed": SEED,
            "variations": 1,
            "context-margin": MARGIN,
            **(args or {}),
        },
        "plugin_json": plugin_json,
    }


def _autostart_config(port: int) -> dict:
    """plugin.json whose start_command starts a backend inside the chroot when none answers.

    The backend's venv (torch) is not inside the chroot, so the started process is the core's
    stdlib STAND-IN server (tests/helpers_krita.py); what is tested is the plug-in starting it
    through the core's launcher and then filling with it."""
    code = (
        f"import sys; sys.path[:0] = ['{INSIDE_WORK}/plug-ins/repaint-fill', '{INSIDE_WORK}'];"
        " from helpers_krita import serve_forever_on;"
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
        "backend_url": f"http://127.0.0.1:{_free_port()}",
        "token_file": token,
        "start_command": None,
    }
    rect = {"shape": "rect", "rect": [20, 12, 16, 12]}
    return [
        _case("rect", selection=rect, plugin_json=config),
        _case(
            "ellipse_offset",
            canvas=(64, 56),
            layers=[
                {"name": "Base", "size": [40, 32], "offset": [12, 10], "seed": 3},
                {"name": "Top", "size": [8, 8], "offset": [0, 0], "seed": 4},
            ],
            selection={"shape": "ellipse", "rect": [22, 16, 22, 18], "feather": 6.0},
            plugin_json=config,
        ),
        _case("gray", mode="gray", selection=rect, plugin_json=config),
        _case(
            "rgb16",
            precision="u16",
            selection={"shape": "ellipse", "rect": [18, 10, 24, 20], "feather": 5.0},
            plugin_json=config,
        ),
        _case("no_selection", selection=None, plugin_json=config),
        _case("indexed", mode="indexed", selection=rect, plugin_json=config),
        _case("backend_down", selection=rect, plugin_json=down),
        _case("cancel", selection=rect, args={"preset": "paper"}, plugin_json=config),
        {
            **_case("autostart", selection=rect, plugin_json=_autostart_config(_free_port())),
            "kill_pid_file": f"{INSIDE_WORK}/autostart.pid",
        },
    ]


@pytest.fixture(scope="module")
def gimp_run(chroot, backend):
    url, token = backend
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

    helpers = {"helpers_krita.py": (REPO / "tests" / "helpers_krita.py").read_bytes()}
    run = run_gimp_cases(chroot, _cases(url), {"token": token.encode(), **helpers}, on_line=on_line)
    print(f"gimp-console run: {run.seconds:.1f} s")
    yield run, killed, url, token
    remove_work(run)


def _result(gimp_run, name: str) -> tuple[dict, Path]:
    run = gimp_run[0]
    assert name not in run.crashes, run.crashes[name]
    assert name in run.results, f"case {name} produced no manifest:\n{run.output[-3000:]}"
    return run.results[name], run.case_dir(name)


def _new_items(manifest: dict) -> list[dict]:
    before = {info["id"] for info in manifest["before"]}
    return [info for info in manifest["after"] if info["id"] not in before]


def _assert_untouched(manifest: dict) -> None:
    after = {info["id"]: info for info in manifest["after"]}
    for info in manifest["before"]:
        assert after[info["id"]]["sha256"] == info["sha256"], f"{info['name']} pixels changed"
        assert after[info["id"]]["offset"] == info["offset"]
        assert after[info["id"]]["size"] == info["size"]
    assert manifest["base_type_after"] == manifest["base_type"]
    assert manifest["precision_after"] == manifest["precision"]


def _check_fill(gimp_run, name: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The checks every successful fill must pass; returns (new layer, its RGBA, selection)."""
    manifest, folder = _result(gimp_run, name)
    assert manifest["status"] == "success", manifest["error"]
    _assert_untouched(manifest)
    new = _new_items(manifest)
    assert len(new) == 1, f"expected exactly one new layer, got {new}"
    layer = new[0]
    assert layer["name"] == f"RePaint Fill (seed {SEED})"
    active = next(info for info in manifest["before"] if info["name"] == "Base")
    assert layer["parent"] is None
    assert layer["position"] == active["position"], "new layer must sit right above Base"
    selection = np.asarray(Image.open(folder / "selection.png"))
    ys, xs = np.nonzero(selection)
    height, width = selection.shape
    expected = [
        max(0, xs.min() - MARGIN),
        max(0, ys.min() - MARGIN),
        min(width, xs.max() + 1 + MARGIN),
        min(height, ys.max() + 1 + MARGIN),
    ]
    x, y = layer["offset"]
    w, h = layer["size"]
    assert [x, y, x + w, y + h] == expected, "layer must be placed at the crop"
    rgba = np.asarray(Image.open(folder / layer["png"]).convert("RGBA"))
    crop_selection = selection[y : y + h, x : x + w]
    assert np.array_equal(rgba[..., 3] > 0, crop_selection > 0), "alpha must follow selection"
    return layer, rgba, crop_selection


def test_rectangular_selection(gimp_run):
    _layer, rgba, selection = _check_fill(gimp_run, "rect")
    assert np.array_equal(rgba[..., 3], selection)


def test_feathered_ellipse_on_offset_layer(gimp_run):
    _layer, rgba, selection = _check_fill(gimp_run, "ellipse_offset")
    soft = (selection > 0) & (selection < 255)
    assert soft.sum() > 20, "the feathered selection must have soft edges"
    assert np.array_equal(rgba[..., 3], selection), "soft alpha = selection coverage"


def test_grayscale_image(gimp_run):
    _layer, rgba, selection = _check_fill(gimp_run, "gray")
    assert np.array_equal(rgba[..., 3], selection)
    inside = rgba[selection > 0]
    assert np.array_equal(inside[:, 0], inside[:, 1]) and np.array_equal(inside[:, 1], inside[:, 2])


def test_16_bit_image(gimp_run):
    layer, _rgba, _selection = _check_fill(gimp_run, "rgb16")
    manifest, folder = _result(gimp_run, "rgb16")
    assert manifest["precision"].startswith("u16")
    width, height = manifest["canvas"]
    selection16 = np.fromfile(folder / "selection.u16", dtype=np.uint16).reshape(height, width)
    x, y = layer["offset"]
    w, h = layer["size"]
    alpha16 = np.fromfile(folder / layer["alpha_u16"], dtype=np.uint16).reshape(h, w)
    crop = selection16[y : y + h, x : x + w].astype(int)
    assert np.abs(alpha16.astype(int) - crop).max() <= 257, "alpha follows the selection"
    # Written in float: soft edges keep 16-bit steps instead of 256 levels.
    assert np.any(alpha16 % 257 != 0), "alpha was quantised to 8 bits"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_selection", "Nothing is selected"),
        ("indexed", "indexed"),
        ("backend_down", "not running"),
    ],
)
def test_errors_create_no_layer(gimp_run, name, message):
    manifest, _folder = _result(gimp_run, name)
    assert manifest["status"] == "execution-error"
    assert message in manifest["error"]
    assert _new_items(manifest) == []
    _assert_untouched(manifest)


def test_backend_not_running_is_started_through_the_core(gimp_run):
    _layer, rgba, selection = _check_fill(gimp_run, "autostart")
    assert np.array_equal(rgba[..., 3], selection)


def test_cancel_in_gimp_cancels_backend_job(gimp_run):
    _run, killed, url, token = gimp_run
    manifest, _folder = _result(gimp_run, "cancel")
    assert killed.get("pids"), "the plug-in process was not found to cancel it"
    assert manifest["status"] != "success"
    assert _new_items(manifest) == []
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


# --- interactive runs: the plug-in's own dialog on an Xvfb display (second GIMP start) -------


@pytest.fixture(scope="module")
def gimp_dialog_run(chroot, backend):
    url, token = backend
    config = {"backend_url": url, "token_file": f"{INSIDE_WORK}/token", "start_command": None}
    rect = {"shape": "rect", "rect": [20, 12, 16, 12]}
    cases = [
        # The dialog: Escape cancels; a seed typed in (alt+s = "_Seed") and OK (alt+o) runs
        # with it; the next dialog and a "repeat with last values" run remember it.
        {
            **_case("dialog_cancel", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_key": "Escape",
        },
        {
            **_case("dialog_typed", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_key": "alt+s ctrl+a 7 7 7 Tab alt+o",
        },
        {
            **_case("dialog_ok", selection=rect, plugin_json=config),
            "run_mode": "interactive",
            "dialog_key": "alt+o",
        },
        {**_case("repeat", selection=rect, plugin_json=config), "run_mode": "last"},
    ]
    for case in cases:
        case["args"] = {}  # what the dialog shows / what GIMP remembers
    run = run_gimp_cases(chroot, cases, {"token": token.encode()}, display=True, timeout=300)
    print(f"gimp-console run with dialogs: {run.seconds:.1f} s")
    yield (run,)
    remove_work(run)


def _single_new_layer(gimp_run, name: str) -> dict:
    manifest, _folder = _result(gimp_run, name)
    assert manifest["status"] == "success", manifest["error"]
    _assert_untouched(manifest)
    new = _new_items(manifest)
    assert len(new) == 1, new
    return new[0]


def test_dialog_cancel_does_nothing(gimp_dialog_run):
    manifest, _folder = _result(gimp_dialog_run, "dialog_cancel")
    assert "DIALOG-SHOWN RePaint Fill" in manifest["dialog"]
    assert manifest["status"] == "cancel"
    assert _new_items(manifest) == []
    _assert_untouched(manifest)


def test_dialog_values_are_used_and_remembered(gimp_dialog_run):
    for name in ("dialog_typed", "dialog_ok"):
        manifest, _folder = _result(gimp_dialog_run, name)
        assert "DIALOG-SHOWN RePaint Fill" in manifest["dialog"]
        assert _single_new_layer(gimp_dialog_run, name)["name"] == "RePaint Fill (seed 777)", name
    assert _single_new_layer(gimp_dialog_run, "repeat")["name"] == "RePaint Fill (seed 777)"
