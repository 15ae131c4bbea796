"""The release archive (installer/package.py), unpacked into a throwaway folder, installs.

Fast: the plug-ins and config with --skip-backend, and the backend plan read from the archive's
own wheel and lock. Slow (REPAINT_FILL_SLOW=1): a real backend environment made by uv from the
archive, whose installed packages are exactly the lock's versions; the checkout's installer with
venv + pip is tests/backend/test_installer_backend.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import plugin_layout
import pytest
from helpers_installer import (
    REPO,
    assert_exactly_the_lock,
    build_release,
    machine_pip_config,
    make_sandbox,
    run_release_installer,
    snapshot,
    unpack_release,
)
from lock import read_lock


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = build_release(tmp_path_factory.mktemp("dist"))
    return unpack_release(archive, tmp_path_factory.mktemp("unpacked"))


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_release_is_no_checkout_and_carries_wheel_and_lock(release: Path) -> None:
    assert not (release / "pyproject.toml").exists() and not (release / "backend").exists()
    assert (release / "requirements" / "lock.txt").read_bytes() == (
        REPO / "requirements" / "lock.txt"
    ).read_bytes()
    (wheel,) = (release / "dist").glob("repaint_fill-*.whl")
    with zipfile.ZipFile(wheel) as contents:
        names = set(contents.namelist())
    assert "repaint_fill_backend/cli.py" in names
    assert "repaint_fill_backend/weights/embedded/unet/config.json" in names
    assert "repaint_fill_backend/downloads.py" in names


def test_release_ships_no_benchmarks_or_training(release: Path) -> None:
    # They are the developer tools (tools/, repaint_fill_tools): not in the wheel, not beside it.
    (wheel,) = (release / "dist").glob("repaint_fill-*.whl")
    with zipfile.ZipFile(wheel) as contents:
        in_wheel = contents.namelist()
    in_release = [path.relative_to(release).as_posix() for path in release.rglob("*")]
    developer_only = re.compile(r"repaint_fill_tools|(^|/)(bench|training)(/|\.py$)")
    shipped = [name for name in in_wheel + in_release if developer_only.search(name)]
    assert not shipped, shipped
    assert "repaint_fill_backend/budget.py" in in_wheel  # what the runtime keeps of the bench's
    assert "repaint_fill_backend/quality_curve.json" in in_wheel


def test_unpacked_release_installs_the_plugins_with_skip_backend(
    release: Path, tmp_path: Path
) -> None:
    box = make_sandbox(tmp_path)
    result = run_release_installer(release, box, "--hosts", "krita,gimp", "--skip-backend")
    assert result.returncode == 0, result.stderr
    # The same files as the checkout's plug-ins, core included.
    plugin_layout.assemble_krita_plugin(tmp_path / "expected-krita")
    plugin_layout.assemble_gimp_plugin(tmp_path / "expected-gimp")
    assert _files(box.pykrita) == _files(tmp_path / "expected-krita")
    assert _files(box.gimp_plug_ins() / "repaint-fill") == _files(
        tmp_path / "expected-gimp" / "repaint-fill"
    )
    assert "repaint_fill=true" in box.kritarc.read_text()
    assert json.loads((box.app_config / "plugin.json").read_text())["start_command"] is None
    assert run_release_installer(release, box, "--uninstall").returncode == 0


def test_release_plan_uses_its_own_wheel_and_lock(release: Path, tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    result = run_release_installer(release, box, "--hosts", "krita", "--dry-run")
    assert result.returncode == 0, result.stderr
    (wheel,) = (release / "dist").glob("repaint_fill-*.whl")
    assert f"backend: {wheel}, every package pinned by {release / 'requirements/lock.txt'}" in (
        result.stdout
    )
    # No NVIDIA or AMD GPU in the sandbox: the CPU build of the lock's torch.
    assert "torch: torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu" in (
        result.stdout
    )
    assert "made with uv" in result.stdout
    assert not box.app_data.exists()


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("REPAINT_FILL_SLOW") != "1", reason="set REPAINT_FILL_SLOW=1")
def test_release_installs_a_real_backend_with_uv_at_the_pinned_versions(
    release: Path, tmp_path: Path
) -> None:
    box = make_sandbox(tmp_path)
    base = Path(sys._base_executable).resolve()  # uv looks for the lock's python3.11 on PATH
    (box.bin / f"python{read_lock(release / 'requirements/lock.txt').python}").symlink_to(base)
    before = snapshot(box.home)
    env = {
        **machine_pip_config(),
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
    }
    if shutil.which("uv"):
        (box.bin / "uv").symlink_to(shutil.which("uv"))
    started = time.monotonic()
    args = ("--hosts", "krita", "--torch-spec", "torch==2.13.0", "--model", "embedded")
    result = run_release_installer(release, box, *args, extra_env=env, timeout=1800)
    print(f"release install with uv took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "backend environment made with uv" in result.stdout, (
        result.stdout + result.stderr[-3000:]
    )
    venv = box.app_data / "backend-venv"
    assert_exactly_the_lock(venv / "bin" / "python", release / "requirements" / "lock.txt")
    help_text = subprocess.run(
        [str(venv / "bin" / "repaint-fill"), "models"], capture_output=True, text=True, timeout=300
    )
    assert help_text.returncode == 0 and help_text.stdout.startswith("embedded\t")
    uninstall = run_release_installer(release, box, "--uninstall", timeout=900)
    assert uninstall.returncode == 0, uninstall.stderr
    assert snapshot(box.home) == before
