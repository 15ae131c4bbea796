"""Registry checkpoint downloads against a real HTTP server on 127.0.0.1.

The server serves a tiny guided-diffusion checkpoint (the paper models' architecture, fewer
channels) under the registry entry of imagenet-256 with its address pointed at the server; it can
drop the connection midway, ignore Range requests, or serve a corrupt copy. What is real: the HTTP
transfer, the resume, the sha256, the strict load through our loader and the move into the models
folder. What is not: OpenAI's server and the 2.2 GB file (no internet here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers_guided import SMALL, save_small_checkpoint
from repaint_fill_backend.downloads import DownloadError, download_checkpoint, downloads_folder
from repaint_fill_backend.registry import find_entry, models_folder

FILE = "/diffusion/256x256_diffusion_uncond.pt"


class CheckpointServer:
    """Serves ``body`` at FILE; ``drops`` responses are cut after half their bytes."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.drops = 0
        self.honour_range = True
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path != FILE:
                    self.send_error(404)
                    return
                server.ranges.append(self.headers.get("Range"))
                start = server.range_start(self.headers.get("Range"))
                data = server.body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/*")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if server.drops > 0:
                    server.drops -= 1
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}{FILE}"

    def range_start(self, header: str | None) -> int:
        if not (header and self.honour_range):
            return 0
        return int(header.removeprefix("bytes=").split("-")[0])


@pytest.fixture
def checkpoint(tmp_path: Path) -> bytes:
    return save_small_checkpoint(tmp_path / "source", sidecar={}).read_bytes()


@pytest.fixture
def server(checkpoint: bytes) -> Iterator[CheckpointServer]:
    serving = CheckpointServer(checkpoint)
    thread = threading.Thread(target=serving.http.serve_forever, daemon=True)
    thread.start()
    yield serving
    serving.http.shutdown()
    serving.http.server_close()


@pytest.fixture(autouse=True)
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPAINT_FILL_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def entry_at(url: str, body: bytes | None):
    """imagenet-256 as registered, but at ``url``, tiny, and with the sha256 of ``body``."""
    return dataclasses.replace(
        find_entry("imagenet-256"),
        url=url,
        config=SMALL,
        sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
    )


def models_files() -> list[str]:
    folder = models_folder()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def partial_files() -> list[str]:
    folder = downloads_folder()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_dropped_connection_resumes_and_the_checked_file_lands(server, checkpoint) -> None:
    server.drops = 1
    path = download_checkpoint(entry_at(server.url, checkpoint), progress=False, retry_delay=0)
    assert path == models_folder() / "256x256_diffusion_uncond.pt"
    assert path.read_bytes() == checkpoint
    half = len(checkpoint) // 2
    assert server.ranges == [None, f"bytes={half}-"]  # the second request asked for the rest
    assert models_files() == ["256x256_diffusion_uncond.pt"] and partial_files() == []


def test_a_download_stopped_for_good_resumes_on_the_next_run(server, checkpoint) -> None:
    entry = entry_at(server.url, checkpoint)
    server.drops = 2
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download_checkpoint(entry, progress=False, attempts=2, retry_delay=0)
    assert models_files() == []  # nothing half-written where models are looked for
    partial = downloads_folder() / "256x256_diffusion_uncond.pt.part"
    kept = partial.stat().st_size
    assert 0 < kept < len(checkpoint)
    path = download_checkpoint(entry, progress=False, retry_delay=0)
    assert server.ranges[-1] == f"bytes={kept}-"
    assert path.read_bytes() == checkpoint and partial_files() == []


def test_a_server_that_ignores_range_restarts_the_file(server, checkpoint) -> None:
    server.drops, server.honour_range = 1, False
    path = download_checkpoint(entry_at(server.url, checkpoint), progress=False, retry_delay=0)
    assert path.read_bytes() == checkpoint  # not the first half twice


def test_a_corrupt_copy_is_refused_by_its_sha256(server, checkpoint) -> None:
    corrupt = bytearray(checkpoint)
    corrupt[len(corrupt) // 2] ^= 0xFF  # one byte flipped inside a tensor: still loads
    server.body = bytes(corrupt)
    with pytest.raises(DownloadError, match="corrupt"):
        download_checkpoint(entry_at(server.url, checkpoint), progress=False, retry_delay=0)
    assert models_files() == [] and partial_files() == []


def test_without_a_sha256_the_strict_load_refuses_a_wrong_file(
    server, checkpoint, tmp_path
) -> None:
    # A complete, readable checkpoint of another architecture: only the strict load can tell.
    other = dataclasses.replace(SMALL, channel_mult=(1, 2), attention_resolutions=())
    server.body = save_small_checkpoint(tmp_path / "other", config=other, sidecar={}).read_bytes()
    with pytest.raises(DownloadError, match="not a working imagenet-256 checkpoint"):
        download_checkpoint(entry_at(server.url, None), progress=False, retry_delay=0)
    assert models_files() == [] and partial_files() == []


def test_a_file_put_in_place_by_hand_is_checked_not_fetched(server, checkpoint) -> None:
    models_folder().mkdir(parents=True)
    (models_folder() / "256x256_diffusion_uncond.pt").write_bytes(checkpoint)
    download_checkpoint(entry_at(server.url, checkpoint), progress=False)
    assert server.ranges == []
    (models_folder() / "256x256_diffusion_uncond.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DownloadError, match="not a working"):
        download_checkpoint(entry_at(server.url, None), progress=False)


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "REPAINT_FILL_MODELS_DIR": str(tmp_path / "models"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "repaint_fill_backend.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_prints_the_manual_steps_for_a_google_drive_model(tmp_path: Path) -> None:
    result = _cli("download", "celeba-256", tmp_path=tmp_path)
    assert result.returncode == 4, result.stderr
    folder = tmp_path / "models"
    assert "drive.google.com" in result.stderr
    assert str(folder / "celeba256_250000.pt") in result.stderr
    assert "non-commercial" in result.stderr
    assert not folder.exists()


def test_cli_rejects_an_unknown_name_with_the_known_ones(tmp_path: Path) -> None:
    result = _cli("download", "imagenet", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "imagenet-256" in result.stderr and "org/name" in result.stderr
