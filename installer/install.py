#!/usr/bin/env python3
"""Install RePaint Fill: the Krita and GIMP plug-ins, their config, and the local backend.

    python installer/install.py [--hosts krita,gimp] [--skip-backend] [--backend-url URL]
        [--token-file F] [--torch-spec SPEC] [--model NAME] [--no-uv] [--dry-run]
        [--uninstall] [--purge-models]

Standard library only (Python 3.9+). Where things go follows HOME, XDG_CONFIG_HOME, XDG_DATA_HOME,
APPDATA and LOCALAPPDATA. Every run is all-or-nothing: a failed step undoes the run's changes.
"""

from __future__ import annotations

import argparse
import os
import platform as platform_info
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backend_env  # noqa: E402
import hosts  # noqa: E402
import kritarc  # noqa: E402
import manifest as manifest_file  # noqa: E402
import plugin_layout  # noqa: E402
from plan import (  # noqa: E402
    FROM_PYPI,
    HOST_NAMES,
    PYTHONS_NAME,
    InstallError,
    Plan,
    config_document,
    describe,
    make_plan,
)
from transaction import Transaction, remove_path  # noqa: E402
from uninstall import uninstall  # noqa: E402

EXPECTED_ERRORS = (
    OSError,
    InstallError,
    backend_env.BackendError,
    manifest_file.ManifestError,
    UnicodeError,
)
FAIL_AT_ENV = "REPAINT_FILL_INSTALLER_FAIL_AT"  # test hook: fail right after the named step
PROG = "install.py"


class Run:
    """One install run: the transaction, and the manifest records of what it changed."""

    def __init__(self, plan: Plan, env: Mapping[str, str]) -> None:
        self.plan = plan
        self.env = env
        self.tx = Transaction()
        self.record = manifest_file.Manifest()
        self.notes: list[str] = []  # said again at the end of a successful run
        self.new_pythons: Path | None = None  # uv's Python folder, if this run may create it

    def step_done(self, step: str) -> None:
        if self.env.get(FAIL_AT_ENV) == step:
            raise InstallError(f"injected failure after the {step} step ({FAIL_AT_ENV})")

    def make_dirs(self, folder: Path) -> None:
        created = self.tx.make_dirs(folder)
        self.record.created_dirs.extend(str(path) for path in created)

    def put_in_place(self, paths: Sequence[Path]) -> None:
        """Set aside what is at ``paths`` (restorable) before the new copies go there."""
        for path in paths:
            self.tx.set_aside(path)
            self.record.installed.append(str(path))

    def backend(self) -> None:
        plan = self.plan
        venv = Path(str(plan.venv))
        print(f"Backend: {venv}", flush=True)
        with tempfile.TemporaryDirectory(prefix="repaint-fill-uv-") as scratch:
            uv = self.uv_program(Path(scratch))
            env = self.env if uv is None else self.uv_env()
            uv = self.make_venv(venv, uv, env)
            assert plan.torch is not None and plan.project is not None and plan.lock is not None
            print(f"  torch: {plan.torch.reason}; pinned by {plan.lock}", flush=True)
            packages = [*plan.torch.pip_args, str(plan.project)]
            backend_env.install_backend(venv, plan.platform, packages, plan.lock, env, uv)
        if self.new_pythons is not None and self.new_pythons.exists():
            self.record.installed.append(str(self.new_pythons))
        print(f"  backend environment made with {'uv' if uv else 'venv + pip'}", flush=True)
        self.record.venv = str(venv)
        self.step_done("backend")

    def uv_program(self, scratch: Path) -> str | None:
        """uv from PATH, or fetched from PyPI into ``scratch`` for this run; None = use pip."""
        plan = self.plan
        if plan.uv != FROM_PYPI:
            return plan.uv
        assert plan.base_python is not None
        print(f"  uv: not on PATH; fetching {backend_env.UV_REQUIREMENT} from PyPI", flush=True)
        found = backend_env.fetch_uv(plan.base_python, scratch, self.env)
        if found is None:
            print("  uv: could not be installed; using venv + pip instead", flush=True)
        return found

    def uv_env(self) -> dict[str, str]:
        """uv's environment; a Python it downloads goes to <data>/python, removed on uninstall."""
        pythons = Path(str(self.plan.data_dir)) / PYTHONS_NAME
        if not pythons.exists():
            self.tx.on_rollback(f"remove {pythons}", lambda: remove_path(pythons))
            self.record.installed.append(str(pythons))
        return backend_env.uv_environment(self.env, pythons)

    def make_venv(self, venv: Path, uv: str | None, env: Mapping[str, str]) -> str | None:
        """Create the venv if it has no Python yet (uv first); returns the uv still in use."""
        plan = self.plan
        if Path(str(backend_env.venv_python(venv, plan.platform))).exists():
            return uv
        self.make_dirs(venv.parent)
        self.tx.on_rollback(f"remove {venv}", lambda: remove_path(venv))
        if uv is not None:
            assert plan.python_version is not None
            try:
                backend_env.create_venv_uv(uv, venv, plan.python_version, env)
                return uv
            except backend_env.BackendError as error:
                print(f"  uv: {error}; using venv + pip instead", flush=True)
        assert plan.base_python is not None
        backend_env.create_venv(venv, plan.base_python, self.env)
        return None

    def model(self) -> None:
        plan = self.plan
        assert plan.model is not None and plan.venv is not None
        if plan.model == backend_env.EMBEDDED_MODEL:
            print("Model: embedded (ships inside the backend, nothing to download)")
            return
        print(f"Model: {plan.model}", flush=True)
        path = backend_env.download_model(Path(str(plan.venv)), plan.platform, plan.model, self.env)
        if path is None:
            self.notes.append(f"the model {plan.model} needs the manual steps printed above")
        else:
            self.record.models.append({"id": plan.model, "path": path})
        self.step_done("model")

    def krita(self, target: hosts.KritaTarget) -> None:
        pykrita = Path(str(target.pykrita))
        print(f"Krita ({target.variant}): {pykrita}", flush=True)
        self.make_dirs(pykrita)
        name = plugin_layout.KRITA_PLUGIN
        self.put_in_place([pykrita / (name + ".desktop"), pykrita / name])
        plugin_layout.assemble_krita_plugin(pykrita)
        self.step_done("krita")
        self.enable_in_kritarc(Path(str(target.kritarc)))
        self.step_done("kritarc")

    def enable_in_kritarc(self, path: Path) -> None:
        if path.is_symlink():
            path = path.resolve()  # e.g. a dotfiles manager's link: edit the file it points to
        existed = path.exists()
        raw = path.read_bytes() if existed else b""
        text = raw.decode("utf-8", errors="surrogateescape")
        new_text, edit = kritarc.enable_plugin(text, plugin_layout.KRITA_PLUGIN)
        if edit is None:
            print(f"  {path}: already enabled")
            return
        self.make_dirs(path.parent)
        mode = path.stat().st_mode & 0o7777 if existed else None
        self.tx.write_bytes(path, new_text.encode("utf-8", errors="surrogateescape"), mode)
        self.record.kritarc.append(manifest_file.KritarcRecord(str(path), edit, not existed))
        print(f"  {path}: [python] {edit.key}=true")

    def gimp(self, target: hosts.GimpTarget) -> None:
        plug_ins = Path(str(target.plug_ins))
        print(f"GIMP {target.version} ({target.variant}): {plug_ins}", flush=True)
        self.make_dirs(plug_ins)
        self.put_in_place([plug_ins / plugin_layout.GIMP_PLUGIN])
        plugin_layout.assemble_gimp_plugin(plug_ins)
        self.step_done("gimp")

    def config(self) -> None:
        plan = self.plan
        folder = Path(str(plan.config_dir))
        path = folder / "plugin.json"
        print(f"Config: {path}", flush=True)
        self.make_dirs(folder)
        self.tx.write_bytes(path, config_document(plan).encode("utf-8"))
        self.record.installed.append(str(path))
        # Written later, inside our config folder, by the backend (token) and the launcher (log).
        runtime = [folder / "backend.log"]
        if plan.token_file == str(folder / "token"):
            runtime.append(folder / "token")
        self.record.runtime_files.extend(str(path) for path in runtime if not path.exists())
        self.step_done("config")

    def write_manifest(self, previous: manifest_file.Manifest | None) -> None:
        path = Path(str(self.plan.data_dir)) / manifest_file.FILE_NAME
        self.make_dirs(path.parent)
        merged = (
            previous.merged_with(self.record)
            if previous
            else self.record.merged_with(manifest_file.Manifest())
        )
        content = merged.to_json().encode("utf-8")
        if not (path.exists() and path.read_bytes() == content):
            self.tx.write_bytes(path, content)
        self.step_done("manifest")


def install(plan: Plan, env: Mapping[str, str]) -> list[str]:
    """Carry out ``plan``; on any failure undo this run's changes and raise InstallError.

    Returns notes for the user (e.g. a model to fetch by hand)."""
    manifest_path = Path(str(plan.data_dir)) / manifest_file.FILE_NAME
    previous = manifest_file.load(manifest_path)
    run = Run(plan, env)
    step = "preparing"
    try:
        run.make_dirs(Path(str(plan.data_dir)))
        if plan.venv is not None:
            step = "creating the backend environment"
            run.backend()
        if plan.model is not None:
            step = f"fetching the model {plan.model}"
            run.model()
        for target in plan.krita:
            step = f"installing the Krita plug-in into {target.pykrita}"
            run.krita(target)
        for target in plan.gimp:
            step = f"installing the GIMP plug-in into {target.plug_ins}"
            run.gimp(target)
        step = "writing the plug-in config"
        run.config()
        step = "writing the install manifest"
        run.write_manifest(previous)
    except BaseException as error:
        failures = run.tx.rollback()
        undone = "this run's changes were undone"
        if failures:
            undone = "undoing this run's changes failed partly: " + "; ".join(failures)
        if plan.venv is not None and step == "creating the backend environment":
            undone += " (packages pip installed into an existing environment stay)"
        if isinstance(error, KeyboardInterrupt):
            raise InstallError(f"interrupted while {step}; {undone}") from error
        if not isinstance(error, EXPECTED_ERRORS):
            raise
        raise InstallError(f"{step} failed: {error}; {undone}") from error
    run.tx.commit()
    return run.notes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Install RePaint Fill into Krita and GIMP, with its backend."
    )
    parser.add_argument(
        "--hosts", metavar="LIST", help="comma-separated: krita,gimp (default: those found)"
    )
    parser.add_argument(
        "--skip-backend", action="store_true", help="only the plug-ins and their config"
    )
    parser.add_argument("--backend-url", metavar="URL", help="default http://127.0.0.1:8421")
    parser.add_argument("--token-file", metavar="F", help="default <config folder>/token")
    parser.add_argument(
        "--torch-spec", metavar="SPEC", help="pip requirement (+ options) for torch"
    )
    parser.add_argument(
        "--model", metavar="NAME", help="model to fetch: a registry name or a hub id"
    )
    parser.add_argument(
        "--no-uv", action="store_true", help="make the backend environment with venv + pip"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove what was installed")
    parser.add_argument(
        "--purge-models", action="store_true", help="with --uninstall: also delete models"
    )
    return parser


def parse_hosts(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in HOST_NAMES]
    if unknown or not names:
        raise InstallError(f"--hosts takes {','.join(HOST_NAMES)}, not {value!r}")
    return names


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    platform = sys.platform
    try:
        if args.purge_models and not args.uninstall:
            raise InstallError("--purge-models only goes with --uninstall")
        if args.uninstall:
            return uninstall(platform, env, args.purge_models, args.dry_run)
        plan = make_plan(args, parse_hosts(args.hosts), platform, platform_info.machine(), env)
        for line in describe(plan):
            print(line)
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
        notes = install(plan, env)
    except (InstallError, backend_env.BackendError, manifest_file.ManifestError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    for note in notes:
        print(f"Note: {note}")
    print("RePaint Fill is installed. Restart Krita/GIMP; Krita: Tools > Scripts > RePaint Fill;")
    print("GIMP: Filters > Enhance > RePaint Fill...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
