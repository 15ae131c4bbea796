"""The job record, the queue limits and the job manager's exceptions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..service import CheckedRequest, EarlyPlan
from .schemas import ErrorDetail, JobState

log = logging.getLogger("repaint_fill.server")


class JobNotFound(LookupError):
    """No job with this id was ever seen (or it was forgotten long ago)."""


class JobExpired(LookupError):
    """The job ended and was dropped (retention time, count or memory); the message says which."""


class QueueFull(Exception):
    def __init__(self, retry_after: int, what: str = "the job queue is full"):
        super().__init__(what)
        self.retry_after = retry_after
        self.what = what


class ShuttingDown(Exception):
    """The server is stopping and takes no new jobs."""


class NotReady(Exception):
    """The job has no result (yet): it is queued, running, failed or cancelled."""


class NoPreview(Exception):
    """The job has no preview: it has not reached its first one, or it has ended."""


@dataclass(frozen=True)
class BudgetAsk:
    """A job's time budget: the worker measures a call and picks a schedule within it."""

    seconds: float
    max_model_calls: int  # the server's work limit for this job's batch


# Decodes a queued job's upload into the checked request; runs on the worker, may raise the
# same input errors as the request side's checks.
DecodeUpload = Callable[[], CheckedRequest]


@dataclass(frozen=True)
class JobSpec:
    """A checked job as the request side hands it to the job manager."""

    upload: DecodeUpload
    upload_bytes: int
    size: tuple[int, int]  # of the request image
    variations: int
    model: str | None
    preset: str
    total: int  # model calls (with a budget: at most)
    budget: BudgetAsk | None = None
    max_model_calls: int | None = None  # the server's limit, all variations together
    early_plan: EarlyPlan | None = None  # planned at submit (the model's geometry was known)


@dataclass(eq=False)
class Job:
    id: str
    upload: DecodeUpload | None  # None once the worker has decoded it or the job ended
    upload_bytes: int  # the compressed upload this job holds while it waits
    model: str | None
    preset: str
    total: int
    variations: int
    size: tuple[int, int]
    budget: BudgetAsk | None = None
    max_model_calls: int | None = None
    early_plan: EarlyPlan | None = None
    budget_report: dict | None = None
    regions: list[dict] | None = None
    state: JobState = JobState.queued
    step: int = 0
    eta: float | None = None
    error: ErrorDetail | None = None
    results: list[bytes] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    seconds: float | None = None
    finished_at: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def result_bytes(self) -> int:
        return sum(len(png) for png in self.results)


@dataclass(frozen=True)
class QueueLimits:
    queue_size: int
    result_ttl: float
    max_results: int
    memory_budget: int  # bytes for queued uploads and finished results together


def log_job(job: Job, seconds: float) -> None:
    """The one log line per job: id, outcome, size, preset, model calls, seconds."""
    log.info(
        "job %s %s %dx%d preset=%s model_calls=%d seconds=%.2f%s",
        job.id,
        job.state.value,
        *job.size,
        job.preset,
        job.step,
        seconds,
        f" error: {job.error.message}" if job.error else "",
    )


def not_ready_message(job: Job) -> str:
    if job.state == JobState.failed and job.error is not None:
        return f"job {job.id} failed: {job.error.message}"
    if job.state == JobState.cancelled:
        return f"job {job.id} was cancelled; it has no result"
    return f"job {job.id} is {job.state.value}; poll GET /v1/jobs/{job.id} until it is done"


def no_preview_message(job: Job) -> str:
    if job.state in (JobState.queued, JobState.running):
        return f"job {job.id} has no preview yet; GET /v1/jobs/{job.id} says when it has one"
    return f"job {job.id} is {job.state.value}; previews exist only while it runs"
