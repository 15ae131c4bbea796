"""Test helpers of the GIMP engineer's part: run real GIMP 3 in the Debian chroot.

The chroot is built by tests/hosts/gimp_chroot.sh (cached outside the repository). Each run
makes a fresh folder under the chroot's /tmp with a HOME for GIMP in it, installs the plug-in
there with the real installer (`python installer/install.py --hosts gimp --skip-backend ...`,
run on the host with HOME/XDG_* pointing at that HOME: the plug-in goes into
$XDG_CONFIG_HOME/GIMP/3.x/plug-ins, where GIMP finds it, and plugin.json next to it), copies the
case script, runs one gimp-console for all cases (a start costs ~5-25 s), and reads the results
back.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from helpers_installer import install_plugin_skip_backend
from helpers_paths import path_prelude
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHROOT_SCRIPT = REPO / "tests" / "hosts" / "gimp_chroot.sh"
SEED = 1234  # the seed the cases ask for
MARGIN = 8  # the context margin the cases ask for
INSIDE_WORK = "{work}"  # a case's run folder inside the chroot; filled in by run_gimp_cases
INSIDE_PLUGIN = "{plugin}"  # the installed plug-in folder inside the chroot; filled in likewise
EVAL_SCRIPT = REPO / "tests" / "hosts" / "gimp_eval_cases.py"


# Runs "$@" with an Xvfb server on $DISPLAY for its duration (inside the chroot).
XVFB_WRAPPER = """
Xvfb "$DISPLAY" -nolisten tcp >/dev/null 2>&1 & xvfb=$!
for i in $(seq 50); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.1; done
"$@"; status=$?
kill "$xvfb"; wait "$xvfb" 2>/dev/null
exit "$status"
"""


def chroot_root() -> Path | None:
    """The built chroot, or None when it is not built (or we are not root)."""
    if os.geteuid() != 0 or not CHROOT_SCRIPT.exists():
        return None
    answer = subprocess.run([str(CHROOT_SCRIPT), "path"], capture_output=True, text=True)
    return Path(answer.stdout.strip()) if answer.returncode == 0 else None


def gimp_version(root: Path) -> str:
    """The chroot's GIMP as "3.x" (its user folder name), from the chroot's dpkg status."""
    status = (root / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    for stanza in status.split("\n\n"):
        if re.search(r"^Package: gimp$", stanza, re.MULTILINE):
            found = re.search(r"^Version: (?:\d+:)?(3\.\d+)", stanza, re.MULTILINE)
            if found:
                return found.group(1)
    raise RuntimeError(f"no GIMP 3 package in the chroot {root}")


def install_plugin(home: Path, backend_url: str, token_file: str) -> str:
    """Run the real installer for GIMP into ``home`` (host path); returns its output.

    ``token_file`` is written into plugin.json as given (a path inside the chroot).
    """
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    return install_plugin_skip_backend("gimp", env, backend_url, token_file)


@dataclass
class GimpRun:
    """The outcome of one gimp-console run over several cases."""

    returncode: int
    output: str
    seconds: float
    results: dict[str, dict] = field(default_factory=dict)
    crashes: dict[str, str] = field(default_factory=dict)
    work: Path | None = None
    installer_output: str = ""
    installed_config: dict = field(default_factory=dict)  # plugin.json as the installer wrote it
    plugin_dir: Path | None = None  # where the installer put the plug-in (host path)

    def case_dir(self, name: str) -> Path:
        assert self.work is not None
        return self.work / "out" / name


def _plugin_processes(marker: str) -> list[int]:
    """PIDs of python processes running our plug-in from this run's folder (host view)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(marker.encode() in part and part.endswith(b"repaint-fill.py") for part in cmdline):
            pids.append(int(entry.name))
    return pids


def run_gimp_cases(
    root: Path,
    cases: list[dict],
    files: dict[str, bytes],
    backend_url: str,
    on_line: Callable[[str, Callable[[], list[int]]], None] | None = None,
    timeout: float = 900.0,
    display: bool = False,
) -> GimpRun:
    """Run all ``cases`` (see gimp_eval_cases.py) in one gimp-console; ``files`` land in the
    work folder (e.g. the token). The installer puts the plug-in into GIMP's user folder with
    ``backend_url`` and the token file <work>/token in plugin.json (a case whose plugin_json is
    None uses that file). ``on_line(line, plugin_pids)`` sees every output line live.
    With ``display``, an Xvfb display is started for the plug-in's dialogs (interactive runs)."""
    name = "repaint-fill-gimp-test-" + uuid.uuid4().hex[:8]
    work = root / "tmp" / name
    inside = "/tmp/" + name
    home = work / "home"
    version = gimp_version(root)
    (home / ".config" / "GIMP" / version).mkdir(parents=True)  # the installer finds this GIMP
    (work / "out").mkdir()
    installer_output = install_plugin(home, backend_url, f"{inside}/token")
    plugin_dir = home / ".config" / "GIMP" / version / "plug-ins" / "repaint-fill"
    assert (plugin_dir / "repaint-fill.py").is_file(), installer_output
    installed_config = json.loads((home / ".config" / "repaint-fill" / "plugin.json").read_text())
    inside_plugin = f"{inside}/home/.config/GIMP/{version}/plug-ins/repaint-fill"
    shutil.copy2(EVAL_SCRIPT, work / "eval_cases.py")
    # Cases may refer to their folder inside the chroot as {work}, the plug-in's as {plugin}.
    (work / "cases.json").write_text(
        json.dumps(cases).replace(INSIDE_WORK, inside).replace(INSIDE_PLUGIN, inside_plugin)
    )
    for filename, content in files.items():
        (work / filename).write_bytes(content)
    environment = [
        f"HOME={inside}/home",
        f"XDG_CONFIG_HOME={inside}/home/.config",
        f"REPAINT_FILL_GIMP_TEST_DIR={inside}",
    ]
    wrapper: list[str] = []
    if display:
        # A display number of our own: X's abstract sockets are shared with the host.
        environment.append(f"DISPLAY=:{random.randint(300, 899)}")
        wrapper = ["sh", "-c", XVFB_WRAPPER, "xvfb"]
    command = [
        str(CHROOT_SCRIPT),
        "run",
        *environment,
        "--",
        *wrapper,
        # Time limit inside the chroot, so the run script still unmounts afterwards.
        "timeout",
        "-k",
        "10",
        str(int(timeout)),
        "gimp-console",
        "-i",
        "--quit",
        "--batch-interpreter=python-fu-eval",
        "-b",
        f'{path_prelude(inside_plugin)}; exec(open("{inside}/eval_cases.py").read())',
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    lines: list[str] = []
    timer = threading.Timer(timeout + 60, process.terminate)  # last resort only
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line, lambda: _plugin_processes(name))
        process.wait()
    finally:
        timer.cancel()
    run = GimpRun(
        process.returncode,
        "".join(lines),
        time.monotonic() - started,
        work=work,
        installer_output=installer_output,
        installed_config=installed_config,
        plugin_dir=plugin_dir,
    )
    for case in cases:
        folder = work / "out" / case["name"]
        if (folder / "manifest.json").exists():
            run.results[case["name"]] = json.loads((folder / "manifest.json").read_text())
        if (folder / "crash.txt").exists():
            run.crashes[case["name"]] = (folder / "crash.txt").read_text()
    return run


def remove_work(run: GimpRun) -> None:
    """Delete the run's folder inside the chroot (plain files only; nothing is mounted there)."""
    if run.work is not None and run.work.name.startswith("repaint-fill-gimp-test-"):
        shutil.rmtree(run.work, ignore_errors=True)


# --- checks shared by the GIMP test modules (their fixtures: tests/hosts/conftest.py) --------


def make_case(
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


def result_of(gimp_run, name: str) -> tuple[dict, Path]:
    run = gimp_run[0]
    assert name not in run.crashes, run.crashes[name]
    assert name in run.results, f"case {name} produced no manifest:\n{run.output[-3000:]}"
    return run.results[name], run.case_dir(name)


def new_items(manifest: dict) -> list[dict]:
    before = {info["id"] for info in manifest["before"]}
    return [info for info in manifest["after"] if info["id"] not in before]


def assert_untouched(manifest: dict) -> None:
    after = {info["id"]: info for info in manifest["after"]}
    for info in manifest["before"]:
        if info["is_group"]:  # its projection includes the new layer when that goes inside it
            continue
        assert after[info["id"]]["sha256"] == info["sha256"], f"{info['name']} pixels changed"
        assert after[info["id"]]["offset"] == info["offset"]
        assert after[info["id"]]["size"] == info["size"]
    assert manifest["base_type_after"] == manifest["base_type"]
    assert manifest["precision_after"] == manifest["precision"]


def check_fill(gimp_run, name: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The checks every successful fill must pass; returns (new layer, its RGBA, selection)."""
    manifest, folder = result_of(gimp_run, name)
    assert manifest["status"] == "success", manifest["error"]
    assert_untouched(manifest)
    new = new_items(manifest)
    assert len(new) == 1, f"expected exactly one new layer, got {new}"
    layer = new[0]
    # The model is named when the backend names it (the stand-in backend of autostart does not).
    assert re.fullmatch(rf"RePaint Fill \((?:[^,]+, )?seed {SEED}\)", layer["name"]), layer["name"]
    active = next(info for info in manifest["before"] if info["name"] == "Base")
    assert layer["parent"] == active["parent"], "new layer must be next to Base"
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


def single_new_layer(gimp_run, name: str) -> dict:
    manifest, _folder = result_of(gimp_run, name)
    assert manifest["status"] == "success", manifest["error"]
    assert_untouched(manifest)
    new = new_items(manifest)
    assert len(new) == 1, new
    return new[0]
