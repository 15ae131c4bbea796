"""What `repaint-fill models` and the README say about each model comes from the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from repaint_fill_backend.catalog import known_models, model_lines, model_table_markdown
from repaint_fill_backend.registry import registry_entries

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE = re.compile(
    r"<!-- models table: `repaint-fill models --markdown` -->\n(.*?)\n<!-- end of models table -->",
    re.DOTALL,
)


@pytest.fixture(autouse=True)
def empty_models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPAINT_FILL_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "models"


def test_readme_model_table_is_the_registry() -> None:
    found = TABLE.search(README.read_text(encoding="utf-8"))
    assert found, "README lost its models table markers"
    assert found.group(1) == model_table_markdown(), (
        "README's models table differs from the registry: paste `repaint-fill models --markdown`"
    )


def test_every_model_carries_the_facts_the_api_lists() -> None:
    # GET /v1/models: name, good_for, native_size, present, licence, size_mb
    for model in known_models():
        assert model.good_for and model.licence and model.source and model.how_to_get, model
        assert model.native_size in (128, 256) and model.size_mb and model.size_mb > 0, model
        assert isinstance(model.available, bool)


def test_how_to_get_matches_what_download_can_do() -> None:
    for entry in registry_entries():
        if entry.kind == "guided" and entry.stable_url:
            assert entry.url.startswith("https://") and "drive.google" not in entry.url
            assert entry.how_to_get.startswith(f"repaint-fill download {entry.name}")
        elif entry.kind == "guided":
            assert "drive.google.com" in entry.url and entry.how_to_get.startswith("by hand")


def test_a_checkpoint_put_into_the_models_folder_shows_as_available(
    empty_models_folder: Path,
) -> None:
    def line(name: str) -> list[str]:
        return next(row.split("\t") for row in model_lines() if row.startswith(name + "\t"))

    assert line("imagenet-256")[2] == "not downloaded"
    empty_models_folder.mkdir()
    (empty_models_folder / "256x256_diffusion_uncond.pt").write_bytes(b"")
    row = line("imagenet-256")
    assert row[2] == "available" and row[3] == "2211 MB" and row[5].startswith("licence: MIT")
    assert line("embedded")[2] == "available"
