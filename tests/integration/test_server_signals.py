"""SIGTERM and SIGINT stop a busy server within 5 s, cancelling the running job.

Two servers started side by side (they share one token file: the second reuses the first's token).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_server import (  # noqa: E402
    LONG,
    launch_server,
    submit,
    tiny_model,
    wait_for_state,
    wait_healthy,
)

EXIT_SECONDS = 5.0
pytestmark = pytest.mark.slow


def test_signals_cancel_the_running_job_and_exit_within_5_s(tmp_path: Path):
    model = tiny_model(tmp_path / "tiny")
    token_file = tmp_path / "config" / "token"
    first = launch_server(tmp_path / "a", model, token_file=token_file)
    deadline = time.monotonic() + 60
    while not token_file.exists() and time.monotonic() < deadline:  # written first thing
        time.sleep(0.05)
    second = launch_server(tmp_path / "b", model, token_file=token_file)
    try:
        wait_healthy(first)
        wait_healthy(second)
        assert second.token == first.token  # ...and later starts reuse it
        for server, sig in ((first, signal.SIGTERM), (second, signal.SIGINT)):
            with server.client() as client:
                job_id = submit(client, LONG).json()["id"]
                queued_id = submit(client, LONG).json()["id"]
                wait_for_state(client, job_id, ("running",), min_step=1)
            sent = time.monotonic()
            server.process.send_signal(sig)
            server.process.wait(EXIT_SECONDS + 5)
            elapsed = time.monotonic() - sent
            assert elapsed < EXIT_SECONDS, f"{sig.name}: exited after {elapsed:.1f} s"
            log = server.log()
            assert f"job {job_id} cancelled" in log, log
            assert f"job {queued_id} done" not in log and "Traceback" not in log, log
    finally:
        first.stop()
        second.stop()
