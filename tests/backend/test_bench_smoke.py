"""`repaint-fill bench --quick`: the whole benchmark at smoke size with a tiny random UNet.

Asserts the report's structure and that every number is finite; never timing (shared machine).
"""

import json
import math

import pytest
from repaint_fill_backend.cli import main

pytestmark = pytest.mark.slow  # ~30 s: builds a tiny UNet, runs every part once

SPEED_KEYS = ("wall_seconds", "seconds_per_call", "images_per_second")
QUALITY_KEYS = ("swd", "sharpness", "psnr", "ssim")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    docs = tmp_path_factory.mktemp("docs")
    assert main(["bench", "--quick", "--docs", str(docs)]) == 0
    return docs, json.loads((docs / "benchmarks.json").read_text())


def finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_writes_the_report_plot_grid_and_curve_outside_the_package(quick_run):
    docs, _ = quick_run
    markdown = (docs / "benchmarks.md").read_text()
    for heading in (
        "## Machine",
        "## Targets",
        "## Speed",
        "## Quality per model call",
        "## GPU on paper",
    ):
        assert heading in markdown
    for name in ("quality_vs_calls.png", "quality_grid.png", "curve.json"):
        assert (docs / name).stat().st_size > 0


def test_speed_rows_compare_equal_model_calls_with_finite_numbers(quick_run):
    _, results = quick_run
    rows = results["speed"]["rows"]
    assert {r["runner"] for r in rows} == {"ours fp32", "diffusers fp32"}
    assert {r["batch"] for r in rows} == {1, 2}
    for row in rows:
        assert row["model_calls"] == 6  # T=4, j=2, r=2, counted by a forward hook
        assert all(finite(row[key]) and row[key] > 0 for key in SPEED_KEYS)
    assert any(finite(r["peak_rss_mb"]) for r in rows)
    ratios = results["speed"]["ratios"]
    assert ratios and all(r["equal_calls"] and finite(r["ratio"]) for r in ratios)
    assert all(finite(g["gain"]) for g in results["speed"]["gains"])


def test_quality_sweep_masks_and_targets_are_complete_and_finite(quick_run):
    docs, results = quick_run
    quality = results["quality"]
    assert len(quality["sweep"]) == 3
    for row in quality["sweep"]:
        assert row["model_calls"] > 0
        assert all(finite(row[key]) for key in QUALITY_KEYS)
    methods = {r["method"] for r in quality["masks"]}
    assert {"ours fast", "ours balanced", "OpenCV Telea", "OpenCV Navier-Stokes"} <= methods
    for row in quality["masks"]:
        if row["method"] != "ground truth (reference)":  # SWD 0 and PSNR inf by definition
            assert all(finite(row[key]) for key in QUALITY_KEYS)
    assert set(quality["recommended"]) == {"fast", "balanced"}
    targets = results["targets"]
    assert targets and all(isinstance(t["met"], bool) for t in targets)
    curve = json.loads((docs / "curve.json").read_text())
    assert [p["model_calls"] for p in curve["points"]] == sorted(
        p["model_calls"] for p in curve["points"]
    )
