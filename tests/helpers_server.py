"""Real `repaint-fill serve` processes for the server tests: start, wait, talk, stop.

The server runs as a separate process on 127.0.0.1 and a free port, with a tiny random UNet
(helpers_backend.save_tiny_unet) and one CPU thread, so a few-step job takes a fraction of a second.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers_backend import box_mask, gradient_image, save_tiny_unet
from PIL import Image

FAST = {"steps": 4, "jump_length": 1, "jump_n_sample": 1}
# ~9,600 model calls: tens of seconds even with the tiny model; tests cancel it long before.
LONG = {"steps": 1000, "jump_length": 10, "jump_n_sample": 10}
STARTUP_SECONDS = 90.0
SHARED_MAX_PIXELS = 100_000
HUB_MODEL = "repaint-fill-test/tiny-b"  # in the shared server's Hugging Face cache


@dataclass
class RunningServer:
    process: subprocess.Popen
    url: str
    port: int
    token: str
    token_file: Path
    log_path: Path

    def client(self, token: str | None = None, headers: dict | None = None) -> httpx.Client:
        """An httpx client with the bearer token (or ``token`` if given) and extra headers."""
        headers = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("repaint-fill")
    if script.is_file():
        return [str(script), "serve"]
    found = shutil.which("repaint-fill")
    if found:
        return [found, "serve"]
    return [sys.executable, "-m", "repaint_fill_backend.cli", "serve"]


def hub_cache_with_tiny_model(cache: Path) -> Path:
    """A Hugging Face cache folder holding HUB_MODEL (another tiny UNet: different weights), so
    the server lists it as installed and a job can switch to it offline."""
    repo = cache / f"models--{HUB_MODEL.replace('/', '--')}"
    commit = "0" * 40
    save_tiny_unet(repo / "snapshots" / commit, seed=1)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return cache


def tiny_model(folder: Path) -> Path:
    if not (folder / "unet" / "config.json").is_file():
        save_tiny_unet(folder)
    return folder


def shipped_or_tiny_model(folder: Path) -> str:
    """``embedded`` when the package ships it (what users get), else a tiny random UNet: the host
    tests check plumbing, not picture quality."""
    from repaint_fill_backend.models import embedded_model_dir

    if (embedded_model_dir() / "unet" / "config.json").is_file():  # what load_model requires
        return "embedded"
    return str(tiny_model(folder / "tiny"))


@contextmanager
def running_server(folder: Path, model: str | Path | None = None) -> Iterator[RunningServer]:
    """A real `repaint-fill serve` for the plug-in and client tests, stopped on exit."""
    server = start_server(folder, model or shipped_or_tiny_model(folder))
    try:
        yield server
    finally:
        server.stop()


def start_server(
    folder: Path,
    model: str | Path,
    *extra: str,
    token_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> RunningServer:
    """Start `repaint-fill serve` and wait until /v1/health reports the model loaded."""
    server = launch_server(folder, model, *extra, token_file=token_file, env=env)
    wait_healthy(server)
    return server


def launch_server(
    folder: Path,
    model: str | Path,
    *extra: str,
    token_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> RunningServer:
    """Start `repaint-fill serve` without waiting (see wait_healthy)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token_file = token_file or folder / "config" / "token"
    log_path = folder / f"server-{port}.log"
    command = [
        *serve_command(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        "--token-file",
        str(token_file),
        "--threads",
        "1",
        *extra,
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    return RunningServer(process, f"http://127.0.0.1:{port}", port, "", token_file, log_path)


def wait_healthy(server: RunningServer) -> None:
    """Wait until /v1/health reports the model loaded; then read the token."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            answer = httpx.get(f"{server.url}/v1/health", timeout=2.0)
            if answer.status_code == 200 and answer.json()["model_loaded"]:
                server.token = server.token_file.read_text().strip()
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy in {STARTUP_SECONDS} s:\n{server.log()}")


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for most API tests, the load test and the schemathesis run.

    Test modules get it with ``pytest_plugins = ["helpers_server"]`` (one instance per session).
    """
    folder = tmp_path_factory.mktemp("server-shared")
    running = start_server(
        folder,
        tiny_model(folder / "tiny"),
        "--max-body-mb",
        "1",
        "--max-pixels",
        str(SHARED_MAX_PIXELS),
        "--max-results",
        "64",
        env={"HF_HUB_CACHE": str(hub_cache_with_tiny_model(folder / "hub"))},
    )
    yield running
    running.stop()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def soft_mask(width: int, height: int) -> Image.Image:
    """A box of full coverage with a half-covered border: alpha must reproduce both exactly."""
    coverage = np.asarray(
        box_mask(width, height, (width // 4, height // 4, 3 * width // 4, 3 * height // 4), 128)
    ).copy()
    coverage[height // 4 + 1 : 3 * height // 4 - 1, width // 4 + 1 : 3 * width // 4 - 1] = 255
    return Image.fromarray(coverage)


def job_files(width: int = 40, height: int = 32, mask: Image.Image | None = None) -> dict:
    """Multipart files for POST /v1/jobs: a gradient image and a (soft) box mask."""
    mask = mask if mask is not None else soft_mask(width, height)
    return {
        "image": ("image.png", png_bytes(gradient_image(width, height)), "image/png"),
        "mask": ("mask.png", png_bytes(mask), "image/png"),
    }


def submit(client: httpx.Client, params: dict, files: dict | None = None) -> httpx.Response:
    import json

    return client.post("/v1/jobs", files=files or job_files(), data={"params": json.dumps(params)})


def wait_for_state(
    client: httpx.Client,
    job_id: str,
    states: tuple[str, ...],
    timeout: float = 60.0,
    min_step: int = 0,
) -> dict:
    """Poll the job until it reaches one of ``states`` (and ``min_step`` model calls)."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["state"] in states and status["step"] >= min_step:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {status}")


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The one error shape; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


def decode_rgba(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGBA", (image.format, image.mode)
    return np.asarray(image)
