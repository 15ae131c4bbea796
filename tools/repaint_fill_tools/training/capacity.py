"""Choose the embedded model's capacity by measurement: held-out loss per training second, and the
fill time and weights size each architecture would ship with.

    python -m repaint_fill_tools.training.capacity --photos /work/data/photos \
        --out /work/capacity --minutes 12 --segments 3 --bf16

Every candidate UNet is trained from scratch on the same data with the same settings for the
same wall time (``--minutes``, in ``--segments`` equal parts); after each part its EMA's epsilon
MSE is measured on the held-out photos (``held_out.mean_loss``, the same fixed crops for every
model). Each candidate also fills a 256x256 validation photo with the fast preset through the
Engine (the product path) on ``--threads`` threads, in the dtype the product would pick on this
CPU. The issue's limits: that fill <= 10 s on this 2-core machine, weights <= 64 MB (fp16).
Writes ``capacity.json`` and ``capacity.png`` (held-out loss against minutes and steps) to
``--out``; the training runs stay in ``--out/<candidate>/`` and resume when run again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from repaint_fill_tools.bench.common import cpu_name
from repaint_fill_tools.training.checkpoint import ema_model, export_diffusers
from repaint_fill_tools.training.data import load_photo, load_training_pyramids, photo_files
from repaint_fill_tools.training.held_out import load_validation_images, mean_loss
from repaint_fill_tools.training.model import EMBEDDED_UNET_CONFIG, build_unet, parameter_count
from repaint_fill_tools.training.train import TrainConfig, train

FILL_SIDE = 256  # the timing case: a 256x256 photo, fast preset
FILL_SECONDS_LIMIT = 10.0
WEIGHTS_MB_LIMIT = 64.0

_DOWN, _ATTN_DOWN = "DownBlock2D", "AttnDownBlock2D"
_UP, _ATTN_UP = "UpBlock2D", "AttnUpBlock2D"


def _config(channels: tuple[int, ...], layers: int, attention_levels: int) -> dict[str, Any]:
    """A 4-level UNet2DModel config at the native size with attention at the lowest levels."""
    plain = len(channels) - attention_levels
    return {
        **EMBEDDED_UNET_CONFIG,
        "block_out_channels": channels,
        "layers_per_block": layers,
        "down_block_types": (_DOWN,) * plain + (_ATTN_DOWN,) * attention_levels,
        "up_block_types": (_ATTN_UP,) * attention_levels + (_UP,) * plain,
    }


# The shipped architecture, then more depth, more width, and a ~40M model of the size the
# previous note proposed (two attention levels).
CANDIDATES: dict[str, dict[str, Any]] = {
    "v1": dict(EMBEDDED_UNET_CONFIG),
    "deep": _config((32, 64, 128, 192), layers=2, attention_levels=1),
    "wide": _config((64, 128, 192, 256), layers=1, attention_levels=1),
    "large": _config((64, 128, 256, 384), layers=2, attention_levels=2),
}


def fill_seconds(name: str, folder: Path, image: Image.Image) -> dict[str, float]:
    """Wall time and model calls of the fast preset on ``image`` (a centred 96/256 box), through
    the Engine with the dtype the product picks on this CPU."""
    from repaint_fill_backend.devices import choose_dtype
    from repaint_fill_backend.engine import Engine, FillRequest
    from repaint_fill_backend.models import load_model
    from repaint_fill_backend.presets import PRESETS

    from repaint_fill_tools.bench.masks import box

    unet = build_unet(CANDIDATES[name])  # the weights do not change the time
    export_diffusers(dict(unet.config), unet.state_dict(), folder)
    device = torch.device("cpu")
    engine = Engine(load_model(str(folder), device, choose_dtype(device)))
    request = FillRequest(image, box(image.height), PRESETS["fast"], seed=0)
    engine.fill(request)  # warm-up: first-call allocations and kernel choice
    started = time.perf_counter()
    result = engine.fill(request)
    return {"seconds": time.perf_counter() - started, "model_calls": result.report.model_calls}


def training_curve(
    name: str, args: argparse.Namespace, held_out: list, training: list
) -> list[dict[str, Any]]:
    """Train ``name`` for ``args.minutes`` in segments, measuring its held-out loss after each."""
    curve = []
    for _ in range(args.segments):
        config = TrainConfig(
            out=args.out / name, steps=100_000, batch_size=16, resolution=64, final_steps=0,
            final_every=4, final_resolution=128, final_batch_size=4, lr=2e-4, seed=0,
            threads=args.threads, resume=True, photos=args.photos, bf16=args.bf16,
            time_limit_minutes=args.minutes / args.segments, checkpoint_minutes=1e9,
        )  # fmt: skip
        state = train(config, CANDIDATES[name], images=training)
        ema = ema_model(dict(state.model.config), state.ema).float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            point = {
                "minutes": round(state.elapsed_seconds / 60, 2),
                "steps": state.step,
                "held_out": mean_loss(ema, held_out, 64),
                "training": mean_loss(ema, training, 64),
            }
        curve.append(point)
        print(f"  {name} @{point['minutes']:.1f} min ({point['steps']} steps): held-out "
              f"{point['held_out']:.5f} training {point['training']:.5f}", flush=True)  # fmt: skip
    return curve


def describe(name: str) -> dict[str, Any]:
    """A candidate's config, parameter count and shipped (fp16) weights size."""
    config, parameters = CANDIDATES[name], parameter_count(build_unet(CANDIDATES[name]))
    return {
        "name": name,
        "config": {key: list(v) if isinstance(v, tuple) else v for key, v in config.items()},
        "parameters": parameters,
        "weights_mb_fp16": round(parameters * 2 / 2**20, 1),
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Held-out loss against training minutes (compute) and against steps (data), per candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (per_minute, per_step) = plt.subplots(1, 2, figsize=(11, 4), dpi=100, sharey=True)
    for row in rows:
        losses = [point["held_out"] for point in row["curve"]]
        fill = row.get("fast_fill_256")
        timing = f", fill {fill['seconds']:.1f} s" if fill else ""
        label = f"{row['name']} ({row['parameters'] / 1e6:.1f}M{timing})"
        per_minute.plot([p["minutes"] for p in row["curve"]], losses, marker="o", label=label)
        per_step.plot([p["steps"] for p in row["curve"]], losses, marker="o", label=label)
    per_minute.set(xlabel="training minutes (same CPU, same data)", ylabel="held-out epsilon MSE",
                   yscale="log", title="per training second")  # fmt: skip
    per_step.set(xlabel="training steps (batch 16 at 64 px, every 4th 4 at 128 px)",
                 title="per step")  # fmt: skip
    per_minute.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repaint_fill_tools.training.capacity")
    parser.add_argument("--photos", type=Path, required=True, help="photo_sources output folder")
    parser.add_argument("--out", type=Path, required=True, help="runs, capacity.json, .png")
    parser.add_argument("--minutes", type=float, default=12.0, help="training time per candidate")
    parser.add_argument("--segments", type=int, default=3, help="held-out checks per candidate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="train in bf16 autocast")
    parser.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES), default=None)
    phases = parser.add_mutually_exclusive_group()
    phases.add_argument("--no-fills", action="store_true", help="train only (time fills later)")
    phases.add_argument(
        "--fills-only",
        action="store_true",
        help="only (re)time the fills, e.g. on an idle machine with --threads 2",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.candidates or list(CANDIDATES)
    report_path = args.out / "capacity.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {"rows": []}
    rows = {row["name"]: row for row in report["rows"]}
    for name in names:
        rows[name] = {**rows.get(name, {}), **describe(name)}
    if not args.fills_only:
        held_out = load_validation_images(args.photos) or []
        training = load_training_pyramids(args.photos)
        for name in names:
            rows[name]["curve"] = training_curve(name, args, held_out, training)
        report["training"] = {"cpu": cpu_name(), "threads": args.threads, "bf16": args.bf16}
    if not args.no_fills:
        photo = load_photo(photo_files(args.photos, "val")[0])
        side = min(photo.shape[:2])
        square = Image.fromarray(np.ascontiguousarray(photo[:side, :side]))
        image = square.resize((FILL_SIDE, FILL_SIDE))
        for name in names:
            rows[name]["fast_fill_256"] = fill_seconds(name, args.out / name / "fill-model", image)
            print(f"{name}: {rows[name]['parameters'] / 1e6:.2f}M params, fast fill "
                  f"{rows[name]['fast_fill_256']['seconds']:.1f} s", flush=True)  # fmt: skip
        report["fills"] = {"cpu": cpu_name(), "threads": args.threads}
    for row in rows.values():
        if "fast_fill_256" in row:
            row["within_limits"] = (row["fast_fill_256"]["seconds"] <= FILL_SECONDS_LIMIT
                                    and row["weights_mb_fp16"] <= WEIGHTS_MB_LIMIT)  # fmt: skip
    report["rows"] = list(rows.values())
    args.out.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    plot([row for row in report["rows"] if "curve" in row], args.out / "capacity.png")
    print(f"wrote {report_path} and capacity.png", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
