"""The typed HTTP schema; /openapi.json is generated from these models."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from ..budget import MAX_BUDGET_SECONDS
from ..choices import DETAILS, MAX_SEED, MAX_VARIATIONS
from ..presets import PRESETS
from ..schedule import MAX_STEPS

PresetName = Enum("PresetName", {name: name for name in PRESETS}, type=str)  # type: ignore[misc]
Detail = Enum("Detail", {name: name for name in DETAILS}, type=str)  # type: ignore[misc]
MAX_CONTEXT_MARGIN = 4096


class JobParams(BaseModel):
    """The JSON in the ``params`` form field; every key optional, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    preset: PresetName | None = Field(None, description="sampling preset (default: fast)")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="respaced steps T")
    jump_length: int | None = Field(None, ge=1, le=MAX_STEPS, description="jump length j")
    jump_n_sample: int | None = Field(None, ge=1, le=100, description="resamplings r")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED - MAX_VARIATIONS, description="variation i uses seed + i"
    )
    variations: int = Field(1, ge=1, le=MAX_VARIATIONS, description="results from one job")
    model: str | None = Field(
        None, min_length=1, max_length=500, description="a model from GET /v1/models"
    )
    context_margin: int | None = Field(
        None,
        ge=0,
        le=MAX_CONTEXT_MARGIN,
        description="px of context around each region of the selection (default: half the "
        "region's longest side); the image sent should hold at least this much around it",
    )
    detail: Detail = Field(
        Detail.native,
        description="native: large regions are refined up to the image's own pixels; coarse: "
        "one pass at the model's size, scaled back",
    )
    budget: float | None = Field(
        None,
        gt=0,
        le=MAX_BUDGET_SECONDS,
        description=(
            "seconds: the server measures one model call and picks the best schedule that fits "
            "(not together with preset, steps, jump_length, jump_n_sample)"
        ),
    )


class JobState(str, Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class JobCreated(BaseModel):
    id: str
    state: JobState
    total: int = Field(
        description="model calls of one pass of the schedule (regions, refinement levels and "
        "tiles add to it; with a budget: at most this many); the job's status gives the exact "
        "total once it runs"
    )


class PickedSchedule(BaseModel):
    steps: int
    jump_length: int
    jump_n_sample: int
    start_resampling: int | None
    reverse_step: str
    eta: float


class BudgetReport(BaseModel):
    """What a time budget picked, once the job has measured one model call."""

    budget_seconds: float
    seconds_per_call: float = Field(description="one model call at this job's size and batch")
    picked: PickedSchedule
    model_calls: int
    estimated_seconds: float
    fits: bool = Field(description="false: even the cheapest schedule is over the budget")
    levels_dropped: int = Field(0, description="finest detail levels left out to fit")


class LevelReport(BaseModel):
    working_size: list[int] = Field(description="[w, h] the model works at")
    scale: float = Field(description="level pixels per image pixel (1 = native density)")
    tiles: int
    model_calls: int = Field(description="calls of this level, all tiles")


class RegionReport(BaseModel):
    crop: list[int] = Field(description="[x, y, w, h] in the request image")
    levels: list[LevelReport]
    levels_dropped: int = 0


class JobStatus(BaseModel):
    id: str
    state: JobState
    progress: float = Field(ge=0, le=1, description="step / total")
    step: int = Field(description="model calls done")
    total: int = Field(description="model calls in the whole job")
    eta: float | None = Field(None, description="seconds left (while running)")
    queue_position: int | None = Field(None, description="jobs ahead of this one (queued)")
    variations: int
    seeds: list[int] = Field(default_factory=list, description="seeds used (when done)")
    model_calls: int | None = None
    seconds: float | None = Field(None, description="sampling time (when done)")
    budget: BudgetReport | None = Field(None, description="with a budget, once it has chosen")
    regions: list[RegionReport] | None = Field(
        None, description="the fill's regions and their levels (when done)"
    )
    error: ErrorDetail | None = None
    preview: int = Field(
        0,
        description="number of the latest preview (0 = none yet; it grows when a newer one "
        "exists): GET /v1/jobs/{id}/preview",
    )


class Health(BaseModel):
    status: str
    version: str
    model: str | None = Field(description="the loaded model")
    model_loaded: bool
    device: str | None
    dtype: str | None
    queued: int
    running: bool


class ModelEntry(BaseModel):
    """One model as a host's model picker shows it."""

    model_config = ConfigDict(protected_namespaces=())

    name: str = Field(description="what to send as params.model")
    kind: str = Field(description="embedded | guided | diffusers | cached | local")
    good_for: str = Field(description="what the model is good at")
    native_size: int | None = Field(description="the square size it was trained at (px)")
    present: bool = Field(description="usable now, without a download")
    licence: str
    size_mb: float | None = Field(description="download size in MB (None = unknown)")
    get_it: str | None = Field(description="how to make it present (None when it is)")
    loaded: bool = Field(description="the model in memory now (jobs with it start at once)")
    available: bool = Field(description="same as present (kept for older plug-ins)")
    description: str


class ModelList(BaseModel):
    models: list[ModelEntry]
    loaded: str | None


class PresetOption(BaseModel):
    name: str
    steps: int
    jump_length: int
    jump_n_sample: int
    model_calls: int = Field(description="model calls per variation")


class IntRange(BaseModel):
    min: int
    max: int


class ChoiceOption(BaseModel):
    choices: list[str] = Field(description="empty: this server does not take the parameter")
    default: str | None


class ServerOptions(BaseModel):
    """What the job parameters may be on this server, so hosts need not hard-code them."""

    presets: list[PresetOption]
    default_preset: str
    variations: IntRange
    seed: IntRange
    budget_seconds: IntRange = Field(description="params.budget (seconds)")
    detail: ChoiceOption = Field(description="params.detail")
    max_model_calls: int = Field(description="per job, all variations together")
    preview: bool = Field(description="GET /v1/jobs/{id}/preview is served")
    models: ModelList


ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "invalid input",
        401: "missing or wrong token",
        403: "Host header not allowed",
        404: "unknown or expired job",
        413: "body, image, work or memory budget too large",
        409: "the job has no result (yet): queued, running, failed or cancelled",
        422: "invalid parameters",
        429: "the queue is full (jobs or bytes); retry after Retry-After seconds",
        503: "the server is shutting down",
    }.items()
}
