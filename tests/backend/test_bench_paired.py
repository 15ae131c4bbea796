"""The paired model comparison (the ship-or-not test of a new embedded model) end to end, with
tiny random UNets on synthetic photos: the numbers only mean something with real models."""

import json

import numpy as np
import pytest
from helpers_backend import gradient_image, save_tiny_unet
from PIL import Image

pytest.importorskip("cv2")
from repaint_fill_tools.bench import paired


def _photos(folder):
    folder.mkdir()
    for number in range(2):
        photo = np.asarray(gradient_image(256, 192)).copy()
        photo[number::4] = 30 + 60 * number  # different structure per photo
        Image.fromarray(photo).save(folder / f"photo{number}.png")
    return folder


def test_paired_comparison_reports_each_model_against_the_first(tmp_path):
    photos = _photos(tmp_path / "photos")
    first = save_tiny_unet(tmp_path / "first", seed=0)
    second = save_tiny_unet(tmp_path / "second", seed=1)
    out = tmp_path / "out"
    paired.main(["--photos", str(photos), "--models", str(first), str(second),
                 "--long-side", "256", "--detail", "coarse", "--dtype", "fp32",
                 "--out", str(out)])  # fmt: skip
    report = json.loads((out / "paired.json").read_text())
    swd = {name: by_mask["box"] for name, by_mask in report["per_case_swd"].items()}
    assert set(swd) == {"first", "second", "OpenCV Telea"}
    assert all(len(values) == 2 for values in swd.values())  # one box case per photo
    rows = {entry["model"]: entry for entry in report["summary"]}
    assert "swd_vs_first" not in rows["first"]
    versus = rows["second"]["swd_vs_first"]
    assert versus["cases"] == 2
    assert versus["mean"] == pytest.approx(np.mean(np.subtract(swd["second"], swd["first"])))
    assert swd["second"] != swd["first"]  # different weights, different fills
    # per level (fine texture .. coarse layout): the overall SWD is their mean, and each level
    # has its own paired difference
    levels = rows["second"]["swd_levels"]
    assert list(levels) == ["fine", "middle", "coarse"]
    assert np.mean(list(levels.values())) == pytest.approx(rows["second"]["swd"])
    by_level = rows["second"]["swd_levels_vs_first"]
    assert np.mean([by_level[level]["mean"] for level in levels]) == pytest.approx(versus["mean"])
    assert "fine / middle / coarse vs first" in report["table"][0]
    with Image.open(out / "paired_sheet.png") as sheet:
        assert sheet.height > 2 * 256  # both photos shown
    assert report["table"][2].startswith("| box | first |")


def test_the_same_model_twice_gives_the_same_fills(tmp_path):
    """Same seeds and cases for every model: a model compared with itself ties on every case."""
    photos = _photos(tmp_path / "photos")
    model = save_tiny_unet(tmp_path / "a", seed=3)
    copy = save_tiny_unet(tmp_path / "b", seed=3)
    out = tmp_path / "out"
    paired.main(["--photos", str(photos), "--models", str(model), str(copy), "--limit", "1",
                 "--long-side", "256", "--detail", "coarse", "--dtype", "fp32",
                 "--out", str(out)])  # fmt: skip
    versus = json.loads((out / "paired.json").read_text())["summary"][1]["swd_vs_first"]
    assert versus == {"mean": 0.0, "standard_error": 0.0, "lower": 0, "cases": 1}
    by_level = json.loads((out / "paired.json").read_text())["summary"][1]["swd_levels_vs_first"]
    assert all(difference["mean"] == 0.0 for difference in by_level.values())


@pytest.mark.parametrize(("option", "off_label"), [("--harmonize", "raw"),
                                                   ("--detail-match", "soft")])  # fmt: skip
def test_both_pairs_each_model_without_and_with_the_step(tmp_path, option, off_label):
    photos = _photos(tmp_path / "photos")
    model = save_tiny_unet(tmp_path / "m", seed=4)
    out = tmp_path / "out"
    paired.main(["--photos", str(photos), "--models", str(model), "--limit", "1",
                 "--long-side", "256", "--detail", "coarse", "--dtype", "fp32",
                 option, "both", "--out", str(out)])  # fmt: skip
    summary = json.loads((out / "paired.json").read_text())["summary"]
    assert [entry["model"] for entry in summary] == [f"m {off_label}", "m", "OpenCV Telea"]
    assert summary[1]["swd"] != summary[0]["swd"]  # with the step, the fill is another picture


def test_both_steps_both_run_every_combination_the_products_last():
    assert paired.variants("both", "both") == [
        (False, False, " raw soft"), (False, True, " raw"), (True, False, " soft"), (True, True, "")
    ]  # fmt: skip


def test_two_models_with_the_same_folder_name_are_refused(tmp_path):
    photos = _photos(tmp_path / "photos")
    one, two = save_tiny_unet(tmp_path / "a" / "m"), save_tiny_unet(tmp_path / "b" / "m")
    with pytest.raises(SystemExit):
        paired.main(["--photos", str(photos), "--models", str(one), str(two),
                     "--out", str(tmp_path / "out")])  # fmt: skip


def test_paired_difference_counts_the_cases_where_the_new_model_is_lower():
    result = paired.paired_difference([10.0, 20.0, 30.0], [12.0, 19.0, 35.0])
    assert result["mean"] == pytest.approx(-2.0)
    assert result["standard_error"] == pytest.approx(np.std([-2, 1, -5], ddof=1) / np.sqrt(3))
    assert (result["lower"], result["cases"]) == (2, 3)


def test_jobs_fill_the_models_in_parallel_processes_with_the_same_numbers(tmp_path):
    """--jobs 2 runs each model in its own process: every case's score is what one process
    gives, in --models order."""
    photos = _photos(tmp_path / "photos")
    first = save_tiny_unet(tmp_path / "first", seed=5)
    second = save_tiny_unet(tmp_path / "second", seed=6)
    reports = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        paired.main(["--photos", str(photos), "--models", str(first), str(second),
                     "--limit", "1", "--long-side", "256", "--detail", "coarse", "--dtype",
                     "fp32", "--jobs", jobs, "--out", str(out)])  # fmt: skip
        reports.append(json.loads((out / "paired.json").read_text()))
    assert list(reports[1]["per_case_swd"]) == ["first", "second", "OpenCV Telea"]
    assert reports[1]["per_case_swd"] == reports[0]["per_case_swd"]
    with pytest.raises(SystemExit):
        paired.main(["--photos", str(photos), "--models", str(first), "--jobs", "0",
                     "--out", str(tmp_path / "none")])  # fmt: skip
