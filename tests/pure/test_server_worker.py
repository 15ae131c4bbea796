"""The job manager's worker with stand-in engines, for failures that cannot happen here on demand
(GPU out of memory, crashes inside a model, model loads that fail). Fakes: only the engine (the
fill service's calls into it: session, plan, run_plan)."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from repaint_fill_backend.engine import FillRequest, FillResult
from repaint_fill_backend.exceptions import (
    CheckpointError,
    ImageInputError,
    ScheduleError,
    TooMuchWork,
)
from repaint_fill_backend.fill_plan import ModelGeometry
from repaint_fill_backend.fill_report import FillReport
from repaint_fill_backend.models import ModelError
from repaint_fill_backend.presets import resolve_settings
from repaint_fill_backend.regions import Rect
from repaint_fill_backend.sampler import StepInfo
from repaint_fill_backend.server.jobs import JobManager, QueueFull, QueueLimits
from repaint_fill_backend.server.records import JobSpec
from repaint_fill_backend.server.schemas import JobState
from repaint_fill_backend.service import check_request

SETTINGS = resolve_settings(steps=4, jump_length=1, jump_n_sample=1)


def request(seed: int = 1) -> FillRequest:
    coverage = np.zeros((8, 8), dtype=np.uint8)
    coverage[2:6, 2:6] = 255
    return FillRequest(Image.new("RGB", (8, 8), (10, 20, 30)), coverage, SETTINGS, seed)


def job_spec(seed: int = 1, model: str | None = None, upload_bytes: int = 100) -> JobSpec:
    """A queued job as the request side makes it: decoded only when the worker runs it."""
    return JobSpec(lambda: check_request(request(seed)), upload_bytes, (8, 8), 1, model, "fast", 4)


class FakeEngine:
    """Fills with grey after 4 callback steps; ``failures`` are raised by the next fills."""

    def __init__(
        self,
        name: str,
        failures: list[BaseException] | None = None,
        gate: threading.Event | None = None,
    ):
        self.name = name
        self.model = SimpleNamespace(device=torch.device("cpu"), dtype=torch.float32)
        self.geometry = ModelGeometry(8, 8)
        self.failures = failures or []
        self.gate = gate
        self.seen: list[int | None] = []

    def session(self):
        return nullcontext(self.model)

    def plan(self, fill_request: FillRequest) -> SimpleNamespace:
        return SimpleNamespace(model_calls=4)

    def run_plan(self, fill_request: FillRequest, plan, callback, on_preview=None) -> FillResult:
        self.seen.append(fill_request.seed)
        if self.gate is not None:
            self.gate.wait(10)
        if self.failures:
            raise self.failures.pop(0)
        for step in range(1, 5):
            callback(StepInfo(step, 4, 0.0, 4 - step, None))
        fill = np.full((8, 8, 3), 128, dtype=np.uint8)
        return FillResult(Rect(0, 0, 8, 8), [fill], fake_report(fill_request.seed))


def fake_report(seed: int | None) -> FillReport:
    return FillReport("fake", "cpu", "fp32", SETTINGS, 4, 0.0, (seed or 0,), 1, (8, 8),
                      Rect(0, 0, 8, 8), (8, 8), "native", 0.5, True, (), True)  # fmt: skip


def manager_with(engines: dict[str, FakeEngine], queue_size: int = 8) -> tuple[JobManager, list]:
    loads: list[str] = []

    def factory(name: str) -> FakeEngine:
        loads.append(name)
        if name not in engines:
            raise ModelError(f"unknown model {name!r}")
        return engines[name]

    manager = JobManager(QueueLimits(queue_size, 60.0, 10, 2**20), "a", factory)  # type: ignore[arg-type]
    manager.start()
    return manager, loads


def wait_finished(manager: JobManager, job_id: str) -> JobState:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = manager.status(job_id).state
        if state in (JobState.done, JobState.failed, JobState.cancelled):
            return state
        time.sleep(0.01)
    raise AssertionError("job did not finish")


@pytest.mark.parametrize(
    ("failure", "code", "words"),
    [
        (torch.OutOfMemoryError("CUDA out of memory"), "out_of_memory", "fewer variations"),
        (MemoryError(), "out_of_memory", "smaller selection"),
        (RuntimeError("boom in /home/ann/model"), "internal_error", "see the server log"),
        (ValueError("odd"), "internal_error", "see the server log"),
        # the core's user errors get the codes an HTTP request gets (server/errors.py's table)
        (ImageInputError("the mask is empty"), "invalid_image", "mask is empty"),
        (ScheduleError("jump length must be at least 1"), "invalid_params", "jump length"),
        (CheckpointError("not a guided-diffusion UNet"), "model_error", "not a guided"),
        (TooMuchWork("this job needs 9000 model calls"), "too_much_work", "9000 model calls"),
    ],
)
def test_a_failing_job_fails_with_a_message_and_the_worker_keeps_serving(
    failure, code, words, caplog
):
    manager, _loads = manager_with({"a": FakeEngine("a", [failure])})
    try:
        failed = manager.submit(job_spec(1))
        assert wait_finished(manager, failed.id) == JobState.failed
        status = manager.status(failed.id)
        assert status.error is not None and status.error.code == code
        assert words in status.error.message
        if code == "internal_error":  # the text is logged, never sent to the client
            assert str(failure) not in status.error.message
            assert str(failure) in caplog.text
        after = manager.submit(job_spec(2))
        assert wait_finished(manager, after.id) == JobState.done
        png, seed = manager.result(after.id, 0)
        assert png.startswith(b"\x89PNG") and seed == 2
    finally:
        manager.shutdown()


def test_jobs_run_first_in_first_out_and_the_queue_is_bounded():
    gate = threading.Event()
    engine = FakeEngine("a", gate=gate)
    manager, _loads = manager_with({"a": engine}, queue_size=2)
    try:
        first = manager.submit(job_spec(10))
        while manager.status(first.id).state != JobState.running:
            time.sleep(0.01)
        queued = [manager.submit(job_spec(seed)) for seed in (11, 12)]
        with pytest.raises(QueueFull) as refused:
            manager.submit(job_spec(13))
        assert refused.value.retry_after >= 1
        gate.set()
        for job in (first, *queued):
            assert wait_finished(manager, job.id) == JobState.done
        assert engine.seen == [10, 11, 12]
    finally:
        gate.set()
        manager.shutdown()


def test_a_job_naming_no_model_runs_on_the_default_model():
    engines = {"a": FakeEngine("a"), "b": FakeEngine("b")}
    manager, loads = manager_with(engines)
    try:
        ids = []
        for model in ("b", None, "nope", None):
            ids.append(manager.submit(job_spec(model=model)).id)
            wait_finished(manager, ids[-1])
        statuses = [manager.status(job_id) for job_id in ids]
        assert [s.state for s in statuses] == [
            JobState.done,
            JobState.done,
            JobState.failed,
            JobState.done,
        ]
        assert statuses[2].error is not None and statuses[2].error.code == "model_error"
        # One user's model choice does not change another's results: None is the default, a.
        assert len(engines["b"].seen) == 1 and len(engines["a"].seen) == 2
        # Load order: the default at start, b, the default again, the failed nope, the default.
        assert loads == ["a", "b", "a", "nope", "a"]
        assert manager.health()["model"] == "a"
    finally:
        manager.shutdown()


def test_shutdown_cancels_running_and_queued_jobs_promptly():
    gate = threading.Event()
    manager, _loads = manager_with({"a": FakeEngine("a", gate=gate)})
    running = manager.submit(job_spec(1))
    while manager.status(running.id).state != JobState.running:
        time.sleep(0.01)
    queued = manager.submit(job_spec(2))
    manager.request_stop()  # what the signal handler does
    gate.set()
    started = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - started < 2
    assert manager.status(running.id).state == JobState.cancelled
    assert manager.status(queued.id).state == JobState.cancelled
