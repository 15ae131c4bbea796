"""The HTTP API against a real `repaint-fill serve` process: lifecycle, auth, host, limits, input.

Uses the session's shared server (helpers_server.shared_server: 1 MiB bodies, 100k pixels).
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import struct
import zlib

import numpy as np
import pytest
from helpers_backend import box_mask
from helpers_server import (
    FAST,
    HUB_MODEL,
    LONG,
    SHARED_MAX_PIXELS,
    RunningServer,
    assert_error_shape,
    decode_rgba,
    job_files,
    png_bytes,
    soft_mask,
    submit,
    wait_for_state,
)
from repaint_fill_backend.budget import load_curve

MAX_PIXELS = SHARED_MAX_PIXELS
pytestmark = pytest.mark.slow
pytest_plugins = ["helpers_server"]  # the session-wide shared_server fixture


@pytest.fixture
def server(shared_server: RunningServer) -> RunningServer:
    return shared_server


def run_fast_job(server: RunningServer, params: dict, files: dict) -> tuple[str, dict]:
    with server.client() as client:
        answer = submit(client, params, files)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        return job_id, wait_for_state(client, job_id, ("done", "failed", "cancelled"))


# ---- lifecycle --------------------------------------------------------------------------------
def test_full_lifecycle_returns_request_sized_rgba_with_coverage_alpha(server: RunningServer):
    width, height = 56, 36
    mask = soft_mask(width, height)
    files = job_files(width, height, mask)
    job_id, status = run_fast_job(server, {**FAST, "seed": 41, "variations": 2}, files)
    assert status["state"] == "done", status
    assert status["step"] == status["total"] == status["model_calls"]
    levels = [level for region in status["regions"] for level in region["levels"]]
    assert levels[0]["model_calls"] == 4  # the coarse pass runs the whole 4-call walk
    assert status["model_calls"] == sum(level["model_calls"] for level in levels)
    assert status["progress"] == 1.0 and status["seeds"] == [41, 42] and status["variations"] == 2
    coverage = np.asarray(mask)
    with server.client() as client:
        for index, seed in enumerate((41, 42)):
            answer = client.get(f"/v1/jobs/{job_id}/result", params={"index": index})
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
            assert answer.headers["X-Seed"] == str(seed)
            rgba = decode_rgba(answer.content)
            assert rgba.shape == (height, width, 4)
            assert np.array_equal(rgba[..., 3], coverage)  # alpha IS the coverage, exactly
            assert not rgba[coverage == 0, 3].any()
    # The log has one line for the job with its size, preset and model calls.
    line = next(line for line in server.log().splitlines() if job_id in line)
    calls = status["model_calls"]
    assert f"{width}x{height}" in line and "preset=fast" in line and f"model_calls={calls}" in line


def test_same_seed_gives_the_same_result_and_another_seed_does_not(server: RunningServer):
    results = []
    for seed in (5, 5, 6):
        job_id, status = run_fast_job(server, {**FAST, "seed": seed}, job_files())
        assert status["state"] == "done"
        with server.client() as client:
            results.append(decode_rgba(client.get(f"/v1/jobs/{job_id}/result").content))
    assert np.array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


def test_health_needs_no_token_and_reports_the_model(server: RunningServer):
    import httpx

    health = httpx.get(f"{server.url}/v1/health").json()
    assert health["status"] == "ok" and health["model_loaded"] is True
    assert health["device"] == "cpu" and health["model"] == "tiny" and health["version"]
    assert os.sep not in health["model"]  # the unauthenticated check shows no file path


def test_models_lists_the_loaded_model(server: RunningServer):
    with server.client() as client:
        listing = client.get("/v1/models").json()
    loaded = [entry["name"] for entry in listing["models"] if entry["loaded"]]
    assert loaded == [listing["loaded"]] and listing["loaded"].endswith("tiny")
    assert "embedded" in {entry["name"] for entry in listing["models"]}


def test_a_job_naming_an_installed_model_switches_to_it_for_that_job_only(server: RunningServer):
    with server.client() as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed[HUB_MODEL]["available"] and not listed[HUB_MODEL]["loaded"]
        original = client.get("/v1/models").json()["loaded"]
        results = []
        for model in (None, HUB_MODEL, None, original):
            params = {**FAST, "seed": 9, **({"model": model} if model else {})}
            job_id = submit(client, params).json()["id"]
            assert wait_for_state(client, job_id, ("done", "failed"))["state"] == "done"
            results.append(decode_rgba(client.get(f"/v1/jobs/{job_id}/result").content))
            assert client.get("/v1/models").json()["loaded"] == (model or original)
    assert not np.array_equal(results[0], results[1])  # other weights, other fill
    # The job after the switch named no model: it ran on the server's model, not the last one.
    assert np.array_equal(results[0], results[2]) and np.array_equal(results[0], results[3])


def test_result_index_out_of_range(server: RunningServer):
    job_id, _status = run_fast_job(server, FAST, job_files())
    with server.client() as client:
        assert_error_shape(client.get(f"/v1/jobs/{job_id}/result?index=1"), 404, "bad_index")
        assert_error_shape(client.get(f"/v1/jobs/{job_id}/result?index=-1"), 400, "bad_index")
        assert_error_shape(client.get(f"/v1/jobs/{job_id}/result?index=x"), 422)
        assert_error_shape(client.get("/v1/jobs/nonexistent/result"), 404, "not_found")


# ---- cancel ----------------------------------------------------------------------------------
def test_cancel_running_and_queued_jobs(server: RunningServer):
    with server.client() as client:
        running = submit(client, LONG).json()["id"]
        queued = submit(client, LONG).json()["id"]
        wait_for_state(client, running, ("running",), min_step=1)
        status = client.get(f"/v1/jobs/{queued}").json()
        assert status["state"] == "queued" and status["queue_position"] == 0

        cancelled = client.delete(f"/v1/jobs/{queued}").json()
        assert cancelled["state"] == "cancelled" and cancelled["step"] == 0

        stopped = client.delete(f"/v1/jobs/{running}").json()  # waits up to 2 s for the worker
        assert stopped["state"] == "cancelled", stopped
        assert 0 < stopped["step"] < stopped["total"]
        assert_error_shape(client.get(f"/v1/jobs/{running}/result"), 409, "not_ready")
        # The worker goes on serving: the next job runs, and the cancelled one never did.
        job_id = submit(client, FAST).json()["id"]
        assert wait_for_state(client, job_id, ("done",))["state"] == "done"
        assert client.get(f"/v1/jobs/{queued}").json()["step"] == 0


# ---- security ----------------------------------------------------------------------------------
def test_token_file_is_private(server: RunningServer):
    assert len(server.token) >= 32
    assert stat.S_IMODE(os.stat(server.token_file).st_mode) == 0o600


@pytest.mark.parametrize("path", ["/v1/models", "/v1/jobs/abc", "/openapi.json", "/nowhere"])
def test_missing_or_wrong_token_is_401(server: RunningServer, path: str):
    import httpx

    assert_error_shape(httpx.get(server.url + path), 401, "unauthorized")
    with server.client(token="wrong-" + server.token) as client:
        answer = client.get(path)
    assert_error_shape(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    basic = httpx.get(server.url + path, headers={"Authorization": f"Basic {server.token}"})
    assert_error_shape(basic, 401)


def test_submitting_without_token_is_401_before_the_body_is_read(server: RunningServer):
    import httpx

    answer = httpx.post(f"{server.url}/v1/jobs", files=job_files(), data={"params": "{}"})
    assert_error_shape(answer, 401, "unauthorized")


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "10.0.0.1:8421"])
def test_foreign_host_header_is_refused(server: RunningServer, host: str):
    with server.client(headers={"Host": host}) as client:
        assert_error_shape(client.get("/v1/health"), 403, "host_not_allowed")
        assert_error_shape(client.get("/v1/models"), 403, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"])
def test_loopback_host_headers_are_accepted(server: RunningServer, host: str):
    with server.client(headers={"Host": f"{host}:{server.port}"}) as client:
        assert client.get("/v1/models").status_code == 200


def test_no_cors_headers(server: RunningServer):
    with server.client(headers={"Origin": "http://evil.example"}) as client:
        answers = [client.get("/v1/models"), client.options("/v1/jobs")]
    for answer in answers:
        assert not any(name.lower().startswith("access-control") for name in answer.headers)
    assert_error_shape(answers[1], 405, "method_not_allowed")


# ---- limits --------------------------------------------------------------------------------
def raw_request(port: int, head: str, body_parts: list[bytes]) -> tuple[int, dict]:
    """Send a request over a plain socket (possibly not all of its body); read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.encode("latin-1"))
        for part in body_parts:
            connection.sendall(part)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, json.loads(reply.split(b"\r\n\r\n", 1)[1])


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def test_oversized_body_by_content_length_is_413_before_reading_it(server: RunningServer):
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}"
        "\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {5 * 2**20}\r\n\r\n"
    )
    status, body = raw_request(server.port, head, [b"--x\r\n"])  # 5 MiB announced, 5 bytes sent
    assert status == 413 and body["error"]["code"] == "body_too_large"


def test_oversized_streamed_body_is_413(server: RunningServer):
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}"
        "\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    payload = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    chunk = b"\0" * 65536
    parts = [f"{len(payload):x}\r\n".encode() + payload + b"\r\n"]
    parts += [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 20  # 1.25 MiB, no end
    status, body = raw_request(server.port, head, parts)
    assert status == 413 and body["error"]["code"] == "body_too_large"


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height gray pixels, with a tiny truncated data stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.mark.parametrize("which", ["image", "mask"])
def test_too_many_pixels_is_413(server: RunningServer, which: str):
    files = job_files()
    files[which] = (f"{which}.png", huge_png(400, 400), "image/png")  # 160k > 100k pixels
    with server.client() as client:
        message = assert_error_shape(submit(client, FAST, files), 413, "too_many_pixels")
    assert which in message and str(MAX_PIXELS) in message


def test_decompression_bomb_is_413(server: RunningServer):
    files = job_files()
    files["image"] = ("bomb.png", huge_png(60_000, 60_000), "image/png")
    with server.client() as client:
        assert_error_shape(submit(client, FAST, files), 413, "too_many_pixels")


# ---- bad input ---------------------------------------------------------------------------
def test_garbage_png_is_400(server: RunningServer):
    files = job_files()
    files["image"] = ("image.png", b"\x89PNG not really" + os.urandom(200), "image/png")
    with server.client() as client:
        message = assert_error_shape(submit(client, FAST, files), 400, "invalid_image")
    assert "PNG" in message


def test_truncated_png_is_400(server: RunningServer):
    files = job_files()
    name, data, kind = files["mask"]
    files["mask"] = (name, data[: len(data) // 2], kind)
    with server.client() as client:
        assert_error_shape(submit(client, FAST, files), 400, "invalid_image")


def test_mismatched_mask_is_400(server: RunningServer):
    files = job_files(40, 32)
    files["mask"] = ("mask.png", png_bytes(box_mask(32, 40, (4, 4, 20, 20))), "image/png")
    with server.client() as client:
        message = assert_error_shape(submit(client, FAST, files), 400, "invalid_image")
    assert "32x40" in message and "40x32" in message


def test_empty_mask_is_400(server: RunningServer):
    files = job_files(40, 32, box_mask(40, 32, (0, 0, 0, 0)))
    with server.client() as client:
        message = assert_error_shape(submit(client, FAST, files), 400, "invalid_image")
    assert "empty" in message


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"colour": "red"}, 422, "colour"),
        ({"steps": 5000}, 422, "steps"),
        ({"steps": 0}, 422, "steps"),
        ({"variations": 99}, 422, "variations"),
        ({"preset": "ultra"}, 422, "preset"),
        ({"seed": -1}, 422, "seed"),
        ({"steps": 10, "jump_length": 10}, 422, "jump length"),
        ({"model": "no/such-model"}, 422, "not installed"),
        (
            {"steps": 1000, "jump_length": 1, "jump_n_sample": 100, "variations": 8},
            413,
            "model calls",
        ),
        ("not json", 422, "JSON"),
        ("[" * 100_000 + "]" * 100_000, 422, "nested"),
        ('{"steps": ' + "[" * 50_000 + "]" * 50_000 + "}", 422, "params"),
        ('{"seed": 1' + "0" * 5000 + "}", 422, "JSON"),
        ('{"seed": 1e400}', 422, "seed"),
        ([1, 2], 422, "object"),
        ({"budget": 0}, 422, "budget"),
        ({"budget": 30, "steps": 10}, 422, "drop steps"),
        ({"budget": 30, "preset": "paper"}, 422, "drop preset"),
    ],
)
def test_bad_params_are_refused_with_a_message(server: RunningServer, params, status, words):
    text = params if isinstance(params, str) else json.dumps(params)
    with server.client() as client:
        answer = client.post("/v1/jobs", files=job_files(), data={"params": text})
        assert words in assert_error_shape(answer, status)
        assert answer.headers.get("connection") != "close"
        assert client.get("/v1/models").status_code == 200  # the same connection still serves


def test_a_budget_job_picks_a_schedule_from_the_curve_and_reports_it(server: RunningServer):
    curve = {
        (p.settings.steps, p.settings.jump_length, p.settings.jump_n_sample, p.model_calls)
        for p in load_curve()
    }
    with server.client() as client:
        answer = submit(client, {"budget": 30, "seed": 5}, job_files())
        assert answer.status_code == 202, answer.text
        upper_bound = answer.json()["total"]
        status = wait_for_state(client, answer.json()["id"], ("done", "failed", "cancelled"))
    assert status["state"] == "done", status
    budget = status["budget"]
    assert budget["budget_seconds"] == 30 and budget["seconds_per_call"] > 0
    assert status["model_calls"] == status["total"] == budget["model_calls"] <= upper_bound
    picked = budget["picked"]
    walk = (picked["steps"], picked["jump_length"], picked["jump_n_sample"], budget["model_calls"])
    assert walk in curve
    assert budget["fits"] and budget["estimated_seconds"] <= 30
    line = next(line for line in server.log().splitlines() if status["id"] in line)
    assert "preset=budget=30s" in line


def test_a_budget_below_any_schedule_runs_the_cheapest_and_says_so(server: RunningServer):
    cheapest = min(p.model_calls for p in load_curve())
    with server.client() as client:
        answer = submit(client, {"budget": 0.0001}, job_files())
        assert answer.status_code == 202, answer.text
        status = wait_for_state(client, answer.json()["id"], ("done", "failed", "cancelled"))
    assert status["state"] == "done", status
    assert status["budget"]["fits"] is False
    assert status["model_calls"] == status["budget"]["model_calls"] == cheapest


def test_a_job_without_budget_reports_none(server: RunningServer):
    _, status = run_fast_job(server, FAST, job_files())
    assert status["state"] == "done" and status["budget"] is None


def test_missing_file_is_422(server: RunningServer):
    files = job_files()
    del files["mask"]
    with server.client() as client:
        assert "mask" in assert_error_shape(submit(client, FAST, files), 422, "invalid_params")


def test_unknown_route_and_method_use_the_error_shape(server: RunningServer):
    with server.client() as client:
        assert_error_shape(client.get("/v2/jobs"), 404, "not_found")
        assert_error_shape(client.put("/v1/jobs/abc"), 405, "method_not_allowed")
        assert_error_shape(client.delete("/v1/jobs/unknown"), 404, "not_found")


# ---- clients that go away ------------------------------------------------------------------
def test_clients_that_disconnect_do_not_hurt_the_server(server: RunningServer):
    files = job_files()
    body = io.BytesIO()
    boundary = "b0undary"
    for name, (filename, data, kind) in files.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
        )
        body.write(data + b"\r\n")
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="params"\r\n\r\n'
        f"{json.dumps(FAST)}\r\n--{boundary}--\r\n".encode()
    )
    payload = body.getvalue()
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}"
        f"\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    for cut in (len(payload) // 2, len(payload)):  # mid-upload, then right after a full upload
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(head + payload[:cut])
    with server.client() as client:  # mid-poll: send a status request and hang up at once
        job_id = submit(client, FAST).json()["id"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            f"GET /v1/jobs/{job_id}/result HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {server.token}\r\n\r\n".encode()
        )
    with server.client() as client:
        assert wait_for_state(client, job_id, ("done",))["state"] == "done"
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200
    assert server.process.poll() is None
    assert "Traceback" not in server.log()
