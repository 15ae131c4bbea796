"""Client and launcher against a STAND-IN backend (tests/helpers_standin.py: stdlib server that
follows docs/design.md), for protocol details and failures a real model cannot produce on demand.
The same client against the real `repaint-fill serve`: tests/backend/test_core_client_server.py.
"""

import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_paths import this_path_prelude
from helpers_standin import StandInBackend, StandInBehaviour
from repaint_fill_core.client import BackendClient, run_job
from repaint_fill_core.config import PluginConfig
from repaint_fill_core.errors import (
    BackendError,
    BackendUnavailable,
    Cancelled,
    JobFailed,
)
from repaint_fill_core.launcher import ensure_backend
from repaint_fill_core.png import decode_png, encode_png

IMAGE = encode_png(4, 2, 3, bytes(range(24)))
MASK = encode_png(4, 2, 1, bytes([0, 255, 128, 0, 0, 0, 255, 0]))


@pytest.fixture()
def backend() -> Iterator[StandInBackend]:
    with StandInBackend(StandInBehaviour(steps=3)) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_job_round_trip_with_progress_and_token(backend: StandInBackend) -> None:
    client = BackendClient(backend.url, "test-token", timeout=5)
    assert client.health()["status"] == "ok"
    progress: list[tuple[int, int, object]] = []
    results = run_job(
        client,
        IMAGE,
        MASK,
        {"seed": 7, "variations": 2},
        on_progress=lambda *p: progress.append(p),
        poll_interval=0.01,
    )
    assert [seed for _png, seed in results] == [7, 8]
    width, height, channels, pixels = decode_png(results[0][0])
    assert (width, height, channels) == (4, 2, 4)
    assert pixels[3::4] == bytes([0, 255, 128, 0, 0, 0, 255, 0])  # alpha = coverage
    assert [step for step, _total, _eta in progress] == [1, 2, 3]
    assert all(total == 3 for _step, total, _eta in progress)
    assert set(backend.behaviour.seen_auth) == {"Bearer test-token"}


def test_wrong_token_says_what_to_do(backend: StandInBackend) -> None:
    with pytest.raises(BackendError) as caught:
        BackendClient(backend.url, "wrong", timeout=5).models()
    assert caught.value.status == 401 and caught.value.code == "unauthorized"
    assert "token" in str(caught.value) and "REPAINT_FILL_TOKEN_FILE" in str(caught.value)


def test_error_shape_is_mapped(backend: StandInBackend) -> None:
    with pytest.raises(BackendError) as caught:
        BackendClient(backend.url, "test-token", timeout=5).status("nope")
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert "no job nope" in str(caught.value)


def test_nothing_listening_is_backend_unavailable() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(BackendUnavailable, match="repaint-fill serve"):
        BackendClient(url, None, timeout=2).health()


def test_silent_server_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(BackendUnavailable, match="did not answer within 0.3 s"):
            BackendClient(url, None, timeout=0.3).health()
    finally:
        listener.close()


def test_failed_job_reports_the_backend_reason() -> None:
    with StandInBackend(StandInBehaviour(steps=1, fail_jobs=True)) as server:
        client = BackendClient(server.url, "test-token", timeout=5)
        with pytest.raises(JobFailed, match="out of memory"):
            run_job(client, IMAGE, MASK, {}, poll_interval=0.01)


def test_cancel_stops_the_backend_job() -> None:
    with StandInBackend(StandInBehaviour(steps=3, hang_jobs=True)) as server:
        client = BackendClient(server.url, "test-token", timeout=5)
        cancel = threading.Event()
        with pytest.raises(Cancelled):
            run_job(
                client,
                IMAGE,
                MASK,
                {},
                on_progress=lambda step, _t, _e: cancel.set(),
                should_cancel=cancel.is_set,
                poll_interval=0.01,
            )
        assert [job.state for job in server.jobs.values()] == ["cancelled"]


def test_launcher_reports_a_stopped_backend_without_start_command() -> None:
    config = PluginConfig(backend_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(BackendUnavailable, match="not running.*repaint-fill serve"):
        ensure_backend(config, timeout=1)


def test_launcher_reports_a_backend_that_dies(tmp_path: Path) -> None:
    config = PluginConfig(
        backend_url=f"http://127.0.0.1:{_free_port()}",
        start_command=(sys.executable, "-c", "raise SystemExit(3)"),
        config_file=str(tmp_path / "plugin.json"),
    )
    with pytest.raises(BackendUnavailable, match="exit code 3.*backend.log"):
        ensure_backend(config, timeout=20)


def test_launcher_starts_the_configured_backend(tmp_path: Path) -> None:
    port = _free_port()
    token_file, pid_file = tmp_path / "token", tmp_path / "pid"
    entry = tmp_path / "serve_stand_in.py"
    entry.write_text(
        this_path_prelude()
        + "\nfrom helpers_standin import serve_forever_on\n"
        + f"serve_forever_on({port}, {str(token_file)!r}, {str(pid_file)!r})\n"
    )
    config = PluginConfig(
        backend_url=f"http://127.0.0.1:{port}",
        token_file=str(token_file),
        start_command=(sys.executable, str(entry)),
        config_file=str(tmp_path / "plugin.json"),
    )
    try:
        client = ensure_backend(config, timeout=30)
        assert client.token == "test-token"  # read after the server wrote it
        assert client.models()["models"][0]["name"] == "embedded"
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
