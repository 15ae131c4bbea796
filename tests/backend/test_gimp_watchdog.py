"""The GIMP plug-in's job watchdog: a killed plug-in's backend job gets cancelled, a finished one
is left alone. Real processes; the backend is the core's stdlib stand-in (tests/helpers_standin.py),
because only the DELETE it receives matters here."""

from __future__ import annotations

import time

import job_watchdog
import pytest
from helpers_standin import StandInBackend, StandInBehaviour, StandInJob


@pytest.fixture
def backend():
    with StandInBackend(StandInBehaviour(token="t0k", hang_jobs=True)) as server:
        server.jobs["job-1"] = StandInJob(b"", b"", {}, state="running")
        yield server


def _wait_for_exit(watchdog: job_watchdog.Watchdog) -> None:
    watchdog._process.wait(timeout=20)


def _state_after(backend, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and backend.jobs["job-1"].state != "cancelled":
        time.sleep(0.05)
    return backend.jobs["job-1"].state


def test_plugin_gone_without_done_cancels_the_job(backend):
    watchdog = job_watchdog.spawn(backend.url, "t0k", "job-1")
    assert watchdog is not None
    watchdog.release(job_finished=False)  # same as the pipe closing when GIMP kills the plug-in
    _wait_for_exit(watchdog)
    assert _state_after(backend) == "cancelled"
    assert "Bearer t0k" in backend.behaviour.seen_auth


def test_finished_job_is_left_alone(backend):
    watchdog = job_watchdog.spawn(backend.url, "t0k", "job-1")
    assert watchdog is not None
    watchdog.release(job_finished=True)
    _wait_for_exit(watchdog)
    assert _state_after(backend, 0.5) == "running"


def test_token_is_not_on_the_command_line(backend):
    watchdog = job_watchdog.spawn(backend.url, "secret-token", "job-1")
    assert watchdog is not None
    try:
        assert all("secret-token" not in arg for arg in watchdog._process.args)
    finally:
        watchdog.release(job_finished=True)
        _wait_for_exit(watchdog)
