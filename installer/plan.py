"""What an install run will do: hosts found, folders, backend choices and the plug-in config.

Building the plan only reads the disk (host detection, nvidia-smi); ``--dry-run`` prints it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import urlsplit

import backend_env
import hosts
import lock as lock_file
import manifest as manifest_file
import plugin_layout

HOST_NAMES = ("krita", "gimp")
DEFAULT_URL = "http://127.0.0.1:8421"
DEFAULT_PRESET = "fast"
CONTEXT_MARGIN = 64
STARTUP_TIMEOUT = 120
VENV_NAME = "backend-venv"
PYTHONS_NAME = "python"  # Pythons uv downloads for the venv, inside our data folder
LOCK = plugin_layout.REPO_ROOT / "requirements" / "lock.txt"


FROM_PYPI = "from PyPI"


class InstallError(Exception):
    """The install cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Plan:
    """Everything one install run will put in place."""

    platform: str
    krita: tuple[hosts.KritaTarget, ...]
    gimp: tuple[hosts.GimpTarget, ...]
    config_dir: PurePath
    data_dir: PurePath
    backend_url: str
    token_file: str
    venv: PurePath | None  # None with --skip-backend
    base_python: str | None  # the Python that creates the venv
    torch: backend_env.TorchChoice | None
    project: Path | None
    lock: Path | None  # the pinned set (a pip constraints file)
    python_version: str | None  # the Python the lock is for ("3.11")
    uv: str | None  # uv: its path, FROM_PYPI (fetched for the run), or None = venv + pip
    model: str | None
    start_command: tuple[str, ...] | None
    notes: tuple[str, ...]


def _port(url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InstallError(f"--backend-url must look like http://127.0.0.1:8421, not {url!r}")
    try:
        port = parts.port
    except ValueError as error:
        raise InstallError(f"--backend-url {url!r}: {error}") from error
    return port or (443 if parts.scheme == "https" else 80)


def _detect_hosts(
    forced: tuple[str, ...] | None, platform: str, env: Mapping[str, str]
) -> tuple[list[hosts.KritaTarget], list[hosts.GimpTarget], list[str]]:
    if forced is not None:
        krita = hosts.detect_krita(platform, env, True) if "krita" in forced else []
        gimp = hosts.detect_gimp(platform, env, True) if "gimp" in forced else []
        return krita, gimp, []
    krita = hosts.detect_krita(platform, env, False)
    gimp = hosts.detect_gimp(platform, env, False)
    notes = []
    if not krita:
        notes.append("Krita not found (use --hosts krita to install anyway)")
    if not gimp:
        notes.append("GIMP 3 not found (use --hosts gimp to install anyway)")
    return krita, gimp, notes


def make_plan(
    args: argparse.Namespace,
    forced_hosts: tuple[str, ...] | None,
    platform: str,
    machine: str,
    env: Mapping[str, str],
) -> Plan:
    """The plan for these command-line options on this machine."""
    krita, gimp, notes = _detect_hosts(forced_hosts, platform, env)
    config_dir = hosts.config_folder(platform, env)
    data_dir = hosts.data_folder(platform, env)
    url = args.backend_url or DEFAULT_URL
    port = _port(url)
    token_file = os.path.abspath(args.token_file) if args.token_file else str(config_dir / "token")
    model = args.model
    embedded = model in (None, backend_env.EMBEDDED_MODEL)
    venv = torch = project = start_command = base_python = lock = python_version = uv = None
    if args.skip_backend:
        if not embedded:
            raise InstallError(
                "--model needs the backend: drop --skip-backend, or run "
                f"`repaint-fill download {model}` where the backend runs"
            )
    else:
        lock, pinned = _read_lock()
        python_version = pinned.python
        base_python = backend_env.base_python(env, python_version)
        if not args.no_uv:
            uv = backend_env.find_uv(env) or FROM_PYPI
        venv = data_dir / VENV_NAME
        gpu = None if args.torch_spec else backend_env.detect_gpu(env)
        torch = backend_env.choose_torch(platform, gpu, pinned.torch, args.torch_spec)
        try:
            project = backend_env.project_source(plugin_layout.REPO_ROOT)
        except backend_env.BackendError as error:
            raise InstallError(str(error)) from error
        program = str(backend_env.backend_program(venv, platform))
        command = [program, "serve", "--port", str(port), "--token-file", token_file]
        if not embedded:
            command += ["--model", str(model)]
        start_command = tuple(command)
    return Plan(
        platform=platform,
        krita=tuple(krita),
        gimp=tuple(gimp),
        config_dir=config_dir,
        data_dir=data_dir,
        backend_url=url,
        token_file=token_file,
        venv=venv,
        base_python=base_python,
        torch=torch,
        project=project,
        lock=lock,
        python_version=python_version,
        uv=uv,
        model=model,
        start_command=start_command,
        notes=tuple(notes),
    )


def _read_lock() -> tuple[Path, lock_file.Lock]:
    try:
        pinned = lock_file.read_lock(LOCK)
    except OSError as error:
        raise InstallError(
            f"the pinned dependency set {LOCK} is missing ({error}): use a release archive or "
            "a complete checkout"
        ) from error
    if "torch" not in pinned.pins:
        raise InstallError(f"{LOCK} pins no torch version: regenerate it (installer/lock.py)")
    return LOCK, pinned


def config_document(plan: Plan) -> str:
    """plugin.json as the host core reads it (repaint_fill_core.config.load_config)."""
    document = {
        "backend_url": plan.backend_url,
        "token_file": plan.token_file,
        "preset": DEFAULT_PRESET,
        "start_command": list(plan.start_command) if plan.start_command else None,
        "context_margin": CONTEXT_MARGIN,
        "startup_timeout": STARTUP_TIMEOUT,
    }
    return json.dumps(document, indent=2) + "\n"


def describe(plan: Plan) -> list[str]:
    """The plan as lines for the user (printed before every install and by --dry-run)."""
    lines = ["RePaint Fill install plan:"]
    for target in plan.krita:
        lines.append(
            f"  Krita ({target.variant}): plug-in -> {target.pykrita}; enable in {target.kritarc}"
        )
    for target in plan.gimp:
        lines.append(f"  GIMP {target.version} ({target.variant}): plug-in -> {target.plug_ins}")
    lines.extend(f"  note: {note}" for note in plan.notes)
    if plan.venv is None:
        lines.append("  backend: not installed (--skip-backend)")
    else:
        assert plan.torch is not None
        tool = {
            None: "venv + pip (--no-uv)",
            FROM_PYPI: f"uv ({backend_env.UV_REQUIREMENT} from "
            "PyPI for this run; venv + pip if that fails)",
        }.get(plan.uv, f"uv ({plan.uv})")
        lines.append(f"  backend: virtual environment {plan.venv}, made with {tool}")
        lines.append(
            f"    Python {plan.python_version} (the lock's; venv + pip uses {plan.base_python})"
        )
        lines.append(f"    torch: {' '.join(plan.torch.pip_args)} ({plan.torch.reason})")
        lines.append(f"    backend: {plan.project}, every package pinned by {plan.lock}")
    if plan.model not in (None, backend_env.EMBEDDED_MODEL):
        lines.append(f"  model: download {plan.model} (repaint-fill download)")
    lines.append(f"  config: {plan.config_dir / 'plugin.json'} (backend {plan.backend_url})")
    if plan.start_command:
        lines.append(f"    start command: {' '.join(plan.start_command)}")
    lines.append(f"  manifest: {plan.data_dir / manifest_file.FILE_NAME}")
    return lines
