"""Train the embedded DDPM: epsilon prediction, linear betas, AdamW, EMA; resumable; exportable.

Run as ``repaint-fill train --out DIR ...`` (or ``python -m repaint_fill_tools.training.train``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shlex
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from repaint_fill_tools.training.checkpoint import (
    CHECKPOINT_NAME,
    TrainState,
    export_diffusers,
    load_checkpoint_payload,
    restore_state,
    save_checkpoint,
    unet_folder,
)
from repaint_fill_tools.training.data import (
    CropSettings,
    ImagePyramid,
    crop_batch,
    load_training_pyramids,
)
from repaint_fill_tools.training.loss import diffusion_loss
from repaint_fill_tools.training.model import build_unet, linear_alphas_cumprod, parameter_count

# Fail at import (the CLI then reports `train` as unavailable) rather than mid-run; find_spec is
# cheap, unlike importing scikit-image and matplotlib on every `repaint-fill` start.
_MISSING = [name for name in ("skimage", "matplotlib") if importlib.util.find_spec(name) is None]
if _MISSING:
    raise ImportError(f"training needs {', '.join(_MISSING)}: pip install -e ./tools")

RUN_INFO_NAME = "run_info.json"
LOSS_PLOT_NAME = "loss.png"


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (from the command line)."""

    out: Path
    steps: int = 5000
    batch_size: int = 16
    resolution: int = 64
    final_steps: int = 700  # the last N steps run at final_resolution / final_batch_size
    final_resolution: int = 128
    final_batch_size: int = 4
    lr: float = 2e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    seed: int = 0
    threads: int = 1
    resume: bool = False
    time_limit_minutes: float | None = None
    checkpoint_minutes: float = 5.0
    photos: Path | None = None  # folder fetched by photo_sources (train/ is used); None = bundled
    init_from: Path | None = None  # warm start: a diffusers UNet folder (e.g. the shipped EMA)
    final_every: int = 0  # > 0: every Nth step runs at final_resolution (mixed scales throughout)
    bf16: bool = False  # bf16 autocast (weights, optimizer and EMA stay fp32): ~2x on AMX CPUs
    finest_short_side: int | None = None  # densest crops: images downscaled to this short side


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 10%: a pure function of the step, so resume is exact."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return config.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def phase(config: TrainConfig, step: int) -> tuple[int, int]:
    """(resolution, batch size) for ``step``: cheap 64px crops, native size every Nth step or at
    the end."""
    at_final = config.final_every > 0 and step % config.final_every == config.final_every - 1
    if at_final or step >= config.steps - config.final_steps:
        return config.final_resolution, config.final_batch_size
    return config.resolution, config.batch_size


@torch.no_grad()
def update_ema(ema: dict[str, torch.Tensor], model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * weights, in place."""
    for name, value in model.state_dict().items():
        if value.dtype.is_floating_point:
            ema[name].lerp_(value, 1.0 - decay)
        else:
            ema[name].copy_(value)


def new_state(config: TrainConfig, model_config: dict | None = None) -> TrainState:
    """A fresh, seeded training state (model, AdamW, EMA copy, data RNG)."""
    torch.manual_seed(config.seed)
    model = build_unet(model_config)
    # No weight decay: with a few thousand steps it only slows fitting; EMA does the smoothing.
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    ema = {name: value.detach().clone() for name, value in model.state_dict().items()}
    generator = torch.Generator().manual_seed(config.seed + 1)
    return TrainState(model=model, optimizer=optimizer, ema=ema, data_generator=generator)


def train_step(
    state: TrainState,
    config: TrainConfig,
    images: list[ImagePyramid] | list[torch.Tensor],
    alphas_cumprod: torch.Tensor,
) -> float:
    """One optimisation step; returns its loss."""
    resolution, batch_size = phase(config, state.step)
    settings = CropSettings(resolution=resolution)
    clean = crop_batch(images, batch_size, settings, state.data_generator)
    for group in state.optimizer.param_groups:
        group["lr"] = learning_rate(config, state.step)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        loss = diffusion_loss(state.model, clean, alphas_cumprod)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.model.parameters(), 1.0)
    state.optimizer.step()
    # Warm-up of the EMA decay so early weights do not dominate a short run.
    decay = min(config.ema_decay, (1 + state.step) / (10 + state.step))
    update_ema(state.ema, state.model, decay)
    state.step += 1
    state.losses.append(loss.item())
    return state.losses[-1]


def smoothed(losses: list[float], window: int = 100) -> list[float]:
    """Trailing mean of ``losses`` over ``window`` steps (the raw curve is very noisy)."""
    out, total = [], 0.0
    for index, value in enumerate(losses):
        total += value
        if index >= window:
            total -= losses[index - window]
        out.append(total / min(index + 1, window))
    return out


def save_loss_plot(losses: list[float], path: Path) -> Path:
    """Write the loss curve (raw and smoothed, log scale) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    axes.plot(losses, color="0.8", linewidth=0.5, label="per step")
    axes.plot(smoothed(losses), color="C0", label="mean of 100 steps")
    axes.set(xlabel="step", ylabel="MSE (epsilon)", yscale="log", title="Embedded model loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_checkpoint(state: TrainState, config: TrainConfig) -> None:
    """Checkpoint, loss plot and a JSON summary, so a run can be inspected or resumed any time."""
    save_checkpoint(state, config.out)
    save_loss_plot(state.losses, config.out / LOSS_PLOT_NAME)
    recent = state.losses[-200:]
    info = {
        "command": shlex.join(sys.argv),
        "config": {key: str(value) for key, value in asdict(config).items()},
        "parameters": parameter_count(state.model),
        "steps": state.step,
        "elapsed_seconds": round(state.elapsed_seconds, 1),
        "final_loss": round(sum(recent) / len(recent), 5) if recent else None,
    }
    (config.out / RUN_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")


def warm_start(state: TrainState, model_folder: Path) -> None:
    """Start weights and EMA from a saved UNet (same architecture), e.g. the shipped model."""
    from diffusers import UNet2DModel

    weights = UNet2DModel.from_pretrained(unet_folder(model_folder)).float().state_dict()
    state.model.load_state_dict(weights)
    state.ema = {name: value.detach().clone() for name, value in weights.items()}


def train(
    config: TrainConfig,
    model_config: dict | None = None,
    stop: threading.Event | None = None,
    images: list[ImagePyramid] | None = None,
) -> TrainState:
    """Run (or resume) training until ``steps``, the time limit or ``stop``; checkpoints often.

    ``stop`` is checked between steps, so a stopped run always saves a consistent checkpoint.
    ``images`` are the training images when already loaded (else read from ``config.photos``).
    """
    torch.set_num_threads(config.threads)
    state = new_state(config, model_config)
    if config.resume and (config.out / CHECKPOINT_NAME).is_file():
        restore_state(state, load_checkpoint_payload(config.out))
    elif config.init_from is not None:
        warm_start(state, config.init_from)
    if images is None:
        images = load_training_pyramids(config.photos, config.finest_short_side)
    alphas_cumprod = linear_alphas_cumprod()
    started = last_save = time.monotonic()
    base_elapsed = state.elapsed_seconds
    deadline = started + 60 * config.time_limit_minutes if config.time_limit_minutes else None
    state.model.train()
    with tqdm(total=config.steps, initial=state.step, mininterval=20, desc="train") as progress:
        while state.step < config.steps and (deadline is None or time.monotonic() < deadline):
            if stop is not None and stop.is_set():
                break
            train_step(state, config, images, alphas_cumprod)
            state.elapsed_seconds = base_elapsed + time.monotonic() - started
            progress.update(1)
            progress.set_postfix(loss=f"{smoothed(state.losses[-100:])[-1]:.4f}", refresh=False)
            if time.monotonic() - last_save > 60 * config.checkpoint_minutes:
                write_checkpoint(state, config)
                last_save = time.monotonic()
    write_checkpoint(state, config)
    return state


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser`` (used by ``repaint-fill train``)."""
    defaults = TrainConfig(out=Path("."))
    add = parser.add_argument
    add("--out", type=Path, required=True, help="run directory (checkpoint, loss plot, info)")
    add("--steps", type=int, default=defaults.steps, help="total optimisation steps")
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--resolution", type=int, default=defaults.resolution, help="crop size for most steps")
    add("--final-steps", type=int, default=defaults.final_steps, help="last N steps at final res")
    add("--final-resolution", type=int, default=defaults.final_resolution)
    add("--final-batch-size", type=int, default=defaults.final_batch_size)
    add("--lr", type=float, default=defaults.lr)
    add("--seed", type=int, default=defaults.seed)
    add("--threads", type=int, default=defaults.threads, help="torch intra-op threads")
    add("--resume", action="store_true", help="continue from OUT/checkpoint.pt when present")
    add("--photos", type=Path, default=None, help="photo folder from photo_sources (uses train/)")
    add("--init-from", type=Path, default=None, help="warm start from this diffusers UNet folder")
    add("--final-every", type=int, default=0, help="every Nth step at the final resolution")
    add("--bf16", action="store_true", help="bf16 autocast (fp32 weights); ~2x on AMX CPUs")
    add(
        "--finest-short-side", type=int, default=None,
        help="densest crops show images downscaled to this short side (default: native pixels)",
    )  # fmt: skip
    add("--time-limit-minutes", type=float, default=None, help="stop (and save) after this long")
    add("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes)
    add("--export", type=Path, default=None, help="after training, export a diffusers model here")
    add("--export-only", action="store_true", help="skip training; export OUT's checkpoint")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The frozen run config from parsed arguments."""
    return TrainConfig(
        out=args.out, steps=args.steps, batch_size=args.batch_size, resolution=args.resolution,
        final_steps=args.final_steps, final_resolution=args.final_resolution,
        final_batch_size=args.final_batch_size, lr=args.lr, seed=args.seed, threads=args.threads,
        resume=args.resume, time_limit_minutes=args.time_limit_minutes,
        checkpoint_minutes=args.checkpoint_minutes, photos=args.photos,
        init_from=args.init_from, final_every=args.final_every, bf16=args.bf16,
        finest_short_side=args.finest_short_side,
    )  # fmt: skip


def export_run(run_dir: Path, export_dir: Path) -> Path:
    """Export a run's EMA weights to ``export_dir`` with its model card and loss curve."""
    from repaint_fill_tools.training.model_card import write_model_card

    payload = load_checkpoint_payload(run_dir)
    export_diffusers(payload["model_config"], payload["ema"], export_dir)
    write_model_card(run_dir, export_dir)
    return export_dir


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so ``kill PID`` or Ctrl-C ends a run with a checkpoint."""
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    return stop


def run_train(args: argparse.Namespace) -> int:
    """Entry point of ``repaint-fill train``; returns the process exit code."""
    config = config_from_args(args)
    if args.export_only and not (config.out / CHECKPOINT_NAME).is_file():
        print(f"error: no checkpoint {config.out / CHECKPOINT_NAME} to export from")
        return 2
    if not args.export_only:
        state = train(config, stop=stop_on_signals())
        print(f"trained to step {state.step} in {state.elapsed_seconds / 60:.1f} min", flush=True)
    if args.export is not None:
        export_run(config.out, args.export)
        print(f"exported to {args.export}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (the same options as ``repaint-fill train``)."""
    parser = argparse.ArgumentParser(prog="repaint-fill train", description=__doc__)
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
