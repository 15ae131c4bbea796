"""The real backend virtual environment from the checkout (slow: venv + pip, --no-uv).

Skipped unless REPAINT_FILL_SLOW=1. Always pins torch (--torch-spec torch==2.13.0): an unpinned
torch would pull a multi-GB CUDA build. pip's own configuration of this machine (PIP_* variables
and the user's pip.conf, which the throwaway HOME hides) is passed through so pip finds the
same local wheels and indexes as outside the test.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers_installer import (
    REPO,
    assert_exactly_the_lock,
    machine_pip_config,
    make_sandbox,
    run_installer,
    snapshot,
)

TORCH_SPEC = "torch==2.13.0"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("REPAINT_FILL_SLOW") != "1", reason="set REPAINT_FILL_SLOW=1")
def test_real_backend_venv_install_and_uninstall(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    before = snapshot(box.home)
    # pip's own wheel cache belongs to the user's pip, not to our install: keep it out of HOME so
    # "uninstall leaves nothing behind" checks only what the installer put there.
    pip_env = {**machine_pip_config(), "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}
    started = time.monotonic()
    result = run_installer(
        box,
        "--hosts",
        "krita,gimp",
        "--torch-spec",
        TORCH_SPEC,
        "--model",
        "embedded",
        "--no-uv",
        extra_env=pip_env,
        timeout=1800,
    )
    print(f"real backend install took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    venv = box.app_data / "backend-venv"
    command = json.loads((box.app_config / "plugin.json").read_text())["start_command"]
    assert command[0] == str(venv / "bin" / "repaint-fill")
    assert command[1:] == ["serve", "--port", "8421", "--token-file", str(box.app_config / "token")]
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import torch, repaint_fill_backend; print(torch.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith("2.13.0")
    assert "backend environment made with venv + pip" in result.stdout
    assert_exactly_the_lock(venv / "bin" / "python", REPO / "requirements" / "lock.txt")
    manifest = box.manifest.read_bytes()
    assert json.loads(manifest)["venv"] == str(venv)
    started = time.monotonic()
    again = run_installer(
        box,
        *("--hosts", "krita,gimp", "--torch-spec", TORCH_SPEC, "--no-uv"),
        extra_env=pip_env,
        timeout=1800,
    )
    print(f"re-install took {time.monotonic() - started:.0f} s")
    print("\n".join(line for line in again.stdout.splitlines() if "installed" in line))
    assert again.returncode == 0, again.stderr[-3000:]
    assert box.manifest.read_bytes() == manifest
    help_text = subprocess.run(
        [command[0], "--help"], capture_output=True, text=True, timeout=300, check=False
    )
    assert help_text.returncode == 0 and "serve" in help_text.stdout, help_text.stderr[-2000:]
    uninstall = run_installer(box, "--uninstall", timeout=900)  # a torch venv has many files
    assert uninstall.returncode == 0, uninstall.stderr
    assert snapshot(box.home) == before
