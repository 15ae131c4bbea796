"""The model registry: entries, the models folder, and resolving guided-diffusion names."""

import sys

import pytest
import torch
from helpers_guided import save_small_checkpoint
from repaint_fill_backend import registry
from repaint_fill_backend.guided_diffusion import GuidedDiffusionUNet
from repaint_fill_backend.models import load_guided_checkpoint

GUIDED = [entry for entry in registry.registry_entries() if entry.kind == "guided"]


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(folder))
    return folder


def test_models_folder_follows_the_data_folder_and_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert registry.models_folder() == tmp_path / "data" / "repaint-fill" / "models"
    assert registry.models_folder().parts[-2:] == ("repaint-fill", "models")
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(tmp_path / "elsewhere"))
    assert registry.models_folder() == tmp_path / "elsewhere"


def test_entries_are_unique_complete_and_honest_about_their_source():
    entries = registry.registry_entries()
    names = [entry.name for entry in entries]
    assert names[0] == "embedded" and len(names) == len(set(names))
    assert {"celeba-256", "places2-256", "imagenet-256"} <= set(names)
    for entry in entries:
        assert entry.licence and entry.good_for and entry.native_size > 0
        assert registry.find_entry(entry.name) is entry
    for entry in GUIDED:
        assert entry.file_name.endswith(".pt") and entry.url.startswith("https://")
        assert entry.config.stride == 32 and entry.config.image_size == entry.native_size == 256
        # only plain HTTPS downloads are marked for the installer; Google Drive is not one
        assert entry.stable_url == entry.url.startswith("https://openaipublic.blob.core.windows")
        assert registry.entry_for_file(entry.file_name) is entry
    hub = [entry for entry in entries if entry.kind == "diffusers"]
    assert "google/ddpm-ema-celebahq-256" in {entry.hub_id for entry in hub}
    assert all(entry.licence.startswith("apache-2.0") for entry in hub)
    assert registry.find_entry("no-such-model") is None


@pytest.mark.parametrize("entry", GUIDED, ids=lambda e: e.name)
def test_guided_entries_state_the_parameter_count_of_their_architecture(entry):
    with torch.device("meta"):
        network = GuidedDiffusionUNet(entry.config)
    assert entry.parameters == sum(p.numel() for p in network.parameters())
    assert abs(entry.size_bytes - 4 * entry.parameters) < 0.01 * entry.size_bytes  # fp32 file


def test_missing_checkpoint_error_names_file_address_and_folder(models_dir):
    with pytest.raises(FileNotFoundError) as caught:
        registry.resolve_registry_name("places2-256")
    message = str(caught.value)
    assert "places256_300000.pt" in message and str(models_dir) in message
    assert "https://drive.google.com/" in message and "CC BY-NC-SA" in message
    assert registry.local_checkpoint(registry.find_entry("places2-256")) is None
    with pytest.raises(KeyError):
        registry.resolve_registry_name("google/ddpm-ema-celebahq-256")


def test_registry_file_resolves_and_loads_with_the_entry_settings(models_dir):
    path = save_small_checkpoint(models_dir, "celeba256_250000.pt", sidecar={})
    assert registry.resolve_registry_name("celeba-256") == path
    assert registry.local_checkpoint(registry.find_entry("celeba-256")) == path
    model = load_guided_checkpoint(path, torch.device("cpu"), torch.float32)
    assert model.name == "celeba-256"
    assert model.native_size == 256  # from the entry: the weights cannot tell
    assert model.denoiser.model.config.num_head_channels == 64


def test_the_backend_model_loader_accepts_files_and_registry_names(models_dir):
    from repaint_fill_backend.models import ModelError, load_model

    path = save_small_checkpoint(models_dir, "celeba256_250000.pt")
    cpu = torch.device("cpu")
    assert load_model(str(path), cpu, torch.float32).name == "celeba-256"
    assert load_model("celeba-256", cpu, torch.float32).variance_type == "learned_range"
    with pytest.raises(ModelError, match="256x256_diffusion.pt"):
        load_model("imagenet-256-cond", cpu, torch.float32)
