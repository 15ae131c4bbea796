"""The job queue and the ONE worker thread that owns the engine (model + device).

Jobs run first in, first out. The queue is bounded in jobs and in bytes; a queued job holds only
its compressed upload, which the worker decodes when the job starts. What is kept after a job
ends, and for how long, is the job store's business (store.py). A job that names no model runs
on the server's default model. No exception in a job stops the worker: each one ends the job as
failed with a message.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import torch

from ..budget import apply_budget
from ..devices import dtype_name
from ..engine import Engine, FillResult, cancellable
from ..sampler import FillCancelled, StepInfo
from .errors import USER_ERRORS, user_error_status
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
from .results import result_png
from .schemas import ErrorDetail, JobState, JobStatus
from .store import JobStore, admission_for

log = logging.getLogger("repaint_fill.server")

EngineFactory = Callable[[str], Engine]
CANCEL_WAIT_SECONDS = 2.0
DEFAULT_RETRY_AFTER = 5
INTERNAL_ERROR = "internal error; see the server log"
OUT_OF_MEMORY = (
    "out of GPU memory; use fewer variations, a smaller selection, fewer steps, or start the "
    "server with --dtype fp16"
)


class Outcome(NamedTuple):
    state: JobState
    error: ErrorDetail | None = None
    result: FillResult | None = None
    pngs: list[bytes] = []


def _failed(code: str, message: str) -> Outcome:
    return Outcome(JobState.failed, ErrorDetail(code=code, message=message))


class JobManager:
    """Accepts jobs from request threads; the worker thread runs them one at a time."""

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
        self._factory = engine_factory
        self._engine = engine
        self._loaded = default_model if engine is not None else None
        self._on_worker_start = on_worker_start
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._store = JobStore(limits)
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._stopping = False
        self.previews = PreviewStore()
        self._thread = threading.Thread(target=self._work, name="repaint-fill-worker", daemon=True)

    # ---- request side -------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

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
        with self._lock:
            engine = self._engine
            return {
                "model": self._loaded,
                "model_loaded": engine is not None,
                "device": str(engine.model.device) if engine else None,
                "dtype": dtype_name(engine.model.dtype) if engine else None,
                "queued": len(self._queue),
                "running": self._running is not None,
            }

    @property
    def loaded_model(self) -> str | None:
        return self._loaded

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
        if self._thread.is_alive():
            self._thread.join(timeout)

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

    # ---- worker side -------------------------------------------------------------------
    def _work(self) -> None:
        try:
            if self._on_worker_start is not None:
                self._on_worker_start()
        except Exception:  # noqa: BLE001 - a setup problem must not leave jobs queued forever
            log.exception("worker set-up failed; serving anyway")
        if self._engine is None:
            self._load_quietly(self.default_model)
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                self._execute(job)
            except Exception:  # noqa: BLE001 - bookkeeping bugs must not stop the worker either
                log.exception("job %s: unexpected error in the worker", job.id)
                with self._lock:
                    self._running = None
                    if job.state == JobState.running:
                        self._finish(
                            job,
                            JobState.failed,
                            ErrorDetail(code="internal_error", message=INTERNAL_ERROR),
                        )

    def _next_job(self) -> Job | None:
        with self._lock:
            while not self._queue and not self._stopping:
                self._wake.wait()
            if self._stopping:
                return None
            job = self._queue.popleft()
            job.state = JobState.running
            self._running = job
            return job

    def _take_upload(self, job: Job) -> DecodeUpload:
        """The job's decoder; from now on its compressed upload is the worker's, not the queue's."""
        with self._lock:
            decode = job.upload
            self._store.release_upload(job)
        assert decode is not None, "a running job has its upload until the worker takes it"
        return decode

    def _execute(self, job: Job) -> None:
        started = time.perf_counter()
        state, error, result, pngs = self._run_job(job)  # never raises
        seconds = time.perf_counter() - started
        with self._lock:
            if result is not None:
                job.results, job.seeds = pngs, result.seeds
                job.step = int(result.report.get("model_calls", job.step))
                job.total, job.regions = job.step, result.report.get("regions")
            job.seconds = round(seconds, 3)
            self._running = None
            self._finish(job, state, error)
        log_job(job, seconds)

    def _run_job(self, job: Job) -> Outcome:
        """Run one job; every failure becomes a state and a message, never an exception."""
        try:
            if job.cancel_requested.is_set():
                raise FillCancelled("cancelled before it started")
            request = self._take_upload(job)()  # the pixels exist only while the job runs
            engine = self._engine_for(job.model)
            if job.budget is not None:
                request, choice = apply_budget(
                    engine, request, job.budget.seconds, max_model_calls=job.budget.max_model_calls
                )
                with self._lock:
                    job.total, job.budget_report = choice.model_calls, choice.report()
            on_step = cancellable(job.cancel_requested.is_set, lambda i: self._progress(job, i))
            result = engine.fill(
                request, on_step, functools.partial(self.previews.offer, job.id, request)
            )
            pngs = [result_png(request, result, i) for i in range(len(result.fills))]
            return Outcome(JobState.done, None, result, pngs)
        except FillCancelled:
            return Outcome(JobState.cancelled)
        except torch.OutOfMemoryError:
            _release_memory()
            return _failed("out_of_memory", OUT_OF_MEMORY)
        except MemoryError:
            _release_memory()
            return _failed("out_of_memory", OUT_OF_MEMORY.replace("GPU ", ""))
        except USER_ERRORS as problem:
            return _failed(user_error_status(problem)[1], str(problem))
        except Exception:  # noqa: BLE001 - the worker must survive anything a job does
            # The exception text may carry paths and internals: the log has it, the client not.
            log.exception("job %s failed unexpectedly", job.id)
            return _failed("internal_error", INTERNAL_ERROR)

    def _progress(self, job: Job, info: StepInfo) -> None:
        with self._lock:
            job.step, job.total, job.eta = info.step, info.total, round(info.eta_seconds, 2)

    def _engine_for(self, model: str | None) -> Engine:
        """The engine for ``model`` (None = the server's default); replaces the loaded model."""
        wanted = model or self.default_model
        if self._engine is not None and self._loaded == wanted:
            return self._engine
        with self._lock:
            self._engine, self._loaded = None, None
        _release_memory()  # two models may not fit on the device at once
        engine = self._factory(wanted)
        with self._lock:
            self._engine, self._loaded = engine, wanted
        log.info("loaded model %s on %s", wanted, engine.model.device)
        return engine

    def _load_quietly(self, model: str) -> None:
        try:
            self._engine_for(model)
        except Exception as problem:  # noqa: BLE001 - reported per job when they need the model
            log.error("could not load model %s: %s", model, problem)


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
