"""The ONE worker thread that owns the engine (model + device) and runs jobs one at a time.

It takes jobs from the job manager's queue (``JobBoard``), loads the model a job names (one model
on the device at a time), fills through the fill service, and turns every failure into a state
and an error code: the core's user errors by server/errors.py's table (the codes an HTTP request
gets), out-of-memory and unexpected errors by their own. No exception in a job stops the worker.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import torch

from ..budget import BudgetChoice
from ..engine import Engine, FillResult, cancellable
from ..fill_plan import ModelGeometry
from ..sampler import FillCancelled, StepInfo
from ..service import fill
from .errors import USER_ERRORS, user_error_status
from .previews import PreviewStore
from .records import DecodeUpload, Job
from .results import result_png
from .schemas import ErrorDetail, JobState

log = logging.getLogger("repaint_fill.server")

EngineFactory = Callable[[str], Engine]
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


def failed(code: str, message: str) -> Outcome:
    return Outcome(JobState.failed, ErrorDetail(code=code, message=message))


class JobBoard(Protocol):
    """What the worker needs from the job manager (its queue and records, behind its lock)."""

    def next_job(self) -> Job | None:
        """The next queued job, marked running; None once the server stops (blocks until)."""

    def take_upload(self, job: Job) -> DecodeUpload:
        """The job's decoder; its compressed upload no longer counts against the queue."""

    def progress(self, job: Job, info: StepInfo) -> None: ...

    def budget_chosen(self, job: Job, choice: BudgetChoice) -> None: ...

    def end(self, job: Job, outcome: Outcome, seconds: float | None) -> None:
        """Record how the job ended (``seconds`` None: the worker itself failed on it)."""


class Worker:
    """Runs the board's jobs on a thread; holds the engine of the model loaded last."""

    def __init__(
        self,
        board: JobBoard,
        previews: PreviewStore,
        default_model: str,
        engine_factory: EngineFactory,
        engine: Engine | None = None,
        *,
        on_start: Callable[[], object] | None = None,
    ):
        self.board, self.previews = board, previews
        self.default_model = default_model
        self._factory = engine_factory
        self._on_start = on_start
        self._lock = threading.Lock()  # guards the two fields below (health reads them)
        self._engine = engine
        self._loaded = default_model if engine is not None else None
        self._geometries: dict[str, ModelGeometry] = {}
        if engine is not None:
            self._geometries[default_model] = engine.geometry
        self._thread = threading.Thread(target=self._work, name="repaint-fill-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def loaded(self) -> tuple[str | None, Engine | None]:
        """(the loaded model's name, its engine); (None, None) while none is loaded."""
        with self._lock:
            return self._loaded, self._engine

    def geometry(self, model: str | None) -> ModelGeometry | None:
        """The geometry of ``model`` (None = the default) if it was ever loaded here."""
        with self._lock:
            return self._geometries.get(model or self.default_model)

    # ---- the thread ----------------------------------------------------------------------
    def _work(self) -> None:
        try:
            if self._on_start is not None:
                self._on_start()
        except Exception:  # noqa: BLE001 - a setup problem must not leave jobs queued forever
            log.exception("worker set-up failed; serving anyway")
        if self._engine is None:
            self._load_quietly(self.default_model)
        while True:
            job = self.board.next_job()
            if job is None:
                return
            try:
                started = time.perf_counter()
                outcome = self._run_job(job)  # never raises
                self.board.end(job, outcome, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - bookkeeping bugs must not stop the worker either
                log.exception("job %s: unexpected error in the worker", job.id)
                self.board.end(job, failed("internal_error", INTERNAL_ERROR), None)

    def _run_job(self, job: Job) -> Outcome:
        """Run one job; every failure becomes a state and a message, never an exception."""
        try:
            if job.cancel_requested.is_set():
                raise FillCancelled("cancelled before it started")
            checked = self.board.take_upload(job)()  # the pixels exist only while the job runs
            engine = self._engine_for(job.model)
            request = checked.request
            outcome = fill(
                engine,
                checked,
                budget_seconds=job.budget.seconds if job.budget is not None else None,
                max_model_calls=job.max_model_calls,
                callback=cancellable(
                    job.cancel_requested.is_set, functools.partial(self.board.progress, job)
                ),
                on_preview=functools.partial(self.previews.offer, job.id, request),
                on_budget=functools.partial(self.board.budget_chosen, job),
                early=job.early_plan,
            )
            result = outcome.result
            pngs = [result_png(request, result, i) for i in range(len(result.fills))]
            return Outcome(JobState.done, None, result, pngs)
        except FillCancelled:
            return Outcome(JobState.cancelled)
        except torch.OutOfMemoryError:
            release_memory()
            return failed("out_of_memory", OUT_OF_MEMORY)
        except MemoryError:
            release_memory()
            return failed("out_of_memory", OUT_OF_MEMORY.replace("GPU ", ""))
        except USER_ERRORS as problem:
            return failed(user_error_status(problem)[1], str(problem))
        except Exception:  # noqa: BLE001 - the worker must survive anything a job does
            # The exception text may carry paths and internals: the log has it, the client not.
            log.exception("job %s failed unexpectedly", job.id)
            return failed("internal_error", INTERNAL_ERROR)

    def _engine_for(self, model: str | None) -> Engine:
        """The engine for ``model`` (None = the server's default); replaces the loaded model."""
        wanted = model or self.default_model
        if self._engine is not None and self._loaded == wanted:
            return self._engine
        with self._lock:
            self._engine, self._loaded = None, None
        release_memory()  # two models may not fit on the device at once
        engine = self._factory(wanted)
        with self._lock:
            self._engine, self._loaded = engine, wanted
            self._geometries[wanted] = engine.geometry
        log.info("loaded model %s on %s", wanted, engine.model.device)
        return engine

    def _load_quietly(self, model: str) -> None:
        try:
            self._engine_for(model)
        except Exception as problem:  # noqa: BLE001 - reported per job when they need the model
            log.error("could not load model %s: %s", model, problem)


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
