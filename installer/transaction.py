"""A rollback journal for one installer run: every change registers how to undo it.

If a step fails, ``rollback`` undoes the run's changes newest first, putting back what was
replaced (kept aside in a temporary folder until ``commit``), so a failed run leaves the disk as
it found it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def remove_path(path: Path) -> None:
    """Delete a file, symlink or folder tree; nothing if it does not exist."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


class Transaction:
    """Changes made so far in this run, with their undo actions."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._backups: Path | None = None

    def on_rollback(self, what: str, undo: Callable[[], None]) -> None:
        """Register how to undo a change this run made (``what`` names it in error reports)."""
        self._undo.append((what, undo))

    def make_dirs(self, folder: Path) -> list[Path]:
        """Create ``folder`` and missing parents; returns the folders created, outermost first."""
        missing = []
        current = folder
        while not current.exists():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        created = list(reversed(missing))
        for path in created:
            path.mkdir()
            self.on_rollback(f"remove folder {path}", lambda p=path: _rmdir_if_empty(p))
        return created

    def set_aside(self, path: Path) -> bool:
        """Move an existing ``path`` out of the way so it can be restored on rollback.

        Returns whether something was there. After this, ``path`` is free for new content; on
        rollback the new content is removed and the old one put back.
        """
        if not (path.exists() or path.is_symlink()):
            self.on_rollback(f"remove {path}", lambda: remove_path(path))
            return False
        if self._backups is None:
            self._backups = Path(tempfile.mkdtemp(prefix="repaint-fill-install-"))
        backup = self._backups / str(len(self._undo))
        shutil.move(str(path), str(backup))

        def restore() -> None:
            remove_path(path)
            shutil.move(str(backup), str(path))

        self.on_rollback(f"restore {path}", restore)
        return True

    def write_bytes(self, path: Path, content: bytes, mode: int | None = None) -> bool:
        """Write a file (replacing any previous one, restorable); returns whether it existed."""
        existed = self.set_aside(path)
        path.write_bytes(content)
        if mode is not None:
            os.chmod(path, mode)
        return existed

    def rollback(self) -> list[str]:
        """Undo everything, newest first; returns the undo steps that failed (best effort)."""
        failures = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except OSError as error:
                failures.append(f"could not {what}: {error}")
        self._drop_backups()
        return failures

    def commit(self) -> None:
        """Keep the changes and forget the undo actions and backups."""
        self._undo.clear()
        self._drop_backups()

    def _drop_backups(self) -> None:
        if self._backups is not None:
            shutil.rmtree(self._backups, ignore_errors=True)
            self._backups = None


def _rmdir_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
