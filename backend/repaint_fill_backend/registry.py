"""Known models: what each is, where a user gets it, its licence, and where it must be put.

Data and folders only (no torch, no loading): ``models`` resolves a name with these facts and
hands them to the loaders.

Three kinds of entry:
- ``guided``: a guided-diffusion ``.pt`` checkpoint (the models of the RePaint paper). The user
  (or the installer, when the address is stable) puts the file into :func:`models_folder`.
- ``diffusers``: a Hugging Face hub id in diffusers format, fetched into the hub cache on use.
- ``embedded``: the small model shipped inside the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from .guided_diffusion.config import IMAGENET_256_CONDITIONAL, PAPER_256, GuidedDiffusionConfig

MODELS_DIR_ENV = "REPAINT_FILL_MODELS_DIR"

_REPAINT_LICENCE = (
    "no licence stated for the weights; they are distributed by the RePaint authors with code "
    "under CC BY-NC-SA 4.0 ('academic research use only'): treat as non-commercial research only"
)
_OPENAI_LICENCE = "MIT (openai/guided-diffusion, which releases these checkpoints)"
_GOOGLE_LICENCE = "apache-2.0 (model card on the Hugging Face hub)"


@dataclass(frozen=True)
class RegistryEntry:
    """One known model. ``size_bytes`` is approximate (the download's size)."""

    name: str
    kind: str  # guided | diffusers | embedded
    good_for: str
    native_size: int
    licence: str
    parameters: int | None = None
    size_bytes: int | None = None
    file_name: str | None = None  # guided: the checkpoint's file name in the models folder
    url: str | None = None  # guided: where the file is downloaded from
    stable_url: bool = False  # True = a plain HTTPS address the installer may fetch
    source: str | None = None  # the page that documents the model
    config: GuidedDiffusionConfig | None = None  # guided: the architecture
    class_label: int | None = None  # guided, class-conditional: None = average of all classes
    hub_id: str | None = None  # diffusers: the hub repository
    sha256: str | None = None  # guided: the file's digest, where its publisher states one

    @property
    def description(self) -> str:
        """One line for listings: what it is good at, and its file for guided checkpoints."""
        if self.file_name is None:
            return self.good_for
        size = f", ~{self.size_bytes / 1e9:.1f} GB" if self.size_bytes else ""
        return f"{self.good_for} [{self.file_name}{size}]"

    @property
    def size_mb(self) -> int | None:
        """The download's size in megabytes (10^6 bytes), None where unknown."""
        return round(self.size_bytes / 1e6) if self.size_bytes else None

    @property
    def how_to_get(self) -> str:
        """One line: the command that fetches it, or where to fetch it by hand."""
        if self.kind == "embedded":
            return "ships inside the package: nothing to download"
        if self.kind == "diffusers":
            return f"repaint-fill download {self.name} (into the Hugging Face cache)"
        if self.stable_url:
            return f"repaint-fill download {self.name} (or install.py --model {self.name})"
        return f"by hand from {self.url}: `repaint-fill download {self.name}` gives the steps"


_UNCONDITIONAL_256 = 552_814_086  # parameters of PAPER_256 (counted on the meta device)
_CONDITIONAL_256 = 553_838_086  # + a 1000 x 1024 class embedding

_ENTRIES: tuple[RegistryEntry, ...] = (
    RegistryEntry(
        name="embedded",
        kind="embedded",
        good_for="small textures and backgrounds (grass, fur, stone, sky); shipped with the "
        "package, works offline and on a CPU; not faces or objects (see its MODEL_CARD.md)",
        native_size=128,
        licence="the project's own weights, trained on public-domain and CC0 images "
        "(MODEL_CARD.md in weights/embedded)",
        size_bytes=14_130_000,
        source="this project (repaint_fill_backend/weights/embedded, see its MODEL_CARD.md)",
    ),
    RegistryEntry(
        name="celeba-256",
        kind="guided",
        good_for="faces: aligned, frontal, CelebA-HQ style portraits (the paper's face model)",
        native_size=256,
        licence=_REPAINT_LICENCE + "; CelebA-HQ itself is for non-commercial research",
        parameters=_UNCONDITIONAL_256,
        size_bytes=2_211_300_000,
        file_name="celeba256_250000.pt",
        url="https://drive.google.com/uc?id=1norNWWGYP3EZ_o05DmoW1ryKuKMmhlCX",
        stable_url=False,  # Google Drive: quota limits and confirmation pages
        source="https://github.com/andreas128/RePaint (download.sh)",
        config=PAPER_256,
    ),
    RegistryEntry(
        name="places2-256",
        kind="guided",
        good_for="scenes and landscapes, indoor and outdoor (the paper's Places2 model)",
        native_size=256,
        licence=_REPAINT_LICENCE + "; Places2 itself is for non-commercial research",
        parameters=_UNCONDITIONAL_256,
        size_bytes=2_211_300_000,
        file_name="places256_300000.pt",
        url="https://drive.google.com/uc?id=1QEl-btGbzQz6IwkXiFGd49uQNTUtTHsk",
        stable_url=False,
        source="https://github.com/andreas128/RePaint (download.sh)",
        config=PAPER_256,
    ),
    RegistryEntry(
        name="imagenet-256",
        kind="guided",
        good_for="general photos and objects (ImageNet, unconditional); leans towards dogs",
        native_size=256,
        licence=_OPENAI_LICENCE,
        parameters=_UNCONDITIONAL_256,
        size_bytes=2_211_300_000,
        file_name="256x256_diffusion_uncond.pt",
        url="https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt",
        stable_url=True,
        source="https://github.com/openai/guided-diffusion",
        config=PAPER_256,
    ),
    RegistryEntry(
        name="imagenet-256-cond",
        kind="guided",
        good_for="the paper's ImageNet model, class-conditional; without the paper's classifier "
        "guidance (not implemented): conditioned on the average of all classes",
        native_size=256,
        licence=_OPENAI_LICENCE,
        parameters=_CONDITIONAL_256,
        size_bytes=2_215_400_000,
        file_name="256x256_diffusion.pt",
        url="https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion.pt",
        stable_url=True,
        source="https://github.com/openai/guided-diffusion",
        config=IMAGENET_256_CONDITIONAL,
    ),
    *(
        RegistryEntry(
            name=hub_id,
            kind="diffusers",
            good_for=good_for,
            native_size=256,
            licence=_GOOGLE_LICENCE,
            parameters=113_673_219,
            size_bytes=455_000_000,
            source=f"https://huggingface.co/{hub_id}",
            hub_id=hub_id,
        )
        for hub_id, good_for in (
            ("google/ddpm-ema-celebahq-256", "faces (CelebA-HQ); 4x cheaper per step than 552M"),
            ("google/ddpm-ema-church-256", "church exteriors and buildings (LSUN church)"),
            ("google/ddpm-ema-bedroom-256", "bedrooms and interiors (LSUN bedroom)"),
            ("google/ddpm-ema-cat-256", "cats (LSUN cat)"),
        )
    ),
)


def registry_entries() -> tuple[RegistryEntry, ...]:
    """Every known model, the embedded one first."""
    return _ENTRIES


def find_entry(name: str) -> RegistryEntry | None:
    """The entry called ``name`` (a registry name or a hub id), None if unknown."""
    return next((entry for entry in _ENTRIES if entry.name == name), None)


def entry_for_file(file_name: str) -> RegistryEntry | None:
    """The guided-diffusion entry whose checkpoint has this file name, None if none has."""
    return next((e for e in _ENTRIES if e.file_name and e.file_name == file_name), None)


def embedded_model_dir() -> Path:
    """The diffusers folder of the default model shipped inside the package."""
    return Path(str(resources.files("repaint_fill_backend") / "weights" / "embedded"))


def models_folder() -> Path:
    """Where guided-diffusion checkpoints go: $REPAINT_FILL_MODELS_DIR or <data folder>/models.

    The data folder is platformdirs' user data dir for "repaint-fill" (Linux:
    $XDG_DATA_HOME/repaint-fill, default ~/.local/share/repaint-fill).
    """
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    data = platformdirs.user_data_dir("repaint-fill", appauthor=False, roaming=True)
    return Path(data) / "models"


def local_checkpoint(entry: RegistryEntry) -> Path | None:
    """The entry's checkpoint in the models folder, None if absent or not a guided entry."""
    if entry.file_name is None:
        return None
    path = models_folder() / entry.file_name
    return path if path.is_file() else None


class ModelFileMissing(FileNotFoundError):
    """A registry model's checkpoint is not in the models folder; the message says how to fix."""


def resolve_registry_name(name: str) -> Path:
    """The checkpoint path of guided-diffusion registry model ``name``.

    Raises KeyError for names that are not guided-diffusion entries and ModelFileMissing (a
    FileNotFoundError) naming the file, its download address and the folder to put it in.
    """
    entry = find_entry(name)
    if entry is None or entry.kind != "guided" or entry.file_name is None:
        raise KeyError(f"{name!r} is not a guided-diffusion model of the registry")
    path = local_checkpoint(entry)
    if path is not None:
        return path
    size = f" (~{entry.size_bytes / 1e9:.1f} GB)" if entry.size_bytes else ""
    fetch = (
        f"Run `repaint-fill download {name}`, or download it from {entry.url}"
        if entry.stable_url
        else f"Download it from {entry.url} in a browser"
    )
    raise ModelFileMissing(
        f"model {name!r} needs the file {entry.file_name}{size}, which is not in "
        f"{models_folder()}. {fetch} (see {entry.source}) and put it there, or set "
        f"{MODELS_DIR_ENV} to the folder that holds it. Licence: {entry.licence}."
    )


def manual_steps(entry: RegistryEntry) -> str:
    """How to put a checkpoint without a stable address into the models folder, step by step."""
    size = f" (~{entry.size_bytes / 1e9:.1f} GB)" if entry.size_bytes else ""
    folder = models_folder()
    return "\n".join(
        [
            f"{entry.name} cannot be downloaded by a program: its file is on Google Drive, which "
            "asks a browser to confirm large downloads and limits how often a file is fetched.",
            f"1. Open {entry.url} in a web browser and download the file{size}.",
            f"   (It is listed in {entry.source}.)",
            f"2. Create the folder {folder} if it does not exist.",
            f"3. Move the file there as {folder / str(entry.file_name)}",
            f"   (or set {MODELS_DIR_ENV} to the folder that holds it).",
            f"4. Check it: repaint-fill download {entry.name}  (loads it and says where it is)",
            f"Licence: {entry.licence}.",
        ]
    )
