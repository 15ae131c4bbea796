"""What `repaint-fill models` and `GET /v1/models` list: known and locally available models."""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from .registry import embedded_model_dir, local_checkpoint, registry_entries


@dataclass(frozen=True)
class ModelInfo:
    """One listed model: the registry's facts where it is a known one, and whether it is here."""

    name: str
    kind: str  # embedded | guided | diffusers | cached
    available: bool  # usable now without a download (the API's ``present``)
    description: str
    good_for: str = ""
    native_size: int | None = None
    licence: str | None = None
    size_mb: int | None = None
    source: str | None = None
    how_to_get: str | None = None
    file_name: str | None = None  # guided: the checkpoint's name in the models folder


def known_models() -> list[ModelInfo]:
    """The registry's entries (embedded first), then diffusers models in the hub cache."""
    models = _registry_models()
    listed = {m.name for m in models}
    models += [m for m in _cached_hub_models() if m.name not in listed]
    return models


def _registry_models() -> list[ModelInfo]:
    infos = []
    for entry in registry_entries():
        if entry.kind == "embedded":
            available = (embedded_model_dir() / "unet" / "config.json").is_file()
        elif entry.kind == "guided":
            available = local_checkpoint(entry) is not None
        else:
            available = _is_cached(entry.name)
        infos.append(
            ModelInfo(
                name=entry.name,
                kind=entry.kind,
                available=available,
                description=entry.description,
                good_for=entry.good_for,
                native_size=entry.native_size,
                licence=entry.licence,
                size_mb=entry.size_mb,
                source=entry.source,
                how_to_get=entry.how_to_get,
                file_name=entry.file_name,
            )
        )
    return infos


def _cached_repos() -> list[str]:
    try:
        cache = scan_cache_dir()
    except (CacheNotFound, OSError):
        return []
    return sorted(repo.repo_id for repo in cache.repos if repo.repo_type == "model")


def _is_cached(repo_id: str) -> bool:
    return repo_id in _cached_repos()


def _cached_hub_models() -> list[ModelInfo]:
    return [
        ModelInfo(repo, "cached", True, "in the Hugging Face cache") for repo in _cached_repos()
    ]


def model_lines() -> list[str]:
    """One model a line, tab-separated: name, kind, availability, size, what it is good for,
    licence, source and how to get it."""
    return [
        "\t".join(
            [
                m.name,
                m.kind,
                _availability(m),
                f"{m.size_mb} MB" if m.size_mb else "size unknown",
                m.good_for or m.description,
                f"licence: {m.licence or 'unknown'}",
                f"source: {m.source or 'unknown'}",
                f"get: {m.how_to_get or 'already here'}",
            ]
        )
        for m in known_models()
    ]


def model_table_markdown() -> str:
    """The registry as the README's model table (``repaint-fill models --markdown``)."""
    rows = [
        "| name | file | native size | download | good for | licence | source | how to get it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in _registry_models():
        size = f"{m.size_mb:,} MB" if m.size_mb else "?"
        native = f"{m.native_size}x{m.native_size}"
        file = f"`{m.file_name}`" if m.file_name else "-"
        cells = [f"`{m.name}`", file, native, size, m.good_for, m.licence, m.source, m.how_to_get]
        rows.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def _availability(model: ModelInfo) -> str:
    if model.available:
        return "available"
    return "missing (reinstall repaint-fill)" if model.kind == "embedded" else "not downloaded"


def find_model(name: str) -> ModelInfo | None:
    """The listed model called ``name``, None if it is not listed."""
    return next((m for m in known_models() if m.name == name), None)
