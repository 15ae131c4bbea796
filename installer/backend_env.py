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
ROCM_INDEX = "https://download.pytorch.org/whl/rocm6.4"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MIN_BACKEND_PYTHON = (3, 10)
EMBEDDED_MODEL = "embedded"
UV_REQUIREMENT = "uv==0.13.9"  # fetched from PyPI for one run when no uv is on PATH
# pip's settings that uv reads under its own names (uv does not read pip.conf).
PIP_TO_UV = {
    "PIP_INDEX_URL": "UV_DEFAULT_INDEX",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
    "PIP_CERT": "SSL_CERT_FILE",  # a company CA bundle: uv's built-in roots do not know it
}
# `repaint-fill download` of a model a program may not fetch (cli.MANUAL_DOWNLOAD_EXIT): it
# printed the manual steps; the install goes on without the model.
MANUAL_DOWNLOAD_EXIT = 4


class BackendError(Exception):
    """A backend step failed; the message says which command and why."""


class TorchChoice(NamedTuple):
    """The pip arguments that install torch, and why this build was chosen."""

    pip_args: tuple[str, ...]
    reason: str


def choose_torch(
    platform: str, gpu: str | None, torch_version: str, torch_spec: str | None
) -> TorchChoice:
    """Which torch build to install: the lock's version, the build for this machine (pure).

    ``gpu`` is "nvidia", "rocm" or None (see :func:`detect_gpu`). The build's index is an extra
    one: pip takes the highest matching version, and a build label (``2.13.0+cpu``) sorts above
    the plain ``2.13.0`` of PyPI, so that index's build wins where it has one.
    ``torch_spec`` (from --torch-spec) replaces the choice entirely: a pip requirement,
    optionally followed by pip options (e.g. ``"torch==2.5.1 --index-url URL"``).
    """
    if torch_spec:
        return TorchChoice(tuple(shlex.split(torch_spec)), "as given by --torch-spec")
    pinned = f"torch=={torch_version}"
    if gpu == "nvidia":
        return TorchChoice((pinned, "--extra-index-url", CUDA_INDEX), "CUDA build: NVIDIA GPU")
    if gpu == "rocm" and platform.startswith("linux"):
        return TorchChoice((pinned, "--extra-index-url", ROCM_INDEX), "ROCm build: AMD GPU")
    if platform == "darwin":
        return TorchChoice((pinned,), "macOS build (Metal on Apple silicon)")
    return TorchChoice((pinned, "--extra-index-url", CPU_INDEX), "CPU build: no NVIDIA/AMD GPU")


def _lists_devices(env: Mapping[str, str], program: str, args: Sequence[str], mark: str) -> bool:
    found = shutil.which(program, path=env.get("PATH", ""))
    if found is None:
        return False
    try:
        listing = subprocess.run(
            [found, *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and mark in listing.stdout


def has_nvidia_gpu(env: Mapping[str, str]) -> bool:
    """An NVIDIA driver is installed and lists at least one GPU (``nvidia-smi -L``)."""
    return _lists_devices(env, "nvidia-smi", ["-L"], "GPU")


def detect_gpu(env: Mapping[str, str]) -> str | None:
    """ "nvidia" (nvidia-smi lists a GPU), "rocm" (rocminfo lists a gfx agent) or None."""
    if has_nvidia_gpu(env):
        return "nvidia"
    if _lists_devices(env, "rocminfo", [], "gfx"):
        return "rocm"
    return None


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


def base_python(env: Mapping[str, str], wanted: str | None = None) -> str:
    """A Python for the venv: the lock's version ``wanted`` ("3.11") where there is one, else
    this one if it is 3.10+, else the newest python3.X on PATH."""
    path = env.get("PATH", "")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and wanted != here:
        found = shutil.which(f"python{wanted}", path=path)
        if found:
            return found
    if sys.version_info >= MIN_BACKEND_PYTHON:
        return sys.executable
    for minor in range(20, MIN_BACKEND_PYTHON[1] - 1, -1):
        found = shutil.which(f"python3.{minor}", path=path)
        if found:
            return found
    wanted = ".".join(str(part) for part in MIN_BACKEND_PYTHON)
    raise BackendError(
        f"the backend needs Python {wanted} or newer but this is {sys.version.split()[0]} and "
        f"no python3.1x is on PATH: install a newer Python or uv, or use --skip-backend"
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


def download_model(venv: Path, platform: str, model_id: str, env: Mapping[str, str]) -> str | None:
    """``repaint-fill download ID`` in the venv (it shows the progress bar on stderr).

    Returns the downloaded file or folder as the backend printed it, or None when the model
    must be fetched by hand (the backend printed the steps).
    """
    program = backend_program(venv, platform)
    command = [str(program), "download", model_id]
    print("  $ " + " ".join(shlex.quote(part) for part in command), flush=True)
    try:
        finished = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, env=dict(env), check=False
        )
    except OSError as error:
        raise BackendError(f"cannot run {program}: {error}") from error
    if finished.returncode == MANUAL_DOWNLOAD_EXIT:
        return None
    if finished.returncode != 0:
        raise BackendError(
            f"downloading the model {model_id} failed (exit code {finished.returncode}); "
            "its messages are above"
        )
    lines = [line.strip() for line in finished.stdout.splitlines() if line.strip()]
    if not lines:
        raise BackendError(f"downloading the model {model_id} printed no path")
    return lines[-1]


def model_cache_folder(downloaded: Path) -> Path:
    """The folder that holds one downloaded model: its hub cache repo folder if it is one."""
    # huggingface_hub: <cache>/models--org--name/snapshots/<revision>
    if downloaded.parent.name == "snapshots" and downloaded.parent.parent.name.startswith(
        "models--"
    ):
        return downloaded.parent.parent
    return downloaded


# --- uv: the faster installer that also provides the lock's Python ------------------------------


def find_uv(env: Mapping[str, str]) -> str | None:
    return shutil.which("uv", path=env.get("PATH", ""))


def fetch_uv(python: str, folder: Path, env: Mapping[str, str]) -> str | None:
    """uv from PyPI into ``folder`` (``pip install --target``); None if pip cannot get it."""
    command = [python, "-m", "pip", "install", "--quiet", "--target", str(folder), UV_REQUIREMENT]
    try:
        run(command, env, f"installing {UV_REQUIREMENT} for this run")
    except BackendError:
        return None
    for candidate in (
        folder / "bin" / "uv",
        folder / "bin" / "uv.exe",
        folder / "Scripts" / "uv.exe",
    ):
        if candidate.is_file():
            return str(candidate)
    return None


def uv_environment(env: Mapping[str, str], python_folder: Path) -> dict[str, str]:
    """``env`` with pip's index settings under uv's names, and uv's Pythons in our folder."""
    translated = {uv: env[pip] for pip, uv in PIP_TO_UV.items() if pip in env and uv not in env}
    return {**env, **translated, "UV_PYTHON_INSTALL_DIR": str(python_folder)}


def create_venv_uv(uv: str, venv: Path, python: str, env: Mapping[str, str]) -> None:
    """A fresh venv with Python ``python`` (uv finds it, or downloads it); pip seeded in it."""
    command = [uv, "venv", "--seed", "--clear", "--python", python, str(venv)]
    run(command, env, f"creating the virtual environment {venv} with uv")


def install_backend(
    venv: Path,
    platform: str,
    packages: Sequence[str],
    lock: Path,
    env: Mapping[str, str],
    uv: str | None,
) -> None:
    """``packages`` (torch's build and the project) into the venv, pinned by ``lock``."""
    args = [*packages, "-c", str(lock)]
    if uv is None:
        pip_install(venv, platform, args, env)
        return
    python = str(venv_python(venv, platform))
    # Like pip: the best match over every index (uv's default stops at the first that has it).
    command = [uv, "pip", "install", "--python", python, "--index-strategy", "unsafe-best-match"]
    run([*command, *args], env, "uv pip install " + " ".join(args))
