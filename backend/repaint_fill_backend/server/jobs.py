"""The job queue and its records; the ONE worker thread that owns the engine is worker.py's.

Jobs run first in, first out. The queue is bounded in jobs and in bytes; a queued job holds only
its compressed upload, which the worker decodes when the job starts. What is kept after a job
ends, and for how long, is the job store's business (store.py). A job that names no model runs
on the server's default model.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable

from ..budget import BudgetChoice
from ..devices import dtype_name
from ..engine import Engine
from ..fill_plan import ModelGeometry
from ..sampler import StepInfo
from .memory import megabytes
from .previews import PreviewStore
from .records import (
    DecodeUpload,
    Job,
    JobSpec,
    NoPreview,
    NotReady,
    QueueFull,
    QueueLimits,
    ShuttingDown,
    log_job,
    no_preview_message,
    not_ready_message,
)
from .schemas import ErrorDetail, JobState, JobStatus
from .store import JobStore, admission_for
from .worker import EngineFactory, Outcome, Worker

log = logging.getLogger("repaint_fill.server")

CANCEL_WAIT_SECONDS = 2.0
DEFAULT_RETRY_AFTER = 5


class JobManager:
    """Accepts jobs from request threads and answers for them; the worker (worker.py) runs them
    one at a time, taking them from here (the ``JobBoard`` methods below)."""

    def __init__(
        self,
        limits: QueueLimits,
        default_model: str,
        engine_factory: EngineFactory,
        engine: Engine | None = None,
        *,
        on_worker_start: Callable[[], object] | None = None,
    ):
        self.limits = limits
        self.default_model = default_model
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._store = JobStore(limits)
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._stopping = False
        self.previews = PreviewStore()
        self._worker = Worker(self, self.previews, default_model, engine_factory, engine,
                              on_start=on_worker_start)  # fmt: skip

    # ---- request side -------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def submit(self, spec: JobSpec) -> Job:
        """Queue a job; raises JobTooLarge, QueueFull or ShuttingDown."""
        admission = admission_for(spec.upload_bytes, spec.size, spec.variations)
        with self._lock:
            self._store.prune()
            if self._stopping:
                raise ShuttingDown()
            self._store.check_fits(admission)  # JobTooLarge first: waiting would not help
            if len(self._queue) >= self.limits.queue_size:
                raise QueueFull(self._retry_after())
            if not self._store.queue_has_room(admission):
                queued = megabytes(self._store.budget.queued)
                raise QueueFull(
                    self._retry_after(),
                    f"the queued uploads ({queued}) take the queue's share of the server's "
                    "memory budget",
                )
            job = Job(
                secrets.token_hex(12),
                spec.upload,
                spec.upload_bytes,
                spec.model,
                spec.preset,
                spec.total,
                spec.variations,
                spec.size,
                spec.budget,
                spec.max_model_calls,
                spec.early_plan,
            )
            self._store.add(job)
            self._queue.append(job)
            self._wake.notify()
            return job

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            return self._snapshot(self._store.find(job_id))

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a queued job at once, a running one within one model call (waits briefly)."""
        with self._lock:
            job = self._store.find(job_id)
            if job.state == JobState.queued:
                self._queue.remove(job)
                self._finish(job, JobState.cancelled)
                log_job(job, 0.0)
            elif job.state == JobState.running:
                job.cancel_requested.set()
        job.finished.wait(CANCEL_WAIT_SECONDS)
        return self.status(job_id)

    def result(self, job_id: str, index: int) -> tuple[bytes, int]:
        """The PNG and seed of variation ``index``; raises NotReady or IndexError."""
        with self._lock:
            job = self._store.find(job_id)
            if job.state != JobState.done:
                raise NotReady(not_ready_message(job))
            if not 0 <= index < len(job.results):
                raise IndexError(
                    f"job {job_id} has {len(job.results)} result(s); use index 0 to "
                    f"{len(job.results) - 1}"
                )
            return job.results[index], job.seeds[index]

    def preview(self, job_id: str) -> tuple[bytes, int]:
        """The latest preview PNG of a running job and its number; raises NoPreview."""
        with self._lock:
            job = self._store.find(job_id)
        latest = self.previews.png(job_id)
        if latest is None:
            raise NoPreview(no_preview_message(job))
        return latest

    def health(self) -> dict:
        loaded, engine = self._worker.loaded()
        with self._lock:
            return {
                "model": loaded,
                "model_loaded": engine is not None,
                "device": str(engine.model.device) if engine else None,
                "dtype": dtype_name(engine.model.dtype) if engine else None,
                "queued": len(self._queue),
                "running": self._running is not None,
            }

    @property
    def loaded_model(self) -> str | None:
        return self._worker.loaded()[0]

    def geometry(self, model: str | None) -> ModelGeometry | None:
        """The geometry of ``model`` (None = the default) if this server has loaded it: what
        the submit-time plan needs to count a job's exact calls."""
        return self._worker.geometry(model)

    def request_stop(self) -> None:
        """Stop the running job and start no other; safe in a signal handler (takes no lock)."""
        self._stopping = True
        running = self._running
        if running is not None:
            running.cancel_requested.set()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Refuse new jobs, cancel queued and running ones, wait for the worker to stop."""
        with self._lock:
            self._stopping = True
            while self._queue:
                job = self._queue.popleft()
                self._finish(job, JobState.cancelled)
                log_job(job, 0.0)
            if self._running is not None:
                self._running.cancel_requested.set()
            self._wake.notify_all()
        self._worker.join(timeout)

    # ---- bookkeeping (call with the lock held) ---------------------------------------------
    def _finish(self, job: Job, state: JobState, error: ErrorDetail | None = None) -> None:
        job.state, job.error, job.eta = state, error, None
        self._store.finish(job)  # drops the upload; keeps results only for done jobs
        self.previews.drop(job.id)
        job.finished.set()

    def _retry_after(self) -> int:
        running = self._running
        waiting = len(self._queue)
        if running is not None and running.eta is not None and running.step > 0:
            # A slot frees up when the running job ends and the next one starts.
            return max(1, min(600, math.ceil(running.eta)))
        return DEFAULT_RETRY_AFTER if waiting else 1

    def _snapshot(self, job: Job) -> JobStatus:
        position = None
        if job.state == JobState.queued:
            position = next(i for i, queued in enumerate(self._queue) if queued is job)
        return JobStatus(
            id=job.id,
            state=job.state,
            progress=min(1.0, job.step / job.total) if job.total else 0.0,
            step=job.step,
            total=job.total,
            eta=job.eta,
            queue_position=position,
            variations=job.variations,
            seeds=list(job.seeds),
            model_calls=job.step if job.state == JobState.done else None,
            seconds=job.seconds,
            budget=job.budget_report,
            regions=job.regions,
            error=job.error,
            preview=self.previews.number(job.id),
        )

    # ---- the worker's side (JobBoard) -------------------------------------------------------
    def next_job(self) -> Job | None:
        with self._lock:
            while not self._queue and not self._stopping:
                self._wake.wait()
            if self._stopping:
                return None
            job = self._queue.popleft()
            job.state = JobState.running
            self._running = job
            return job

    def take_upload(self, job: Job) -> DecodeUpload:
        with self._lock:
            decode = job.upload
            self._store.release_upload(job)
        assert decode is not None, "a running job has its upload until the worker takes it"
        return decode

    def progress(self, job: Job, info: StepInfo) -> None:
        with self._lock:
            job.step, job.total, job.eta = info.step, info.total, round(info.eta_seconds, 2)

    def budget_chosen(self, job: Job, choice: BudgetChoice) -> None:
        with self._lock:
            job.total, job.budget_report = choice.model_calls, choice.report()

    def end(self, job: Job, outcome: Outcome, seconds: float | None) -> None:
        with self._lock:
            self._running = None
            if seconds is None:  # the worker failed on the job: end it unless it already ended
                if job.state == JobState.running:
                    self._finish(job, outcome.state, outcome.error)
                return
            result = outcome.result
            if result is not None and result.report is not None:
                job.results, job.seeds = outcome.pngs, result.seeds
                job.step = result.report.model_calls
                job.total, job.regions = job.step, result.report.regions_json()
            job.seconds = round(seconds, 3)
            self._finish(job, outcome.state, outcome.error)
        log_job(job, seconds)
