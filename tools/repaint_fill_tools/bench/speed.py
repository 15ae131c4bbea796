"""Speed: our sampler against diffusers' RePaintPipeline on the same UNet and the same (T, j, r).

Runs are interleaved (ours, peer, then peer, ours: the order alternates) in one process so that
load from other processes on a shared machine hits both alike; the median of the repeats is
reported. Model calls
are counted with a forward hook on the UNet for both. Peak memory is measured in a fresh
subprocess per configuration (see ``probe_memory``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace

import torch
from repaint_fill_backend.sampler import DDPMStep, repaint
from repaint_fill_backend.schedule import diffusion_tables, expected_model_calls, jump_schedule

from .common import CallCounter, ModelSpec, build_unet, our_denoiser, training_betas

# Runner names. "bf16" for ours = bf16 weights in channels-last layout through our adapter; the
# peer cannot run bf16 weights (its output conversion calls .numpy() on a bf16 tensor), so its
# bf16 variant is autocast over channels-last fp32 weights, the usual way to get bf16 from it.
OURS_FP32, PEER_FP32 = "ours fp32", "diffusers fp32"
OURS_BF16, PEER_BF16 = "ours bf16+CL", "diffusers bf16 autocast+CL"
ALL_RUNNERS = (OURS_FP32, PEER_FP32, OURS_BF16, PEER_BF16)
RATIOS = ((OURS_FP32, PEER_FP32), (OURS_BF16, PEER_BF16), (OURS_BF16, PEER_FP32))


@dataclass(frozen=True)
class SpeedCase:
    """One model at one size and batch, with the schedule both samplers walk."""

    spec: ModelSpec
    size: int
    batch: int
    steps: int
    jump_length: int
    jump_n_sample: int
    repeats: int
    runners: tuple[str, ...] = ALL_RUNNERS

    @property
    def model_calls(self) -> int:
        return expected_model_calls(self.steps, self.jump_length, self.jump_n_sample)


@dataclass
class SpeedRow:
    model: str
    size: int
    batch: int
    runner: str
    model_calls: int
    wall_seconds: float  # median over repeats
    wall_all: list[float]
    seconds_per_call: float
    images_per_second: float
    peak_rss_mb: float | None = None


def box_inputs(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth deterministic image batch and keep_mask with a centred 37.5% box hole."""
    ramp = torch.linspace(-1, 1, size)
    image = torch.stack(
        [
            ramp[None, :].expand(size, size),
            ramp[:, None].expand(size, size),
            (ramp[None, :] * ramp[:, None]),
        ]
    )
    known = image[None].expand(batch, -1, -1, -1).contiguous()
    keep_mask = torch.ones(batch, 1, size, size)
    hole = size * 3 // 8
    start = (size - hole) // 2
    keep_mask[:, :, start : start + hole, start : start + hole] = 0
    return known, keep_mask


Runner = Callable[[torch.Tensor, torch.Tensor, list[torch.Generator]], None]


Warmer = Callable[[torch.Tensor], None]


def make_runners(
    case: SpeedCase, spec_betas
) -> tuple[dict[str, Runner], dict[str, CallCounter], dict[str, Warmer]]:
    """Build each runner over its UNet copy; return runners, their call counters, and for each
    a one-call warm-up exactly as the runner calls its UNet."""
    from diffusers import RePaintPipeline, RePaintScheduler

    unet32 = build_unet(case.spec, torch.float32)
    unets: dict[str, torch.nn.Module] = {}
    for name in case.runners:
        if name in (OURS_FP32, PEER_FP32):
            unets[name] = unet32
        elif name == OURS_BF16:
            unets[name] = copy.deepcopy(unet32).to(torch.bfloat16)
        else:
            unets[name] = copy.deepcopy(unet32).to(memory_format=torch.channels_last)
    schedule = jump_schedule(case.steps, case.jump_length, case.jump_n_sample)
    tables = diffusion_tables(spec_betas, case.steps)

    def ours(unet: torch.nn.Module, channels_last: bool) -> Runner:
        denoiser = our_denoiser(unet, channels_last)
        warm = lambda x: denoiser(x, torch.full((x.shape[0],), 500))  # noqa: E731

        def run(known, keep_mask, generators) -> None:
            repaint(
                denoiser,
                known,
                keep_mask,
                schedule,
                tables,
                generators=generators,
                reverse_step=DDPMStep(),
            )

        run.warm = warm  # type: ignore[attr-defined]
        return run

    def peer(unet: torch.nn.Module, autocast: bool) -> Runner:
        pipe = RePaintPipeline(unet=unet, scheduler=RePaintScheduler(trained_betas=spec_betas))
        pipe.set_progress_bar_config(disable=True)

        def warm(x: torch.Tensor) -> None:
            with torch.autocast("cpu", torch.bfloat16) if autocast else nullcontext():
                unet(x, torch.tensor(500))

        def run(known, keep_mask, generators) -> None:
            context = torch.autocast("cpu", torch.bfloat16) if autocast else nullcontext()
            with context:  # the peer's mask convention is ours: 1 = keep
                pipe(
                    image=known,
                    mask_image=keep_mask,
                    num_inference_steps=case.steps,
                    eta=0.0,
                    jump_length=case.jump_length,
                    jump_n_sample=case.jump_n_sample,
                    generator=generators,
                    output_type="np",
                )

        run.warm = warm  # type: ignore[attr-defined]
        return run

    builders = {
        OURS_FP32: lambda: ours(unets[OURS_FP32], False),
        PEER_FP32: lambda: peer(unets[PEER_FP32], False),
        OURS_BF16: lambda: ours(unets[OURS_BF16], True),
        PEER_BF16: lambda: peer(unets[PEER_BF16], True),
    }
    runners = {name: builders[name]() for name in case.runners}
    counters = {name: CallCounter(unets[name]) for name in case.runners}
    warmers = {name: runner.warm for name, runner in runners.items()}  # type: ignore[attr-defined]
    return runners, counters, warmers


def time_case(case: SpeedCase, log: Callable[[str], None] = print) -> list[SpeedRow]:
    """Interleaved timing of every runner of ``case``; after one warm-up call each."""
    betas = training_betas(case.spec)
    runners, counters, warmers = make_runners(case, betas)
    known, keep_mask = box_inputs(case.batch, case.size)
    walls: dict[str, list[float]] = {name: [] for name in runners}
    calls: dict[str, int] = {}
    with torch.inference_mode():
        for warm in warmers.values():  # one call each: oneDNN primitive caches, allocator
            warm(known)
        for repeat in range(case.repeats):
            # Alternate the order so that neither side always runs first after the other.
            order = list(runners.items()) if repeat % 2 == 0 else list(runners.items())[::-1]
            for name, run in order:
                generators = [torch.Generator().manual_seed(i) for i in range(case.batch)]
                counters[name].calls = 0
                started = time.perf_counter()
                run(known, keep_mask, generators)
                walls[name].append(time.perf_counter() - started)
                calls[name] = counters[name].calls
                log(
                    f"  {case.spec.name} {case.size}px batch {case.batch} {name} "
                    f"repeat {repeat + 1}: {walls[name][-1]:.2f} s, {calls[name]} calls"
                )
    for counter in counters.values():
        counter.close()
    rows = []
    for name, times in walls.items():
        median = statistics.median(times)
        rows.append(
            SpeedRow(
                model=case.spec.name,
                size=case.size,
                batch=case.batch,
                runner=name,
                model_calls=calls[name],
                wall_seconds=median,
                wall_all=[round(t, 3) for t in times],
                seconds_per_call=median / max(calls[name], 1),
                images_per_second=case.batch / median,
            )
        )
    return rows


def time_threads(
    case: SpeedCase, thread_counts: tuple[int, ...], log: Callable[[str], None] = print
) -> list[SpeedRow]:
    """Our sampler (first runner of ``case``) at several torch thread counts, interleaved."""
    runner = case.runners[0]
    runners, counters, warmers = make_runners(
        replace(case, runners=(runner,)), training_betas(case.spec)
    )
    known, keep_mask = box_inputs(case.batch, case.size)
    before = torch.get_num_threads()
    walls: dict[int, list[float]] = {n: [] for n in thread_counts}
    try:
        with torch.inference_mode():
            for repeat in range(case.repeats):
                for count in thread_counts:
                    torch.set_num_threads(count)
                    warmers[runner](known)
                    counters[runner].calls = 0
                    generators = [torch.Generator().manual_seed(i) for i in range(case.batch)]
                    started = time.perf_counter()
                    runners[runner](known, keep_mask, generators)
                    walls[count].append(time.perf_counter() - started)
                    log(f"  threads {count} {runner} repeat {repeat + 1}: {walls[count][-1]:.2f} s")
    finally:
        torch.set_num_threads(before)
    calls = counters[runner].calls
    return [
        SpeedRow(
            model=case.spec.name,
            size=case.size,
            batch=case.batch,
            runner=f"{runner}, {count} thread(s)",
            model_calls=calls,
            wall_seconds=statistics.median(times),
            wall_all=[round(t, 3) for t in times],
            seconds_per_call=statistics.median(times) / max(calls, 1),
            images_per_second=case.batch / statistics.median(times),
        )
        for count, times in walls.items()
    ]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _probe(case: SpeedCase, runner: str) -> dict[str, float]:
    """In this (fresh) process: peak RSS growth over one sampling run, sampled every 2 ms."""
    import gc

    betas = training_betas(case.spec)
    runners, counters, _ = make_runners(case, betas)
    known, keep_mask = box_inputs(case.batch, case.size)
    gc.collect()
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with torch.inference_mode():
        generators = [torch.Generator().manual_seed(i) for i in range(case.batch)]
        runners[runner](known, keep_mask, generators)
    done.set()
    sampler.join()
    peak = max(peak, _rss_bytes())
    return {
        "baseline_mb": baseline / 2**20,
        "peak_growth_mb": (peak - baseline) / 2**20,
        "calls": counters[runner].calls,
    }


def probe_memory(case: SpeedCase, runner: str, threads: int) -> float | None:
    """Peak RSS growth (MB) of one run of ``runner`` in a fresh subprocess; None if unavailable.

    What it measures: resident memory above the level right after the model was built, sampled
    every 2 ms during one sampling run (activations, oneDNN workspaces, the sampler's tensors),
    with a 2-step schedule (memory does not grow with T). CPU only; on CUDA one would read
    torch.cuda.max_memory_allocated instead.
    """
    if not os.path.exists("/proc/self/statm"):
        return None
    short = SpeedCase(case.spec, case.size, case.batch, 2, 1, 1, 1, (runner,))
    payload = json.dumps({"case": _case_to_dict(short), "runner": runner, "threads": threads})
    result = subprocess.run(
        [sys.executable, "-m", "repaint_fill_tools.bench.speed", "--probe", payload],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory probe failed: {result.stderr.strip()[-2000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_growth_mb"])


def _case_to_dict(case: SpeedCase) -> dict:
    values = asdict(case)
    values["spec"] = json.loads(case.spec.to_json())
    return values


def _case_from_dict(values: dict) -> SpeedCase:
    spec = ModelSpec(**values.pop("spec"))
    values["runners"] = tuple(values["runners"])
    return SpeedCase(spec=spec, **values)


def ratio_rows(rows: list[SpeedRow]) -> list[dict]:
    """ours / diffusers wall-time ratios at equal model calls, per model, size and batch."""
    by_key = {(r.model, r.size, r.batch, r.runner): r for r in rows}
    ratios = []
    for model, size, batch in sorted({(r.model, r.size, r.batch) for r in rows}):
        for ours, peer in RATIOS:
            mine, theirs = (
                by_key.get((model, size, batch, ours)),
                by_key.get((model, size, batch, peer)),
            )
            if mine is None or theirs is None:
                continue
            ratios.append(
                {
                    "model": model,
                    "size": size,
                    "batch": batch,
                    "ours": ours,
                    "peer": peer,
                    "equal_calls": mine.model_calls == theirs.model_calls,
                    "ratio": mine.wall_seconds / theirs.wall_seconds,
                }
            )
    return ratios


def batch_gains(rows: list[SpeedRow]) -> list[dict]:
    """Images per second at the largest batch over batch 1, per model, size and runner."""
    gains = []
    for model, size, runner in sorted({(r.model, r.size, r.runner) for r in rows}):
        same = sorted(
            (r for r in rows if (r.model, r.size, r.runner) == (model, size, runner)),
            key=lambda r: r.batch,
        )
        if len(same) > 1 and same[0].batch == 1:
            gains.append(
                {
                    "model": model,
                    "size": size,
                    "runner": runner,
                    "batch": same[-1].batch,
                    "gain": same[-1].images_per_second / same[0].images_per_second,
                }
            )
    return gains


def main(argv: list[str] | None = None) -> int:
    """Subprocess entry of the memory probe (not a user command)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", required=True)
    args = parser.parse_args(argv)
    payload = json.loads(args.probe)
    torch.set_num_threads(int(payload["threads"]))
    case = _case_from_dict(payload["case"])
    print(json.dumps(_probe(case, payload["runner"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
