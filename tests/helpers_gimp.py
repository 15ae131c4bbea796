"""Test helpers of the GIMP engineer's part: run real GIMP 3 in the Debian chroot.

The chroot is built by tests/hosts/gimp_chroot.sh (cached outside the repository). Each run
copies the assembled plug-in, a gimprc and the case script into a fresh folder under the chroot's
/tmp, runs one gimp-console for all cases (a start costs ~5-25 s), and reads the results back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROOT_SCRIPT = REPO / "tests" / "hosts" / "gimp_chroot.sh"
EVAL_SCRIPT = REPO / "tests" / "hosts" / "gimp_eval_cases.py"
PLUGIN_SOURCE = REPO / "plugin" / "gimp" / "repaint-fill"
CORE_SOURCE = REPO / "plugin" / "core" / "repaint_fill_core"


def chroot_root() -> Path | None:
    """The built chroot, or None when it is not built (or we are not root)."""
    if os.geteuid() != 0 or not CHROOT_SCRIPT.exists():
        return None
    answer = subprocess.run([str(CHROOT_SCRIPT), "path"], capture_output=True, text=True)
    return Path(answer.stdout.strip()) if answer.returncode == 0 else None


def assemble_plugin(plug_ins: Path) -> Path:
    """The plug-in folder as installed: repaint-fill/{repaint-fill.py, shim, core}."""
    try:
        from installer.plugin_layout import assemble_gimp_plugin
    except ImportError:
        assemble_gimp_plugin = None
    if assemble_gimp_plugin is not None:
        assemble_gimp_plugin(plug_ins)
        return plug_ins / "repaint-fill"
    folder = plug_ins / "repaint-fill"
    folder.mkdir(parents=True)
    for source in PLUGIN_SOURCE.glob("*.py"):
        shutil.copy2(source, folder / source.name)
    shutil.copytree(
        CORE_SOURCE, folder / "repaint_fill_core", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "repaint-fill.py").chmod(0o755)
    return folder


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
) -> GimpRun:
    """Run all ``cases`` (see gimp_eval_cases.py) in one gimp-console; ``files`` land in the
    work folder (e.g. the token). ``on_line(line, plugin_pids)`` sees every output line live."""
    name = "repaint-fill-gimp-test-" + uuid.uuid4().hex[:8]
    work = root / "tmp" / name
    inside = "/tmp/" + name
    (work / "home").mkdir(parents=True)
    (work / "out").mkdir()
    assemble_plugin(work / "plug-ins")
    shutil.copy2(EVAL_SCRIPT, work / "eval_cases.py")
    (work / "cases.json").write_text(json.dumps(cases))
    for filename, content in files.items():
        (work / filename).write_bytes(content)
    (work / "gimprc").write_text(
        f'(plug-in-path "{inside}/plug-ins:${{gimp_plug_in_dir}}/plug-ins")\n'
    )
    command = [
        str(CHROOT_SCRIPT),
        "run",
        f"HOME={inside}/home",
        f"REPAINT_FILL_GIMP_TEST_DIR={inside}",
        f"REPAINT_FILL_TOKEN_FILE={inside}/token",
        "--",
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
    timer = threading.Timer(timeout, process.kill)
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
