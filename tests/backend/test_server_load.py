"""Load and fuzzing against the shared real server.

- 20 concurrent clients x 3 jobs: every job completes with a correct result or is refused with
  429; none lost or duplicated (counted).
- schemathesis against the server's own /openapi.json (bounded examples, with the token): no 5xx.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers_server import (
    FAST,
    RunningServer,
    decode_rgba,
    job_files,
    soft_mask,
    submit,
    wait_for_state,
)

pytest_plugins = ["helpers_server"]  # the session-wide shared_server fixture
pytestmark = pytest.mark.slow
CLIENTS = 20
JOBS_PER_CLIENT = 3


@dataclass
class Outcome:
    client: int
    job: int
    seed: int
    status: int  # HTTP status of the submit
    job_id: str | None = None
    state: str | None = None
    problem: str | None = None
    retry_after: str | None = None


def run_client(
    server: RunningServer, client_index: int, outcomes: list[Outcome], lock: threading.Lock
) -> None:
    """Submit 3 jobs one after another; check each accepted job's result belongs to it."""
    with server.client() as client:
        for job_index in range(JOBS_PER_CLIENT):
            # A size and seed unique to this job: a result delivered to the wrong job shows.
            width, height = 24 + 2 * client_index, 16 + 4 * job_index
            seed = 1000 * client_index + job_index
            answer = submit(client, {**FAST, "seed": seed}, job_files(width, height))
            outcome = Outcome(
                client_index,
                job_index,
                seed,
                answer.status_code,
                retry_after=answer.headers.get("Retry-After"),
            )
            if answer.status_code == 202:
                outcome.job_id = answer.json()["id"]
                outcome.state, outcome.problem = check_job(client, outcome, width, height)
            with lock:
                outcomes.append(outcome)


def check_job(client, outcome: Outcome, width: int, height: int) -> tuple[str, str | None]:
    status = wait_for_state(client, outcome.job_id, ("done", "failed", "cancelled"), 120)
    if status["state"] != "done":
        return status["state"], str(status.get("error"))
    answer = client.get(f"/v1/jobs/{outcome.job_id}/result")
    if answer.status_code != 200:
        return "done", f"result: {answer.status_code} {answer.text}"
    rgba = decode_rgba(answer.content)
    if rgba.shape != (height, width, 4):
        return "done", f"result is {rgba.shape}, expected {(height, width, 4)}"
    if not np.array_equal(rgba[..., 3], np.asarray(soft_mask(width, height))):
        return "done", "alpha is not the request's coverage"
    if answer.headers.get("X-Seed") != str(outcome.seed):
        return "done", f"X-Seed {answer.headers.get('X-Seed')} != {outcome.seed}"
    return "done", None


def test_concurrent_clients_get_a_result_or_429_and_nothing_is_lost(shared_server):
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=run_client, args=(shared_server, i, outcomes, lock))
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not any(thread.is_alive() for thread in threads)

    assert len(outcomes) == CLIENTS * JOBS_PER_CLIENT  # every job attempt accounted for
    keys = Counter((o.client, o.job) for o in outcomes)
    assert set(keys.values()) == {1}
    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) <= {202, 429}, statuses
    accepted = [o for o in outcomes if o.status == 202]
    assert len({o.job_id for o in accepted}) == len(accepted)  # no id handed out twice
    assert [o for o in accepted if o.state != "done" or o.problem] == []
    assert statuses[202] + statuses[429] == CLIENTS * JOBS_PER_CLIENT
    # A 429 means 16 accepted jobs were waiting at that moment.
    assert statuses[202] >= min(16, CLIENTS * JOBS_PER_CLIENT)
    assert all(o.retry_after and int(o.retry_after) >= 1 for o in outcomes if o.status == 429)
    health = shared_server.client().get("/v1/health").json()
    assert health["queued"] == 0 and health["running"] is False
    print(f"load: {statuses[202]} completed, {statuses[429]} refused with 429")


def schemathesis_command() -> list[str]:
    """schemathesis's console script beside this interpreter (the venv's bin/), else on $PATH."""
    beside = str(Path(sys.executable).parent)
    found = (
        shutil.which("schemathesis", path=beside)
        or shutil.which("schemathesis")
        or shutil.which("st")
    )
    if found is None:
        pytest.fail(
            f"schemathesis is not installed beside {sys.executable} (pip install -e '.[test]')"
        )
    return [found]


def test_schemathesis_finds_no_server_errors(shared_server, tmp_path: Path):
    command = [
        *schemathesis_command(),
        "run",
        f"{shared_server.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {shared_server.token}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "20",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "1",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "POST /v1/jobs" in output, output  # the upload endpoint was exercised
    log = shared_server.log()
    assert "Traceback" not in log and "unexpected error" not in log, log
    print(f"schemathesis: {time.monotonic() - started:.1f} s")
