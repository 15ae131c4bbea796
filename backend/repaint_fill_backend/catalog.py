"""What `repaint-fill models` and `GET /v1/models` list: known and locally available models."""

from __future__ import annotations

from dataclasses import dataclass

from .models import EMBEDDED, embedded_model_dir


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # embedded | guided | hub | cached
    available: bool  # usable now without a download
    description: str


def known_models() -> list[ModelInfo]:
    """The embedded model, the registry's entries, and diffusers models in the hub cache."""
    models = [
        ModelInfo(
            EMBEDDED,
            "embedded",
            (embedded_model_dir() / "unet" / "config.json").is_file(),
            "small general-purpose DDPM shipped in the package (default)",
        )
    ]
    models += _registry_models()
    listed = {m.name for m in models}
    models += [m for m in _cached_hub_models() if m.name not in listed]
    return models


def _registry_models() -> list[ModelInfo]:
    try:
        from .registry import local_checkpoint, registry_entries
    except ImportError:
        return []
    infos = []
    for entry in registry_entries():
        kind = getattr(entry, "kind", "guided")
        if entry.name == EMBEDDED:
            continue
        available = (
            local_checkpoint(entry) is not None if kind == "guided" else _is_cached(entry.name)
        )
        infos.append(ModelInfo(entry.name, kind, available, getattr(entry, "description", "")))
    return infos


def _cached_repos() -> list[str]:
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return []
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
    """One model a line, name first, then kind, availability and description (tab-separated)."""
    return [f"{m.name}\t{m.kind}\t{_availability(m)}\t{m.description}" for m in known_models()]


def _availability(model: ModelInfo) -> str:
    if model.available:
        return "available"
    return "missing (reinstall repaint-fill)" if model.kind == "embedded" else "not downloaded"
