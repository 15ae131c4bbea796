"""The backend's virtual environment: the right torch build, this project, and models.

Everything runs through the venv's own Python (``python -m pip``), so the user's other Pythons
are never touched. pip's own configuration (indexes, find-links, proxies) applies as usual.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import NamedTuple

from hosts import is_windows, venv_executable

CUDA_INDEX = "https://download.pytorch.org/whl/cu128"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_BACKEND_PYTHON = (3, 10)
EMBEDDED_MODEL = "embedded"


class BackendError(Exception):
    """A backend step failed; the message says which command and why."""


class TorchChoice(NamedTuple):
    """The pip arguments that install torch, and why this build was chosen."""

    pip_args: tuple[str, ...]
    reason: str


def choose_torch(
    platform: str, machine: str, has_nvidia: bool, torch_spec: str | None
) -> TorchChoice:
    """Which torch build to install (pure: the caller detects the GPU).

    ``torch_spec`` (from --torch-spec) replaces the choice entirely: it is a pip requirement,
    optionally followed by pip options (e.g. ``"torch==2.5.1 --index-url URL"``), installed from
    pip's configured indexes.
    """
    if torch_spec:
        return TorchChoice(tuple(shlex.split(torch_spec)), "as given by --torch-spec")
    if has_nvidia:
        return TorchChoice(("torch", "--index-url", CUDA_INDEX), "CUDA build: NVIDIA GPU found")
    if platform == "darwin":
        why = "default build (Metal on Apple silicon)" if machine == "arm64" else "default build"
        return TorchChoice(("torch",), why)
    return TorchChoice(("torch", "--index-url", CPU_INDEX), "CPU build: no NVIDIA GPU found")


def has_nvidia_gpu(env: Mapping[str, str]) -> bool:
    """An NVIDIA driver is installed and lists at least one GPU (``nvidia-smi -L``)."""
    program = shutil.which("nvidia-smi", path=env.get("PATH", ""))
    if program is None:
        return False
    try:
        listing = subprocess.run(
            [program, "-L"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def venv_python(venv: PurePath, platform: str) -> PurePath:
    if is_windows(platform):
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def backend_program(venv: PurePath, platform: str) -> PurePath:
    """The ``repaint-fill`` console command inside the venv."""
    return venv_executable(venv, platform, "repaint-fill")


def project_source(repo_root: Path) -> Path:
    """What to pip install: the source tree, or else a wheel shipped in <root>/dist."""
    if (repo_root / "pyproject.toml").is_file():
        return repo_root
    wheels = sorted((repo_root / "dist").glob("repaint_fill-*.whl"))
    if wheels:
        return wheels[-1]
    raise BackendError(f"no pyproject.toml and no repaint_fill wheel in {repo_root}")


def base_python(env: Mapping[str, str]) -> str:
    """A Python 3.10+ for the venv: this one, else the newest python3.X on PATH."""
    if sys.version_info >= MIN_BACKEND_PYTHON:
        return sys.executable
    for minor in range(20, MIN_BACKEND_PYTHON[1] - 1, -1):
        found = shutil.which(f"python3.{minor}", path=env.get("PATH", ""))
        if found:
            return found
    wanted = ".".join(str(part) for part in MIN_BACKEND_PYTHON)
    raise BackendError(
        f"the backend needs Python {wanted} or newer but this is {sys.version.split()[0]} and "
        f"no python3.1x is on PATH: install a newer Python, or use --skip-backend"
    )


def run(command: Sequence[str], env: Mapping[str, str], what: str, capture: bool = False) -> str:
    """Run a command with its output shown to the user; returns stdout if ``capture``."""
    print("  $ " + " ".join(shlex.quote(str(part)) for part in command), flush=True)
    try:
        finished = subprocess.run(
            [str(part) for part in command],
            stdout=subprocess.PIPE if capture else None,
            text=True,
            env=dict(env),
            check=False,
        )
    except OSError as error:
        raise BackendError(f"{what} failed: cannot run {command[0]}: {error}") from error
    if finished.returncode != 0:
        raise BackendError(
            f"{what} failed (exit code {finished.returncode}); its messages are above"
        )
    return finished.stdout or ""


def create_venv(venv: Path, python: str, env: Mapping[str, str]) -> None:
    """A fresh venv (a folder without a working Python, e.g. left by a removed Python, is reset)."""
    clear = ["--clear"] if venv.exists() else []
    command = [python, "-m", "venv", *clear, str(venv)]
    run(command, env, f"creating the virtual environment {venv}")


def pip_install(venv: Path, platform: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    python = venv_python(venv, platform)
    run([str(python), "-m", "pip", "install", *args], env, "pip install " + " ".join(args))


def download_model(venv: Path, platform: str, model_id: str, env: Mapping[str, str]) -> str:
    """``repaint-fill download ID`` in the venv (huggingface_hub shows the progress bar).

    Returns the downloaded folder as the backend printed it.
    """
    program = backend_program(venv, platform)
    what = f"downloading the model {model_id}"
    output = run([str(program), "download", model_id], env, what, capture=True)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise BackendError(f"downloading the model {model_id} printed no folder")
    return lines[-1]


def model_cache_folder(downloaded: Path) -> Path:
    """The folder that holds one downloaded model: its hub cache repo folder if it is one."""
    # huggingface_hub: <cache>/models--org--name/snapshots/<revision>
    if downloaded.parent.name == "snapshots" and downloaded.parent.parent.name.startswith(
        "models--"
    ):
        return downloaded.parent.parent
    return downloaded
