"""The `repaint-fill` command: fill, expand, example, models, download, serve, train, bench.

`train` and `bench` come from the developer tools package (tools/, not installed for users).

User errors print one line that says what is wrong and what to do, and exit 2; never a traceback.
The parser is built from torch-free modules and each subcommand imports what it needs when it
runs: `repaint-fill models` and `--help` load neither torch, diffusers nor the server.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module, resources
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .choices import (
    DEFAULT_DETAIL,
    DEFAULT_REFINE_STRENGTH,
    DETAILS,
    DEVICE_CHOICES,
    DTYPE_CHOICES,
    EMBEDDED,
    REVERSE_STEPS,
)
from .exceptions import DeviceError, FillCancelled, ImageInputError, ModelError, ScheduleError
from .presets import PRESETS, resolve_settings

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from .sampler import StepInfo

USER_ERRORS = (ImageInputError, ModelError, DeviceError, ScheduleError)
# Subcommands whose modules carry their own arguments (add_<stem>_arguments / run_<stem>) and
# may be missing from an installation: name -> (help, module, stem). Their modules load only
# when that subcommand is the one run. `train` and `bench` live in the developer tools package
# (tools/, repaint_fill_tools), which the installer neither installs nor ships.
OPTIONAL_COMMANDS = {
    "serve": ("serve the HTTP API", "repaint_fill_backend.server", "serve"),
    "train": ("train a model (developer tools)", "repaint_fill_tools.training.train", "train"),
    "bench": ("run the benchmarks (developer tools)", "repaint_fill_tools.bench", "bench"),
}
TOOLS_PACKAGE = "repaint_fill_tools"
TOOLS_MISSING = (
    "the developer tools are not installed; from a source checkout: `pip install -e ./tools`, "
    "part of the developer set-up `bash scripts/setup-dev.sh`"
)
# Commands that never load diffusers, so its log level is left alone (setting it imports it).
WITHOUT_DIFFUSERS = ("models", "download")
# `download` of a model a program may not fetch: the steps are printed, the user acts.
MANUAL_DOWNLOAD_EXIT = 4


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by `fill` and `example`."""
    parser.add_argument("--preset", choices=list(PRESETS), default=None, help="default: fast")
    parser.add_argument("--steps", type=int, help="respaced diffusion steps T (<= 1000)")
    parser.add_argument("--jump-length", type=int, help="jump length j")
    parser.add_argument("--jump-n-sample", type=int, help="resamplings r (1 = no resampling)")
    parser.add_argument("--start-resampling", type=int, help="resample only below this index")
    parser.add_argument("--reverse-step", choices=REVERSE_STEPS, help="default: ddpm")
    parser.add_argument("--eta", type=float, help="noise of the ddim step (0 = deterministic)")
    parser.add_argument("--budget", type=float, help="seconds: best schedule that fits (measured)")
    parser.add_argument("--seed", type=int, help="seed (variation i uses seed + i); default random")
    parser.add_argument("--variations", type=int, default=1, help="results to make in one batch")
    parser.add_argument(
        "--context-margin", type=int, help="pixels of context around each region (default: half "
        "its longest side)"
    )  # fmt: skip
    parser.add_argument(
        "--detail", choices=DETAILS, default=DEFAULT_DETAIL,
        help="native: refine large regions up to the image's own pixels (default); coarse: one "
        "pass at the model's size, scaled back",
    )  # fmt: skip
    parser.add_argument(
        "--refine-strength", type=float, default=DEFAULT_REFINE_STRENGTH,
        help="share of the schedule each refinement level runs (0-1]",
    )  # fmt: skip
    parser.add_argument(
        "--no-harmonize", dest="harmonize", action="store_false",
        help="keep the fill's colours as sampled (default: remove the colour step at the "
        "selection's border)",
    )  # fmt: skip
    parser.add_argument(
        "--no-detail-match", dest="detail_match", action="store_false",
        help="keep the fill's fine detail as sampled (default: raise its grain to the "
        "surroundings' level)",
    )  # fmt: skip
    parser.add_argument("--model", default=EMBEDDED, help="embedded, a folder, .pt, or a hub id")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads (default: cores - 1)")
    parser.add_argument("--report", type=Path, help="write a JSON report of the run here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The `repaint-fill` parser; of the optional commands only the one in ``argv`` gets its
    arguments (and imports its module). None = sys.argv[1:]."""
    parser = OneLineErrorParser(
        prog="repaint-fill", description="RePaint diffusion inpainting for Krita and GIMP."
    )
    parser.add_argument("--version", action="version", version=f"repaint-fill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)

    fill = commands.add_parser("fill", help="fill the white region of MASK in IMAGE")
    fill.add_argument("image", type=Path)
    fill.add_argument("--mask", type=Path, required=True, help="8-bit gray, 255 = fill, 0 = keep")
    fill.add_argument("-o", "--output", type=Path, required=True)
    add_sampling_arguments(fill)
    fill.set_defaults(handler=run_fill)

    expand = commands.add_parser("expand", help="grow the canvas and fill the new border")
    expand.add_argument("image", type=Path)
    for side in ("left", "right", "top", "bottom"):
        expand.add_argument(f"--{side}", type=int, default=0, help=f"pixels to add {side}")
    expand.add_argument("-o", "--output", type=Path, required=True)
    add_sampling_arguments(expand)
    expand.set_defaults(handler=run_expand)

    example = commands.add_parser("example", help="fill the bundled example image")
    example.add_argument("-o", "--output", type=Path, default=Path("repaint-fill-example.png"))
    example.add_argument(
        "--before-after",
        type=Path,
        help="also write the input (hole shown white) beside the result",
    )
    add_sampling_arguments(example)
    example.set_defaults(handler=run_example)

    models = commands.add_parser("models", help="list known and locally available models")
    models.add_argument(
        "--markdown", action="store_true", help="the registry as the README's table instead"
    )
    models.set_defaults(handler=run_models)

    download = commands.add_parser(
        "download",
        help="fetch a model: a registry checkpoint into the models folder, or a hub model",
        description="Registry checkpoints with a stable address (imagenet-256, imagenet-256-cond) "
        "are downloaded with resume and checked before they are moved into the models folder; "
        "for the others (Google Drive) the manual steps are printed and the exit code is "
        f"{MANUAL_DOWNLOAD_EXIT}. The last line printed is the model's path.",
    )
    download.add_argument("model", help="a registry name (see `models`) or a hub id org/name")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(handler=run_download)

    chosen = _chosen_command(sys.argv[1:] if argv is None else argv)
    for name, (help_text, module, stem) in OPTIONAL_COMMANDS.items():
        sub = commands.add_parser(name, help=help_text)
        if name == chosen:
            _add_optional_arguments(sub, name, module, stem)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand in ``argv``: its first word that is not an option (the top level's
    options take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _add_optional_arguments(
    sub: argparse.ArgumentParser, name: str, module: str, stem: str
) -> None:
    """Import an optional command's module and let it add its arguments and handler; if it
    cannot be imported, exit 2 with one line that says why (whatever the arguments, --help too:
    the bare subparser would only call them unknown)."""
    try:
        owner = import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or ""
        reason = TOOLS_MISSING if missing.partition(".")[0] == TOOLS_PACKAGE else str(error)
        sub.exit(2, f"repaint-fill: error: `{name}` is not available in this installation "
                    f"({reason})\n")  # fmt: skip
    getattr(owner, f"add_{stem}_arguments")(sub)
    sub.set_defaults(handler=getattr(owner, f"run_{stem}"))


def output_paths(output: Path, variations: int) -> list[Path]:
    """`-o out.png` -> [out.png] or, with K > 1 variations, [out-1.png, ..., out-K.png]."""
    if variations == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, variations + 1)]


@contextmanager
def remembered_interrupts() -> Iterator[Callable[[], None]]:
    """Ctrl+C stops a fill within one model call: inside the block an interrupt is raised as
    usual and also remembered, and the yielded check raises it again, since Python drops a
    KeyboardInterrupt that lands in a finaliser (seen once under load). The usual handler is
    put back on leaving. Off the main thread (no signals there) the check does nothing."""
    import signal
    import threading

    interrupted = threading.Event()

    def check() -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield check
        return

    def on_interrupt(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[StepInfo], None]]:
    """A tqdm progress bar on stderr (model calls and ETA) as a step callback."""
    from tqdm import tqdm

    bar = None

    def show(info: StepInfo) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=info.total, unit="call", desc="RePaint", disable=quiet, file=sys.stderr
            )
        bar.update(info.step - bar.n)

    try:
        yield show
    finally:
        if bar is not None:
            bar.close()


def run_fill(args: argparse.Namespace) -> int:
    from .imaging import coverage_from_mask, open_image

    image = open_image(args.image)
    coverage = coverage_from_mask(open_image(args.mask))
    if coverage.min() > 0:
        warnings.warn(
            "the mask covers the whole image: nothing to match, pure generation", stacklevel=1
        )
    return fill_and_save(args, image, coverage)


def fill_and_save(args: argparse.Namespace, image: Image.Image, coverage: np.ndarray) -> int:
    """Fill ``coverage`` (255 = fill) of ``image`` with the sampling arguments; write -o."""
    from .devices import configure_threads
    from .engine import Engine, FillRequest
    from .imaging import fill_in_original_mode, save_atomically
    from .service import check_request, fill

    if args.budget is not None:  # the budget picks the schedule once the model is loaded
        from .budget import check_budget_arguments

        check_budget_arguments(
            args.budget, preset=args.preset, steps=args.steps, jump_length=args.jump_length,
            jump_n_sample=args.jump_n_sample, start_resampling=args.start_resampling,
            reverse_step=args.reverse_step, eta=args.eta,
        )  # fmt: skip
    settings = resolve_settings(
        args.preset,
        steps=args.steps,
        jump_length=args.jump_length,
        jump_n_sample=args.jump_n_sample,
        start_resampling=args.start_resampling,
        reverse_step=args.reverse_step,
        eta=args.eta,
    )
    if not 0.0 < args.refine_strength <= 1.0:
        raise UserError(f"--refine-strength must be in (0, 1], got {args.refine_strength:g}")
    request = FillRequest(
        image, coverage, settings, args.seed, args.variations, args.context_margin,
        detail=args.detail, refine_strength=args.refine_strength, harmonize=args.harmonize,
        detail_match=args.detail_match,
    )  # fmt: skip
    checked = check_request(request)  # fail on bad input before the (slow) model load
    targets = output_paths(args.output, args.variations)
    if not args.output.parent.resolve().is_dir():
        raise UserError(f"{args.output.parent}: output folder does not exist")
    threads = configure_threads(args.threads)
    engine = Engine.load(args.model, args.device, args.dtype)
    with remembered_interrupts() as check_interrupt, progress_bar(args.quiet) as show:

        def on_step(info: StepInfo) -> None:
            check_interrupt()
            show(info)

        outcome = fill(
            engine, checked, budget_seconds=args.budget, callback=on_step,
            on_budget=lambda choice: print(choice.summary(), file=sys.stderr),
        )  # fmt: skip
    result, budget = outcome.result, outcome.budget
    for target, filled in zip(targets, result.fills):
        save_atomically(fill_in_original_mode(image, filled, coverage, result.crop), target)
        print(target)
    report = result.report
    if args.report:
        written = {**report.to_json(), "threads": threads, "outputs": [str(t) for t in targets]}
        if budget is not None:
            written["budget"] = budget.report()
        args.report.write_text(json.dumps(written, indent=2) + "\n")
    print(
        f"filled {result.crop.width}x{result.crop.height} crop with {report.model} "
        f"({len(report.regions)} region(s), up to {report.depth} level(s), {report.model_calls} "
        f"model calls, {report.seconds:.1f} s, seeds {result.seeds})",
        file=sys.stderr,
    )
    return 0


def run_expand(args: argparse.Namespace) -> int:
    from .expand import Sides, check_sides, grow_canvas
    from .imaging import open_image

    sides = Sides(args.left, args.right, args.top, args.bottom)
    check_sides(sides)  # all-zero or negative sizes fail before the image is read
    grown = grow_canvas(open_image(args.image), sides)
    return fill_and_save(args, grown.image, grown.coverage)


def example_files() -> tuple[Path, Path]:
    """The bundled example image and its mask."""
    folder = Path(str(resources.files("repaint_fill_backend") / "examples"))
    return folder / "example.png", folder / "example_mask.png"


def run_example(args: argparse.Namespace) -> int:
    args.image, args.mask = example_files()
    if not args.image.is_file():
        raise UserError(f"the bundled example is missing ({args.image}); reinstall repaint-fill")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    print(f"filling the bundled example {args.image} with model {args.model}", file=sys.stderr)
    status = run_fill(args)
    if args.before_after is not None:
        from .imaging import before_after_picture, open_image, save_atomically

        first = output_paths(args.output, args.variations)[0]
        picture = before_after_picture(open_image(args.image), open_image(args.mask),
                                       open_image(first))  # fmt: skip
        save_atomically(picture, args.before_after)
        print(args.before_after)
    return status


def run_models(args: argparse.Namespace) -> int:
    from .catalog import model_lines, model_table_markdown

    if args.markdown:
        print(model_table_markdown())
        return 0
    for line in model_lines():
        print(line)
    return 0


def run_download(args: argparse.Namespace) -> int:
    from .downloads import DownloadError, ManualDownloadNeeded, download_checkpoint
    from .models import download_hub_model, embedded_model_dir
    from .registry import find_entry, registry_entries

    entry = find_entry(args.model)
    if entry is not None and entry.kind == "embedded":
        print("the embedded model ships inside the package: nothing to download", file=sys.stderr)
        print(embedded_model_dir())
        return 0
    if entry is not None and entry.kind == "guided":
        try:
            print(download_checkpoint(entry, progress=not args.quiet))
        except ManualDownloadNeeded as steps:
            print(steps, file=sys.stderr)
            return MANUAL_DOWNLOAD_EXIT
        except DownloadError as error:
            raise UserError(str(error)) from error
        return 0
    if "/" not in args.model:
        names = ", ".join(e.name for e in registry_entries())
        raise UserError(f"unknown model {args.model!r}: use one of {names}, or a hub id org/name")
    print(download_hub_model(args.model))
    return 0


def quiet_library_warnings() -> None:
    """diffusers' loading chatter (e.g. about fp16 files loaded as fp32) is not for our users."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command not in WITHOUT_DIFFUSERS:
        quiet_library_warnings()
    try:
        return int(args.handler(args) or 0)
    except (UserError, *USER_ERRORS) as error:
        print(f"repaint-fill: error: {error}", file=sys.stderr)
        return 2
    except FillCancelled:
        print("repaint-fill: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `repaint-fill models | head -1`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("repaint-fill: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "repaint-fill: error: out of memory; use fewer --variations or a smaller mask",
            file=sys.stderr,
        )
        return 3
    except Exception as error:
        if not out_of_gpu_memory(error):
            raise
        print(
            "repaint-fill: error: out of GPU memory; use fewer --variations, --dtype fp16, "
            "or a smaller selection",
            file=sys.stderr,
        )
        return 3


def out_of_gpu_memory(error: BaseException) -> bool:
    """torch's out-of-memory error, checked without importing torch (only a loaded torch can
    have raised it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


if __name__ == "__main__":
    sys.exit(main())
