"""What live previews cost a fill: the same fill without previews, as the server serves them, and
in the worst case.

"served": the engine makes a preview picture every few sampler steps (scaled to the crop, in
the sampler's thread) and offers it to the server's PreviewStore (which keeps one a second at
most) while a second thread asks for the PNG every 0.5 s, like a polling host. "worst case":
every kept picture is also PNG-encoded inside the sampler's own thread. Runs alternate so a busy
machine affects all alike; medians are printed.
Run: .venv/bin/python scripts/bench_preview_cost.py [--size 512] [--preset fast]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import torch
from PIL import Image
from repaint_fill_backend.engine import Engine, FillRequest
from repaint_fill_backend.presets import resolve_settings
from repaint_fill_backend.server.previews import PREVIEW_INTERVAL_SECONDS, PreviewStore


def request(size: int, preset: str) -> FillRequest:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    coverage = np.zeros((size, size), dtype=np.uint8)
    coverage[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 255
    return FillRequest(image, coverage, resolve_settings(preset), seed=1, context_margin=size)


def timed_fill(
    engine: Engine, fill: FillRequest, interval: float | None, mode: str, cpu: bool
) -> tuple[float, int]:
    """Seconds (wall, or CPU of the process) of one fill and the previews kept.

    mode: none | served | worst. CPU seconds include the poller's encoding; on a busy machine
    they are the steadier measure of what previews add."""
    store = PreviewStore(interval or PREVIEW_INTERVAL_SECONDS)
    kept = 0
    done = threading.Event()

    def on_preview(crop, picture) -> None:
        nonlocal kept
        store.offer("job", fill, crop, picture)
        if store.number("job") != kept:
            kept = store.number("job")
            if mode == "worst":
                store.png("job")  # encode at once, in the sampler's thread

    def poll() -> None:
        while not done.wait(0.5):
            store.png("job")

    poller = threading.Thread(target=poll)
    if mode == "served":
        poller.start()
    started = time.process_time() if cpu else time.perf_counter()
    engine.fill(fill, None, None if mode == "none" else on_preview)
    seconds = (time.process_time() if cpu else time.perf_counter()) - started
    done.set()
    if mode == "served":
        poller.join()
    return seconds, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side (crop = all of it)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interval", type=float, default=PREVIEW_INTERVAL_SECONDS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (serve: cores-1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = Engine.load("embedded", "cpu")
    fill = request(args.size, args.preset)
    engine.fill(fill)  # warm-up
    modes = ("none", "served", "worst")
    wall: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    kept = 0
    for _ in range(args.repeats):
        for mode in modes:
            seconds, count = timed_fill(engine, fill, args.interval, mode, cpu=False)
            wall[mode].append(seconds)
            cpu[mode].append(timed_fill(engine, fill, args.interval, mode, cpu=True)[0])
            kept = max(kept, count)
    print(f"| {args.size}² image, preset {args.preset}, {args.threads} thread(s), {kept} previews")
    print("| mode | wall s | cost | CPU s | cost |")
    print("|---|---|---|---|---|")
    for mode, label in (
        ("none", "no previews"),
        ("served", "previews as served (picture every 5 steps, PNG on request)"),
        ("worst", "worst case (PNG made in the sampler thread)"),
    ):
        cells = []
        for table in (wall, cpu):
            median, base = statistics.median(table[mode]), statistics.median(table["none"])
            cells.append(f"{median:.2f} | {100 * (median - base) / base:+.1f}%")
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
