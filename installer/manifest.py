"""The install manifest: exactly what the installer put on disk, so --uninstall removes only that.

Stored as JSON in <data folder>/install-manifest.json. A re-install merges the new run into the
old manifest (a folder created by the first run stays "created by us"), and an unchanged re-run
writes a byte-identical manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kritarc import KritarcEdit

FORMAT = 1
FILE_NAME = "install-manifest.json"


class ManifestError(Exception):
    """The manifest cannot be read."""


@dataclass
class KritarcRecord:
    """The kritarc line we added or changed; ``created_file`` = the file did not exist before."""

    path: str
    edit: KritarcEdit
    created_file: bool


@dataclass
class Manifest:
    """What one or more installer runs installed (paths as strings, in the platform's form)."""

    installed: list[str] = field(default_factory=list)  # files and folders we put in place
    created_dirs: list[str] = field(default_factory=list)  # parents we created (removed if empty)
    kritarc: list[KritarcRecord] = field(default_factory=list)
    runtime_files: list[str] = field(default_factory=list)  # written later by backend/plug-ins
    venv: str | None = None
    models: list[dict[str, str]] = field(default_factory=list)  # {"id": ..., "path": ...}

    def merged_with(self, newer: Manifest) -> Manifest:
        """This manifest plus a newer run's records."""
        # The first run saw the kritarc before we touched it: its record wins.
        records = {record.path: record for record in newer.kritarc}
        records.update({record.path: record for record in self.kritarc})
        models = {model["id"]: model for model in self.models}
        models.update({model["id"]: model for model in newer.models})
        return Manifest(
            installed=_union(self.installed, newer.installed),
            created_dirs=_union(self.created_dirs, newer.created_dirs),
            kritarc=[records[path] for path in sorted(records)],
            runtime_files=_union(self.runtime_files, newer.runtime_files),
            venv=newer.venv or self.venv,
            models=[models[model_id] for model_id in sorted(models)],
        )

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "format": FORMAT,
            "installed": self.installed,
            "created_dirs": self.created_dirs,
            "kritarc": [
                {"path": r.path, "created_file": r.created_file, "edit": r.edit._asdict()}
                for r in self.kritarc
            ],
            "runtime_files": self.runtime_files,
            "venv": self.venv,
            "models": self.models,
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            document = json.loads(text)
            if document.get("format") != FORMAT:
                raise ValueError(f"unknown manifest format {document.get('format')!r}")
            return cls(
                installed=list(document["installed"]),
                created_dirs=list(document["created_dirs"]),
                kritarc=[
                    KritarcRecord(r["path"], KritarcEdit(**r["edit"]), bool(r["created_file"]))
                    for r in document["kritarc"]
                ],
                runtime_files=list(document["runtime_files"]),
                venv=document["venv"],
                models=[dict(model) for model in document["models"]],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ManifestError(f"the install manifest is damaged ({error})") from error


def _union(old: list[str], new: list[str]) -> list[str]:
    return sorted(set(old) | set(new))


def load(path: Path) -> Manifest | None:
    """The manifest at ``path``, or None if there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ManifestError(f"cannot read the install manifest {path}: {error}") from error
    try:
        return Manifest.from_json(text)
    except ManifestError as error:
        raise ManifestError(f"{error}: {path}") from error
