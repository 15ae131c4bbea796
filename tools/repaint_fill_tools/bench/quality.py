"""Quality per model call: our sampler (through the product's crop/scale/composite path) against
OpenCV's Telea and Navier-Stokes inpainting, on scikit-learn's china.jpg and flower.jpg.

The validation photos are never used for training (the embedded model's card lists its data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from repaint_fill_backend.denoiser import LoadedModel
from repaint_fill_backend.engine import (
    FillRequest,
    PreparedFill,
    plan_request,
    plan_work,
    prepare_fill,
    run_plan,
    sample_batch,
)
from repaint_fill_backend.harmonize import level_sigma
from repaint_fill_backend.imaging import composite
from repaint_fill_backend.presets import SamplingSettings

from .masks import MASKS
from .metrics import FillScores, score_fill

IMAGE_SIZE = 256


@dataclass(frozen=True)
class Sample:
    """One validation case: ground truth (H, W, 3) uint8 and coverage (H, W) uint8, 255 = fill."""

    name: str
    mask: str
    truth: np.ndarray
    coverage: np.ndarray


@dataclass
class MethodResult:
    method: str
    model_calls: int
    seconds: float  # wall time of the whole method over all samples
    fills: list[np.ndarray]
    scores: list[FillScores] = field(default_factory=list)


def validation_images(crops_per_image: int, size: int = IMAGE_SIZE) -> list[tuple[str, np.ndarray]]:
    """Square crops of china.jpg and flower.jpg (left to right; the middle one is the centre),
    resized to ``size``."""
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    images = []
    for filename, pixels in zip(bunch.filenames, bunch.images):
        stem = filename.rsplit("/", 1)[-1].split(".")[0]
        height, width = pixels.shape[:2]
        side = min(height, width)
        if crops_per_image == 1:
            offsets = [(width - side) // 2]
        else:
            offsets = np.linspace(0, width - side, crops_per_image).round().astype(int).tolist()
        for index, x0 in enumerate(offsets):
            crop = Image.fromarray(pixels[(height - side) // 2 :][:side, x0 : x0 + side])
            resized = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
            images.append((f"{stem}-{index}", resized))
    return images


def make_samples(images: Sequence[tuple[str, np.ndarray]], masks: Sequence[str]) -> list[Sample]:
    samples = []
    for number, (name, truth) in enumerate(images):
        for mask in masks:
            coverage = MASKS[mask](truth.shape[0], seed=number)
            samples.append(Sample(name, mask, truth, coverage))
    return samples


def fill_samples(
    model: LoadedModel,
    samples: Sequence[Sample],
    settings: SamplingSettings,
    batch: int,
    seed: int = 0,
    detail: str = "coarse",
) -> list[np.ndarray]:
    """Fill every sample as the product does; sample i uses seed + i.

    ``coarse``: through the engine's single-pass steps (prepare_fill, sample_batch, crop_fill,
    composite), batching samples that share a working size (the schedule sweep's path).
    ``native``: the product's default fill (regions, levels, tiles), one sample at a time.
    """
    if detail == "native":
        return [native_fill(model, sample, settings, seed + i) for i, sample in enumerate(samples)]
    prepared = [prepare_fill(model, s.truth, s.coverage) for s in samples]
    results: list[np.ndarray | None] = [None] * len(samples)
    order = sorted(range(len(samples)), key=lambda i: prepared[i].size)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            for chunk in _split_by_size(order[start : start + batch], prepared):
                known = torch.cat([prepared[i].known for i in chunk])
                keep_mask = torch.cat([prepared[i].keep_mask for i in chunk])
                seeds = [seed + i for i in chunk]
                sigmas = [level_sigma(prepared[i].size[0], prepared[i].crop.width) for i in chunk]
                sampled = sample_batch(model, known, keep_mask, settings, seeds,
                                       seam_sigmas=sigmas)  # fmt: skip
                for i, item in zip(chunk, sampled):
                    region = prepared[i].crop.slices
                    truth, coverage = samples[i].truth, samples[i].coverage
                    result = truth.copy()
                    result[region] = composite(
                        truth[region], prepared[i].crop_fill(item), coverage[region]
                    )
                    results[i] = result
    return [r for r in results if r is not None]


def native_fill(
    model: LoadedModel, sample: Sample, settings: SamplingSettings, seed: int
) -> np.ndarray:
    """One sample filled at native detail through the engine's plan, composited."""
    request = FillRequest(Image.fromarray(sample.truth), sample.coverage, settings, seed=seed)
    with torch.inference_mode():
        result = run_plan(model, request, plan_request(model, request))
    filled, region = sample.truth.copy(), result.crop.slices
    filled[region] = composite(sample.truth[region], result.fills[0], sample.coverage[region])
    return filled


def _split_by_size(indices: list[int], prepared: list[PreparedFill]) -> list[list[int]]:
    chunks: dict[tuple[int, int], list[int]] = {}
    for i in indices:
        chunks.setdefault(prepared[i].size, []).append(i)
    return list(chunks.values())


def resampled_truth(model: LoadedModel, samples: Sequence[Sample]) -> list[np.ndarray]:
    """The ground truth sent through the engine's scaling only (crop -> working size -> back):
    the sharpest fill a model working at that size can return, a bound for the sharpness ratio."""
    results = []
    for sample in samples:
        crop, size = plan_work(model, sample.coverage)
        region = crop.slices
        small = Image.fromarray(sample.truth[region]).resize(size, Image.Resampling.LANCZOS)
        back = np.asarray(small.resize((crop.width, crop.height), Image.Resampling.LANCZOS))
        result = sample.truth.copy()
        result[region] = composite(sample.truth[region], back, sample.coverage[region])
        results.append(result)
    return results


def opencv_fill(samples: Sequence[Sample], flag_name: str) -> list[np.ndarray]:
    """cv2.inpaint (radius 5) on each sample; the known pixels stay as they are."""
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[flag_name]
    return [cv2.inpaint(s.truth, (s.coverage > 0).astype(np.uint8) * 255, 5, flag) for s in samples]


def run_method(
    name: str, samples: Sequence[Sample], fill: Callable[[], list[np.ndarray]], model_calls: int
) -> MethodResult:
    """Time one method over all samples and score every fill over its hole."""
    started = time.perf_counter()
    fills = fill()
    seconds = time.perf_counter() - started
    result = MethodResult(name, model_calls, seconds, fills)
    for index, (sample, filled) in enumerate(zip(samples, fills)):
        result.scores.append(score_fill(sample.truth, filled, sample.coverage > 0, seed=index))
    return result


def summarise(result: MethodResult, samples: Sequence[Sample]) -> list[dict]:
    """Mean scores per mask type (and 'all') of one method."""
    rows = []
    for mask in [*dict.fromkeys(s.mask for s in samples), "all"]:
        picked = [sc for s, sc in zip(samples, result.scores) if mask in ("all", s.mask)]
        if not picked:
            continue
        rows.append(
            {
                "method": result.method,
                "mask": mask,
                "samples": len(picked),
                "model_calls": result.model_calls,
                "swd": float(np.nanmean([p.swd for p in picked])),
                # standard error of the mean: how far apart two schedules must be to differ
                "swd_se": float(np.nanstd([p.swd for p in picked]) / max(len(picked), 1) ** 0.5),
                "sharpness": float(np.nanmean([p.sharpness for p in picked])),
                "psnr": float(np.nanmean([p.psnr for p in picked])),
                "ssim": float(np.nanmean([p.ssim for p in picked])),
            }
        )
    return rows


def keep_fraction_at_working_size(model: LoadedModel, sample: Sample) -> float:
    """Share of the working-size pixels the sampler treats as known (1 = keep)."""
    return float(prepare_fill(model, sample.truth, sample.coverage).keep_mask.mean())
