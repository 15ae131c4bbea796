"""Queue bounds and result retention against a real server with tiny limits.

Its own server: at most 2 queued jobs, finished results kept 3 s and at most 3 of them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from helpers_server import (
    FAST,
    LONG,
    RunningServer,
    assert_error_shape,
    start_server,
    submit,
    tiny_model,
    wait_for_state,
)

QUEUE_SIZE = 2
RESULT_TTL = 3.0
MAX_RESULTS = 3
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("server-jobs")
    running = start_server(
        folder,
        tiny_model(folder / "tiny"),
        "--queue-size",
        str(QUEUE_SIZE),
        "--result-ttl",
        str(RESULT_TTL),
        "--max-results",
        str(MAX_RESULTS),
    )
    yield running
    running.stop()


def test_full_queue_is_429_with_retry_after(server: RunningServer):
    with server.client() as client:
        running = submit(client, LONG).json()["id"]
        wait_for_state(client, running, ("running",), min_step=1)
        queued = [submit(client, LONG) for _ in range(QUEUE_SIZE)]
        assert [answer.status_code for answer in queued] == [202] * QUEUE_SIZE
        refused = submit(client, FAST)
        message = assert_error_shape(refused, 429, "queue_full")
        assert int(refused.headers["Retry-After"]) >= 1 and "full" in message
        for job_id in [answer.json()["id"] for answer in queued] + [running]:
            assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
        # Room again once the queue drained: the next job is accepted and runs.
        accepted = submit(client, FAST)
        assert accepted.status_code == 202
        assert wait_for_state(client, accepted.json()["id"], ("done",))["state"] == "done"


def run_fast_job(client, params: dict | None = None) -> tuple[str, float]:
    job_id = submit(client, params or FAST).json()["id"]
    wait_for_state(client, job_id, ("done",))
    return job_id, time.monotonic()


def test_results_expire_after_the_ttl(server: RunningServer):
    with server.client() as client:
        job_id, _done_at = run_fast_job(client)
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200
        time.sleep(RESULT_TTL + 0.3)
        message = assert_error_shape(client.get(f"/v1/jobs/{job_id}/result"), 404, "expired")
        assert "expired" in message and f"{RESULT_TTL:g} s" in message
        assert_error_shape(client.get(f"/v1/jobs/{job_id}"), 404, "expired")
        assert_error_shape(client.get("/v1/jobs/never-existed"), 404, "not_found")


def test_only_the_newest_results_are_kept(server: RunningServer):
    with server.client() as client:
        first_id, first_done = run_fast_job(client)
        newer = [run_fast_job(client)[0] for _ in range(MAX_RESULTS)]
        answer = client.get(f"/v1/jobs/{first_id}/result")
        if time.monotonic() - first_done >= RESULT_TTL:
            pytest.skip("this machine took longer than the TTL for 4 tiny jobs")
        assert "expired" in assert_error_shape(answer, 404, "expired")
        for job_id in newer:
            assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200
