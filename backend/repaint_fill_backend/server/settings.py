"""The server's one frozen configuration value: built from the command line, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..imaging import MAX_IMAGE_PIXELS
from .memory import default_memory_budget

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8421
DEFAULT_QUEUE_SIZE = 16
DEFAULT_RESULT_TTL = 900.0  # seconds a finished job's result is kept
DEFAULT_MAX_RESULTS = 32  # finished jobs kept at most (oldest dropped first)
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
HEADER_TIMEOUT_SECONDS = 10.0  # a connection must send its request head within this time
# The paper preset is 2410 model calls per image; 8 variations of a 10x paper run is plenty.
DEFAULT_MAX_MODEL_CALLS = 25_000


@dataclass(frozen=True)
class ServerSettings:
    """Everything `repaint-fill serve` is configured with; one value, never mutated."""

    token: str
    token_file: Path
    model: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    device: str = "auto"
    dtype: str = "auto"
    allowed_hosts: tuple[str, ...] = ()
    queue_size: int = DEFAULT_QUEUE_SIZE
    result_ttl: float = DEFAULT_RESULT_TTL
    max_results: int = DEFAULT_MAX_RESULTS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_model_calls: int = DEFAULT_MAX_MODEL_CALLS
    # Bytes for queued uploads and finished results together (memory.py).
    memory_budget: int = field(default_factory=default_memory_budget)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
