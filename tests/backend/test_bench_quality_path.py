"""The benchmark fills through the engine's own steps: a batched bench fill of several images
gives the same pixels as the product's Engine.fill of each image alone (same seed)."""

import numpy as np
from helpers_backend import gradient_image, save_tiny_unet
from PIL import Image
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.imaging import composite
from repaint_fill_backend.presets import SamplingSettings
from repaint_fill_tools.bench.quality import Sample, fill_samples

SETTINGS = SamplingSettings(steps=6, jump_length=2, jump_n_sample=2)


def samples() -> list[Sample]:
    cases = []
    for number, (size, box) in enumerate(
        [((64, 48), (20, 10, 44, 30)), ((64, 48), (4, 4, 20, 40)), ((40, 40), (10, 10, 30, 30))]
    ):
        truth = np.asarray(gradient_image(*size))
        if number % 2:
            truth = truth[:, ::-1].copy()  # a second picture of the same size in the same batch
        coverage = np.zeros(truth.shape[:2], np.uint8)
        x0, y0, x1, y1 = box
        coverage[y0:y1, x0:x1] = 255
        cases.append(Sample(f"case-{number}", "box", truth, coverage))
    return cases


def test_batched_bench_fills_equal_engine_fills(tmp_path):
    engine = Engine.load(str(save_tiny_unet(tmp_path / "tiny")), dtype="fp32")
    cases = samples()
    batched = fill_samples(engine.model, cases, SETTINGS, batch=4, seed=7, detail="coarse")
    native = fill_samples(engine.model, cases, SETTINGS, batch=4, seed=7, detail="native")
    assert len(batched) == len(native) == len(cases)
    for index, case in enumerate(cases):
        request = FillRequest(
            Image.fromarray(case.truth), case.coverage, SETTINGS, seed=7 + index, detail="coarse"
        )
        result = engine.fill(request)
        region = result.crop.slices
        alone = case.truth.copy()
        alone[region] = composite(case.truth[region], result.fills[0], case.coverage[region])
        # Same pixels up to float summation order across batch sizes (a level or two at most).
        difference = np.abs(batched[index].astype(int) - alone.astype(int))
        assert difference.max() <= 2, case.name
        assert (batched[index] != case.truth).any(), "the hole was filled"
        # The native-detail bench fill is the product's default fill of the same request.
        default = engine.fill(
            FillRequest(Image.fromarray(case.truth), case.coverage, SETTINGS, seed=7 + index)
        )
        expected = case.truth.copy()
        region = default.crop.slices
        expected[region] = composite(case.truth[region], default.fills[0], case.coverage[region])
        assert np.array_equal(native[index], expected), case.name
