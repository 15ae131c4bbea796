"""`repaint-fill serve`: arguments, start-up (token, model, threads), uvicorn, clean exits."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

import uvicorn
from PIL import Image

from ..choices import DEVICE_CHOICES, DTYPE_CHOICES, EMBEDDED
from ..devices import configure_threads
from ..engine import Engine
from ..imaging import MAX_IMAGE_PIXELS
from .app import create_app
from .jobs import JobManager
from .memory import MIB, default_memory_budget, machine_memory_bytes
from .protocol import ApiH11Protocol
from .security import TokenError, default_token_file, is_loopback, load_or_create_token
from .settings import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_RESULTS,
    DEFAULT_PORT,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_RESULT_TTL,
    ServerSettings,
)

log = logging.getLogger("repaint_fill.server")
GRACEFUL_SECONDS = 1  # open requests get this long after SIGINT/SIGTERM; the worker gets 2 s more


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `repaint-fill serve`."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--token-file", type=Path, help=f"default: {default_token_file()}")
    parser.add_argument("--model", default=EMBEDDED, help="embedded, a folder, .pt, or a hub id")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads (default: cores - 1)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this Host header name (repeatable)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=DEFAULT_QUEUE_SIZE,
        help="jobs waiting at most; more are refused with 429",
    )
    parser.add_argument(
        "--result-ttl",
        type=float,
        default=DEFAULT_RESULT_TTL,
        metavar="SECONDS",
        help="how long finished results are kept",
    )
    parser.add_argument(
        "--max-results", type=int, default=DEFAULT_MAX_RESULTS, help="finished jobs kept at most"
    )
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_BYTES / 2**20,
        help="largest request body in MiB",
    )
    parser.add_argument(
        "--memory-budget-mb",
        type=float,
        default=default_memory_budget() / MIB,
        metavar="MB",
        help="memory for queued uploads and finished results together "
        f"(default: a quarter of this machine's {machine_memory_bytes() / 2**30:.1f} GiB, "
        "256 MiB to 8 GiB)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_IMAGE_PIXELS,
        help="largest image (width x height) accepted",
    )


def settings_from_args(args: argparse.Namespace, token: str, token_file: Path) -> ServerSettings:
    """Check the numbers and freeze the configuration."""
    for name in (
        "queue_size",
        "max_results",
        "max_pixels",
        "max_body_mb",
        "result_ttl",
        "memory_budget_mb",
    ):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be greater than 0")
    if not 0 <= args.port <= 65535:
        raise ValueError("--port must be between 0 and 65535")
    return ServerSettings(
        token=token,
        token_file=token_file,
        model=args.model,
        host=args.host,
        port=args.port,
        device=args.device,
        dtype=args.dtype,
        allowed_hosts=tuple(args.allow_host),
        queue_size=args.queue_size,
        result_ttl=args.result_ttl,
        max_results=args.max_results,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_pixels=args.max_pixels,
        memory_budget=int(args.memory_budget_mb * MIB),
    )


class _Server(uvicorn.Server):
    """uvicorn that also stops the running job as soon as SIGINT/SIGTERM arrives."""

    def __init__(self, config: uvicorn.Config, manager: JobManager):
        super().__init__(config)
        self.manager = manager

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.manager.request_stop()
        super().handle_exit(sig, frame)


def run_serve(args: argparse.Namespace) -> int:
    """Start the server; blocks until SIGINT/SIGTERM. Model and device errors exit early."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    token_file = (args.token_file or default_token_file()).expanduser()
    try:
        token = load_or_create_token(token_file)
        settings = settings_from_args(args, token, token_file)
    except (TokenError, ValueError) as error:
        print(f"repaint-fill: error: {error}", file=sys.stderr)
        return 2
    Image.MAX_IMAGE_PIXELS = settings.max_pixels  # Pillow's decompression-bomb guard, explicit
    try:
        listener = bind_socket(settings.host, settings.port)
    except OSError as error:
        print(
            f"repaint-fill: error: cannot listen on {settings.url} ({error.strerror or error}); "
            "is another server running there? choose another --port",
            file=sys.stderr,
        )
        return 2
    with listener:
        settings = replace(settings, port=listener.getsockname()[1])  # --port 0 picks one
        return _serve(settings, listener, args.threads)


def _serve(settings: ServerSettings, listener: socket.socket, threads_wanted: int | None) -> int:
    def engine_factory(model: str) -> Engine:
        return Engine.load(model, settings.device, settings.dtype)

    threads = configure_threads(threads_wanted)
    engine = engine_factory(settings.model)  # fail fast on a bad --model/--device
    app = create_app(settings, engine_factory, engine, on_worker_start=_threads_setter(threads))
    _announce(settings, engine, threads)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        lifespan="on",
        http=ApiH11Protocol,
    )
    _Server(config, app.state.manager).run(sockets=[listener])
    return 0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before the (slow) model load, so a taken port is reported at once."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
    except OSError:
        listener.close()
        raise
    return listener


def _threads_setter(threads: int) -> Callable[[], object]:
    # torch's intra-op thread count is per thread with OpenMP: set it in the worker as well.
    return lambda: configure_threads(threads)


def _announce(settings: ServerSettings, engine: Engine, threads: int) -> None:
    model = engine.model
    print(f"RePaint Fill backend: {settings.url}", flush=True)
    print(f"token file: {settings.token_file}", flush=True)
    print(
        f"model {settings.model} on {model.device} ({threads} CPU threads); "
        f"queue {settings.queue_size}; memory budget {settings.memory_budget / MIB:.0f} MB; "
        "Ctrl+C stops",
        flush=True,
    )
    if settings.host not in ("localhost",) and not _loopback_bind(settings.host):
        print(
            "warning: listening beyond this machine; anyone with the token can use it and "
            "traffic is not encrypted",
            file=sys.stderr,
            flush=True,
        )


def _loopback_bind(host: str) -> bool:
    return is_loopback(host.strip("[]"))
