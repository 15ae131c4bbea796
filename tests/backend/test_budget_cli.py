"""`repaint-fill fill --budget SECONDS` with a tiny random UNet: it measures, picks, reports."""

import json

import pytest
from helpers_backend import box_mask, gradient_image, save_tiny_unet
from repaint_fill_backend.budget import load_curve
from repaint_fill_backend.cli import main


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("budget")
    gradient_image(64, 48).save(folder / "image.png")
    box_mask(64, 48, (20, 10, 44, 30)).save(folder / "mask.png")
    return folder, save_tiny_unet(folder / "tiny")


def fill(scene, *extra):
    folder, model = scene
    return main(
        [
            "fill",
            str(folder / "image.png"),
            "--mask",
            str(folder / "mask.png"),
            "-o",
            str(folder / "out.png"),
            "--model",
            str(model),
            "--quiet",
            *extra,
        ]
    )


def test_budget_picks_a_schedule_from_the_curve_and_reports_it(scene, capsys):
    folder, _ = scene
    assert fill(scene, "--budget", "30", "--seed", "3", "--report", str(folder / "r.json")) == 0
    report = json.loads((folder / "r.json").read_text())
    budget = report["budget"]
    assert budget["budget_seconds"] == 30
    assert budget["seconds_per_call"] > 0
    assert budget["model_calls"] == report["model_calls"]
    picked = (
        budget["picked"]["steps"],
        budget["picked"]["jump_length"],
        budget["picked"]["jump_n_sample"],
    )
    assert picked == (report["steps"], report["jump_length"], report["jump_n_sample"])
    assert picked in {
        (p.settings.steps, p.settings.jump_length, p.settings.jump_n_sample) for p in load_curve()
    }
    assert "budget 30 s" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--steps", "10"], ["--preset", "fast"], []])
def test_budget_with_schedule_options_or_not_positive_is_a_one_line_error(scene, capsys, extra):
    budget = "0" if not extra else "30"
    assert fill(scene, "--budget", budget, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("repaint-fill: error:") and "budget" in err
