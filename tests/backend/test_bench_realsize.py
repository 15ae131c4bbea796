"""The real-size benchmark runs end to end on a synthetic photo with a tiny UNet (a smoke test:
the numbers it prints are only meaningful with the real model and validation photos)."""

import json

import numpy as np
import pytest
from helpers_backend import gradient_image, save_tiny_unet
from PIL import Image
from repaint_fill_backend.engine import Engine

pytest.importorskip("cv2")
from repaint_fill_tools.bench.realsize import run_realsize


def test_realsize_section_writes_table_json_and_sheet(tmp_path):
    photo = np.asarray(gradient_image(256, 160)).copy()
    photo[::5] = 40  # some structure for the metrics
    Image.fromarray(photo).save(tmp_path / "photo.png")
    engine = Engine.load(str(save_tiny_unet(tmp_path / "tiny")), dtype="fp32")
    lines = []
    results = run_realsize([tmp_path / "photo.png"], engine, ["fast"], tmp_path / "out",
                           log=lines.append, masks=["box"], long_side=256)  # fmt: skip
    methods = {row["method"] for row in results["rows"]}
    assert {"ours native fast", "ours coarse fast", "OpenCV Telea", "OpenCV NS"} <= methods
    native = next(r for r in results["rows"] if r["method"] == "ours native fast")
    coarse = next(r for r in results["rows"] if r["method"] == "ours coarse fast")
    assert native["model_calls"][0] > coarse["model_calls"][0]  # refinement levels ran
    assert json.loads((tmp_path / "out" / "realsize.json").read_text())["table"]
    with Image.open(tmp_path / "out" / "realsize_sheet.png") as sheet:
        assert sheet.width > 1000 and sheet.height > 200
    assert any(line.startswith("| box | ours native fast") for line in lines)
