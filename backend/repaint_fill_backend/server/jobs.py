"""The job queue and the ONE worker thread that owns the engine (model + device).

Jobs run first in, first out. The queue is bounded; finished jobs are kept for a bounded time and
count and then remembered as expired, so a late client is told why its result is gone. No
exception in a job stops the worker: each one ends the job as failed with a message.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import NamedTuple

import torch

from ..budget import apply_budget
from ..devices import DeviceError, dtype_name
from ..engine import Engine, FillRequest, FillResult, cancellable
from ..imaging import ImageInputError
from ..models import ModelError
from ..sampler import FillCancelled, StepInfo
from ..schedule import ScheduleError
from .previews import PreviewStore
from .records import (
    BudgetAsk,
    Job,
    JobExpired,
    JobNotFound,
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

log = logging.getLogger("repaint_fill.server")

EngineFactory = Callable[[str], Engine]
EXPIRED_IDS_KEPT = 10_000
CANCEL_WAIT_SECONDS = 2.0
DEFAULT_RETRY_AFTER = 5
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
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._done_order: deque[Job] = deque()
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._running: Job | None = None
        self._stopping = False
        self.previews = PreviewStore()
        self._thread = threading.Thread(target=self._work, name="repaint-fill-worker", daemon=True)

    # ---- request side -------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(
        self,
        request: FillRequest,
        model: str | None,
        preset: str,
        total: int,
        budget: BudgetAsk | None = None,
    ) -> Job:
        """Queue a job; raises QueueFull or ShuttingDown."""
        with self._lock:
            self._prune()
            if self._stopping:
                raise ShuttingDown()
            if len(self._queue) >= self.limits.queue_size:
                raise QueueFull(self._retry_after())
            job = Job(
                secrets.token_hex(12),
                request,
                model,
                preset,
                total,
                request.variations,
                request.image.size,
                budget,
            )
            self._jobs[job.id] = job
            self._queue.append(job)
            self._wake.notify()
            return job

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            return self._snapshot(self._find(job_id))

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a queued job at once, a running one within one model call (waits briefly)."""
        with self._lock:
            job = self._find(job_id)
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
            job = self._find(job_id)
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
            job = self._find(job_id)
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
    def _find(self, job_id: str) -> Job:
        self._prune()
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        if job_id in self._expired:
            raise JobExpired(
                f"job {job_id} has expired: finished results are kept for "
                f"{self.limits.result_ttl:g} s and at most {self.limits.max_results} jobs; "
                "submit it again"
            )
        shown = job_id if len(job_id) <= 64 else job_id[:64] + "..."
        raise JobNotFound(f"no job with id {shown!r}")

    def _prune(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._done_order and (
            len(self._done_order) > self.limits.max_results
            or now - (self._done_order[0].finished_at or now) >= self.limits.result_ttl
        ):
            job = self._done_order.popleft()
            self._jobs.pop(job.id, None)
            self._expired[job.id] = None
            while len(self._expired) > EXPIRED_IDS_KEPT:
                self._expired.popitem(last=False)

    def _finish(self, job: Job, state: JobState, error: ErrorDetail | None = None) -> None:
        job.state, job.error, job.eta = state, error, None
        job.finished_at = time.monotonic()
        job.request = None  # type: ignore[assignment]  # the pixels are not needed any more
        self.previews.drop(job.id)
        self._done_order.append(job)
        job.finished.set()
        self._prune()

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
                            ErrorDetail(
                                code="internal_error", message="internal error; see the server log"
                            ),
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
            engine = self._engine_for(job.model)
            request = job.request
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
        except (ImageInputError, ScheduleError) as problem:
            return _failed("invalid_request", str(problem))
        except (ModelError, DeviceError) as problem:
            return _failed("model_error", str(problem))
        except Exception as problem:  # noqa: BLE001 - the worker must survive anything a job does
            log.exception("job %s failed unexpectedly", job.id)
            return _failed(
                "internal_error",
                f"internal error ({type(problem).__name__}: {problem}); see the server log",
            )

    def _progress(self, job: Job, info: StepInfo) -> None:
        with self._lock:
            job.step, job.total, job.eta = info.step, info.total, round(info.eta_seconds, 2)

    def _engine_for(self, model: str | None) -> Engine:
        """The engine for ``model`` (None = keep the loaded one); replaces the loaded model."""
        wanted = model or self._loaded or self.default_model
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
