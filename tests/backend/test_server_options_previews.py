"""What the server advertises (models, options) and live previews, against a real server.

Uses the session's shared server (helpers_server.shared_server: a tiny random UNet).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers_server import (
    FAST,
    LONG,
    RunningServer,
    assert_error_shape,
    decode_rgba,
    job_files,
    soft_mask,
    submit,
    wait_for_state,
)
from repaint_fill_backend.presets import PRESETS
from repaint_fill_backend.registry import find_entry

pytestmark = pytest.mark.slow
pytest_plugins = ["helpers_server"]
PICKER_FIELDS = {"name", "good_for", "native_size", "present", "licence", "size_mb"}


def test_models_are_objects_a_picker_can_show(shared_server: RunningServer):
    with shared_server.client() as client:
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert all(set(model) >= PICKER_FIELDS for model in models.values())
    embedded, places = models["embedded"], models["places2-256"]
    assert embedded["native_size"] == 128 and embedded["size_mb"] > 0
    assert (
        places["native_size"] == 256
        and places["size_mb"] > 1000
        and "Places2" in places["good_for"]
    )
    assert "non-commercial" in places["licence"]
    # Not present here: the entry says how to get it (the registry's words), and a job naming
    # it is refused with them.
    how = find_entry("places2-256").how_to_get
    assert places["present"] is False and places["get_it"] == how
    imagenet = models["imagenet-256"]  # a stable download: the installer can fetch it
    assert "install.py --model imagenet-256" in imagenet["get_it"]
    with shared_server.client() as client:
        message = assert_error_shape(
            submit(client, {"model": "places2-256"}), 422, "model_not_present"
        )
    assert how in message


def test_options_advertise_presets_limits_and_models(shared_server: RunningServer):
    with shared_server.client() as client:
        options = client.get("/v1/options").json()
        listing = client.get("/v1/models").json()
    assert [p["name"] for p in options["presets"]] == list(PRESETS)
    paper = next(p for p in options["presets"] if p["name"] == "paper")
    assert paper["model_calls"] == 2410 and options["default_preset"] == "fast"
    assert options["variations"] == {"min": 1, "max": 8}
    assert options["seed"]["min"] == 0 and options["seed"]["max"] > 2**31
    assert options["preview"] is True and options["models"] == listing
    assert options["detail"] == {"choices": ["native", "coarse"], "default": "native"}
    # A seed past the advertised range is refused: the advertised limit is the real one.
    with shared_server.client() as client:
        assert_error_shape(submit(client, {"seed": options["seed"]["max"] + 1}), 422)


def test_preview_is_404_before_the_first_one_then_a_result_shaped_png(
    shared_server: RunningServer,
):
    width, height = 48, 40
    mask = soft_mask(width, height)
    with shared_server.client() as client:
        running = submit(client, {**LONG, "seed": 3}, job_files(width, height, mask)).json()["id"]
        queued = submit(client, {**LONG, "seed": 4}).json()["id"]
        try:
            # Queued behind the first job: no estimate yet, in the one error shape.
            assert client.get(f"/v1/jobs/{queued}").json()["preview"] == 0
            assert_error_shape(client.get(f"/v1/jobs/{queued}/preview"), 404, "no_preview")
            status = wait_for_state(client, running, ("running",), min_step=1)
            deadline = time.monotonic() + 30
            while status["preview"] == 0 and time.monotonic() < deadline:
                status = client.get(f"/v1/jobs/{running}").json()
            first = status["preview"]
            answer = client.get(f"/v1/jobs/{running}/preview")
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
            assert int(answer.headers["X-Preview"]) >= first >= 1
            rgba = decode_rgba(answer.content)
            assert rgba.shape == (height, width, 4)
            assert np.array_equal(rgba[..., 3], np.asarray(mask))  # composited like the result
            # A newer estimate shows up as a higher number (one per second at most).
            newer = wait_until(lambda: client.get(f"/v1/jobs/{running}").json()["preview"] > first)
            assert newer
        finally:
            client.delete(f"/v1/jobs/{queued}")
            client.delete(f"/v1/jobs/{running}")
        ended = wait_for_state(client, running, ("cancelled",))
        assert ended["preview"] == 0  # previews end with the job
        assert_error_shape(client.get(f"/v1/jobs/{running}/preview"), 404, "no_preview")


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_uncompressed_result_is_the_png_result_pixel_for_pixel(shared_server: RunningServer):
    width, height = 40, 30
    with shared_server.client() as client:
        job_id = submit(client, {**FAST, "seed": 5}, job_files(width, height)).json()["id"]
        assert wait_for_state(client, job_id, ("done", "failed"))["state"] == "done"
        png = client.get(f"/v1/jobs/{job_id}/result")
        raw = client.get(f"/v1/jobs/{job_id}/result", params={"format": "rgba"})
        assert_error_shape(client.get(f"/v1/jobs/{job_id}/result", params={"format": "jpeg"}), 422)
    assert raw.headers["content-type"] == "application/octet-stream"
    assert (raw.headers["X-Width"], raw.headers["X-Height"]) == (str(width), str(height))
    assert raw.headers["X-Seed"] == png.headers["X-Seed"] == "5"
    assert raw.content == decode_rgba(png.content).tobytes()
