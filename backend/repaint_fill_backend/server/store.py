"""The job table and what it keeps: retention by time, count and bytes, and why a job is gone.

Finished results are kept for the retention time unless the result count or the memory budget
needs room, oldest first. Cancelled and failed jobs hold no result and no result slot: their
records are kept apart (cheap, bounded) for the same retention time. A job that was dropped is
remembered with the reason, so a late client is told why its result is gone.
Not thread-safe: the job manager calls every method with its lock held.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from .memory import MemoryBudget, megabytes, result_bound
from .records import Job, JobExpired, JobNotFound, QueueLimits
from .schemas import JobState

EXPIRED_IDS_KEPT = 10_000
ENDED_RECORDS_KEPT = 1_000  # failed and cancelled jobs remembered (no pixels, a few hundred B)
SHOWN_ID_CHARACTERS = 64


class JobTooLarge(Exception):
    """The job's upload or results can never fit the memory budget; the message says why."""


@dataclass(frozen=True)
class Admission:
    """What a job will hold: its compressed upload now, at most ``results`` bytes when done."""

    upload: int
    results: int


class JobStore:
    """Jobs by id, the memory they hold, and the reasons of the ones that are gone."""

    def __init__(self, limits: QueueLimits):
        self.limits = limits
        self.budget = MemoryBudget(limits.memory_budget)
        self._jobs: dict[str, Job] = {}
        self._done: deque[Job] = deque()  # done jobs, oldest first: these hold results
        self._ended: deque[Job] = deque()  # failed and cancelled jobs, oldest first
        self._expired: OrderedDict[str, str] = OrderedDict()  # id -> why it is gone

    # ---- admission --------------------------------------------------------------------------
    def check_fits(self, admission: Admission) -> None:
        """Raise JobTooLarge when a job with ``admission`` could never be kept, however long
        it waited."""
        budget = self.budget
        if budget.never_fits(admission.upload, admission.results):
            raise JobTooLarge(
                f"this job's upload ({megabytes(admission.upload)}) and results (up to "
                f"{megabytes(admission.results)}: variations x width x height x 4) do not fit "
                f"the server's memory budget ({megabytes(budget.limit)}, queued uploads at most "
                "half of it): ask for fewer variations or send a smaller crop (or start the "
                "server with a larger --memory-budget-mb)"
            )

    def queue_has_room(self, admission: Admission) -> bool:
        return self.budget.queue_has_room(admission.upload)

    def add(self, job: Job) -> None:
        self._jobs[job.id] = job
        self.budget.queued += job.upload_bytes

    def release_upload(self, job: Job) -> None:
        """The job no longer holds its upload (the worker decoded it, or it ended)."""
        self.budget.queued -= job.upload_bytes
        job.upload_bytes = 0
        job.upload = None

    # ---- ending -----------------------------------------------------------------------------
    def finish(self, job: Job) -> None:
        """Keep a job that ended: a done job's results count against the memory budget."""
        self.release_upload(job)
        job.finished_at = time.monotonic()
        if job.state == JobState.done:
            self._make_room(job.result_bytes)
            self.budget.results += job.result_bytes
            self._done.append(job)
        else:
            job.results = []
            self._ended.append(job)
        self.prune()

    def _make_room(self, wanted: int) -> None:
        """Evict the oldest results until ``wanted`` more bytes fit the budget."""
        reason = (
            f"the server's memory budget ({megabytes(self.budget.limit)}) needed room for newer "
            "results; fetch results soon after a job is done"
        )
        while self._done and self.budget.over_by(wanted) > 0:
            self._forget(self._done.popleft(), reason)

    def prune(self, now: float | None = None) -> None:
        """Drop results past the retention time or count, and old failed/cancelled records."""
        now = time.monotonic() if now is None else now
        ttl = self.limits.result_ttl
        kept_for = f"finished results are kept for {ttl:g} s"
        while self._done and (now - (self._done[0].finished_at or now) >= ttl):
            self._forget(self._done.popleft(), kept_for)
        while len(self._done) > self.limits.max_results:
            self._forget(
                self._done.popleft(),
                f"the server keeps at most {self.limits.max_results} finished results ({kept_for})",
            )
        while self._ended and (
            len(self._ended) > ENDED_RECORDS_KEPT
            or now - (self._ended[0].finished_at or now) >= ttl
        ):
            self._forget(self._ended.popleft(), f"ended jobs are remembered for {ttl:g} s")

    def _forget(self, job: Job, reason: str) -> None:
        self._jobs.pop(job.id, None)
        if job.state == JobState.done:
            self.budget.results -= job.result_bytes
        job.results = []
        self._expired[job.id] = f"{job.state.value} job {job.id} has expired: {reason}"
        while len(self._expired) > EXPIRED_IDS_KEPT:
            self._expired.popitem(last=False)

    # ---- lookup -----------------------------------------------------------------------------
    def find(self, job_id: str) -> Job:
        """The job, or JobExpired with the reason, or JobNotFound with what may have happened."""
        self.prune()
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        reason = self._expired.get(job_id)
        if reason is not None:
            raise JobExpired(f"{reason}; submit it again")
        shown = job_id if len(job_id) <= SHOWN_ID_CHARACTERS else job_id[:64] + "..."
        raise JobNotFound(
            f"no job with id {shown!r}: the id is wrong, or the server was restarted since the "
            "job was submitted (jobs live in the server's memory only); submit it again"
        )


def admission_for(upload_bytes: int, size: tuple[int, int], variations: int) -> Admission:
    return Admission(upload_bytes, result_bound(size, variations))
