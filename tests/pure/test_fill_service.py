"""The fill service (checked once, planned once, the budget measured under the engine's lock),
the typed report's JSON, and the server's submit-time work limit over the exact plan.

The model is a lambda denoiser (predicts zero noise) on a fake clock: no real timing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from helpers_server import png_bytes
from PIL import Image
from repaint_fill_backend import engine as engine_module
from repaint_fill_backend import service
from repaint_fill_backend.denoiser import LoadedModel, Prediction
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.exceptions import ImageInputError, TooMuchWork
from repaint_fill_backend.fill_plan import ModelGeometry
from repaint_fill_backend.presets import SamplingSettings
from repaint_fill_backend.schedule import linear_betas
from repaint_fill_backend.server.app import create_app
from repaint_fill_backend.server.settings import ServerSettings

SHORT = SamplingSettings(steps=10, jump_length=2, jump_n_sample=2)  # 18 calls a full walk
NATIVE, STRIDE = 32, 8
# Keys and order of the report dict engine.run_plan built before the report was typed.
REPORT_KEYS = [
    "model", "device", "dtype", "steps", "jump_length", "jump_n_sample", "start_resampling",
    "reverse_step", "eta", "model_calls", "seconds", "seeds", "variations", "working_size",
    "crop", "image_size", "detail", "refine_strength", "regions", "harmonize", "detail_match",
]  # fmt: skip


class Clock:
    """Time moves only when the model runs: one second a call."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def zero_model(denoiser=None) -> LoadedModel:
    def predict(x: torch.Tensor, t: torch.Tensor) -> Prediction:
        return Prediction(torch.zeros_like(x))

    return LoadedModel("zero", denoiser or predict, linear_betas(), NATIVE, STRIDE, 3,
                       torch.device("cpu"), torch.float32, 0)  # fmt: skip


def two_regions(width: int = 240, height: int = 160) -> np.ndarray:
    """Two holes far apart, each crop larger than 1.5 x native: two regions, coarse to fine."""
    coverage = np.zeros((height, width), dtype=np.uint8)
    coverage[20:70, 10:80] = 255
    coverage[90:150, 150:230] = 255
    return coverage


def request_for(coverage: np.ndarray, **options) -> FillRequest:
    height, width = coverage.shape
    image = Image.new("RGB", (width, height), (90, 120, 150))
    return FillRequest(image, coverage, SHORT, seed=3, context_margin=8, **options)


def test_the_report_json_keeps_the_keys_order_and_values_of_the_old_dict():
    engine = Engine(zero_model())
    request = request_for(two_regions(), variations=2)
    plan = engine.plan(request)
    result = engine.fill(request)
    report = result.report.to_json()
    assert list(report) == REPORT_KEYS
    crop = result.crop
    sizes = [level.working_size for region in plan.regions for level in region.levels]
    assert report == {
        "model": "zero", "device": "cpu", "dtype": "fp32", "steps": 10, "jump_length": 2,
        "jump_n_sample": 2, "start_resampling": None, "reverse_step": "ddpm", "eta": 0.0,
        "model_calls": plan.model_calls, "seconds": report["seconds"], "seeds": [3, 4],
        "variations": 2, "working_size": list(max(sizes, key=lambda s: s[0] * s[1])),
        "crop": [crop.x, crop.y, crop.width, crop.height], "image_size": [240, 160],
        "detail": "native", "refine_strength": plan.refine_strength,
        "regions": [region.report() for region in plan.regions], "harmonize": True,
        "detail_match": True,
    }  # fmt: skip
    assert result.seeds == [3, 4] and isinstance(report["seconds"], float)
    assert len(report["regions"]) == 2 and result.report.depth > 1


def test_the_service_checks_once_plans_once_and_measures_the_budget_under_the_lock(monkeypatch):
    engine: Engine
    clock = Clock()
    calls_locked: list[bool] = []

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> Prediction:
        calls_locked.append(engine._lock.locked())
        clock.now += 1.0
        return Prediction(torch.zeros_like(x))

    engine = Engine(zero_model(denoiser))
    checks, plans = [], []
    validate, plan_fill = service.validate_request, engine_module.plan_fill
    monkeypatch.setattr(service, "validate_request", lambda r: checks.append(1) or validate(r))
    monkeypatch.setattr(
        engine_module, "plan_fill", lambda *a, **k: plans.append(1) or plan_fill(*a, **k)
    )
    checked = service.check_request(request_for(two_regions()))
    chosen = []
    outcome = service.fill(engine, checked, budget_seconds=2000.0, clock=clock,
                           on_budget=chosen.append)  # fmt: skip
    assert checks == [1] and plans == [1]
    assert chosen == [outcome.budget] and outcome.budget is not None
    # Two measuring calls, then every call of the chosen plan; all with the lock held.
    assert len(calls_locked) == 2 + outcome.result.report.model_calls
    assert all(calls_locked)
    assert outcome.request.settings == outcome.budget.settings
    assert outcome.result.report.settings == outcome.budget.settings
    assert outcome.result.report.model_calls == outcome.budget.model_calls


def test_the_budgets_plan_is_the_plan_of_its_choice():
    engine = Engine(zero_model())
    request = request_for(two_regions())
    outcome = service.fill(engine, service.check_request(request), budget_seconds=2000.0)
    replanned = engine.plan(outcome.request)
    assert outcome.result.report.regions == replanned.regions


def test_a_bad_request_fails_before_any_model_is_needed():
    coverage = np.zeros((16, 16), dtype=np.uint8)
    with pytest.raises(ImageInputError, match="empty"):
        service.check_request(request_for(coverage))


def test_the_work_limit_counts_every_region_level_and_tile_of_the_plan():
    request = request_for(two_regions(), variations=2)
    plan = engine_module.plan_for_geometry(ModelGeometry(NATIVE, STRIDE), request)
    exact = sum(level.model_calls for region in plan.regions for level in region.levels)
    assert len(plan.regions) == 2 and max(len(r.levels) for r in plan.regions) > 1
    one_pass = SHORT.schedule().model_calls * 2  # what the limit counted before
    assert exact * 2 > one_pass
    service.check_work(plan, 2, exact * 2)
    with pytest.raises(TooMuchWork, match=f"needs {exact * 2} model calls"):
        service.check_work(plan, 2, exact * 2 - 1)


def submit(client: TestClient, coverage: np.ndarray, token: str, **params) -> dict:
    height, width = coverage.shape
    image = Image.new("RGB", (width, height), (100, 100, 100))
    files = {
        "image": ("image.png", png_bytes(image), "image/png"),
        "mask": ("mask.png", png_bytes(Image.fromarray(coverage)), "image/png"),
    }
    answer = client.post(
        "/v1/jobs",
        files=files,
        data={"params": json.dumps({**params, "context_margin": 8})},
        headers={"Authorization": f"Bearer {token}"},
    )
    return {"status": answer.status_code, **answer.json()}


@pytest.mark.parametrize("extra", [-1, 0])
def test_submit_refuses_with_413_what_the_exact_plan_cannot_afford(
    tmp_path: Path, extra: int, monkeypatch
):
    params = {"steps": 10, "jump_length": 2, "jump_n_sample": 2, "variations": 2}
    request = request_for(two_regions(), variations=2)
    exact = engine_module.plan_for_geometry(ModelGeometry(NATIVE, STRIDE), request).model_calls
    limit = exact * 2 + extra
    settings = ServerSettings("secret", tmp_path / "token", "zero", max_model_calls=limit)
    engine = Engine(zero_model())
    app = create_app(settings, lambda _name: engine, engine)
    plans, plan_fill = [], engine_module.plan_fill
    monkeypatch.setattr(
        engine_module, "plan_fill", lambda *a, **k: plans.append(1) or plan_fill(*a, **k)
    )
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        answer = submit(client, two_regions(), "secret", **params)
        if extra < 0:
            assert answer["status"] == 413, answer
            assert answer["error"]["code"] == "too_much_work"
            assert f"needs {exact * 2} model calls" in answer["error"]["message"]
            return
        assert answer["status"] == 202, answer
        assert answer["total"] == SHORT.schedule().model_calls  # one pass, as before
        status = wait_done(client, answer["id"])
    assert status["state"] == "done" and status["model_calls"] == exact
    assert plans == [1]  # planned at submit; the worker ran that plan


def wait_done(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer secret"})
        if status.json()["state"] in ("done", "failed", "cancelled"):
            return status.json()
        time.sleep(0.05)
    raise AssertionError("the job did not finish")
