"""The server's memory budget in bytes: queued uploads plus finished results, never more.

A queued job holds its compressed upload (the PNG bytes, decoded only when the worker starts it);
a finished job holds its result PNGs. Both count against one budget. A job whose results could
never fit is refused up front; the oldest finished results make room for newer ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MIB = 2**20
MIN_DEFAULT_BUDGET = 256 * MIB
MAX_DEFAULT_BUDGET = 8 * 2**30
FALLBACK_MACHINE_MEMORY = 4 * 2**30  # when the platform does not say (not POSIX)
RGBA_BYTES = 4
PNG_OVERHEAD = 64 * 1024  # chunk headers and a worst-case deflate expansion of small images


def machine_memory_bytes() -> int:
    """Physical memory of this machine (a fallback where the platform does not tell)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return FALLBACK_MACHINE_MEMORY


def default_memory_budget(machine_bytes: int | None = None) -> int:
    """A quarter of the machine's memory, at least 256 MiB and at most 8 GiB."""
    total = machine_memory_bytes() if machine_bytes is None else machine_bytes
    return max(MIN_DEFAULT_BUDGET, min(MAX_DEFAULT_BUDGET, total // 4))


def result_bound(size: tuple[int, int], variations: int) -> int:
    """The most bytes a job's results can take: uncompressed RGBA per variation, plus headers."""
    width, height = size
    return variations * (width * height * RGBA_BYTES + PNG_OVERHEAD)


def megabytes(count: int) -> str:
    return f"{count / MIB:.1f} MB"


@dataclass
class MemoryBudget:
    """Bytes held by queued uploads and finished results against ``limit`` (lock held by caller).

    Queued uploads may take at most half of the budget, so the queue can never crowd out the
    results of the jobs it feeds.
    """

    limit: int
    queued: int = 0
    results: int = 0

    @property
    def queue_limit(self) -> int:
        return self.limit // 2

    def never_fits(self, upload: int, results: int) -> bool:
        """True when a job's upload or its results alone exceed what the budget allows."""
        return upload > self.queue_limit or upload + results > self.limit

    def queue_has_room(self, upload: int) -> bool:
        return self.queued + upload <= self.queue_limit

    def over_by(self, extra: int) -> int:
        """How many bytes must be freed so that ``extra`` more fits (0 if it fits now)."""
        return max(0, self.queued + self.results + extra - self.limit)
