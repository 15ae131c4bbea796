"""The host core (client, fill orchestration, launcher) against the REAL `repaint-fill serve`
on loopback with a token file, a small model and few steps."""

import threading
from pathlib import Path

import pytest
from helpers_server import running_server, serve_command, tiny_model
from repaint_fill_core.client import BackendClient, run_job
from repaint_fill_core.config import PluginConfig, read_token
from repaint_fill_core.errors import BackendError, Cancelled
from repaint_fill_core.fill import (
    FillOptions,
    build_job_upload,
    execute,
    short_model_name,
)
from repaint_fill_core.geometry import CanvasRect
from repaint_fill_core.launcher import ensure_backend
from repaint_fill_core.png import decode_png

pytestmark = pytest.mark.slow
FEW_STEPS = {"preset": "fast", "steps": 10}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory):
    with running_server(tmp_path_factory.mktemp("serve")) as server:
        yield server.url, server.token_file


def _crop() -> tuple:
    crop = CanvasRect(10, 20, 40, 24)
    rgba = bytes(
        (x * 6, y * 10, 128, 255)[c] for y in range(24) for x in range(40) for c in range(4)
    )
    coverage = bytearray(40 * 24)
    for y in range(6, 18):
        for x in range(12, 28):
            coverage[y * 40 + x] = 255 if 13 <= x <= 26 else 100  # soft left/right edge
    return crop, rgba, bytes(coverage)


def test_health_models_and_token(backend) -> None:
    url, token_file = backend
    client = BackendClient(url, read_token(str(token_file)), timeout=30)
    assert client.health()
    assert client.models()
    with pytest.raises(BackendError) as caught:
        BackendClient(url, "not-the-token", timeout=30).models()
    assert caught.value.status == 401 and "token" in str(caught.value)


def test_fill_returns_layers_with_alpha_equal_to_coverage(backend) -> None:
    url, token_file = backend
    crop, rgba, coverage = _crop()
    upload = build_job_upload(
        crop,
        rgba,
        coverage,
        FillOptions(
            seed=123, variations=2, **{"preset": FEW_STEPS["preset"], "steps": FEW_STEPS["steps"]}
        ),
    )
    client = BackendClient(url, read_token(str(token_file)), timeout=60)
    progress = []
    layers = execute(client, upload, lambda *p: progress.append(p), poll_interval=0.1)
    assert len(layers) == 2
    model = client.health()["model"]  # a job without params.model runs on the loaded one
    assert layers[0].name == f"RePaint Fill ({short_model_name(model)}, seed 123)"
    assert layers[0].seed != layers[1].seed
    for layer in layers:
        assert layer.rect == crop
        assert layer.rgba[3::4] == coverage
    assert progress and progress[-1][0] <= progress[-1][1]


def test_result_png_from_the_server_is_rgba_with_coverage_alpha(backend) -> None:
    url, token_file = backend
    crop, rgba, coverage = _crop()
    upload = build_job_upload(crop, rgba, coverage, FillOptions(seed=5, **FEW_STEPS))
    client = BackendClient(url, read_token(str(token_file)), timeout=60)
    [(png, seed)] = run_job(
        client, upload.image_png, upload.mask_png, upload.params, poll_interval=0.1
    )
    width, height, channels, pixels = decode_png(png)  # our decoder reads the server's PNG
    assert (width, height, channels) == (40, 24, 4)
    assert pixels[3::4] == coverage
    assert seed == 5


def test_cancel_stops_the_job(backend) -> None:
    url, token_file = backend
    crop, rgba, coverage = _crop()
    upload = build_job_upload(crop, rgba, coverage, FillOptions(preset="paper"))
    client = BackendClient(url, read_token(str(token_file)), timeout=60)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        run_job(
            client,
            upload.image_png,
            upload.mask_png,
            upload.params,
            on_progress=lambda *p: cancel.set(),
            should_cancel=cancel.is_set,
            poll_interval=0.1,
        )


def test_launcher_finds_the_running_backend(backend) -> None:
    url, token_file = backend
    client = ensure_backend(PluginConfig(backend_url=url, token_file=str(token_file)), timeout=5)
    assert client.token == read_token(str(token_file))


def test_launcher_starts_the_configured_real_backend(tmp_path: Path) -> None:
    """A local backend that is not running is started from start_command, then used."""
    import os
    import shlex
    import signal
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token_file, pid_file = tmp_path / "token", tmp_path / "serve.pid"
    serve = serve_command() + [
        "--port",
        str(port),
        "--token-file",
        str(token_file),
        "--model",
        str(tiny_model(tmp_path / "tiny")),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    # sh records the pid, then becomes the server (exec), so the test can stop exactly it.
    start = ["sh", "-c", f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.join(serve)}"]
    config = PluginConfig(
        backend_url=f"http://127.0.0.1:{port}",
        token_file=str(token_file),
        start_command=tuple(start),
        startup_timeout=180,
        config_file=str(tmp_path / "plugin.json"),
    )
    try:
        client = ensure_backend(config)
        assert client.token and client.token == read_token(str(token_file))
        assert client.models()
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_expand_is_an_ordinary_job_whose_layer_is_the_new_border(backend) -> None:
    from repaint_fill_core.expand import (
        ExpandSides,
        build_expand_upload,
        expand_layer,
        plan_expand,
    )

    url, token_file = backend
    plan = plan_expand(40, 24, ExpandSides(right=12, top=4), 6)
    source = plan.source_rect
    rgba = bytes(
        (60, 120, 180, 255)[c] if 0 <= x < 40 and 0 <= y < 24 else 0
        for y in range(source.y, source.y + source.height)
        for x in range(source.x, source.x + source.width)
        for c in range(4)
    )  # what a host reads: the image, transparent beyond its old edges
    upload = build_expand_upload(plan, rgba, FillOptions(seed=8, **FEW_STEPS))
    client = BackendClient(url, read_token(str(token_file)), timeout=30)
    (layer,) = [expand_layer(found) for found in execute(client, upload, poll_interval=0.05)]
    assert layer.name == "RePaint Expand (seed 8)" and layer.rect == plan.crop
    for index, alpha in enumerate(layer.rgba[3::4]):
        x, y = layer.rect.x + index % layer.rect.width, layer.rect.y + index // layer.rect.width
        on_border = not (0 <= x < 40 and 4 <= y < 28)  # the old canvas sits at (0, 4)
        assert alpha == (255 if on_border else 0), (x, y)
