"""The job store's retention: results evicted oldest-first by bytes, with the reason; failed and
cancelled jobs hold no result slot. Real JobStore and Job records; no server needed."""

from __future__ import annotations

import pytest
from repaint_fill_backend.server.memory import MIB, default_memory_budget, result_bound
from repaint_fill_backend.server.records import Job, JobExpired, JobNotFound, QueueLimits
from repaint_fill_backend.server.schemas import JobState
from repaint_fill_backend.server.store import Admission, JobStore, JobTooLarge, admission_for

BUDGET = 10_000


def store(max_results: int = 50, ttl: float = 900.0) -> JobStore:
    return JobStore(QueueLimits(16, ttl, max_results, BUDGET))


def queued(jobs: JobStore, name: str, upload: int = 100) -> Job:
    job = Job(name, lambda: None, upload, None, "fast", 4, 1, (8, 8))  # type: ignore[arg-type]
    jobs.add(job)
    return job


def end(jobs: JobStore, job: Job, state: JobState, result_bytes: int = 0) -> None:
    job.state = state
    job.results = [b"x" * result_bytes] if result_bytes else []
    jobs.finish(job)


def test_oldest_results_are_evicted_by_bytes_and_say_why():
    jobs = store()
    for index in range(5):  # 5 x 3000 bytes of results into a 10,000 byte budget
        end(jobs, queued(jobs, f"job{index}"), JobState.done, 3000)
    assert jobs.budget.results == 9000 and jobs.budget.queued == 0
    for gone in ("job0", "job1"):
        with pytest.raises(JobExpired, match="memory budget"):
            jobs.find(gone)
    assert [jobs.find(f"job{index}").result_bytes for index in (2, 3, 4)] == [3000] * 3


def test_queued_uploads_count_until_the_job_ends():
    jobs = store()
    job = queued(jobs, "waiting", upload=4000)
    assert jobs.budget.queued == 4000
    assert not jobs.queue_has_room(Admission(1500, 0))  # queued uploads: at most half
    end(jobs, job, JobState.done, 10)
    assert jobs.budget.queued == 0 and jobs.budget.results == 10


def test_cancelled_and_failed_jobs_do_not_push_out_results():
    jobs = store(max_results=2)
    keep = queued(jobs, "other-client")
    end(jobs, keep, JobState.done, 500)
    for index in range(40):
        end(jobs, queued(jobs, f"cancel{index}"), JobState.cancelled)
    end(jobs, queued(jobs, "failed"), JobState.failed)
    assert jobs.find("other-client").results == [b"x" * 500]
    assert jobs.find("cancel39").state == JobState.cancelled  # still answers its state
    assert jobs.budget.results == 500


def test_results_past_the_ttl_expire_with_that_reason():
    jobs = store(ttl=0.0)
    end(jobs, queued(jobs, "old"), JobState.done, 10)
    with pytest.raises(JobExpired, match="kept for 0 s"):
        jobs.find("old")
    assert jobs.budget.results == 0


def test_a_job_that_can_never_fit_is_refused_and_an_unknown_id_has_a_hint():
    jobs = store()
    with pytest.raises(JobTooLarge, match="memory budget"):
        jobs.check_fits(admission_for(100, (100, 100), 1))  # 40 KB of RGBA > 10 KB
    jobs.check_fits(Admission(100, 5000))
    with pytest.raises(JobNotFound, match="restarted"):
        jobs.find("lost-after-restart")


def test_default_budget_is_a_quarter_of_memory_within_bounds():
    assert default_memory_budget(24 * 2**30) == 6 * 2**30
    assert default_memory_budget(512 * MIB) == 256 * MIB
    assert default_memory_budget(256 * 2**30) == 8 * 2**30
    assert result_bound((4096, 4096), 8) > 8 * 4096 * 4096 * 4
