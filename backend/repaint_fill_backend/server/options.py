"""What the server advertises: its models (`GET /v1/models`) and its job options (`/v1/options`).

Everything here is read from the owners of the facts (the catalog, the presets, the job schema,
the server's settings), so a host that asks never has to hard-code a list.
"""

from __future__ import annotations

import typing
from enum import Enum

from ..budget import MAX_BUDGET_SECONDS
from ..catalog import ModelInfo, known_models
from ..choices import MAX_SEED, MAX_VARIATIONS
from ..presets import DEFAULT_PRESET, PRESETS
from .schemas import (
    ChoiceOption,
    IntRange,
    JobParams,
    ModelEntry,
    ModelList,
    PresetOption,
    ServerOptions,
)
from .settings import ServerSettings


def model_list(settings: ServerSettings, loaded: str | None) -> ModelList:
    """The catalog's models, plus the server's own --model when the catalog does not know it."""
    entries = [_entry(info, info.name == loaded) for info in known_models()]
    if settings.model not in {entry.name for entry in entries}:
        own = ModelInfo(
            name=settings.model,
            kind="local",
            available=True,
            description="the model the server was started with",
            good_for="the model this server was started with",
            licence="see the model's own documentation",
        )
        entries.insert(0, _entry(own, settings.model == loaded))
    return ModelList(models=entries, loaded=loaded)


def _entry(info: ModelInfo, loaded: bool) -> ModelEntry:
    return ModelEntry(
        name=info.name,
        kind=info.kind,
        good_for=info.good_for or info.description,
        native_size=info.native_size,
        present=info.available,
        licence=info.licence or "unknown",
        size_mb=info.size_mb,
        get_it=None if info.available else (info.how_to_get or "see GET /v1/models"),
        loaded=loaded,
        available=info.available,
        description=info.description,
    )


def server_options(settings: ServerSettings, loaded: str | None) -> ServerOptions:
    """The limits and choices of POST /v1/jobs on this server."""
    presets = [
        PresetOption(
            name=name,
            steps=preset.steps,
            jump_length=preset.jump_length,
            jump_n_sample=preset.jump_n_sample,
            model_calls=preset.schedule().model_calls,
        )
        for name, preset in PRESETS.items()
    ]
    return ServerOptions(
        presets=presets,
        default_preset=DEFAULT_PRESET,
        variations=IntRange(min=1, max=MAX_VARIATIONS),
        seed=IntRange(min=0, max=MAX_SEED - MAX_VARIATIONS),
        budget_seconds=IntRange(min=1, max=int(MAX_BUDGET_SECONDS)),
        detail=param_choices("detail"),
        max_model_calls=settings.max_model_calls,
        preview=True,
        models=model_list(settings, loaded),
    )


def param_choices(name: str) -> ChoiceOption:
    """The values JobParams accepts for a choice parameter (none if it has no such field).

    Read from the schema itself, so what is advertised is exactly what a job may send.
    """
    field = JobParams.model_fields.get(name)
    if field is None:
        return ChoiceOption(choices=[], default=None)
    choices: list[str] = []
    for option in typing.get_args(field.annotation) or (field.annotation,):
        if isinstance(option, type) and issubclass(option, Enum):
            choices += [str(member.value) for member in option]
        elif typing.get_origin(option) is typing.Literal:
            choices += [str(value) for value in typing.get_args(option)]
    default = field.default if isinstance(field.default, str) else None
    if isinstance(field.default, Enum):
        default = str(field.default.value)
    return ChoiceOption(choices=choices, default=default)
