"""Test helpers of the GIMP engineer's part: run real GIMP 3 in the Debian chroot.

The chroot is built by tests/hosts/gimp_chroot.sh (cached outside the repository). Each run
copies the assembled plug-in, a gimprc and the case script into a fresh folder under the chroot's
/tmp, runs one gimp-console for all cases (a start costs ~5-25 s), and reads the results back.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROOT_SCRIPT = REPO / "tests" / "hosts" / "gimp_chroot.sh"
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


def assemble_plugin(plug_ins: Path) -> Path:
    """The plug-in folder exactly as the installer lays it out (installer/plugin_layout.py)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from installer.plugin_layout import assemble_gimp_plugin

    assemble_gimp_plugin(plug_ins)
    return plug_ins / "repaint-fill"


@dataclass
class GimpRun:
    """The outcome of one gimp-console run over several cases."""

    returncode: int
    output: str
    seconds: float
    results: dict[str, dict] = field(default_factory=dict)
    crashes: dict[str, str] = field(default_factory=dict)
    work: Path | None = None

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
    on_line: Callable[[str, Callable[[], list[int]]], None] | None = None,
    timeout: float = 900.0,
    display: bool = False,
) -> GimpRun:
    """Run all ``cases`` (see gimp_eval_cases.py) in one gimp-console; ``files`` land in the
    work folder (e.g. the token). ``on_line(line, plugin_pids)`` sees every output line live.
    With ``display``, an Xvfb display is started for the plug-in's dialogs (interactive runs)."""
    name = "repaint-fill-gimp-test-" + uuid.uuid4().hex[:8]
    work = root / "tmp" / name
    inside = "/tmp/" + name
    (work / "home").mkdir(parents=True)
    (work / "out").mkdir()
    assemble_plugin(work / "plug-ins")
    shutil.copy2(EVAL_SCRIPT, work / "eval_cases.py")
    # Cases may refer to their folder inside the chroot as {work}.
    (work / "cases.json").write_text(json.dumps(cases).replace("{work}", inside))
    for filename, content in files.items():
        (work / filename).write_bytes(content)
    (work / "gimprc").write_text(
        f'(plug-in-path "{inside}/plug-ins:${{gimp_plug_in_dir}}/plug-ins")\n'
    )
    environment = [f"HOME={inside}/home", f"REPAINT_FILL_GIMP_TEST_DIR={inside}"]
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
        f"--gimprc={inside}/gimprc",
        "--batch-interpreter=python-fu-eval",
        "-b",
        f'exec(open("{inside}/eval_cases.py").read())',
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
    run = GimpRun(process.returncode, "".join(lines), time.monotonic() - started, work=work)
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
