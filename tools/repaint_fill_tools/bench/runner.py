"""`repaint-fill bench [--quick]`: speed, quality, preset choice, targets -> docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from repaint_fill_backend.devices import choose_dtype, configure_threads
from repaint_fill_backend.models import ModelError, load_model

from .common import ModelSpec, celebahq_spec, embedded_spec, machine_info, tiny_spec
from .speed import (
    ALL_RUNNERS,
    OURS_BF16,
    OURS_FP32,
    PEER_FP32,
    SpeedCase,
    batch_gains,
    probe_memory,
    ratio_rows,
    time_case,
    time_threads,
)


@dataclass(frozen=True)
class Plan:
    """Sizes of one bench run (full or quick)."""

    quick: bool
    model: ModelSpec
    speed_cases: tuple[SpeedCase, ...]
    memory_cases: tuple[tuple[int, str], ...]  # (index into speed_cases, runner)
    image_size: int
    crops_per_image: int
    sweep_masks: tuple[str, ...]
    preset_masks: tuple[str, ...]
    batch: int


def make_plan(args: argparse.Namespace, model_folder: Path) -> Plan:
    from .masks import MASKS
    from .sweep import FULL_SWEEP  # noqa: F401  (fail early if the bench modules are broken)

    if args.quick:
        spec = ModelSpec("tiny (random init)", folder=str(model_folder))
        cases = tuple(
            SpeedCase(spec, 32, batch, 4, 2, 2, 1, (OURS_FP32, PEER_FP32)) for batch in (1, 2)
        )
        return Plan(
            True,
            spec,
            cases,
            ((0, OURS_FP32), (0, PEER_FP32)),
            64,
            1,
            ("box", "wide"),
            ("box", "half"),
            4,
        )
    spec = embedded_spec(model_folder)
    cases = [SpeedCase(spec, 128, batch, 10, 5, 2, args.repeats) for batch in (1, 4)]
    memory = [(i, runner) for i in range(2) for runner in ALL_RUNNERS]
    if not args.skip_celebahq:
        cases.append(
            SpeedCase(celebahq_spec(), 256, 1, 5, 1, 1, 2, (OURS_FP32, PEER_FP32, OURS_BF16))
        )
        memory += [(2, OURS_FP32), (2, PEER_FP32), (2, OURS_BF16)]
    return Plan(
        False, spec, tuple(cases), tuple(memory), 256, args.crops, ("box", "wide"), tuple(MASKS), 8
    )


def run_speed(plan: Plan, threads: int, log) -> dict:
    rows = []
    for case in plan.speed_cases:
        log(
            f"speed: {case.spec.name} {case.size}px batch {case.batch}, T={case.steps} "
            f"j={case.jump_length} r={case.jump_n_sample} ({case.model_calls} calls)"
        )
        rows += time_case(case, log)
    if not plan.quick:
        log("speed: thread count, ours only, 1 vs 2 threads")
        rows += time_threads(replace(plan.speed_cases[0], runners=(OURS_BF16,)), (1, 2), log)
    for index, runner in plan.memory_cases:
        case = plan.speed_cases[index]
        peak = probe_memory(case, runner, threads)
        log(f"memory: {case.spec.name} batch {case.batch} {runner}: {peak:.0f} MB")
        for row in rows:
            if (row.model, row.size, row.batch, row.runner) == (
                case.spec.name,
                case.size,
                case.batch,
                runner,
            ):
                row.peak_rss_mb = peak
    note = (
        f"Interleaved in one process, order alternating per repeat ({threads} torch thread(s)), "
        "median of the repeats after one "
        "warm-up call each; model calls counted with a forward hook on the UNet for both. Ours "
        "uses the reference DDPM step, diffusers its DDIM-style step (eta 0): the same model "
        "calls. 'bf16+CL' = bf16 weights in channels-last layout through our adapter; diffusers "
        "cannot run bf16 weights (its output conversion calls .numpy() on bf16), so its bf16 "
        "row is autocast over channels-last fp32 weights. Peak RSS growth: resident memory "
        "above the level after the model was built, sampled every 2 ms during one run of a "
        "2-step schedule in a fresh subprocess per row (activations, oneDNN workspaces, sampler "
        "tensors; not the weights)."
    )
    return {
        "rows": [asdict(r) for r in rows],
        "ratios": ratio_rows(rows),
        "gains": batch_gains(rows),
        "note": note,
    }


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of `repaint-fill bench`; returns the exit code."""
    started = time.perf_counter()
    threads = configure_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="repaint-bench-") as scratch:
        model_folder = _model_folder(args, Path(scratch))
        plan = make_plan(args, model_folder)
        docs = args.docs or (Path(scratch) / "docs" if plan.quick else Path("docs"))
        docs.mkdir(parents=True, exist_ok=True)
        argv = [a for a in sys.argv[1:] if a != "bench"]
        results: dict = {
            "command": shlex.join(["repaint-fill", "bench", *argv]),
            "machine": machine_info(),
        }
        results["contention_note"] = _contention_note(threads)
        if args.reuse_speed is not None:
            results["speed"] = json.loads(args.reuse_speed.read_text())["speed"]
            results["speed"]["note"] += (
                f" (Reused from {args.reuse_speed.name}, an earlier run of this command: speed "
                "does not depend on the weights' values.)"
            )
        elif not args.no_speed:
            results["speed"] = run_speed(plan, threads, log)
        if not args.no_quality:
            from .quality_section import run_quality_and_targets

            dtype = choose_dtype(torch.device("cpu"), args.dtype)
            shipped = args.model_folder is None and not plan.quick
            source = "embedded" if shipped else str(model_folder)
            model = load_model(source, torch.device("cpu"), dtype)
            # Presets must fit on every CPU, also those without bf16 units: time them in fp32.
            fp32_model = (
                model
                if dtype == torch.float32
                else load_model(source, torch.device("cpu"), torch.float32)
            )
            quality, targets = run_quality_and_targets(plan, model, docs, args, log, fp32_model)
            results["quality"], results["targets"] = quality, targets
            if "speed" in results:
                results["targets"] += _speed_targets(results["speed"])
        results["total_seconds"] = time.perf_counter() - started
        results["machine"]["load average at end (1/5/15 min)"] = _load()
        from .report import render

        (docs / "benchmarks.md").write_text(render(results))
        (docs / "benchmarks.json").write_text(json.dumps(results, indent=2, default=_json) + "\n")
        log(f"wrote {docs / 'benchmarks.md'} in {results['total_seconds'] / 60:.1f} min")
        _print_summary(results)
    return 0


def _model_folder(args: argparse.Namespace, scratch: Path) -> Path:
    if args.model_folder is not None:
        return args.model_folder
    if args.quick:
        from .common import build_unet

        folder = scratch / "tiny"
        build_unet(tiny_spec()).save_pretrained(folder)
        return folder
    folder = Path(embedded_spec().folder or "")
    if not (folder / "unet" / "config.json").is_file():
        raise ModelError(
            f"the embedded model is missing from {folder}; export it first, or pass "
            "--model-folder with a diffusers folder"
        )
    return folder


def _contention_note(threads: int) -> str:
    return (
        f"The machine may be shared (tests, training runs); load average at the start was "
        f"{_load()}. Ratios are measured interleaved in one process so that contention hits both "
        f"sides alike; absolute seconds vary by 10-30% between runs. Torch ran with {threads} "
        "intra-op thread(s), the product's default (cores - 1): next to another busy process, 2 "
        "threads on this 2-core machine were 2-9x slower per call than 1 in our measurements; on "
        "an idle machine they are faster (the thread rows below)."
    )


def _load() -> str:
    from .common import load_average

    return load_average()


def _speed_targets(speed: dict) -> list[dict]:
    targets = []
    for ratio in speed["ratios"]:
        if ratio["batch"] == 1 and ratio["size"] in (128, 32, 256):
            targets.append(
                {
                    "target": f"{ratio['model']} batch 1: {ratio['ours']} <= 0.8x {ratio['peer']}",
                    "measured": f"{ratio['ratio']:.2f}x",
                    "met": ratio["ratio"] <= 0.8,
                }
            )
    for gain in speed["gains"]:
        if gain["runner"].startswith("ours"):
            targets.append(
                {
                    "target": f"{gain['model']} {gain['runner']}: batch {gain['batch']} >= 1.5x "
                    "images/s of batch 1",
                    "measured": f"{gain['gain']:.2f}x",
                    "met": gain["gain"] >= 1.5,
                }
            )
    return targets


def _json(value: object) -> object:
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return str(value)


def _print_summary(results: dict) -> None:
    for target in results.get("targets", []):
        mark = "met" if target["met"] else "NOT met"
        print(f"{mark:8} {target['target']}: {target['measured']}")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run in seconds with a tiny random UNet (numbers meaningless)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help="where benchmarks.md and the images go (default: ./docs; --quick: a temporary folder)",
    )
    parser.add_argument(
        "--model-folder",
        type=Path,
        help="a diffusers folder to use instead of "
        "the embedded model (e.g. a training checkpoint export)",
    )
    parser.add_argument(
        "--curve",
        type=Path,
        help="where to write the quality curve "
        "(default: the package's quality_curve.json; --quick: the docs folder)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: cores - 1)")
    parser.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="dtype of the quality runs (default: what fill uses on CPU)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="speed repeats per runner")
    parser.add_argument("--crops", type=int, default=1, help="crops per validation photo")
    parser.add_argument(
        "--skip-celebahq",
        action="store_true",
        help="skip the 113.7M-parameter speed case (~6 s per call here)",
    )
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument(
        "--reuse-speed", type=Path, help="take the speed part from an earlier benchmarks.json"
    )
    parser.add_argument("--no-quality", action="store_true")
