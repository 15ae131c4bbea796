"""SIGTERM stops a busy server within 5 s, cancelling the running job and the queued one.

SIGINT goes through the same handler (uvicorn's handle_exit, overridden in server/run.py); its
cancellation path is covered in tests/pure/test_server_worker.py.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from helpers_server import LONG, start_server, submit, tiny_model, wait_for_state

EXIT_SECONDS = 5.0
pytestmark = pytest.mark.slow


def test_sigterm_cancels_the_running_job_and_exits_within_5_s(tmp_path: Path):
    server = start_server(tmp_path, tiny_model(tmp_path / "tiny"))
    try:
        with server.client() as client:
            job_id = submit(client, LONG).json()["id"]
            queued_id = submit(client, LONG).json()["id"]
            wait_for_state(client, job_id, ("running",), min_step=1)
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(EXIT_SECONDS + 5)
        elapsed = time.monotonic() - sent
        assert elapsed < EXIT_SECONDS, f"exited after {elapsed:.1f} s"
        log = server.log()
        assert f"job {job_id} cancelled" in log, log
        assert f"job {queued_id} cancelled" in log, log
        assert "Traceback" not in log, log
    finally:
        server.stop()
