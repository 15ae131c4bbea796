"""--uninstall: remove exactly what the install manifest lists, and nothing else.

Downloaded models stay unless --purge-models. Folders the installer created are removed only
when they are empty (a user's other plug-ins keep their folder).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import backend_env
import hosts
import kritarc
import manifest as manifest_file
from plan import InstallError
from transaction import remove_path


def _undo_kritarc(record: manifest_file.KritarcRecord) -> None:
    path = Path(record.path)
    if not path.exists():
        return
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    restored = kritarc.disable_plugin(text, record.edit)
    if record.created_file and not restored.strip():
        path.unlink()
    elif restored != text:
        path.write_bytes(restored.encode("utf-8", errors="surrogateescape"))


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _depth(path: str) -> int:
    return len(Path(path).parts)


def _actions(
    manifest: manifest_file.Manifest, manifest_path: Path, data_dir: Path, purge_models: bool
) -> list[tuple[str, Callable[[], None]]]:
    """The removals, in order: what each one is (for the user) and how to do it."""
    actions: list[tuple[str, Callable[[], None]]] = []
    for name in manifest.runtime_files:
        actions.append((f"remove {name} (if present)", lambda p=Path(name): remove_path(p)))
    for record in manifest.kritarc:
        actions.append(
            (f"undo [python] {record.edit.key} in {record.path}", lambda r=record: _undo_kritarc(r))
        )
    for name in sorted(manifest.installed, key=_depth, reverse=True):
        actions.append((f"remove {name}", lambda p=Path(name): remove_path(p)))
    if manifest.venv:
        actions.append((f"remove {manifest.venv}", lambda p=Path(manifest.venv): remove_path(p)))
    if purge_models:
        for model in manifest.models:
            folder = backend_env.model_cache_folder(Path(model["path"]))
            actions.append(
                (f"remove model {model['id']} ({folder})", lambda p=folder: remove_path(p))
            )
        models = data_dir / "models"
        actions.append((f"remove {models} (if present)", lambda: remove_path(models)))
    actions.append((f"remove {manifest_path}", lambda: remove_path(manifest_path)))
    for name in sorted(manifest.created_dirs, key=_depth, reverse=True):
        actions.append((f"remove {name} if empty", lambda p=Path(name): _remove_if_empty(p)))
    return actions


def uninstall(platform: str, env: Mapping[str, str], purge_models: bool, dry_run: bool) -> int:
    """Remove what the manifest lists; returns the exit code (1 if anything could not go)."""
    data_dir = Path(str(hosts.data_folder(platform, env)))
    manifest_path = data_dir / manifest_file.FILE_NAME
    manifest = manifest_file.load(manifest_path)
    if manifest is None:
        print(f"Nothing to uninstall: no install manifest at {manifest_path}.")
        return 0
    actions = _actions(manifest, manifest_path, data_dir, purge_models)
    print("RePaint Fill uninstall plan:" if dry_run else "Uninstalling RePaint Fill:")
    for what, _ in actions:
        print(f"  {what}")
    if not purge_models and manifest.models:
        print("  (downloaded models are kept; add --purge-models to delete them)")
    if dry_run:
        print("Dry run: nothing was changed.")
        return 0
    failures = []
    for what, action in actions:
        if failures and what.startswith(f"remove {manifest_path}"):
            continue  # keep the manifest so a re-run can finish the job
        try:
            action()
        except OSError as error:
            failures.append(f"could not {what}: {error}")
    if failures:
        raise InstallError(
            "uninstall incomplete: " + "; ".join(failures) + " (fix and run --uninstall again)"
        )
    print("RePaint Fill is uninstalled.")
    return 0
