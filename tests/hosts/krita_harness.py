"""Run real Krita 5 under Xvfb with the plug-in installed into a throwaway HOME (tests only).

Recipe (see /work/shared/notes/krita.md): an Xvfb display, a HOME whose XDG folders live inside
it, the plug-in installed by the real installer (`python installer/install.py --hosts krita
--skip-backend ...` run with HOME/XDG_* in that HOME: it writes the plug-in into
$XDG_DATA_HOME/krita/pykrita, the enable line into kritarc and plugin.json), plus a test driver
plug-in that runs a script inside Krita and writes a JSON result (enabled in kritarc too).
A fresh HOME takes ~40 s on its first start (resource database).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers_installer import install_plugin_skip_backend
from kritarc import enable_plugin  # only for the test driver's own enable line

REPO = Path(__file__).resolve().parents[2]
DRIVER_SOURCE = Path(__file__).resolve().parent / "krita_driver"

# Krita's embedded Python finds its prefix through `python3` on PATH: a pyenv/venv python there
# would hide Debian's PyQt5 from it.
SYSTEM_PATH = "/usr/bin:/bin"
FATAL_LOG_LINES = ("Could not import krita", "could not connect to display")


def missing_tools() -> list[str]:
    """Programs the Krita tier needs that are not installed."""
    return [tool for tool in ("krita", "Xvfb") if shutil.which(tool) is None]


def _wait_for_socket(path: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.1)


@contextmanager
def xvfb_display() -> Iterator[str]:
    """A private Xvfb server; yields its DISPLAY value."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            "1280x1024x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        _wait_for_socket(Path(f"/tmp/.X11-unix/X{number}"))
        yield ":" + number
    finally:
        server.terminate()
        server.wait(timeout=10)


def home_environment(home: Path) -> dict[str, str]:
    """Environment for a Krita run inside ``home`` (no user settings leak in)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "REPAINT_FILL_", "QT_", "PYTHON", "PYENV"))
    }
    env.update(
        PATH=SYSTEM_PATH,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
        TMPDIR=str(home / "tmp"),
    )
    return env


def run_installer(home: Path, backend_url: str, token_file: Path) -> str:
    """``python installer/install.py --hosts krita --skip-backend ...`` into ``home``.

    Returns the installer's output; fails the calling test when the installer fails.
    """
    return install_plugin_skip_backend(
        "krita", home_environment(home), backend_url, str(token_file)
    )


def prepare_home(home: Path, backend_url: str, token_file: Path) -> Path:
    """Create a HOME, install the plug-in with the installer, add the test driver (enabled)."""
    for folder in (".config", ".local/share", ".cache", "runtime", "tmp"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    (home / "runtime").chmod(0o700)
    (home / "tmp" / "installer-output.txt").write_text(run_installer(home, backend_url, token_file))
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    shutil.copytree(
        DRIVER_SOURCE, pykrita, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    kritarc = home / ".config" / "kritarc"
    text, _edit = enable_plugin(kritarc.read_text(), "repaint_fill_test_driver")
    kritarc.write_text(text)
    return home


def _wait_for_krita(
    process: subprocess.Popen, log_path: Path, result_path: Path, timeout: float
) -> None:
    """Wait for Krita to quit; kill it on timeout, on a fatal log line, or when it lingers."""
    deadline = time.monotonic() + timeout
    result_seen_at = None
    while process.poll() is None:
        now = time.monotonic()
        log = log_path.read_text(errors="replace")
        if now > deadline or any(line in log for line in FATAL_LOG_LINES):
            break
        if result_seen_at is None and result_path.exists():
            result_seen_at = now
        if result_seen_at is not None and now - result_seen_at > 30:
            break  # wrote its result but did not quit
        time.sleep(0.25)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_krita(
    home: Path, display: str, script: Path, extra_env: dict[str, str], timeout: float = 240
) -> dict:
    """Start Krita, run ``script``'s main(result) inside it, return the result dict."""
    result_path = home / "tmp" / "driver-result.json"
    result_path.unlink(missing_ok=True)
    env = home_environment(home)
    env.update(
        extra_env,
        DISPLAY=display,
        REPAINT_FILL_TEST_SCRIPT=str(script),
        REPAINT_FILL_TEST_RESULT=str(result_path),
    )
    log_path = home / "tmp" / "krita-output.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["krita", "--nosplash"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for_krita(process, log_path, result_path, timeout)
    if not result_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise AssertionError(f"Krita wrote no result (exit {process.returncode}). Log:\n{tail}")
    result = json.loads(result_path.read_text())
    result["exit_code"] = process.returncode
    return result
